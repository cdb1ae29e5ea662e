// The error of `bench run` for a problem of the experiment's inputs found before any measurement
// that no config line names (no backend of the experiment is available): it exits 2 for it, as for
// a config error.
#pragma once

#include <stdexcept>

namespace bb::run {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace bb::run
