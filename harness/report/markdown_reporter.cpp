// The markdown report: the console table as a GitHub pipe table, the sections as lists.
#include "report/reporter.h"
#include "report/table.h"

namespace bb::report {
namespace {

// Text safe inside a pipe-table cell or a list item: pipes escaped, line breaks flattened.
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

void write_section(std::ostream& out, const char* title, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  out << "\n**" << title << "**\n\n";
  for (const auto& l : lines) out << "- " << md_escape(l) << '\n';
}

}  // namespace

void MarkdownReporter::report(const RunResult& r, std::ostream& out) const {
  out << md_escape(run_headline(r)) << "\n\n";
  const SummaryTable t = summary_table(r);
  out << '|';
  for (const auto& h : t.header) out << ' ' << md_escape(h) << " |";
  out << "\n|";
  for (bool right : t.right_aligned) out << (right ? " ---: |" : " :--- |");
  out << '\n';
  for (const auto& row : t.rows) {
    out << '|';
    for (const auto& c : row) out << ' ' << md_escape(c) << " |";
    out << '\n';
  }
  write_section(out, "Decode tok/s per backend", decode_summary_lines(r));
  write_section(out, "Decode tok/s versus the Ollama peer (server-side timings)", peer_comparison_lines(r));
  write_section(out, "Notes", cell_notes(r));
  std::vector<std::string> skipped;
  for (const auto& s : r.skipped_backends) {
    std::string line = s.name;
    line.append(": ").append(s.reason);
    skipped.push_back(std::move(line));
  }
  write_section(out, "Skipped backends", skipped);
  write_section(out, "Warnings", r.warnings);
}

}  // namespace bb::report
