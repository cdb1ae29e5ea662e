// Number spelling for result files (round-trip exact) and tables (human-sized).
#include "result/number_format.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

namespace bb::report {

std::string shortest_double(double x) {
  // to_chars spells -0.0 "-0", which JSON readers take for the integer 0: keep the sign and the type.
  if (x == 0 && std::signbit(x)) return "-0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);
  if (res.ec != std::errc()) return "null";  // cannot happen: 64 chars hold any double
  return std::string(buf, res.ptr);
}

DurationUnit duration_unit(double seconds) {
  const double a = std::fabs(seconds);
  // Thresholds at 999.95 of the smaller unit, so 999.97 us prints as "1.000 ms", not "1000.0 us".
  if (!(a >= 999.95e-9)) return {"ns", 1e-9};
  if (a < 999.95e-6) return {"us", 1e-6};
  if (a < 0.99995) return {"ms", 1e-3};
  return {"s", 1.0};
}

int decimals_for_4_digits(double value_in_unit) {
  const double a = std::fabs(value_in_unit);
  if (!(a > 0) || !std::isfinite(a)) return 0;
  const int digits_before_point = static_cast<int>(std::floor(std::log10(a))) + 1;
  const int d = 4 - digits_before_point;
  return d < 0 ? 0 : (d > 3 ? 3 : d);
}

std::string fixed(double x, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

std::string scientific(double x, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*e", decimals, x);
  return buf;
}

std::string format_in_unit(double seconds, DurationUnit unit, int decimals) {
  if (!std::isfinite(seconds)) return "-";
  return fixed(seconds / unit.seconds, decimals);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "-";
  const DurationUnit unit = duration_unit(seconds);
  std::string s = format_in_unit(seconds, unit, decimals_for_4_digits(seconds / unit.seconds));
  s.append(" ").append(unit.name);
  return s;
}

}  // namespace bb::report
