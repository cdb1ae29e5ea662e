// ollama_client against the stand-in server (tests/ollama_standin): every way a server can misbehave
// is a clear message in the result and on the console, and the rest of the run (scalar_ref's cells)
// is measured as usual; plus the same-weights resolution of Ollama tags on a fake models directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/ollama_models.h"
#include "result/result_json.h"
#include "result/result_schema.h"
#include "run/sha256.h"
#include "standin.h"
#include "test_util.h"

namespace bb {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTiny = std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle/tiny-b-q4_k_m.gguf";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

const report::Cell* find_cell(const report::RunResult& r, const std::string& id, const std::string& backend) {
  for (const auto& c : r.cells)
    if (c.id == id && c.backend == backend) return &c;
  return nullptr;
}

// A fake Ollama store holding `tag` (name:tag) whose blob is `file` (a symbolic link, as the digest
// names it); returns the digest's hex.
std::string make_store(const std::string& dir, const std::string& name, const std::string& tag,
                       const std::string& file) {
  const std::string hex = run::sha256_file(file);
  fs::create_directories(dir + "/blobs");
  fs::create_symlink(file, dir + "/blobs/sha256-" + hex);
  write(dir + "/manifests/registry.ollama.ai/library/" + name + "/" + tag,
        R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",)"
        R"("config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:)" +
            std::string(64, '0') +
            R"(","size":2},"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:)" +
            hex + R"(","size":)" + std::to_string(fs::file_size(file)) +
            R"(},{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:)" +
            std::string(64, '1') + R"(","size":10}]})");
  return hex;
}

// ---- same weights: Ollama tags to blobs ----------------------------------------------------------

TEST(OllamaModels, TagsAreSplitTheWayOllamaSplitsThem) {
  auto t = model::parse_ollama_tag("qwen2.5-coder:1.5b");
  EXPECT_EQ(t.registry, "registry.ollama.ai");
  EXPECT_EQ(t.ns, "library");
  EXPECT_EQ(t.name, "qwen2.5-coder");
  EXPECT_EQ(t.tag, "1.5b");
  EXPECT_EQ(model::parse_ollama_tag("qwen2.5-coder").tag, "latest");
  EXPECT_EQ(model::parse_ollama_tag("user/m:x").ns, "user");
  EXPECT_EQ(model::parse_ollama_tag("example.com:5000/ns/m").registry, "example.com:5000");
  EXPECT_EQ(model::parse_ollama_tag("example.com:5000/ns/m").tag, "latest");
  EXPECT_THROW(model::parse_ollama_tag(""), model::OllamaModelError);
  EXPECT_THROW(model::parse_ollama_tag("m:"), model::OllamaModelError);
  EXPECT_THROW(model::parse_ollama_tag("../m"), model::OllamaModelError);
}

TEST(OllamaModels, ResolvesATagToTheBlobOfItsModelLayer) {
  test::TempDir dir;
  const std::string hex = make_store(dir.path(), "tiny", "q4", kTiny);
  auto ref = model::resolve_ollama_model("tiny:q4", dir.path());
  EXPECT_EQ(ref.blob_path, dir.path() + "/blobs/sha256-" + hex);
  EXPECT_EQ(ref.digest, "sha256:" + hex);
  EXPECT_EQ(ref.size, fs::file_size(kTiny));
  {
    test::ScopedEnv env("OLLAMA_MODELS", dir.path());
    EXPECT_EQ(model::ollama_models_dir(), dir.path());
    EXPECT_EQ(model::resolve_ollama_model("tiny:q4").blob_path, ref.blob_path);
  }
  {
    test::ScopedEnv no("OLLAMA_MODELS", std::nullopt);
    test::ScopedEnv home("HOME", std::string("/home/someone"));
    EXPECT_EQ(model::ollama_models_dir(), "/home/someone/.ollama/models");
  }
  try {
    model::resolve_ollama_model("tiny:absent", dir.path());
    ADD_FAILURE() << "no error for a missing manifest";
  } catch (const model::OllamaModelError& e) {
    EXPECT_THAT(e.what(), HasSubstr("ollama pull tiny:absent"));
    EXPECT_THAT(e.what(), HasSubstr(dir.path() + "/manifests/registry.ollama.ai/library/tiny/absent"));
  }
  fs::remove(ref.blob_path);
  EXPECT_THROW(
      {
        try {
          model::resolve_ollama_model("tiny:q4", dir.path());
        } catch (const model::OllamaModelError& e) {
          EXPECT_THAT(e.what(), HasSubstr("which is missing"));
          throw;
        }
      },
      model::OllamaModelError);
}

