// The output formats of `bench diff`: console table, markdown, JSON.
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <cmath>

#include "report/diff.h"
#include "result/json_write.h"
#include "result/number_format.h"

namespace bb::report {
namespace {

std::vector<std::string> header() {
  return {"cell", "backend", "base", "new", "change", "95% CI of change", "p (U test)", "verdict"};
}
const std::vector<bool> kRight = {false, false, true, true, true, true, true, false};

std::vector<std::string> row(const CellDiff& c) {
  return {c.id,
          c.backend,
          format_duration(c.median_base),
          format_duration(c.median_new),
          change_text(c.ratio),
          change_ci_text(c),
          p_value_text(c.p_value),
          diff_verdict_name(c.verdict)};
}

std::string headline(const DiffResult& d) {
  return "bench diff: BASE " + d.base_label +
         (d.base_started_utc.empty() ? "" : " (" + d.base_started_utc + ")") + "\n        vs NEW  " +
         d.new_label + (d.new_started_utc.empty() ? "" : " (" + d.new_started_utc + ")") + "\nalpha " +
         shortest_double(d.settings.alpha) + ", minimum effect " + fixed(100.0 * d.settings.min_effect, 1) +
         "%, " + fixed(100.0 * d.settings.confidence, 0) + "% bootstrap CI of the ratio of medians (" +
         std::to_string(d.settings.resamples) + " resamples)";
}

std::vector<std::string> summary_lines(const DiffResult& d) {
  std::vector<std::string> out;
  for (const auto& s : d.backends) {
    std::string line = s.backend + ": ";
    line.append(s.compared ? change_text(s.geomean_ratio) + " geometric mean over " +
                                 std::to_string(s.compared) + " cells"
                           : std::string("no cell compared"));
    line.append(" (" + std::to_string(s.faster) + " faster, " + std::to_string(s.slower) + " slower, " +
                std::to_string(s.same) + " same, " + std::to_string(s.noisy) + " noisy, " +
                std::to_string(s.only_in_one) + " only in one file)");
    out.push_back(std::move(line));
  }
  return out;
}

std::vector<std::string> note_lines(const DiffResult& d) {
  std::vector<std::string> out;
  for (const auto& c : d.cells)
    if (!c.note.empty())
      out.push_back(c.id + " " + c.backend + ": " + diff_verdict_name(c.verdict) + ": " + c.note);
  return out;
}

std::string md_escape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') {
      out.append("\\|");
    } else if (ch == '\n' || ch == '\r') {
      out.push_back(' ');
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

using Writer = json::PrettyWriter;
using json::num;
using json::str;

}  // namespace

void DiffConsoleReporter::report(const DiffResult& d, std::ostream& out) const {
  out << headline(d) << "\n\n";
  std::vector<std::vector<std::string>> rows{header()};
  for (const auto& c : d.cells) rows.push_back(row(c));
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  auto write = [&](const std::vector<std::string>& r) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      if (i) line.append("  ");
      const size_t pad = widths[i] - r[i].size();
      if (kRight[i]) line.append(pad, ' ');
      line.append(r[i]);
      if (!kRight[i] && i + 1 < r.size()) line.append(pad, ' ');
    }
    out << line << '\n';
  };
  write(rows[0]);
  std::vector<std::string> rule;
  for (size_t w : widths) rule.emplace_back(w, '-');
  write(rule);
  for (size_t i = 1; i < rows.size(); ++i) write(rows[i]);
  if (d.cells.empty()) out << "(no cell measured in either file)\n";
  auto section = [&](const char* title, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    out << '\n' << title << '\n';
    for (const auto& l : lines) out << "  " << l << '\n';
  };
  section("per backend (change of the geometric mean of the median ratios):", summary_lines(d));
  section("notes:", note_lines(d));
  section("warnings (the runs differ in setup, not only in code):", d.warnings);
  out << '\n' << diff_outcome_line(d) << '\n';
}

