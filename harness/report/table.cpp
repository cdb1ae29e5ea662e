// Text of the summary table and its trailing sections (see table.h).
#include "report/table.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "result/number_format.h"

namespace bb::report {
namespace {

bool has_samples(const Cell& c) { return c.stats.n > 0 && std::isfinite(c.stats.median); }

bool is_token_brick(const Cell& c) { return c.brick == "decode" || c.brick == "generate"; }

// The interference sentinel flagged the cell (run/host_load.h).
bool interfered(const Cell& c) { return c.interference && c.interference->flagged; }

std::string gap_text(double gap) {
  const int decimals = gap < 10 ? 2 : (gap < 100 ? 1 : 0);
  std::string s = "x";
  s.append(fixed(gap, decimals));
  return s;
}

}  // namespace

std::vector<size_t> table_order(const RunResult& r) {
  std::map<std::string, size_t> id_rank, backend_rank;
  for (const Cell& c : r.cells) {
    id_rank.emplace(c.id, id_rank.size());
    backend_rank.emplace(c.backend, backend_rank.size());
  }
  std::vector<size_t> order(r.cells.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Cell& x = r.cells[a];
    const Cell& y = r.cells[b];
    const auto kx = std::make_pair(id_rank.at(x.id), backend_rank.at(x.backend));
    const auto ky = std::make_pair(id_rank.at(y.id), backend_rank.at(y.backend));
    return kx < ky;
  });
  return order;
}

std::string median_text(const Cell& c) { return has_samples(c) ? format_duration(c.stats.median) : "-"; }

std::string median_ci_text(const Cell& c) {
  const auto& ci = c.stats.median_ci;
  if (!has_samples(c) || !std::isfinite(ci.lower) || !std::isfinite(ci.upper)) return "-";
  const DurationUnit unit = duration_unit(c.stats.median);
  const int decimals = decimals_for_4_digits(c.stats.median / unit.seconds);
  std::string s = "[";
  s.append(format_in_unit(ci.lower, unit, decimals))
      .append(", ")
      .append(format_in_unit(ci.upper, unit, decimals))
      .append("] ")
      .append(unit.name);
  return s;
}

std::string cv_text(const Cell& c) {
  if (!has_samples(c) || !std::isfinite(c.stats.cv)) return "-";
  const double pct = 100 * c.stats.cv;
  std::string s = fixed(pct, pct < 10 ? 2 : 1);
  s.push_back('%');
  return s;
}

std::string gbps_text(const Cell& c) {
  const double g = c.roofline.gbps;
  if (!has_samples(c) || !std::isfinite(g) || g <= 0) return "-";
  return fixed(g, g >= 100 ? 0 : (g >= 10 ? 1 : 2));
}

std::string ceiling_text(const Cell& c) {
  const double f = c.roofline.fraction_of_ceiling;
  if (!has_samples(c) || !(c.roofline.ceiling_gbps > 0) || !std::isfinite(f) || f <= 0) return "-";
  std::string s = fixed(100 * f, 100 * f < 10 ? 1 : 0);
  s.push_back('%');
  return s;
}

std::string budget_text(const Cell& c) {
  const Budget& b = c.budget;
  if (!b.has_budget || !has_samples(c) || !std::isfinite(b.gap)) return "-";
  std::string s = gap_text(b.gap);
  if (b.graded && !b.grade.empty()) s.append(" ").append(b.grade);
  return s;
}

std::string equivalence_text(const Cell& c) {
  const Equivalence& e = c.equivalence;
  if (!e.checked) return "-";
  std::string s = e.pass ? "PASS" : "FAIL";
  s.append(" nmse=").append(std::isfinite(e.nmse) ? scientific(e.nmse, 1) : std::string("nan"));
  if (e.top1) s.append(" top1=").append(fixed(*e.top1, 2));
  if (e.non_finite > 0) s.append(" nan/inf=").append(std::to_string(e.non_finite));
  return s;
}

std::string tok_s_text(double tok_s) {
  if (!std::isfinite(tok_s)) return "-";
  return fixed(tok_s, tok_s >= 100 ? 0 : (tok_s >= 10 ? 1 : 2));
}

std::optional<double> cell_tok_s(const Cell& c) {
  if (!is_token_brick(c) || !has_samples(c)) return std::nullopt;
  if (c.tok_s && std::isfinite(*c.tok_s)) return c.tok_s;
  if (c.stats.median > 0) return 1.0 / c.stats.median;
  return std::nullopt;
}

SummaryTable summary_table(const RunResult& r) {
  SummaryTable t;
  t.header = {"cell", "backend", "median", "95% CI",      "CV",
              "GB/s", "%ceil",   "budget", "equivalence", "status"};
  t.right_aligned = {false, false, true, true, true, true, true, false, false, false};
  for (size_t i : table_order(r)) {
    const Cell& c = r.cells[i];
    t.rows.push_back({c.id, c.backend, median_text(c), median_ci_text(c), cv_text(c), gbps_text(c),
                      ceiling_text(c), budget_text(c), equivalence_text(c),
                      std::string(cell_status_name(c.status)) + (interfered(c) ? " !" : "")});
  }
  return t;
}

