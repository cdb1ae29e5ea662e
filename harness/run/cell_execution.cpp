#include "run/cell_execution.h"

#include "plugin/registry.h"
#include "run/host_load.h"

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
  // The interference sentinel: a reading after every slice; each cell's window opens at the reading
  // before its first slice and closes at the one after its last.
  const HostLoad host;
  std::optional<HostReading> last = host.read();
  std::vector<std::optional<HostReading>> opened(runnable.size());
  auto close_window = [&](size_t i) {
    if (opened[i] && last) runnable[i]->result.interference = interference_between(*opened[i], *last);
  };
  size_t n_finished = 0;
  auto finish = [&](size_t i, bool interrupted) {
    CellRunner& c = *runnable[i];
    c.record_measurement(interrupted);
    close_window(i);
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
      if (!opened[i]) opened[i] = last;
      try {
        c.sample_for(kSliceSeconds);
      } catch (const std::exception& ex) {
        last = host.read();
        scheduler.mark_done(i);
        c.fail_sampling(ex.what(), say);
        close_window(i);
        ++n_finished;
        finished(c, false);
        continue;
      }
      last = host.read();
      if (c.sampling_done()) {
        scheduler.mark_done(i);
        finish(i, false);
      } else if (const std::string line = c.progress_line(progress_interval_s); !line.empty()) {
        say(line);
      }
    }
  }
  if (!interrupted && !plugin::cancel_requested()) return false;
  for (size_t i = 0; i < runnable.size(); ++i)
    if (!scheduler.is_done(i) && runnable[i]->has_sampler()) finish(i, true);
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
