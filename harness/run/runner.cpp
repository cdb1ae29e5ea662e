#include "run/runner.h"

#include <chrono>

#include "config/brick.h"
#include "measure/protocol.h"
#include "plugin/backend.h"
#include "run/backend_setup.h"
#include "run/cell_execution.h"
#include "run/cell_plan.h"
#include "run/cell_runner.h"
#include "run/environment.h"
#include "run/host_load.h"
#include "run/model_record.h"
#include "run/peers.h"
#include "run/result_sink.h"
#include "run/text.h"
#include "run/verdicts.h"
#include "workload/cells.h"

#ifndef BRICKBENCH_GIT_COMMIT
#define BRICKBENCH_GIT_COMMIT "unknown"
#endif

namespace bb::run {
namespace {

// Stage 1, the experiment: what the result says about the run before anything is loaded.
report::RunResult start_result(const config::Experiment& e, const RunOptions& o) {
  report::RunResult r;
  r.tool_version = BRICKBENCH_VERSION;
  r.git_commit = BRICKBENCH_GIT_COMMIT;
  r.started_utc = utc_now_iso8601();
  r.command_line = o.command_line;
  r.experiment_name = e.name;
  r.experiment_hash = config::experiment_hash(e);
  r.experiment_json = config::canonical_json(e);
  r.config_path = e.source;
  r.environment = collect_environment();
  return r;
}

}  // namespace

report::RunResult run_experiment(const config::Experiment& e, const RunOptions& o, const ProgressSink& say) {
  report::RunResult r = start_result(e, o);
  ResultSink sink(r, o.out_path, say);

  const ModelUnderTest model = load_model(e, r);
  say("model: " + model.path + (r.model.synthetic ? " (synthetic " + r.model.synthetic_spec + ")" : "") +
      ", " + printf_number("%.1f MiB", r.model.weight_mib));
  // The cells are validated against the model before anything runs.
  const std::vector<workload::CellSpec> specs = workload::expand_cells(e, model.model, model.types);
  const workload::CellSpec bandwidth_spec = workload::bandwidth_probe_cell(o.bandwidth_bytes);

  plugin::PluginRegistry registry;
  registry.discover(o.plugin_paths);
  for (const auto& w : registry.warnings()) r.warnings.push_back(w);
  const std::vector<std::string> names = backend_names(e, registry, o.only_backends);
  const int32_t threads = o.threads >= 0 ? o.threads : e.threads;
  if (threads > 0) plugin::set_host_threads(threads);
  const std::vector<std::unique_ptr<Backend>> backends = set_up_backends(e, registry, names, threads, r, say);

  CellWorkloads workloads(model.model, specs, threads, e.protocol.seed);
  CellPlan plan = plan_cells(specs, bandwidth_spec, backends);

  // Every planned cell is in the file from here on ("not reached" until it is), so a run killed while
  // preparing still leaves a result that says what was planned and how far it got.
  for (auto& c : plan.cells) c->result_index = sink.add(c->result);
  sink.save();
  say("preparing " + std::to_string(plan.cells.size()) + " cells on " + std::to_string(backends.size()) +
      " backends");
  auto last_save = std::chrono::steady_clock::now();
  const std::vector<CellRunner*> runnable = prepare_cells(plan, workloads, say, [&](CellRunner& c) {
    sink.store(c.result_index, c.result);
    if (std::chrono::steady_clock::now() - last_save < std::chrono::seconds(1)) return;
    sink.save();  // at most about once a second: each save is an fsync
    last_save = std::chrono::steady_clock::now();
  });

  say("measuring " + std::to_string(runnable.size()) + " cells (" +
      config::order_name(e.protocol.order).data() + " order, seed " + std::to_string(e.protocol.seed) + ")");
  const bool interrupted = sample_cells(
      runnable, e.protocol.seed, e.protocol.order, o.progress_interval_s, say,
      [&](CellRunner& c, bool measured) {
        sink.store(c.result_index, c.result);
        if (measured) record_peer(c, r);
        if (measured && c.warmup_truncated)  // issue 14, defect 17
          r.warnings.push_back(c.result.id + " on " + c.backend.name + ": warm-up cut short after " +
                               printf_number("%.3g s", c.result.warmup_seconds) +
                               " (half of max_seconds_per_cell), before its warmup_ms");
        sink.save();
      });
  if (interrupted)
    for (CellRunner* c : mark_unprepared_interrupted(plan)) sink.store(c->result_index, c->result);

  if (const std::string w = interference_warning(r.cells); !w.empty()) {
    r.warnings.push_back(w);
    say("WARNING: " + w);
  }
  decide_verdicts(plan, workloads, e, say);
  for (auto& c : plan.cells) sink.store(c->result_index, c->result);
  r.state = interrupted ? "interrupted" : "complete";
  r.finished_utc = utc_now_iso8601();
  sink.save();
  if (o.write_failure) *o.write_failure = sink.write_failure();
  return r;
}

}  // namespace bb::run
