// The CSV report: one row per cell, SI units, RFC 4180 quoting.
#include <cmath>

#include "model/ggml_types.h"
#include "report/reporter.h"
#include "report/table.h"
#include "result/number_format.h"

namespace bb::report {
namespace {

std::string number(double x) { return std::isfinite(x) ? shortest_double(x) : std::string(); }
std::string number(const std::optional<double>& x) { return x ? number(*x) : std::string(); }
// A value that only means something when the cell took samples.
std::string measured(const Cell& c, double x) { return c.stats.n > 0 ? number(x) : std::string(); }

}  // namespace

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  out.push_back('"');
  return out;
}

std::vector<std::string> CsvReporter::header() {
  return {"id",
          "brick",
          "backend",
          "shape",
          "context",
          "weight_type",
          "tokens",
          "n_weight_sets",
          "status",
          "status_reason",
          "time_source",
          "iterations_per_sample",
          "n",
          "median_s",
          "ci_lower_s",
          "ci_upper_s",
          "ci_confidence",
          "mean_s",
          "stdev_s",
          "cv",
          "min_s",
          "max_s",
          "p90_s",
          "p99_s",
          "mad_s",
          "outliers",
          "tok_s",
          "bytes",
          "flops",
          "bytes_per_s",
          "flops_per_s",
          "ceiling_bytes_per_s",
          "fraction_of_ceiling",
          "budget_s",
          "budget_tok_s",
          "budget_gap",
          "budget_score",
          "budget_grade",
          "budget_pass",
          "equivalence",
          "equivalence_reference",
          "nmse",
          "max_rel",
          "top1",
          "non_finite"};
}

void CsvReporter::report(const RunResult& r, std::ostream& out) const {
  auto write_line = [&out](const std::vector<std::string>& fields) {
    std::string line;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i) line.push_back(',');
      line.append(csv_field(fields[i]));
    }
    out << line << '\n';
  };
  write_line(header());
  for (size_t i : table_order(r)) {
    const Cell& c = r.cells[i];
    const auto& s = c.stats;
    const Budget& b = c.budget;
    const Equivalence& e = c.equivalence;
    const bool sampled = s.n > 0;
    write_line({
        c.id,
        c.brick,
        c.backend,
        c.shape,
        std::to_string(c.context),
        c.weight_type < 0 ? std::string() : model::ggml_type_name(c.weight_type),
        std::to_string(c.tokens),
        std::to_string(c.n_weight_sets),
        cell_status_name(c.status),
        c.status_reason,
        c.time_source,
        std::to_string(c.iterations_per_sample),
        std::to_string(s.n),
        measured(c, s.median),
        measured(c, s.median_ci.lower),
        measured(c, s.median_ci.upper),
        measured(c, s.median_ci.confidence),
        measured(c, s.mean),
        measured(c, s.stdev),
        measured(c, s.cv),
        measured(c, s.min),
        measured(c, s.max),
        measured(c, s.p90),
        measured(c, s.p99),
        measured(c, s.mad),
        sampled ? std::to_string(s.outliers.count()) : std::string(),
        sampled ? number(cell_tok_s(c)) : std::string(),
        number(c.roofline.bytes),
        number(c.roofline.flops),
        sampled && c.roofline.gbps > 0 ? number(c.roofline.gbps * 1e9) : std::string(),
        sampled && c.roofline.gflops > 0 ? number(c.roofline.gflops * 1e9) : std::string(),
        c.roofline.ceiling_gbps > 0 ? number(c.roofline.ceiling_gbps * 1e9) : std::string(),
        sampled && c.roofline.ceiling_gbps > 0 ? number(c.roofline.fraction_of_ceiling) : std::string(),
        b.has_budget ? number(b.budget_us * 1e-6) : std::string(),
        b.has_budget ? number(b.budget_tok_s) : std::string(),
        b.has_budget && sampled ? number(b.gap) : std::string(),
        b.has_budget && sampled && b.graded ? number(b.score) : std::string(),
        b.has_budget && sampled && b.graded ? b.grade : std::string(),
        b.has_budget && sampled && b.graded ? std::string(b.pass ? "true" : "false") : std::string(),
        e.checked ? std::string(e.pass ? "PASS" : "FAIL") : std::string(),
        e.checked ? e.reference : std::string(),
        e.checked ? number(e.nmse) : std::string(),
        e.checked ? number(e.max_rel) : std::string(),
        e.checked ? number(e.top1) : std::string(),
        e.checked ? std::to_string(e.non_finite) : std::string(),
    });
  }
}

}  // namespace bb::report
