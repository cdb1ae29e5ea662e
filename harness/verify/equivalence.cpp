#include "verify/equivalence.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace bb::verify {

OutputComparison compare_outputs(const std::vector<std::vector<float>>& candidate,
                                 const std::vector<std::vector<float>>& reference) {
  if (candidate.size() != reference.size())
    throw std::invalid_argument("compare_outputs: " + std::to_string(candidate.size()) + " outputs vs " +
                                std::to_string(reference.size()) + " in the reference");
  OutputComparison c;
  double err = 0, ref = 0, max_err = 0, max_ref = 0;
  for (size_t t = 0; t < candidate.size(); ++t) {
    if (candidate[t].size() != reference[t].size())
      throw std::invalid_argument("compare_outputs: output " + std::to_string(t) + " has " +
                                  std::to_string(candidate[t].size()) + " values vs " +
                                  std::to_string(reference[t].size()));
    for (size_t i = 0; i < candidate[t].size(); ++i) {
      const double r = reference[t][i], y = candidate[t][i];
      ++c.values;
      max_ref = std::max(max_ref, std::fabs(r));
      if (!std::isfinite(y)) {
        ++c.non_finite;
        continue;
      }
      const double d = y - r;
      err += d * d;
      ref += r * r;
      max_err = std::max(max_err, std::fabs(d));
    }
  }
  c.nmse = c.non_finite ? INFINITY : (ref > 0 ? err / ref : (err > 0 ? INFINITY : 0.0));
  c.max_rel = max_ref > 0 ? max_err / max_ref : (max_err > 0 ? INFINITY : 0.0);
  return c;
}

double tie_margin(const std::vector<float>& row, std::optional<double> tol_nmse) {
  if (!tol_nmse || !(*tol_nmse > 0) || row.empty()) return 0.0;
  double ss = 0;
  for (float x : row) ss += double(x) * x;
  return 3.0 * std::sqrt(2.0 * *tol_nmse) * std::sqrt(ss / static_cast<double>(row.size()));
}

bool top1_acceptable(const std::vector<float>& row, int32_t token, double margin) {
  if (token < 0 || static_cast<size_t>(token) >= row.size() ||
      !std::isfinite(row[static_cast<size_t>(token)]))
    return false;
  float best = -INFINITY;
  for (float x : row)
    if (x > best) best = x;
  return row[static_cast<size_t>(token)] >= best - margin;
}

report::Equivalence judge(const OutputComparison& c, const config::Tolerance& tol, config::ToleranceClass cls,
                          const std::string& reference) {
  report::Equivalence e;
  e.checked = true;
  e.reference = reference;
  e.tolerance_class = std::string(config::tolerance_class_name(cls));
  e.nmse = c.nmse;
  e.max_rel = c.max_rel;
  e.non_finite = c.non_finite;
  e.top1 = c.top1;
  e.top1_strict = c.top1_strict;
  e.tol_nmse = tol.nmse;
  e.tol_max_rel = tol.max_rel;
  e.tol_top1 = tol.top1;
  char buf[160];
  std::string failed;
  if (c.non_finite) failed += std::to_string(c.non_finite) + " non-finite outputs; ";
  if (tol.nmse && !(c.nmse <= *tol.nmse)) {
    std::snprintf(buf, sizeof buf, "NMSE %.3g > %.3g; ", c.nmse, *tol.nmse);
    failed += buf;
  }
  if (tol.max_rel && !(c.max_rel <= *tol.max_rel)) {
    std::snprintf(buf, sizeof buf, "max rel %.3g > %.3g; ", c.max_rel, *tol.max_rel);
    failed += buf;
  }
  if (tol.top1 && c.top1 && !(*c.top1 >= *tol.top1)) {
    std::snprintf(buf, sizeof buf, "top-1 %.3f < %.3f; ", *c.top1, *tol.top1);
    failed += buf;
  }
  e.pass = failed.empty();
  if (!e.pass) e.note = failed.substr(0, failed.size() - 2);
  return e;
}

}  // namespace bb::verify