class BenchOllama : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::standin_unavailable()) GTEST_SKIP() << *why;
  }
  test::ScopedEnv no_env_plugins_{"BRICKBENCH_PLUGIN_PATH", std::nullopt};
  test::ScopedEnv no_host_{"OLLAMA_HOST", std::nullopt};
  test::TempDir dir_;
  std::string out_ = dir_.path() + "/result.json";

  // The tiny model on scalar_ref and ollama_client (served by `url` under tag "tiny"): rms_norm and a
  // short generate, a short protocol.
  std::string config(const std::string& url, const std::string& extra_options = "") {
    const std::string cfg = dir_.path() + "/ollama.yaml";
    write(cfg,
          "name: ollama-failure\nmodel: {gguf: " + kTiny +
              ", ollama: tiny}\n"
              "backends: [scalar_ref, ollama_client]\nthreads: 1\n"
              "protocol: {warmup_ms: 5, warmup_min_iterations: 1, min_samples: 3, max_samples: 6, cv_target: "
              "0.5,"
              " max_seconds_per_cell: 2}\n"
              // Not graded: --ci then judges the peer alone, however busy the machine is.
              "backend_caps: {scalar_ref: {reference_only: true}, ollama_client: {reference_only: true}}\n"
              "backend_options:\n  ollama_client: {host: \"" +
              url +
              "\", connect_timeout_s: 2, first_byte_timeout_s: 5,"
              " stall_timeout_s: 1" +
              extra_options +
              "}\n"
              "bricks: [rms_norm, {brick: generate, tokens: 6}]\n");
    return cfg;
  }

  test::CommandResult run(const std::string& cfg, const std::string& flags = "") {
    return test::run_bench("run " + cfg + " --bandwidth-mib 8 --out " + out_ + " " + flags);
  }

  // The result validates against the schema and scalar_ref's cells are all measured.
  report::RunResult checked_result() {
    const std::string text = slurp(out_);
    auto errors = report::validate_result_json(text, report::default_result_schema_path());
    EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
    auto r = report::read_result_json(out_);
    EXPECT_EQ(r.state, "complete");
    for (const char* id : {"bandwidth", "rms_norm", "generate6@512"}) {
      const report::Cell* c = find_cell(r, id, "scalar_ref");
      EXPECT_NE(c, nullptr) << id;
      if (c) {
        EXPECT_GE(c->samples.size(), 2u) << id << " on scalar_ref: " << c->status_reason;
      }
    }
    return r;
  }

  // The ollama_client generate cell failed (or was skipped) with a reason containing `what`, shown on
  // the console too; the run still exits 0.
  void expect_peer_cell_failed(const test::CommandResult& r, const std::string& what) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto result = checked_result();
    const report::Cell* c = find_cell(result, "generate6@512", "ollama_client");
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->status == report::CellStatus::Failed || c->status == report::CellStatus::Skipped)
        << report::cell_status_name(c->status);
    EXPECT_THAT(c->status_reason, HasSubstr(what));
    EXPECT_THAT(r.out, HasSubstr(what));
    EXPECT_TRUE(result.peers.empty());
  }
};

