// Choosing a reporter by name, and the JSON reporter (the result file itself).
#include "report/reporter.h"

#include <stdexcept>

#include "result/result_json.h"

namespace bb::report {

void JsonReporter::report(const RunResult& r, std::ostream& out) const { out << result_json(r); }

std::vector<std::string> reporter_formats() { return {"console", "md", "csv", "json", "gbench"}; }

std::unique_ptr<Reporter> make_reporter(std::string_view format) {
  if (format == "console") return std::make_unique<ConsoleReporter>();
  if (format == "md" || format == "markdown") return std::make_unique<MarkdownReporter>();
  if (format == "csv") return std::make_unique<CsvReporter>();
  if (format == "json") return std::make_unique<JsonReporter>();
  if (format == "gbench") return std::make_unique<GbenchReporter>();
  std::string msg = "unknown output format '";
  msg.append(format).append("'; known: console, md, csv, json, gbench");
  throw std::invalid_argument(msg);
}

}  // namespace bb::report
