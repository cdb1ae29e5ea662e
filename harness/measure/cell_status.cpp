#include "measure/cell_status.h"

#include <array>
#include <utility>

namespace bb::measure {
namespace {

constexpr std::array<std::pair<CellStatus, const char*>, 9> kStatusNames{{
    {CellStatus::Converged, "CONVERGED"},
    {CellStatus::Unstable, "UNSTABLE"},
    {CellStatus::CappedSlow, "CAPPED_SLOW"},
    {CellStatus::Skipped, "SKIPPED"},
    {CellStatus::Failed, "FAILED"},
    {CellStatus::Interrupted, "INTERRUPTED"},
    {CellStatus::Crashed, "CRASHED"},
    {CellStatus::Timeout, "TIMEOUT"},
    {CellStatus::Running, "RUNNING"},
}};

}  // namespace

const char* cell_status_name(CellStatus s) {
  for (const auto& [status, name] : kStatusNames)
    if (status == s) return name;
  return "UNKNOWN";
}

std::optional<CellStatus> cell_status_from_name(std::string_view name) {
  for (const auto& [status, status_name] : kStatusNames)
    if (name == status_name && status != CellStatus::Running) return status;
  return std::nullopt;
}

}  // namespace bb::measure
