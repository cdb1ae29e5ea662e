// Stage 5 of `bench run` (docs/DESIGN.md §8), one cell: a CellRunner takes one (brick, backend)
// cell through named steps, as Google Benchmark's BenchmarkRunner does one benchmark:
//   prepare()            the plan or model session, one check run on poisoned outputs (kept for
//                        the verdicts), the sampler;
//   sample_for(seconds)  measure::CellSampler's warm-up and calibration on the first call, then
//                        samples; the scheduler (cell_execution.h) interleaves these slices;
//   record_measurement() samples, statistics, status, GB/s into the cell's record.
// It judges nothing: equivalence, budget and roofline are the verdicts stage's (verdicts.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "measure/protocol.h"
#include "model/qwen2_model.h"
#include "plugin/backend.h"
#include "result/run_result.h"
#include "run/backend_setup.h"
#include "run/progress_sink.h"
#include "workload/cells.h"
#include "workload/decode_driver.h"
#include "workload/plan_workload.h"

namespace bb::run {

// Decode equivalence: the logits of this many positions.
inline constexpr int32_t kDecodeCheckPositions = 4;

// What every cell of one run shares: the model, the sessions' size (the longest need of the
// decode / generate cells), the seed, the plan workloads (one per cell spec: every backend gets the
// same inputs) and each backend's decode driver.
class CellWorkloads {
 public:
  CellWorkloads(const model::Qwen2Model& model, const std::vector<workload::CellSpec>& specs, int32_t threads,
                uint64_t seed);
  const model::Qwen2Model& model() const { return model_; }
  int32_t n_ctx() const { return n_ctx_; }
  uint64_t seed() const { return seed_; }
  workload::PlanWorkload& workload_of(const workload::CellSpec& spec);
  // The backend's session, made on first use; nullptr when it cannot be made (b.driver_error says why).
  workload::DecodeDriver* driver_of(Backend& b);
  // The token a decode / generate cell starts from at position context - 1 (after the KV history).
  int32_t first_token(const workload::CellSpec& spec) const;

 private:
  const model::Qwen2Model& model_;
  int32_t n_ctx_ = 0;
  int32_t threads_ = 0;
  uint64_t seed_ = 0;
  std::map<const workload::CellSpec*, std::unique_ptr<workload::PlanWorkload>> workloads_;
};

class CellRunner {
 public:
  // `record` is the cell's record as the cell plan (cell_plan.h) made it: what it is, its budget.
  CellRunner(const workload::CellSpec& spec, Backend& backend, bool bandwidth, report::Cell record);

  // The plan or session, one check run, the sampler. false when the cell was skipped or failed
  // (recorded in `result` and said); it then has no sampler.
  bool prepare(CellWorkloads& w, const ProgressSink& say);
  std::string out_of_memory_reason() const;  // a std::bad_alloc while preparing, in words
  // A slice of sampling (warm-up and calibration first, inside the sampler). Throws what the
  // backend's call threw.
  void sample_for(double seconds) { sampler_->step_for(seconds); }
  bool has_sampler() const { return sampler_ != nullptr; }
  bool sampling_done() const { return sampler_->done(); }
  // Samples (per token for generate), statistics, status (INTERRUPTED when `interrupted`), tok/s,
  // GB/s, GFLOP/s; the backend's ceiling when this is its bandwidth probe.
  void record_measurement(bool interrupted);
  // SKIPPED / FAILED / INTERRUPTED with why, or CRASHED / TIMEOUT when an isolated backend's
  // plugin host died (whatever the call said).
  void fail(report::CellStatus status, const std::string& why, const ProgressSink& say);
  // A sampling call threw: FAILED (INTERRUPTED when cancelled) with the samples taken so far; the
  // sampler is dropped.
  void fail_sampling(const std::string& why, const ProgressSink& say);
  // "  qkv on avx_bricks: 12 samples, CV 1.20%, 0.4 s", at most every `interval_s` (else "").
  std::string progress_line(double interval_s);
  // "[ 50%] qkv on avx_bricks: CONVERGED, 20 samples, median 12.3 us, CV 1.20%"
  std::string finished_line(size_t finished, size_t total) const;

  const workload::CellSpec& spec;
  Backend& backend;
  const bool bandwidth;  // the backend's bandwidth probe (a copy), not a brick of the experiment
  report::Cell result;
  size_t result_index = 0;  // into RunResult::cells (ResultSink::add)
  // The check run's outputs, for the verdicts.
  std::vector<std::vector<float>> outputs;
  std::vector<uint8_t> bytes;
  std::vector<int32_t> tokens;
  bool has_outputs = false;
  bool warmup_truncated = false;  // record_measurement: the warm-up was cut at its time cap
  bool prepared = false;          // prepare() succeeded: the verdicts judge its equivalence
  bool measured = false;          // record_measurement() found samples: statistics, GB/s, the budget verdict
  // generate on a backend without session_write_kv (a whole-model peer): a real prompt of `context`
  // tokens from position 0 instead of a synthetic KV history, so its tokens are not compared.
  bool real_prompt = false;
  // ABI 1.1 session metrics of every timed generate call (a peer's server-side timings).
  std::vector<std::vector<std::pair<std::string, std::string>>> call_metrics;

 private:
  bool prepare_session(CellWorkloads& w, const ProgressSink& say);
  void prepare_decode(workload::DecodeDriver& drv, CellWorkloads& w);
  void prepare_generate(workload::DecodeDriver& drv, CellWorkloads& w);
  void read_engine_facts(workload::DecodeDriver& drv, const ProgressSink& say);
  bool prepare_plan(CellWorkloads& w, const ProgressSink& say);

  std::unique_ptr<plugin::Plan> plan_;
  std::unique_ptr<measure::CellSampler> sampler_;
  int64_t weight_cursor_ = 0;
  int32_t n_weight_sets_ = 1;
  bool device_time_ = false;  // samples are the device time the backend reports (decided by the check run)
  std::chrono::steady_clock::time_point last_progress_{};
};

}  // namespace bb::run
