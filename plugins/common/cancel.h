// The host's cancel request as an exception, for the plugins and for scalar_ref's math library
// (which knows nothing of the ABI): thrown between units of work when the host's cancel flag reads
// non-zero, reported as BB_CANCELLED by the plugins' guarded entry points (plugin_glue.h).
// Header-only, no dependencies.
#pragma once

#include <cstdint>
#include <stdexcept>

namespace bb::plugin_util {

class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled by the host") {}
};

inline void check_cancel(const volatile int32_t* flag) {
  if (flag != nullptr && *flag != 0) throw Cancelled();
}

}  // namespace bb::plugin_util
