// printf of one number into a std::string, for the run's messages and records.
#pragma once

#include <cstdio>
#include <string>

namespace bb::run {

inline std::string printf_number(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

}  // namespace bb::run