TEST_F(BenchOllama, NothingListeningSkipsThePeerWithTheReasonAndExitsZeroUnlessRequired) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test::dead_port());
  auto r = run(config(url), "--ci");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto result = checked_result();
  ASSERT_EQ(result.skipped_backends.size(), 1u);
  EXPECT_EQ(result.skipped_backends[0].name, "ollama_client");
  EXPECT_THAT(result.skipped_backends[0].reason, HasSubstr("nothing is listening at " + url));
  EXPECT_THAT(result.skipped_backends[0].reason, HasSubstr("ollama serve"));
  EXPECT_THAT(r.out, HasSubstr("nothing is listening at " + url));
  // --ci --require ollama_client: the peer is required, so its absence fails the run.
  auto required = run(config(url), "--ci --quiet --require ollama_client");
  EXPECT_EQ(required.exit_code, 1);
  EXPECT_THAT(required.err, HasSubstr("ollama_client: required (--require) but skipped: "));
}

TEST_F(BenchOllama, ModelNotFoundSaysHowToPullIt) {
  test::Standin s({"--model", "other:latest=" + kTiny}, dir_.path());
  expect_peer_cell_failed(run(config(s.url())), "run `ollama pull tiny`");
  EXPECT_THAT(find_cell(report::read_result_json(out_), "generate6@512", "ollama_client")->status_reason,
              HasSubstr("HTTP 404"));
}

TEST_F(BenchOllama, ServerErrorIsReportedWithItsStatusAndMessage) {
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "500"}, dir_.path());
  expect_peer_cell_failed(run(config(s.url())),
                          "HTTP 500 from " + s.url() + ": llama runner process has terminated");
}

TEST_F(BenchOllama, ErrorLineMidStreamIsReported) {
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "error-mid-stream"}, dir_.path());
  expect_peer_cell_failed(run(config(s.url())),
                          "the server reported an error mid-stream after 2 tokens: an error was encountered");
}

TEST_F(BenchOllama, ConnectionDroppedMidStreamIsReported) {
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "drop-mid-stream"}, dir_.path());
  expect_peer_cell_failed(run(config(s.url())), "after 2 tokens, the connection was dropped");
}

TEST_F(BenchOllama, StallPastTheTimeoutIsReported) {
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "stall"}, dir_.path());
  expect_peer_cell_failed(run(config(s.url())), "the response stalled: no data for 1 s (stall_timeout_s)");
}

TEST_F(BenchOllama, NoResponseWithinTheFirstByteTimeoutIsReported) {
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "stall-start"}, dir_.path());
  expect_peer_cell_failed(run(config(s.url(), ", first_byte_timeout_s: 1")),
                          "no response within 1 s (first_byte_timeout_s)");
}

TEST_F(BenchOllama, MalformedJsonIsReportedWithTheLine) {
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "malformed"}, dir_.path());
  expect_peer_cell_failed(run(config(s.url())),
                          "malformed response after 2 tokens: line 3 of the stream is not a JSON object");
}

// Issue 14, defect 7: an Ollama line of 2M '[' killed the whole `bench run` (a recursive parse). The
// peer's cell fails with why; scalar_ref's cells and the result file are untouched.
TEST_F(BenchOllama, ADeeplyNestedLineFailsThePeerCellNotTheRun) {
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "deep"}, dir_.path());
  expect_peer_cell_failed(run(config(s.url())), "malformed response after 2 tokens: line 3 of the stream");
}

