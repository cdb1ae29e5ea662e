// Names of the result model's enumerations, as result files and tables spell them.
#include "report/run_result.h"

#include <array>

namespace bb::report {
namespace {

constexpr std::array<std::pair<CellStatus, const char*>, 6> kStatusNames{{
    {CellStatus::Converged, "CONVERGED"},
    {CellStatus::Unstable, "UNSTABLE"},
    {CellStatus::CappedSlow, "CAPPED_SLOW"},
    {CellStatus::Skipped, "SKIPPED"},
    {CellStatus::Failed, "FAILED"},
    {CellStatus::Interrupted, "INTERRUPTED"},
}};

}  // namespace

const char* cell_status_name(CellStatus s) {
  for (const auto& [status, name] : kStatusNames) {
    if (status == s) return name;
  }
  return "UNKNOWN";
}

std::optional<CellStatus> cell_status_from_name(std::string_view name) {
  for (const auto& [status, status_name] : kStatusNames) {
    if (name == status_name) return status;
  }
  return std::nullopt;
}

}  // namespace bb::report
