// How numbers are spelled in result files and tables. Files get the shortest text that reads back
// to the same double; tables get a few significant digits in a unit chosen for the value.
#pragma once

#include <string>

namespace bb::report {

// Shortest decimal text that parses back to exactly x (std::to_chars), e.g. "1.5e-07", "42"; "-0.0".
// NaN and infinities have no JSON spelling: callers check std::isfinite first.
std::string shortest_double(double x);

// A duration in seconds with 4 significant digits in ns, us, ms or s: "812.3 ns", "12.35 us", "1.200 s".
// Non-finite: "-".
std::string format_duration(double seconds);

// The unit format_duration picks for seconds: its name ("us") and seconds per unit (1e-6).
struct DurationUnit {
  const char* name;
  double seconds;
};
DurationUnit duration_unit(double seconds);

// seconds / unit.seconds with a fixed number of decimals (an interval printed in its median's unit
// and precision); "-" when not finite.
std::string format_in_unit(double seconds, DurationUnit unit, int decimals);
// Decimals giving 4 significant digits for a value already in its unit (0..3).
int decimals_for_4_digits(double value_in_unit);

// printf("%.*f") and printf("%.*e") into a std::string.
std::string fixed(double x, int decimals);
std::string scientific(double x, int decimals);

}  // namespace bb::report