// Issue 14, defect 12: ollama_client buffered whatever it was sent (a 3 GB body added 2.4 GB of RSS).
// A stream line past 1 MiB and a body past 64 MiB are abandoned with why.
TEST_F(BenchOllama, OversizedResponsesAreAbandonedNotBuffered) {
  {
    test::Standin s({"--model", "tiny=" + kTiny, "--fail", "endless-line"}, dir_.path());
    expect_peer_cell_failed(run(config(s.url())), "is longer than 1 MiB without a newline; abandoned");
  }
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "huge-version"}, dir_.path());
  auto r = run(config(s.url()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto result = checked_result();
  ASSERT_EQ(result.skipped_backends.size(), 1u) << r.err;
  EXPECT_EQ(result.skipped_backends[0].name, "ollama_client");
  EXPECT_THAT(result.skipped_backends[0].reason, HasSubstr("larger than 64 MiB and was abandoned"));
}

TEST_F(BenchOllama, AbsentFieldsAreUnknownNeverZero) {
  test::Standin s({"--model", "tiny=" + kTiny, "--fail", "absent-fields"}, dir_.path());
  auto r = run(config(s.url()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto result = checked_result();
  const report::Cell* c = find_cell(result, "generate6@512", "ollama_client");
  ASSERT_NE(c, nullptr);
  EXPECT_GE(c->samples.size(), 2u) << c->status_reason;  // still measured: on the host clock
  EXPECT_EQ(c->time_source, "host");
  ASSERT_EQ(result.peers.size(), 1u);
  const report::PeerRecord& p = result.peers[0];
  EXPECT_EQ(p.fact("size_vram"), nullptr);  // /api/ps said nothing: unknown (null), not 0
  EXPECT_EQ(p.fact("family"), nullptr);     // /api/show without details
  ASSERT_NE(p.fact("server_version"), nullptr);
  ASSERT_EQ(p.cells.size(), 1u);
  ASSERT_FALSE(p.cells[0].requests.empty());
  for (const auto& q : p.cells[0].requests) {
    EXPECT_FALSE(q.eval_count.has_value());
    EXPECT_FALSE(q.eval_duration_s.has_value());
    EXPECT_FALSE(q.prompt_eval_count.has_value());
    EXPECT_FALSE(q.load_duration_s.has_value());
    EXPECT_TRUE(q.ttft_s.has_value());  // ours, from the stream
  }
  EXPECT_FALSE(p.cells[0].decode_tok_s.has_value());
  ASSERT_EQ(p.cells[0].versus.size(), 1u);
  EXPECT_FALSE(p.cells[0].versus[0].ratio.has_value());
  const std::string text = slurp(out_);
  EXPECT_THAT(text, HasSubstr("\"size_vram\": null"));
  EXPECT_THAT(text, HasSubstr("\"eval_count\": null"));
  EXPECT_THAT(r.out, HasSubstr("decode ? tok/s"));
}

TEST_F(BenchOllama, AnOllamaTagRunsEveryBackendOnOllamasOwnBlob) {
  const std::string store = dir_.path() + "/models";
  const std::string hex = make_store(store, "tiny", "q4", kTiny);
  test::Standin s({"--models-dir", store}, dir_.path());
  test::ScopedEnv models("OLLAMA_MODELS", store);
  const std::string cfg = dir_.path() + "/same.yaml";
  write(
      cfg,
      "name: same-weights\nmodel: {ollama: \"tiny:q4\"}\nbackends: [scalar_ref, ollama_client]\nthreads: 1\n"
      "protocol: {warmup_ms: 5, warmup_min_iterations: 1, min_samples: 3, max_samples: 6, cv_target: 0.5,"
      " max_seconds_per_cell: 2}\n"
      "backend_options: {ollama_client: {host: \"" +
          s.url() +
          "\"}}\n"
          "bricks: [{brick: generate, tokens: 6}]\n");
  auto r = run(cfg);
  ASSERT_EQ(r.exit_code, 0) << r.err << s.log();
  auto result = report::read_result_json(out_);
  EXPECT_EQ(result.model.path, store + "/blobs/sha256-" + hex);
  EXPECT_EQ(result.model.ollama_tag, "tiny:q4");
  EXPECT_EQ(result.model.ollama_digest, "sha256:" + hex);
  EXPECT_EQ(result.model.sha256, hex);
  ASSERT_EQ(result.peers.size(), 1u);
  ASSERT_NE(result.peers[0].fact("same_weights"), nullptr);
  EXPECT_EQ(*result.peers[0].fact("same_weights"), "true");
  EXPECT_EQ(*result.peers[0].fact("digest"), hex);
  EXPECT_THAT(r.out, HasSubstr("same weights"));

  // A tag that is not in the store, with no other model source: a config error that says how to pull it.
  write(cfg, "name: missing\nmodel: {ollama: \"tiny:absent\"}\nbricks: [rms_norm]\n");
  auto missing = run(cfg);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err,
              HasSubstr("model.ollama: Ollama model tiny:absent is not in the models directory " + store));
  EXPECT_THAT(missing.err, HasSubstr("run `ollama pull tiny:absent`"));
}

}  // namespace
}  // namespace bb
