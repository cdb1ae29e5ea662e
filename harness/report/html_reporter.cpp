// The HTML report (html_reporter.h): static tables written here, charts drawn in the page by Chart.js
// from a JSON data block, with the page's own check that each chart drew something.
#include "report/html_reporter.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>

#include "report/report_assets.h"
#include "report/table.h"
#include "result/json_write.h"
#include "result/number_format.h"

namespace bb::report {
namespace {

using JsonWriter = json::CompactWriter;

bool measured(const Cell& c) {
  return (c.status == CellStatus::Converged || c.status == CellStatus::Unstable ||
          c.status == CellStatus::CappedSlow) &&
         c.stats.n > 0 && std::isfinite(c.stats.median) && c.stats.median > 0;
}
bool is_token_brick(const Cell& c) { return c.brick == "decode" || c.brick == "generate"; }

// What the page's script draws, as JSON. '<' is written as \u003c so no string can close the
// <script> element that holds it.
std::string page_data(const RunResult& r, const std::optional<DiffResult>& diff,
                      const std::vector<PeerRate>& peers) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("backends");
  w.StartArray();
  std::vector<std::string> backends;
  for (size_t i : table_order(r)) {
    const std::string& b = r.cells[i].backend;
    if (std::find(backends.begin(), backends.end(), b) == backends.end()) backends.push_back(b);
  }
  for (const auto& b : backends) json::str(w, b);
  w.EndArray();
  w.Key("cells");
  w.StartArray();
  for (size_t i : table_order(r)) {
    const Cell& c = r.cells[i];
    if (!measured(c)) continue;
    w.StartObject();
    w.Key("id"), json::str(w, c.id);
    w.Key("brick"), json::str(w, c.brick);
    w.Key("backend"), json::str(w, c.backend);
    w.Key("status"), json::str(w, cell_status_name(c.status));
    w.Key("median_s"), json::num(w, c.stats.median);
    w.Key("median_text"), json::str(w, format_duration(c.stats.median));
    w.Key("has_budget"), w.Bool(c.budget.has_budget && std::isfinite(c.budget.gap) && c.budget.gap > 0);
    w.Key("budget_us"), json::num(w, c.budget.budget_us);
    w.Key("gap"), json::num(w, c.budget.gap);
    w.Key("grade"), json::str(w, c.budget.graded ? c.budget.grade : "");
    w.Key("bytes"), json::num(w, c.roofline.bytes);
    w.Key("flops"), json::num(w, c.roofline.flops);
    w.Key("gbps"), json::num(w, c.roofline.gbps);
    w.Key("gflops"), json::num(w, c.roofline.gflops);
    w.Key("ceiling_gbps"), json::num(w, c.roofline.ceiling_gbps);
    w.Key("fraction"), json::num(w, c.roofline.fraction_of_ceiling);
    w.Key("token"), w.Bool(is_token_brick(c));
    const auto tps = cell_tok_s(c);
    w.Key("tok_s"), json::num(w, tps ? *tps : std::nan(""));
    w.Key("budget_tok_s"), json::num(w, c.budget.budget_tok_s ? *c.budget.budget_tok_s : std::nan(""));
    w.EndObject();
  }
  w.EndArray();
  w.Key("peers");
  w.StartArray();
  for (const auto& p : peers) {
    w.StartObject();
    w.Key("label"), json::str(w, p.label);
    w.Key("tok_s"), json::num(w, p.tok_s);
    w.EndObject();
  }
  w.EndArray();
  w.Key("diff");
  if (!diff) {
    w.Null();
  } else {
    w.StartObject();
    w.Key("min_effect"), json::num(w, diff->settings.min_effect);
    w.Key("cells");
    w.StartArray();
    for (const auto& c : diff->cells) {
      if (!c.compared()) continue;
      w.StartObject();
      w.Key("label"), json::str(w, c.id + " / " + c.backend);
      w.Key("ratio"), json::num(w, c.ratio);
      w.Key("lower"), json::num(w, c.ratio_lower);
      w.Key("upper"), json::num(w, c.ratio_upper);
      w.Key("p"), json::num(w, c.p_value);
      w.Key("verdict"), json::str(w, diff_verdict_name(c.verdict));
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndObject();
  std::string out;
  for (const char* p = buf.GetString(); *p; ++p) {
    if (*p == '<') {
      out.append("\\u003c");
    } else {
      out.push_back(*p);
    }
  }
  return out;
}

constexpr const char* kStyle = R"CSS(
:root { --fg: #1d2330; --muted: #5b6472; --line: #d9dde3; --bg: #ffffff; --band: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 24px 32px 64px; max-width: 1280px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 6px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
p.sub, p.note { color: var(--muted); margin: 2px 0 10px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; color: var(--muted); margin: 10px 0; }
.meta b { color: var(--fg); font-weight: 600; }
.chart { position: relative; width: 100%; margin: 8px 0 4px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 12.5px; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: var(--band); font-weight: 600; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.slower td { background: #fde8e8; } tr.faster td { background: #e6f5e6; } tr.noisy td { background: #fff3e0; }
.verdict-slower { color: #b71c1c; font-weight: 600; } .verdict-faster { color: #1b5e20; font-weight: 600; }
.verdict-noisy { color: #e65100; }
.outcome { font-weight: 600; padding: 8px 12px; border-radius: 4px; margin: 8px 0; }
.outcome.bad { background: #fde8e8; color: #b71c1c; } .outcome.good { background: #e6f5e6; color: #1b5e20; }
ul.warnings li { color: #8a4b00; }
.chart-error { color: #b71c1c; font-weight: 600; }
.scroll { overflow-x: auto; }
)CSS";

// The page's script: one function per chart, each from the data block. Chart.js 4 UMD (window.Chart).
constexpr const char* kScript = R"JS(
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('bb-data').textContent);
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#d62728'];
  const colorOf = (backend) => palette[Math.max(0, data.backends.indexOf(backend)) % palette.length];
  const verdictColor = { slower: '#d62728', faster: '#2ca02c', same: '#8a94a6', noisy: '#ff9800' };
  const uniq = (xs) => xs.filter((x, i) => xs.indexOf(x) === i);
  const fmt = (x, d) => (x === null || x === undefined || !isFinite(x)) ? '-' : Number(x).toPrecision(d || 4);
  // Tick labels of a log axis: only values whose mantissa is in `keep` (e.g. [1] for decades).
  const logTicks = (keep, suffix) => (v) => {
    const e = Math.floor(Math.log10(v) + 1e-9), m = Math.round(v / Math.pow(10, e));
    return keep.includes(m) && Math.abs(v / Math.pow(10, e) - m) < 1e-6 ? String(v >= 1 ? Math.round(v) : Number(v.toPrecision(1))) + (suffix || '') : '';
  };
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  Chart.defaults.color = '#1d2330';

  // A dashed reference line at a value of the value axis ('x' or 'y').
  function refLine(id, axis, value, color) {
    return {
      id: id,
      afterDatasetsDraw(chart) {
        const scale = chart.scales[axis];
        if (!scale || value < scale.min || value > scale.max) return;
        const a = chart.chartArea, ctx = chart.ctx, p = scale.getPixelForValue(value);
        ctx.save();
        ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.setLineDash([6, 4]);
        ctx.beginPath();
        if (axis === 'x') { ctx.moveTo(p, a.top); ctx.lineTo(p, a.bottom); } else { ctx.moveTo(a.left, p); ctx.lineTo(a.right, p); }
        ctx.stroke();
        ctx.restore();
      }
    };
  }
  // Names next to scatter points, so a printed or screenshotted roofline still says which cell is which.
  const pointLabels = {
    id: 'pointLabels',
    afterDatasetsDraw(chart) {
      const ctx = chart.ctx;
      ctx.save();
      ctx.font = '10px ' + Chart.defaults.font.family;
      ctx.fillStyle = '#3a4250';
      chart.data.datasets.forEach((ds, i) => {
        if (!ds.pointNames) return;
        chart.getDatasetMeta(i).data.forEach((el, j) => ctx.fillText(ds.pointNames[j], el.x + 5, el.y - 4));
      });
      ctx.restore();
    }
  };

  function budgetChart() {
    const cells = data.cells.filter((c) => c.has_budget);
    const labels = uniq(cells.map((c) => c.id));
    const backends = uniq(cells.map((c) => c.backend));
    const datasets = backends.map((b) => ({
      label: b,
      backgroundColor: colorOf(b),
      data: labels.map((id) => { const c = cells.find((x) => x.id === id && x.backend === b); return c ? 100 * c.gap : null; }),
      cells: labels.map((id) => cells.find((x) => x.id === id && x.backend === b) || null)
    }));
    const values = cells.map((c) => 100 * c.gap);
    return {
      height: Math.max(220, 60 + labels.length * (10 + 12 * backends.length)),
      config: {
        type: 'bar',
        data: { labels: labels, datasets: datasets },
        options: {
          indexAxis: 'y',
          scales: {
            x: { type: 'logarithmic', min: Math.min(...values) / 2, max: Math.max(150, Math.max(...values) * 1.5),
                 ticks: { callback: logTicks([1], '%'), maxRotation: 0, autoSkip: false },
                 title: { display: true, text: 'measured median / budget, % (log scale; dashed line = 100%: on budget)' } }
          },
          plugins: {
            tooltip: { callbacks: { label: (it) => {
              const c = it.dataset.cells[it.dataIndex];
              return c ? `${c.backend}: ${c.median_text} = ${fmt(100 * c.gap, 3)}% of ${fmt(c.budget_us, 4)} us budget, grade ${c.grade || '-'}` : '';
            } } }
          }
        },
        plugins: [refLine('budget100', 'x', 100, '#d62728')]
      }
    };
  }

  function rooflineChart() {
    const cells = data.cells.filter((c) => c.flops > 0 && c.bytes > 0 && c.gflops > 0);
    const backends = uniq(cells.map((c) => c.backend));
    const ai = cells.map((c) => c.flops / c.bytes);
    const xmin = Math.min(...ai) / 2, xmax = Math.max(...ai) * 2;
    const datasets = backends.map((b) => {
      const mine = cells.filter((c) => c.backend === b);
      return { label: b, type: 'scatter', backgroundColor: colorOf(b), borderColor: colorOf(b), pointRadius: 4,
               data: mine.map((c) => ({ x: c.flops / c.bytes, y: c.gflops })), pointNames: mine.map((c) => c.id), cells: mine };
    });
    backends.forEach((b) => {
      const ceil = Math.max(0, ...data.cells.filter((c) => c.backend === b).map((c) => c.ceiling_gbps || 0));
      if (!(ceil > 0)) return;
      datasets.push({ label: `${b} measured bandwidth ceiling ${fmt(ceil, 3)} GB/s`, type: 'line', borderColor: colorOf(b),
                      borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false,
                      data: [{ x: xmin, y: ceil * xmin }, { x: xmax, y: ceil * xmax }] });
    });
    return {
      height: 460,
      config: {
        type: 'scatter',
        data: { datasets: datasets },
        options: {
          scales: {
            x: { type: 'logarithmic', min: xmin, max: xmax, ticks: { callback: logTicks([1, 2, 5]), maxRotation: 0 },
                 title: { display: true, text: 'arithmetic intensity, FLOP/byte (log)' } },
            y: { type: 'logarithmic', ticks: { callback: logTicks([1, 2, 5]) }, title: { display: true, text: 'achieved GFLOP/s (log)' } }
          },
          plugins: { tooltip: { callbacks: { label: (it) => {
            const c = it.dataset.cells ? it.dataset.cells[it.dataIndex] : null;
            return c ? `${c.id} on ${c.backend}: ${fmt(c.gflops, 3)} GFLOP/s, ${fmt(c.gbps, 3)} GB/s (${fmt(100 * c.fraction, 3)}% of ceiling), ${c.median_text}`
                     : it.dataset.label;
          } } } }
        },
        plugins: [pointLabels]
      }
    };
  }

  function bandwidthChart() {
    const cells = data.cells.filter((c) => c.ceiling_gbps > 0 && c.gbps > 0);
    const labels = uniq(cells.map((c) => c.id));
    const backends = uniq(cells.map((c) => c.backend));
    const datasets = backends.map((b) => ({
      label: b, backgroundColor: colorOf(b),
      data: labels.map((id) => { const c = cells.find((x) => x.id === id && x.backend === b); return c ? 100 * c.fraction : null; }),
      cells: labels.map((id) => cells.find((x) => x.id === id && x.backend === b) || null)
    }));
    const top = Math.max(100, ...cells.map((c) => 100 * c.fraction)) * 1.05;
    return {
      height: Math.max(220, 60 + labels.length * (10 + 12 * backends.length)),
      config: {
        type: 'bar',
        data: { labels: labels, datasets: datasets },
        options: {
          indexAxis: 'y',
          scales: { x: { min: 0, max: top, title: { display: true, text: "achieved GB/s as % of the backend's measured copy bandwidth (dashed: 100%)" } } },
          plugins: { tooltip: { callbacks: { label: (it) => {
            const c = it.dataset.cells[it.dataIndex];
            return c ? `${c.backend}: ${fmt(c.gbps, 4)} GB/s of ${fmt(c.ceiling_gbps, 4)} GB/s (${fmt(100 * c.fraction, 3)}%)` : '';
          } } } }
        },
        plugins: [refLine('ceiling100', 'x', 100, '#555')]
      }
    };
  }

  function decodeChart() {
    const cells = data.cells.filter((c) => c.token && c.tok_s > 0);
    const categories = uniq(cells.map((c) => c.backend)).concat(data.peers.map((p) => p.label));
    const ids = uniq(cells.map((c) => c.id));
    const datasets = ids.map((id, k) => ({
      label: id, backgroundColor: palette[(k + 3) % palette.length],
      data: categories.map((b) => { const c = cells.find((x) => x.id === id && x.backend === b); return c ? c.tok_s : null; })
    }));
    if (data.peers.length) {
      datasets.push({ label: 'Ollama (server-side timings)', backgroundColor: '#444',
                      data: categories.map((b) => { const p = data.peers.find((x) => x.label === b); return p ? p.tok_s : null; }) });
    }
    return {
      height: 340,
      config: {
        type: 'bar',
        data: { labels: categories, datasets: datasets },
        options: {
          scales: { y: { beginAtZero: true, title: { display: true, text: 'tokens per second (higher is better)' } } },
          plugins: { tooltip: { callbacks: { label: (it) => `${it.dataset.label}: ${fmt(it.raw, 4)} tok/s` } } }
        }
      }
    };
  }

  function diffChart() {
    const cells = data.diff.cells;
    const pct = (r) => 100 * (r - 1);
    const e = 100 * data.diff.min_effect;
    // The axis follows the medians' changes (at least 3x the minimum effect, at most +-100%); intervals
    // reaching further are clipped at its edge rather than squeezing every median into a pixel.
    const reach = Math.min(100, Math.max(3 * e, 1.3 * Math.max(...cells.map((c) => Math.abs(pct(c.ratio))))));
    const clipped = cells.some((c) => pct(c.lower) < -reach || pct(c.upper) > reach);
    return {
      height: Math.max(220, 60 + cells.length * 20),
      config: {
        type: 'bar',
        data: {
          labels: cells.map((c) => c.label),
          datasets: [
            { label: '95% CI of the change of the median', data: cells.map((c) => [pct(c.lower), pct(c.upper)]),
              backgroundColor: cells.map((c) => verdictColor[c.verdict] + '99'), borderColor: cells.map((c) => verdictColor[c.verdict]),
              borderWidth: 1, barPercentage: 0.7 },
            { label: 'change of the median', type: 'line', showLine: false, indexAxis: 'y', data: cells.map((c) => pct(c.ratio)),
              pointRadius: 3.5, pointBackgroundColor: '#1d2330', borderColor: '#1d2330' }
          ]
        },
        options: {
          indexAxis: 'y',
          scales: { x: { min: -reach, max: reach, ticks: { includeBounds: false }, title: { display: true,
            text: `change NEW vs BASE, % (> 0: slower; dashed: +/-${fmt(e, 3)}% minimum effect)` + (clipped ? '; wider intervals clipped at the edge' : '') } } },
          plugins: { tooltip: { callbacks: { label: (it) => {
            const c = cells[it.dataIndex];
            return `${c.verdict}: ${fmt(pct(c.ratio), 3)}% [${fmt(pct(c.lower), 3)}%, ${fmt(pct(c.upper), 3)}%], p = ${fmt(c.p, 2)}`;
          } } } }
        },
        plugins: [refLine('zero', 'x', 0, '#555'), refLine('plus', 'x', e, '#d62728'), refLine('minus', 'x', -e, '#2ca02c')]
      }
    };
  }

  const makers = { budget: budgetChart, roofline: rooflineChart, bandwidth: bandwidthChart, decode: decodeChart, diff: diffChart };
  const canvases = Array.from(document.querySelectorAll('canvas[data-chart]'));
  let rendered = 0;
  canvases.forEach((canvas) => {
    try {
      const made = makers[canvas.dataset.chart]();
      canvas.parentElement.style.height = made.height + 'px';
      const chart = new Chart(canvas, made.config);
      chart.draw();
      // Self-check: values plotted and pixels actually drawn on this canvas.
      const points = chart.data.datasets.reduce((n, ds) => n + ds.data.filter((v) => v !== null && v !== undefined).length, 0);
      const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let inked = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) ++inked;
      canvas.dataset.points = String(points);
      canvas.dataset.inked = String(inked);
      canvas.dataset.size = canvas.width + 'x' + canvas.height;
      if (points > 0 && inked > 0 && canvas.width > 0 && canvas.height > 0) ++rendered;
    } catch (err) {
      const p = document.createElement('p');
      p.className = 'chart-error';
      p.textContent = 'chart ' + canvas.dataset.chart + ' failed: ' + err;
      canvas.parentElement.after(p);
      canvas.dataset.error = String(err);
    }
  });
  document.documentElement.dataset.chartsExpected = String(canvases.length);
  document.documentElement.dataset.chartsRendered = String(rendered);
})();
)JS";

void chart(std::ostream& out, const char* name, const char* label) {
  out << "<div class=\"chart\"><canvas data-chart=\"" << name << "\" role=\"img\" aria-label=\"" << label
      << "\"></canvas></div>\n";
}

void table(std::ostream& out, const std::vector<std::string>& header, const std::vector<bool>& right,
           const std::vector<std::vector<std::string>>& rows,
           const std::vector<std::string>& row_classes = {}) {
  out << "<div class=\"scroll\"><table>\n<thead><tr>";
  for (size_t i = 0; i < header.size(); ++i)
    out << "<th" << (right[i] ? " class=\"num\"" : "") << ">" << html_escape(header[i]) << "</th>";
  out << "</tr></thead>\n<tbody>\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    out << "<tr"
        << (r < row_classes.size() && !row_classes[r].empty() ? " class=\"" + row_classes[r] + "\"" : "")
        << ">";
    for (size_t i = 0; i < rows[r].size(); ++i)
      out << "<td" << (right[i] ? " class=\"num\"" : "") << ">" << html_escape(rows[r][i]) << "</td>";
    out << "</tr>\n";
  }
  out << "</tbody></table></div>\n";
}

void list(std::ostream& out, const std::vector<std::string>& items, const char* cls) {
  if (items.empty()) return;
  out << "<ul class=\"" << cls << "\">\n";
  for (const auto& s : items) out << "<li>" << html_escape(s) << "</li>\n";
  out << "</ul>\n";
}

std::string env(const RunResult& r, const std::string& key) {
  for (const auto& [k, v] : r.environment)
    if (k == key) return v;
  return "";
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&':
        out.append("&amp;");
        break;
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      case '"':
        out.append("&quot;");
        break;
      case '\'':
        out.append("&#39;");
        break;
      default:
        out.push_back(ch);
    }
  }
  return out;
}

std::vector<PeerRate> peer_rates(const RunResult& r) {
  std::vector<PeerRate> out;
  for (const auto& p : r.peers)
    for (const auto& c : p.cells)
      if (c.decode_tok_s && std::isfinite(*c.decode_tok_s) && *c.decode_tok_s > 0)
        out.push_back({p.backend + " " + c.cell_id + " (server)", *c.decode_tok_s});
  return out;
}

namespace {

// The change against the baseline (bench report --baseline): the diff's outcome, chart, table and
// per-backend summary.
void write_diff_section(std::ostream& out, const DiffResult& d) {
  out << "<h2 id=\"diff\">Change against the baseline</h2>\n<p class=\"sub\">BASE "
      << html_escape(d.base_label)
      << (d.base_started_utc.empty() ? "" : " (" + html_escape(d.base_started_utc) + ")") << " vs this run. "
      << "Verdicts: Mann-Whitney U p &lt; " << html_escape(shortest_double(d.settings.alpha))
      << " and a change of the median beyond " << html_escape(fixed(100 * d.settings.min_effect, 1))
      << "% with its " << html_escape(fixed(100 * d.settings.confidence, 0))
      << "% bootstrap interval excluding no change (see bench diff --help).</p>\n";
  out << "<div class=\"outcome " << (d.failed() ? "bad" : "good") << "\">"
      << html_escape(diff_outcome_line(d)) << "</div>\n";
  list(out, d.warnings, "warnings");
  bool any_compared =
      std::any_of(d.cells.begin(), d.cells.end(), [](const CellDiff& c) { return c.compared(); });
  if (any_compared)
    chart(out, "diff", "change of each cell's median against the baseline, with its 95% interval");
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> classes;
  for (const auto& c : d.cells) {
    rows.push_back({c.id, c.backend, format_duration(c.median_base), format_duration(c.median_new),
                    change_text(c.ratio), change_ci_text(c), p_value_text(c.p_value),
                    diff_verdict_name(c.verdict), c.note});
    classes.push_back(diff_verdict_name(c.verdict));
  }
  table(out, {"cell", "backend", "base", "new", "change", "95% CI", "p (U test)", "verdict", "note"},
        {false, false, true, true, true, true, true, false, false}, rows, classes);
  std::vector<std::string> summary;
  for (const auto& s : d.backends) {
    summary.push_back(s.backend + ": " + (s.compared ? change_text(s.geomean_ratio) : std::string("-")) +
                      " geometric mean over " + std::to_string(s.compared) + " cells (" +
                      std::to_string(s.faster) + " faster, " + std::to_string(s.slower) + " slower, " +
                      std::to_string(s.same) + " same, " + std::to_string(s.noisy) + " noisy, " +
                      std::to_string(s.only_in_one) + " only in one file)");
  }
  list(out, summary, "summary");
}

}  // namespace

void HtmlReporter::report(const RunResult& r, std::ostream& out) const {
  const std::vector<PeerRate> peers = peer_rates(r);
  bool any_budget = false, any_roofline = false, any_bandwidth = false, any_token = !peers.empty();
  for (const Cell& c : r.cells) {
    if (!measured(c)) continue;
    any_budget |= c.budget.has_budget && std::isfinite(c.budget.gap) && c.budget.gap > 0;
    any_roofline |= c.roofline.flops > 0 && c.roofline.bytes > 0 && c.roofline.gflops > 0;
    any_bandwidth |= c.roofline.ceiling_gbps > 0 && c.roofline.gbps > 0;
    any_token |= is_token_brick(c) && cell_tok_s(c).has_value();
  }
  const std::string title = "brickbench report: " + r.experiment_name;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      // Nothing may be fetched: the page is complete as it is, online or not.
      << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src "
         "'unsafe-inline'; "
         "style-src 'unsafe-inline'; img-src data:\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<meta name=\"generator\" content=\"brickbench " << html_escape(r.tool_version) << ", Chart.js "
      << assets::chart_js_version() << "\">\n<title>" << html_escape(title) << "</title>\n<style>" << kStyle
      << "</style>\n<script>\n"
      << assets::chart_js() << "\n</script>\n</head>\n<body>\n";

  out << "<h1>" << html_escape(title) << "</h1>\n<p class=\"sub\">" << html_escape(run_headline(r))
      << "</p>\n";
  out << "<div class=\"meta\">";
  auto meta = [&](const char* k, const std::string& v) {
    if (!v.empty()) out << "<b>" << k << "</b><span>" << html_escape(v) << "</span>";
  };
  meta("started", r.started_utc);
  meta("finished", r.finished_utc);
  meta("state", r.state);
  meta("experiment", r.experiment_name + " (hash " + r.experiment_hash.substr(0, 12) + ")");
  meta("model",
       r.model.name + (r.model.synthetic ? " (synthetic)" : "") + " sha256 " + r.model.sha256.substr(0, 12));
  meta("machine", env(r, "hostname") + ": " + env(r, "cpu_model") + ", " + env(r, "cpu_cores") + " cores");
  std::string plugins;
  for (const auto& p : r.plugins) plugins += (plugins.empty() ? "" : ", ") + p.name + " " + p.version;
  meta("backends", plugins);
  meta("command", r.command_line);
  out << "</div>\n";

  if (diff_) write_diff_section(out, *diff_);

  out << "<h2 id=\"budget\">Budgets</h2>\n";
  if (any_budget) {
    out << "<p class=\"sub\">Each bar is a cell's median over its budget from the config: below 100% meets "
           "it. "
           "Decode and generate budgets are per token (1 / budget tok/s).</p>\n";
    chart(out, "budget", "median over budget per brick and backend");
  } else {
    out << "<p class=\"note\">No cell of this result has a budget.</p>\n";
  }

  out << "<h2 id=\"roofline\">Roofline</h2>\n";
  if (any_roofline) {
    out << "<p class=\"sub\">Achieved GFLOP/s against arithmetic intensity (FLOPs / bytes of each brick from "
           "the "
           "model's shapes and weight types); the dashed lines are each backend's bandwidth ceiling measured "
           "on "
           "the spot with its own copy. A point on its line is bandwidth-bound at the measured peak.</p>\n";
    chart(out, "roofline", "roofline: achieved GFLOP/s against arithmetic intensity");
  } else {
    out << "<p class=\"note\">No cell with FLOPs and bytes to place on a roofline.</p>\n";
  }
  if (any_bandwidth) chart(out, "bandwidth", "achieved bandwidth as a fraction of the measured ceiling");

  out << "<h2 id=\"decode\">Decode speed</h2>\n";
  if (any_token) {
    out << "<p class=\"sub\">Tokens per second of the decode and generate cells per backend"
        << (peers.empty()
                ? ""
                : ", and the peer's own server-side decode rate (Ollama's eval_count / eval_duration)")
        << ".</p>\n";
    chart(out, "decode", "decode tokens per second per backend");
    std::vector<std::string> lines = decode_summary_lines(r);
    for (const auto& l : peer_comparison_lines(r)) lines.push_back(l);
    list(out, lines, "summary");
  } else {
    out << "<p class=\"note\">No decode or generate cell in this result.</p>\n";
  }

  out << "<h2 id=\"cells\">All cells</h2>\n";
  const SummaryTable t = summary_table(r);
  table(out, t.header, t.right_aligned, t.rows);
  std::vector<std::string> notes = cell_notes(r);
  for (const auto& s : r.skipped_backends) notes.push_back("skipped backend " + s.name + ": " + s.reason);
  list(out, notes, "notes");
  list(out, r.warnings, "warnings");

  out << "<script type=\"application/json\" id=\"bb-data\">" << page_data(r, diff_, peers) << "</script>\n"
      << "<script>" << kScript << "</script>\n</body>\n</html>\n";
}

}  // namespace bb::report
