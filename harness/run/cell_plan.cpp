#include "run/cell_plan.h"

#include <algorithm>
#include <string>

#include "config/brick.h"

namespace bb::run {
namespace {

report::Cell cell_record(const workload::CellSpec& s, const Backend& b, bool bandwidth) {
  report::Cell rc;
  rc.id = s.id;
  rc.brick = bandwidth ? "copy" : std::string(config::brick_name(s.brick));
  rc.backend = b.name;
  rc.shape = s.shape;
  rc.context = s.context;
  rc.weight_type = s.brick == config::Brick::Gemv ? s.weight_type : -1;
  rc.tokens = s.tokens;
  rc.n_weight_sets = static_cast<int32_t>(std::max<size_t>(1, s.layers.size()));
  rc.time_source = "host";
  rc.roofline.bytes = s.cost.bytes();
  rc.roofline.flops = s.cost.flops;
  if (!bandwidth && s.entry) {
    if (s.entry->budget_us) {
      rc.budget.has_budget = true;
      rc.budget.budget_us = *s.entry->budget_us;
    } else if (s.entry->budget_tok_s) {
      rc.budget.has_budget = true;
      rc.budget.budget_tok_s = *s.entry->budget_tok_s;
      rc.budget.budget_us = 1e6 / *s.entry->budget_tok_s;
    }
  }
  // Reference-only backends are never graded; nor is the bandwidth probe, which measures the
  // machine (other processes' memory traffic moves it), not a brick.
  rc.budget.graded = !b.reference_only && !bandwidth;
  rc.status = report::CellStatus::Skipped;
  rc.status_reason = kNotReached;
  return rc;
}

}  // namespace

CellPlan plan_cells(const std::vector<workload::CellSpec>& specs, const workload::CellSpec& bandwidth_spec,
                    const std::vector<std::unique_ptr<Backend>>& backends) {
  CellPlan plan;
  for (const auto& b : backends) {
    std::vector<const workload::CellSpec*> todo = {&bandwidth_spec};
    for (const auto& s : specs) todo.push_back(&s);
    for (const workload::CellSpec* s : todo) {
      const bool bandwidth = s == &bandwidth_spec;
      auto c = std::make_unique<CellRunner>(*s, *b, bandwidth, cell_record(*s, *b, bandwidth));
      if (b->reference && !bandwidth) plan.reference_cell[s] = c.get();
      plan.cells.push_back(std::move(c));
    }
  }
  return plan;
}

}  // namespace bb::run