std::vector<std::string> decode_summary_lines(const RunResult& r) {
  std::vector<std::string> backends;
  std::map<std::string, std::string> parts;
  for (size_t i : table_order(r)) {
    const Cell& c = r.cells[i];
    if (!is_token_brick(c)) continue;
    if (std::find(backends.begin(), backends.end(), c.backend) == backends.end())
      backends.push_back(c.backend);
    std::string& line = parts[c.backend];
    if (!line.empty()) line.append(", ");
    line.append(c.id).append(" ");
    if (const auto tps = cell_tok_s(c)) {
      line.append(tok_s_text(*tps)).append(" tok/s");
      if (c.budget.has_budget && std::isfinite(c.budget.gap)) {
        line.append(" (").append(budget_text(c)).append(")");
      }
    } else {
      line.append(cell_status_name(c.status));
    }
  }
  std::vector<std::string> out;
  for (const auto& b : backends) {
    std::string line = b;
    line.append(": ").append(parts[b]);
    out.push_back(std::move(line));
  }
  return out;
}

std::vector<std::string> peer_comparison_lines(const RunResult& r) {
  std::vector<std::string> out;
  auto or_q = [](const std::optional<double>& v, auto f) {
    return v && std::isfinite(*v) ? f(*v) : std::string("?");
  };
  auto tps = [](double v) { return tok_s_text(v); };
  auto dur = [](double v) { return format_duration(v); };
  for (const PeerRecord& p : r.peers) {
    std::string who = p.backend + " (";
    const std::string* kind = p.fact("kind");
    const std::string* ver = p.fact("server_version");
    who.append(kind ? *kind : std::string("peer")).append(" ").append(ver ? *ver : std::string("?"));
    for (const char* k : {"family", "parameter_size", "quantization_level"}) {
      const std::string* v = p.fact(k);
      who.append(k == std::string("family") ? ", " : " ").append(v ? *v : std::string("?"));
    }
    if (const std::string* same = p.fact("same_weights"))
      who.append(*same == "true" ? ", same weights" : ", OTHER weights");
    who.append(")");
    for (const PeerCell& c : p.cells) {
      std::string line = c.cell_id + ": " + who;
      line.append(" decode ").append(or_q(c.decode_tok_s, tps)).append(" tok/s");
      line.append(", prefill ").append(or_q(c.prefill_tok_s, tps)).append(" tok/s");
      line.append(", TTFT ").append(or_q(c.ttft_s, dur));
      line.append(", gap p50/p99 ").append(or_q(c.gap_p50_s, dur)).append("/").append(or_q(c.gap_p99_s, dur));
      out.push_back(std::move(line));
      for (const PeerVersus& v : c.versus) {
        std::string l = c.cell_id + ": " + v.backend + " " + or_q(v.tok_s, tps) + " tok/s";
        if (v.ratio && std::isfinite(*v.ratio)) {
          l.append(" = x").append(fixed(*v.ratio, *v.ratio < 1 ? 3 : 2)).append(" of ").append(p.backend);
        } else {
          l.append(" (no ratio: ")
              .append(c.decode_tok_s ? "this backend has no tok/s" : "the peer's decode tok/s is unknown")
              .append(")");
        }
        out.push_back(std::move(l));
      }
    }
  }
  return out;
}

std::vector<std::string> cell_notes(const RunResult& r) {
  std::vector<std::string> out;
  for (size_t i : table_order(r)) {
    const Cell& c = r.cells[i];
    std::string prefix = c.id;
    prefix.append(" ").append(c.backend).append(": ");
    if (c.status != CellStatus::Converged) {
      std::string line = prefix;
      line.append(cell_status_name(c.status));
      if (!c.status_reason.empty()) line.append(": ").append(c.status_reason);
      out.push_back(std::move(line));
    }
    if (interfered(c)) {
      const Interference& x = *c.interference;
      std::string line = prefix;
      line.append("! measured under interference: other processes used ")
          .append(fixed(x.other_cores, 1))
          .append(" of ")
          .append(std::to_string(x.cpus))
          .append(" cores");
      if (x.steal_fraction > 0.005)
        line.append(", the hypervisor took ").append(fixed(100 * x.steal_fraction, 0)).append("%");
      line.append(" during its ").append(format_duration(x.window_s)).append(" of sampling");
      out.push_back(std::move(line));
    }
    const Equivalence& e = c.equivalence;
    if (e.checked && !e.pass) {
      std::string line = prefix;
      line.append("equivalence FAIL against ")
          .append(e.reference.empty() ? std::string("the reference") : e.reference);
      line.append(": nmse ").append(scientific(e.nmse, 2));
      if (e.tol_nmse) line.append(" (tol ").append(scientific(*e.tol_nmse, 1)).append(")");
      line.append(", max_rel ").append(scientific(e.max_rel, 2));
      if (e.tol_max_rel) line.append(" (tol ").append(scientific(*e.tol_max_rel, 1)).append(")");
      if (e.top1) {
        line.append(", top1 ").append(fixed(*e.top1, 3));
        if (e.tol_top1) line.append(" (min ").append(fixed(*e.tol_top1, 3)).append(")");
      }
      if (e.non_finite > 0) line.append(", ").append(std::to_string(e.non_finite)).append(" NaN/Inf outputs");
      if (!e.note.empty()) line.append("; ").append(e.note);
      out.push_back(std::move(line));
    }
  }
  return out;
}

std::string run_headline(const RunResult& r) {
  std::string s = "brickbench ";
  s.append(r.tool_version.empty() ? std::string("(unknown version)") : r.tool_version);
  if (!r.git_commit.empty()) s.append(" (").append(r.git_commit.substr(0, 12)).append(")");
  s.append(" | experiment ").append(r.experiment_name);
  if (!r.experiment_hash.empty()) s.append(" (hash ").append(r.experiment_hash).append(")");
  if (!r.model.name.empty() || !r.model.path.empty()) {
    s.append(" | model ").append(r.model.name.empty() ? r.model.path : r.model.name);
    if (r.model.synthetic) s.append(" (synthetic)");
  }
  s.append(" | state ").append(r.state);
  return s;
}

}  // namespace bb::report
