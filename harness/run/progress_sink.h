// Where the stages of `bench run` send lines for people (progress, skips, notes); no stage prints by
// itself.
#pragma once

#include <functional>
#include <string>

namespace bb::run {

using ProgressSink = std::function<void(const std::string& line)>;

}  // namespace bb::run
