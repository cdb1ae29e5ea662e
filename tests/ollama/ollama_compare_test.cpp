// The comparison the Ollama peer exists for: `bench run` on the synthetic Qwen2.5-Coder-0.5B Q4_K_M
// file, with the stand-in server doing real llama.cpp inference on that very file (found through a
// fake Ollama store, the way a real Ollama's blobs are), beside our CPU backends on the same file.
// One thread each, so the numbers compare like with like on CI's 2 cores.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "model/synthetic.h"
#include "result/result_json.h"
#include "result/result_schema.h"
#include "run/sha256.h"
#include "standin.h"
#include "test_util.h"

namespace bb {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(OllamaCompare, SyntheticHalfBOnTheStandinBesideOurCpuBackends) {
  if (auto why = test::standin_unavailable()) GTEST_SKIP() << *why;
  test::ScopedEnv no_env_plugins("BRICKBENCH_PLUGIN_PATH", std::nullopt);
  test::TempDir dir;
  model::SynthOptions so;
  so.model = "qwen2.5-coder-0.5b";
  so.quant = "q4_k_m";
  so.seed = 1;
  const std::string file = model::ensure_synthetic_model(so);
  const std::string hex = run::sha256_file_cached(file);
  const std::string store = dir.path() + "/models";
  fs::create_directories(store + "/blobs");
  fs::create_symlink(file, store + "/blobs/sha256-" + hex);
  write(
      store + "/manifests/registry.ollama.ai/library/qwen2.5-coder-synth/0.5b",
      R"({"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:)" +
          hex + R"(","size":)" + std::to_string(fs::file_size(file)) + "}]}");
  test::Standin standin({"--models-dir", store, "--threads", "1"}, dir.path());
  test::ScopedEnv models("OLLAMA_MODELS", store);

  const std::string cfg = dir.path() + "/compare.yaml";
  const std::string out = dir.path() + "/result.json";
  write(cfg,
        "name: ollama-compare-0.5b\n"
        "model: {ollama: \"qwen2.5-coder-synth:0.5b\"}\n"
        "backends: [scalar_ref, avx_bricks, ollama_client]\n"
        "threads: 1\n"
        "protocol: {warmup_ms: 0, warmup_min_iterations: 1, min_samples: 3, max_samples: 3, cv_target: 0.5,"
        " max_seconds_per_cell: 60}\n"
        "backend_caps:\n"
        "  scalar_ref: {min_samples: 2, max_samples: 2, max_seconds_per_cell: 30, reference_only: true}\n"
        "  ollama_client: {min_samples: 2, max_samples: 3}\n"
        "backend_options:\n"
        "  ollama_client: {host: \"" +
            standin.url() +
            "\", num_thread: 1}\n"
            "bricks: [{brick: generate, tokens: 8}]\n");
  auto r = test::run_bench("run " + cfg + " --bandwidth-mib 16 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err << standin.log();
  std::cout << r.out;

  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  auto errors = report::validate_result_json(text.str(), report::default_result_schema_path());
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  auto result = report::read_result_json(out);
  EXPECT_EQ(result.model.sha256, hex);
  EXPECT_TRUE(result.model.synthetic);
  ASSERT_EQ(result.peers.size(), 1u) << r.out;
  const report::PeerRecord& peer = result.peers[0];
  ASSERT_NE(peer.fact("same_weights"), nullptr);
  EXPECT_EQ(*peer.fact("same_weights"), "true");
  EXPECT_EQ(*peer.fact("family"), "qwen2");
  EXPECT_EQ(*peer.fact("quantization_level"), "Q4_K_M");
  ASSERT_EQ(peer.cells.size(), 1u);
  const report::PeerCell& pc = peer.cells[0];
  EXPECT_EQ(pc.cell_id, "generate8@512");
  ASSERT_GE(pc.requests.size(), 2u);
  for (const auto& q : pc.requests) {
    EXPECT_EQ(q.eval_count.value_or(-1), 8);           // num_predict
    EXPECT_EQ(q.prompt_eval_count.value_or(-1), 512);  // the whole prompt, every time (vary_prompt)
    EXPECT_GT(q.eval_duration_s.value_or(0), 0);
    EXPECT_GT(q.ttft_s.value_or(0), 0);
  }
  ASSERT_TRUE(pc.decode_tok_s && pc.prefill_tok_s && pc.ttft_s);
  EXPECT_GT(*pc.decode_tok_s, 0);
  EXPECT_GT(*pc.prefill_tok_s, 0);
  bool have_scalar = false;
  for (const auto& v : pc.versus) {
    std::cout << "versus: " << v.backend << " " << v.tok_s.value_or(-1) << " tok/s, ratio "
              << v.ratio.value_or(-1) << "\n";
    if (v.backend == "scalar_ref") {
      have_scalar = true;
      EXPECT_GT(v.tok_s.value_or(0), 0);
      EXPECT_GT(v.ratio.value_or(0), 0);
    }
  }
  EXPECT_TRUE(have_scalar);
  std::cout << "ollama stand-in: decode " << *pc.decode_tok_s << " tok/s, prefill " << *pc.prefill_tok_s
            << " tok/s, TTFT " << *pc.ttft_s << " s\n";
  EXPECT_THAT(r.out, HasSubstr("versus the Ollama peer"));
}

}  // namespace
}  // namespace bb
