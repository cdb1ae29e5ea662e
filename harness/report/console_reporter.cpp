// The console report: an aligned ASCII table and its trailing sections.
#include <algorithm>

#include "report/reporter.h"
#include "report/table.h"

namespace bb::report {
namespace {

constexpr const char* kColumnGap = "  ";

void write_row(std::ostream& out, const std::vector<std::string>& cells, const std::vector<size_t>& widths,
               const std::vector<bool>& right) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) line.append(kColumnGap);
    const size_t pad = widths[i] - cells[i].size();
    if (right[i]) line.append(pad, ' ');
    line.append(cells[i]);
    if (!right[i] && i + 1 < cells.size()) line.append(pad, ' ');
  }
  out << line << '\n';
}

void write_section(std::ostream& out, const char* title, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  out << '\n' << title << '\n';
  for (const auto& l : lines) out << "  " << l << '\n';
}

}  // namespace

void ConsoleReporter::report(const RunResult& r, std::ostream& out) const {
  out << run_headline(r) << "\n\n";
  const SummaryTable t = summary_table(r);
  std::vector<size_t> widths(t.header.size());
  for (size_t i = 0; i < t.header.size(); ++i) widths[i] = t.header[i].size();
  for (const auto& row : t.rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  write_row(out, t.header, widths, t.right_aligned);
  std::vector<std::string> rule;
  for (size_t w : widths) rule.emplace_back(w, '-');
  write_row(out, rule, widths, t.right_aligned);
  for (const auto& row : t.rows) write_row(out, row, widths, t.right_aligned);
  if (t.rows.empty()) out << "(no cells)\n";

  write_section(out, "decode tok/s per backend:", decode_summary_lines(r));
  write_section(out, "decode tok/s versus the Ollama peer (server-side timings):", peer_comparison_lines(r));
  write_section(out, "notes:", cell_notes(r));
  std::vector<std::string> skipped;
  for (const auto& s : r.skipped_backends) {
    std::string line = s.name;
    line.append(": ").append(s.reason);
    skipped.push_back(std::move(line));
  }
  write_section(out, "skipped backends:", skipped);
  write_section(out, "warnings:", r.warnings);
}

}  // namespace bb::report
