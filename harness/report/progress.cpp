// Progress lines for cells being measured.
#include "report/progress.h"

#include <cmath>
#include <cstdio>

#include "report/number_format.h"

namespace bb::report {
namespace {

std::string padded(const std::string& s, size_t width) {
  std::string out = s;
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

std::string percent(double fraction) {
  std::string s = fixed(100 * fraction, 2);
  s.push_back('%');
  return s;
}

}  // namespace

std::string progress_line(const CellProgress& p) {
  std::string line;
  if (p.index > 0) {
    const int digits = static_cast<int>(std::to_string(p.count > 0 ? p.count : p.index).size());
    char buf[64];
    if (p.count > 0) {
      std::snprintf(buf, sizeof buf, "[%*lld/%lld] ", digits, static_cast<long long>(p.index),
                    static_cast<long long>(p.count));
    } else {
      std::snprintf(buf, sizeof buf, "[%lld] ", static_cast<long long>(p.index));
    }
    line.append(buf);
  }
  line.append(padded(p.cell_id, 16)).append(" ").append(padded(p.backend, 13)).append(" ");
  char n[32];
  std::snprintf(n, sizeof n, "n=%4lld", static_cast<long long>(p.samples));
  line.append(n);
  line.append("  cv ").append(std::isfinite(p.cv) ? percent(p.cv) : std::string("-"));
  if (std::isfinite(p.cv_target)) line.append(" (target ").append(percent(p.cv_target)).append(")");
  if (p.median_s && std::isfinite(*p.median_s)) line.append("  median ").append(format_duration(*p.median_s));
  line.append("  ").append(fixed(p.elapsed_s, 1)).append(" s");
  if (!p.status.empty()) line.append("  ").append(p.status);
  return line;
}

std::string progress_line(const Cell& c, double elapsed_s, int64_t index, int64_t count) {
  CellProgress p;
  p.cell_id = c.id;
  p.backend = c.backend;
  p.samples = static_cast<int64_t>(c.samples.size());
  if (c.stats.n > 0) {
    p.cv = c.stats.cv;
    p.median_s = c.stats.median;
  }
  p.elapsed_s = elapsed_s;
  p.index = index;
  p.count = count;
  p.status = cell_status_name(c.status);
  if (!c.status_reason.empty() && c.status != CellStatus::Converged)
    p.status.append(": ").append(c.status_reason);
  return progress_line(p);
}

}  // namespace bb::report
