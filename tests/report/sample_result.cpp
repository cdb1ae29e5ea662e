#include "sample_result.h"

#include <algorithm>
#include <cmath>

#include "measure/statistics.h"

namespace bb::report::testing {
namespace {

// n samples around center with a deterministic +-spread pattern (not random: tests compare text).
std::vector<double> samples_around(double center, double spread, int n) {
  std::vector<double> s;
  for (int i = 0; i < n; ++i) s.push_back(center * (1 + spread * std::sin(1.7 * i)));
  return s;
}

Cell measured_cell(std::string id, std::string brick, std::string backend, double center, double spread) {
  Cell c;
  c.id = std::move(id);
  c.brick = std::move(brick);
  c.backend = std::move(backend);
  c.status = CellStatus::Converged;
  c.warmup_iterations = 20;
  c.warmup_seconds = 0.2;
  c.iterations_per_sample = 16;
  c.time_source = "host";
  c.samples = samples_around(center, spread, 25);
  c.stats = measure::compute_statistics(c.samples);
  return c;
}

Cell skipped_cell(std::string id, std::string brick, std::string backend, std::string reason) {
  Cell c;
  c.id = std::move(id);
  c.brick = std::move(brick);
  c.backend = std::move(backend);
  c.status = CellStatus::Skipped;
  c.status_reason = std::move(reason);
  c.stats = measure::compute_statistics({});  // n = 0, every value NaN
  return c;
}

void set_roofline(Cell& c, double bytes, double flops, double ceiling_gbps) {
  c.roofline.bytes = bytes;
  c.roofline.flops = flops;
  c.roofline.gbps = bytes / c.stats.median / 1e9;
  c.roofline.gflops = flops / c.stats.median / 1e9;
  c.roofline.ceiling_gbps = ceiling_gbps;
  c.roofline.fraction_of_ceiling = c.roofline.gbps / ceiling_gbps;
}

void set_budget(Cell& c, double budget_us, bool graded) {
  c.budget.has_budget = true;
  c.budget.budget_us = budget_us;
  c.budget.gap = c.stats.median / (budget_us * 1e-6);
  c.budget.score = 100 * std::min(1.0, 1 / c.budget.gap);
  const double s = c.budget.score;
  const char grade = s >= 90 ? 'A' : s >= 80 ? 'B' : s >= 70 ? 'C' : s >= 60 ? 'D' : 'F';
  c.budget.grade = graded ? std::string(1, grade) : std::string();
  c.budget.pass = c.budget.gap <= 1;
  c.budget.graded = graded;
}

void set_equivalence(Cell& c, bool pass, double nmse, double max_rel) {
  c.equivalence.checked = true;
  c.equivalence.pass = pass;
  c.equivalence.reference = "scalar_ref";
  c.equivalence.tolerance_class = "float";
  c.equivalence.nmse = nmse;
  c.equivalence.max_rel = max_rel;
  c.equivalence.tol_nmse = 1e-5;
  c.equivalence.tol_max_rel = 1e-2;
}

void reference_equivalence(Cell& c) { c.equivalence.note = "this is the reference"; }

}  // namespace

RunResult sample_result() {
  RunResult r;
  r.tool_version = "0.1.0";
  r.git_commit = "0a60d36f00dfeedbeef";
  r.state = "complete";
  r.started_utc = "2025-01-02T03:04:05Z";
  r.finished_utc = "2025-01-02T03:14:05Z";
  r.command_line = "bench run configs/qwen1.5b.yaml --out \"results/a b.json\"";
  r.experiment_name = "qwen2.5-coder-1.5b";
  r.experiment_hash = "0123456789abcdef";
  r.config_path = "configs/qwen1.5b.yaml";
  r.experiment_json =
      R"({"name":"qwen2.5-coder-1.5b","protocol":{"cv_target":0.03,"warmup_ms":200.0,"min_samples":20,)"
      R"("seed":42},"tolerances":{"gemv":{"nmse":0.00001,"top1":null}},"bricks":[{"brick":"qkv","budget_us":6.0}]})";
  r.environment = {
      {"cpu", "AMD EPYC 9454, 48-Core"}, {"cores", "2"}, {"governor", "performance"}, {"os", "Debian 12"}};
  PluginRecord ref{
      "scalar_ref", "0.1.0", "/build/plugins/scalar_ref.so", "ab12", 1, 0, 1, {{"compiler", "gcc 12.2"}}};
  PluginRecord avx{"avx_bricks",
                   "0.1.0",
                   "/build/plugins/avx_bricks.so",
                   "cd34",
                   1,
                   2,
                   80,
                   {{"isa_compiled", "avx2,avx512f"}, {"isa_detected", "avx2"}}};
  r.plugins = {ref, avx};
  r.skipped_backends = {{"cuda_bricks", "no CUDA device (cudaGetDeviceCount: 0)"}};
  r.model.name = "qwen2.5-coder-1.5b";
  r.model.path = "/cache/models/qwen2.5-coder-1.5b-q4_k_m-seed1.gguf";
  r.model.sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  r.model.synthetic = true;
  r.model.synthetic_spec = "qwen2.5-coder-1.5b q4_k_m seed 1";
  r.model.dims = {
      {"n_embd", "1536"}, {"n_ff", "8960"}, {"n_layer", "28"}, {"rms_eps", "1e-06"}, {"padded", "007"}};
  r.model.type_counts = {{"Q4_K", "169"}, {"Q6_K", "29"}, {"F32", "141"}};
  r.model.weight_mib = 940.37;

  // qkv
  Cell qkv_ref = measured_cell("qkv", "qkv", "scalar_ref", 850e-6, 0.02);
  qkv_ref.shape = "1536 -> 1536+256+256, Q4_K/Q6_K, 28 layers";
  qkv_ref.weight_type = -1;
  qkv_ref.n_weight_sets = 28;
  set_roofline(qkv_ref, 2.2e6, 6.3e6, 40.0);
  set_budget(qkv_ref, 6.0, false);
  reference_equivalence(qkv_ref);
  Cell qkv_avx = measured_cell("qkv", "qkv", "avx_bricks", 5.1e-6, 0.01);
  qkv_avx.shape = qkv_ref.shape;
  qkv_avx.n_weight_sets = 28;
  set_roofline(qkv_avx, 2.2e6, 6.3e6, 800.0);
  set_budget(qkv_avx, 6.0, true);
  set_equivalence(qkv_avx, true, 1.2e-7, 3.1e-4);

  // gemv.Q4_K
  Cell gemv_ref = measured_cell("gemv.Q4_K", "gemv", "scalar_ref", 1.23e-3, 0.03);
  gemv_ref.shape = "1536x8960 Q4_K, 28 layers";
  gemv_ref.weight_type = 12;
  gemv_ref.n_weight_sets = 28;
  set_roofline(gemv_ref, 7.74e6, 27.5e6, 40.0);
  set_budget(gemv_ref, 12.0, false);
  reference_equivalence(gemv_ref);
  Cell gemv_avx =
      skipped_cell("gemv.Q4_K", "gemv", "avx_bricks", "UNSUPPORTED: avx_bricks has no gemv for Q4_K");
  gemv_avx.shape = gemv_ref.shape;
  gemv_avx.weight_type = 12;
  gemv_avx.budget.has_budget = true;
  gemv_avx.budget.budget_us = 12.0;

  // ffn
  Cell ffn_ref = measured_cell("ffn", "ffn", "scalar_ref", 4.1e-3, 0.4);
  ffn_ref.status = CellStatus::Unstable;
  ffn_ref.status_reason = "cv 0.21 > target 0.03 after 500 samples";
  ffn_ref.shape = "1536 -> 8960 -> 1536";
  Cell ffn_avx = skipped_cell("ffn", "ffn", "avx_bricks", "plan failed: OUT_OF_MEMORY, \"scratch\" of 2 GiB");
  ffn_avx.status = CellStatus::Failed;
  ffn_avx.shape = ffn_ref.shape;

  // decode@64
  Cell dec_ref = measured_cell("decode@64", "decode", "scalar_ref", 0.31, 0.01);
  dec_ref.context = 64;
  dec_ref.tokens = 1;
  dec_ref.tok_s = 1 / dec_ref.stats.median;
  dec_ref.shape = "28 layers, vocab 151936";
  dec_ref.budget.has_budget = true;
  dec_ref.budget.budget_tok_s = 1110;
  set_budget(dec_ref, 1e6 / 1110, false);
  dec_ref.budget.budget_tok_s = 1110;
  reference_equivalence(dec_ref);
  Cell dec_avx = measured_cell("decode@64", "decode", "avx_bricks", 1.0 / 950, 0.015);
  dec_avx.context = 64;
  dec_avx.tokens = 1;
  dec_avx.tok_s = 1 / dec_avx.stats.median;
  dec_avx.shape = dec_ref.shape;
  dec_avx.time_source = "device";
  set_budget(dec_avx, 1e6 / 1110, true);
  dec_avx.budget.budget_tok_s = 1110;
  set_equivalence(dec_avx, false, 3.4e-2, 0.9);
  dec_avx.equivalence.tolerance_class = "act_q8";
  dec_avx.equivalence.top1 = 0.8;
  dec_avx.equivalence.tol_top1 = 0.85;
  dec_avx.equivalence.tol_nmse = 2e-3;
  dec_avx.equivalence.tol_max_rel = std::nullopt;
  dec_avx.equivalence.note = "nmse 3.4e-02 > 2.0e-03; top1 0.80 < 0.85";
  dec_avx.engine = {{"engine.graph_nodes", "146"}, {"engine.graph_empty_replay_ns", "812.5"}};

  // Execution order, interleaved: the reporters group it back by cell and backend.
  r.cells = {qkv_avx, dec_ref, gemv_ref, qkv_ref, ffn_avx, gemv_avx, dec_avx, ffn_ref};
  r.warnings = {"cpu governor is 'powersave': timings may drift", "only 2 cores: threads capped at 2"};
  return r;
}

}  // namespace bb::report::testing
