#include "run/cell_execution.h"

#include "plugin/registry.h"

namespace bb::run {

namespace {
constexpr double kSliceSeconds = 0.005;  // of one cell's sampling before the round moves on
}  // namespace

std::vector<CellRunner*> prepare_cells(CellPlan& plan, CellWorkloads& w, const ProgressSink& say,
                                       const CellPrepared& prepared) {
  std::vector<CellRunner*> runnable;
  for (auto& c : plan.cells) {
    if (plugin::cancel_requested()) break;
    c->prepare(w, say);
    if (c->has_sampler()) runnable.push_back(c.get());
    if (prepared) prepared(*c);
  }
  return runnable;
}

bool sample_cells(const std::vector<CellRunner*>& runnable, uint64_t seed, measure::SchedulingOrder order,
                  double progress_interval_s, const ProgressSink& say, const CellFinished& finished) {
  measure::InterleavedScheduler scheduler(runnable.size(), seed, order);
  size_t n_finished = 0;
  auto finish = [&](CellRunner& c, bool interrupted) {
    c.record_measurement(interrupted);
    ++n_finished;
    say(c.finished_line(n_finished, runnable.size()));
    finished(c, true);
  };
  bool interrupted = false;
  while (!scheduler.finished() && !interrupted) {
    for (size_t i : scheduler.next_round()) {
      if (plugin::cancel_requested()) {
        interrupted = true;
        break;
      }
      CellRunner& c = *runnable[i];
      try {
        c.sample_for(kSliceSeconds);
      } catch (const std::exception& ex) {
        scheduler.mark_done(i);
        c.fail_sampling(ex.what(), say);
        ++n_finished;
        finished(c, false);
        continue;
      }
      if (c.sampling_done()) {
        scheduler.mark_done(i);
        finish(c, false);
      } else if (const std::string line = c.progress_line(progress_interval_s); !line.empty()) {
        say(line);
      }
    }
  }
  if (!interrupted && !plugin::cancel_requested()) return false;
  for (size_t i = 0; i < runnable.size(); ++i)
    if (!scheduler.is_done(i) && runnable[i]->has_sampler()) finish(*runnable[i], true);
  return true;
}

std::vector<CellRunner*> mark_unprepared_interrupted(CellPlan& plan) {
  std::vector<CellRunner*> marked;
  for (auto& c : plan.cells)
    if (!c->has_sampler() && !c->has_outputs && c->result.status_reason == kNotReached) {
      c->result.status = report::CellStatus::Interrupted;
      c->result.status_reason = "the run was interrupted before this cell was prepared";
      marked.push_back(c.get());
    }
  return marked;
}

}  // namespace bb::run