void DiffMarkdownReporter::report(const DiffResult& d, std::ostream& out) const {
  std::string head = headline(d);
  std::replace(head.begin(), head.end(), '\n', ' ');
  out << md_escape(head) << "\n\n|";
  for (const auto& h : header()) out << ' ' << md_escape(h) << " |";
  out << "\n|";
  for (bool right : kRight) out << (right ? " ---: |" : " :--- |");
  out << '\n';
  for (const auto& c : d.cells) {
    out << '|';
    for (const auto& x : row(c)) out << ' ' << md_escape(x) << " |";
    out << '\n';
  }
  auto section = [&](const char* title, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    out << "\n**" << title << "**\n\n";
    for (const auto& l : lines) out << "- " << md_escape(l) << '\n';
  };
  section("Per backend", summary_lines(d));
  section("Notes", note_lines(d));
  section("Warnings", d.warnings);
  out << "\n**" << md_escape(diff_outcome_line(d)) << "**\n";
}

void DiffJsonReporter::report(const DiffResult& d, std::ostream& out) const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("base"), str(w, d.base_label);
  w.Key("new"), str(w, d.new_label);
  w.Key("settings");
  w.StartObject();
  w.Key("alpha"), num(w, d.settings.alpha);
  w.Key("min_effect"), num(w, d.settings.min_effect);
  w.Key("confidence"), num(w, d.settings.confidence);
  w.Key("resamples"), w.Int64(d.settings.resamples);
  w.Key("seed"), w.Uint64(d.settings.seed);
  w.EndObject();
  w.Key("cells");
  w.StartArray();
  for (const auto& c : d.cells) {
    w.StartObject();
    w.Key("id"), str(w, c.id);
    w.Key("backend"), str(w, c.backend);
    w.Key("brick"), str(w, c.brick);
    w.Key("shape"), str(w, c.shape);
    w.Key("status_base"), str(w, c.status_base);
    w.Key("status_new"), str(w, c.status_new);
    w.Key("n_base"), w.Int64(c.n_base);
    w.Key("n_new"), w.Int64(c.n_new);
    w.Key("median_base_s"), num(w, c.median_base);
    w.Key("median_new_s"), num(w, c.median_new);
    w.Key("ratio"), num(w, c.ratio);
    w.Key("ratio_ci");
    w.StartArray();
    num(w, c.ratio_lower);
    num(w, c.ratio_upper);
    w.EndArray();
    w.Key("p_value"), num(w, c.p_value);
    w.Key("verdict"), str(w, diff_verdict_name(c.verdict));
    w.Key("gates"), w.Bool(c.gates);
    w.Key("note"), str(w, c.note);
    w.EndObject();
  }
  w.EndArray();
  w.Key("backends");
  w.StartArray();
  for (const auto& s : d.backends) {
    w.StartObject();
    w.Key("backend"), str(w, s.backend);
    w.Key("compared"), w.Int(s.compared);
    w.Key("geomean_ratio"), num(w, s.geomean_ratio);
    w.Key("faster"), w.Int(s.faster);
    w.Key("slower"), w.Int(s.slower);
    w.Key("same"), w.Int(s.same);
    w.Key("noisy"), w.Int(s.noisy);
    w.Key("only_in_one"), w.Int(s.only_in_one);
    w.EndObject();
  }
  w.EndArray();
  w.Key("warnings");
  w.StartArray();
  for (const auto& s : d.warnings) str(w, s);
  w.EndArray();
  w.Key("regression"), w.Bool(d.regression());
  w.Key("missing"), w.Int(d.missing());
  w.Key("allow_missing"), w.Bool(d.settings.allow_missing);
  w.Key("failed"), w.Bool(d.failed());
  w.Key("outcome"), str(w, diff_outcome_line(d));
  w.EndObject();
  out << buf.GetString() << '\n';
}

}  // namespace bb::report
