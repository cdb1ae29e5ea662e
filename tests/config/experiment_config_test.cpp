// Experiment configs: the shipped files load, defaults apply, and every mistake gets a message
// naming file:line:column, the bad key or value and what is accepted (docs/CONFIG.md).
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/experiment.h"
#include "test_util.h"

namespace bb::config {
namespace {

namespace fs = std::filesystem;
const std::string kConfigs = BRICKBENCH_CONFIGS_DIR;
const std::string kData = BRICKBENCH_TEST_DATA_DIR;
const std::string kModel = "model: {synthetic: {model: qwen2.5-coder-0.5b}}\n";

Experiment load(const std::string& yaml) { return load_experiment_from_string(yaml, "cfg.yaml", kData); }

// The ConfigError message of loading yaml ("" if it loads).
std::string error_of(const std::string& yaml) {
  try {
    load(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_HAS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

TEST(ExperimentConfig, EveryShippedConfigLoads) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(kConfigs)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    Experiment e;
    EXPECT_NO_THROW(e = load_experiment(entry.path().string()));
    EXPECT_FALSE(e.bricks.empty());
    ++n;
  }
  EXPECT_GE(n, 5);
}

TEST(ExperimentConfig, SmokeUsesTheTinyOracleModel) {
  Experiment e = load_experiment(kConfigs + "/smoke.yaml");
  EXPECT_EQ(e.name, "smoke");
  EXPECT_EQ(e.model.source, ModelSource::Gguf);
  EXPECT_TRUE(e.model.gguf_found);
  EXPECT_TRUE(fs::path(e.model.gguf_path).is_absolute());
  EXPECT_TRUE(fs::equivalent(e.model.gguf_path, kData + "/oracle/tiny-b-q4_k_m.gguf"));
  EXPECT_TRUE(e.backends.empty());  // every usable plugin
  EXPECT_LE(e.protocol.max_seconds_per_cell, 1.0);
  EXPECT_FALSE(e.protocol.unstable_fails_ci);  // a plumbing check: UNSTABLE is reported, not fatal
  EXPECT_TRUE(load_experiment(kConfigs + "/qwen1.5b.yaml").protocol.unstable_fails_ci);  // the default
  EXPECT_NE(canonical_json(e).find("\"unstable_fails_ci\":false"), std::string::npos);
  // Every brick is there.
  for (Brick b : all_bricks()) {
    bool found = false;
    for (const BrickSpec& s : e.bricks) found |= s.brick == b;
    EXPECT_TRUE(found) << brick_name(b);
  }
}

TEST(ExperimentConfig, QwenConfigsCapTheReference) {
  Experiment e = load_experiment(kConfigs + "/qwen1.5b.yaml");
  EXPECT_EQ(e.model.source, ModelSource::Synthetic);
  EXPECT_EQ(e.model.synthetic->model, "qwen2.5-coder-1.5b");
  EXPECT_EQ(e.model.synthetic->seed, 1u);
  EXPECT_EQ(e.model.ollama, "qwen2.5-coder:1.5b");
  EXPECT_EQ(e.backends,
            (std::vector<std::string>{"scalar_ref", "avx_bricks", "cuda_bricks", "ollama_client"}));
  EXPECT_TRUE(e.reference_only("scalar_ref"));
  EXPECT_FALSE(e.reference_only("cuda_bricks"));
  Protocol ref = e.protocol_for("scalar_ref");
  EXPECT_EQ(ref.max_samples, 5);
  EXPECT_EQ(ref.min_samples, 3);
  EXPECT_EQ(ref.max_seconds_per_cell, 2);
  EXPECT_EQ(ref.cv_target, e.protocol.cv_target);  // not capped: inherited
  EXPECT_EQ(e.protocol_for("cuda_bricks"), e.protocol);
}

TEST(ExperimentConfig, DefaultsApply) {
  Experiment e = load(kModel);
  EXPECT_EQ(e.name, "cfg");  // the file name without .yaml
  EXPECT_EQ(e.model.synthetic->model, "qwen2.5-coder-0.5b");
  EXPECT_EQ(e.model.synthetic->quant, "q4_k_m");
  EXPECT_EQ(e.model.synthetic->seed, 1u);
  EXPECT_TRUE(e.backends.empty());
  EXPECT_EQ(e.reference, "scalar_ref");
  EXPECT_EQ(e.threads, 0);
  EXPECT_EQ(e.protocol, Protocol{});
  EXPECT_EQ(e.protocol.min_samples, 20);
  EXPECT_EQ(e.protocol.cv_target, 0.03);
  EXPECT_EQ(e.protocol.order, Order::kInterleaved);
  EXPECT_EQ(e.protocol.cache, CacheState::Cold);
  ASSERT_EQ(e.bricks.size(), all_bricks().size());  // no bricks key: every brick
  for (const BrickSpec& b : e.bricks) {
    EXPECT_FALSE(b.budget_us || b.budget_tok_s);
    if (brick_takes_context(b.brick)) {
      EXPECT_EQ(b.contexts, std::vector<int32_t>{512});
    }
    if (b.brick == Brick::Generate) {
      EXPECT_EQ(b.tokens, 64);
    }
    if (b.brick == Brick::Gemv) {
      EXPECT_TRUE(b.all_types);
    }
    if (b.brick == Brick::Copy) {
      EXPECT_EQ(b.bytes, int64_t{256} << 20);
    }
    EXPECT_EQ(b.kv_type, BB_TYPE_F32);
    EXPECT_TRUE(b.layers.empty());
  }
  // Documented tolerance defaults.
  EXPECT_EQ(e.tolerance(Brick::Gemv, BB_TYPE_Q4_K, ToleranceClass::FloatActivations).nmse, 1e-5);
  EXPECT_EQ(e.tolerance(Brick::Qkv, BB_TYPE_ANY, ToleranceClass::ActQ8).nmse, 5e-4);
  Tolerance dec = e.tolerance(Brick::Decode, BB_TYPE_ANY, ToleranceClass::ActQ8);
  EXPECT_EQ(dec.nmse, 2e-3);
  EXPECT_EQ(dec.top1, 0.85);
  EXPECT_FALSE(dec.max_rel);
  EXPECT_EQ(e.tolerance(Brick::Copy, BB_TYPE_ANY, ToleranceClass::FloatActivations).nmse, 0.0);
}

TEST(ExperimentConfig, BrickEntries) {
  Experiment e = load(kModel +
                      "bricks:\n"
                      "  - rope\n"
                      "  - {brick: attention, context: [512, 4096], budget_us: 7.5, kv_type: F16}\n"
                      "  - {brick: gemv, type: [Q4_K, q6_k], layers: [0, 3]}\n"
                      "  - {brick: decode, context: 4096, budget_tok_s: 900}\n"
                      "  - {brick: generate, tokens: 16}\n"
                      "  - {brick: copy, bytes: 1048576}\n");
  ASSERT_EQ(e.bricks.size(), 6u);
  EXPECT_EQ(e.bricks[0].brick, Brick::Rope);
  EXPECT_EQ(e.bricks[0].line, 3);
  EXPECT_EQ(e.bricks[0].column, 5);
  EXPECT_EQ(e.bricks[1].contexts, (std::vector<int32_t>{512, 4096}));
  EXPECT_EQ(e.bricks[1].budget_us, 7.5);
  EXPECT_EQ(e.bricks[1].kv_type, BB_TYPE_F16);
  EXPECT_EQ(e.bricks[2].types, (std::vector<int32_t>{BB_TYPE_Q4_K, BB_TYPE_Q6_K}));
  EXPECT_FALSE(e.bricks[2].all_types);
  EXPECT_EQ(e.bricks[2].layers, (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(e.bricks[3].contexts, std::vector<int32_t>{4096});
  EXPECT_EQ(e.bricks[3].budget_tok_s, 900);
  EXPECT_EQ(e.bricks[4].tokens, 16);
  EXPECT_EQ(e.bricks[5].bytes, 1048576);
}

TEST(ExperimentConfig, ReferenceIsAlwaysABackend) {
  Experiment e = load(kModel + "backends: [avx_bricks, cuda_bricks]\n");
  EXPECT_EQ(e.backends, (std::vector<std::string>{"scalar_ref", "avx_bricks", "cuda_bricks"}));
}

TEST(ExperimentConfig, CapsBelowMinSamplesLowerIt) {
  Experiment e = load(kModel + "backend_caps: {slow: {max_samples: 4}}\n");
  EXPECT_EQ(e.protocol_for("slow").max_samples, 4);
  EXPECT_EQ(e.protocol_for("slow").min_samples, 4);
  EXPECT_FALSE(e.reference_only("slow"));
}

TEST(ExperimentConfig, ToleranceOverrides) {
  Experiment e =
      load(kModel +
           "tolerances:\n"
           "  gemv: {nmse: 2e-5, act_q8: {nmse: 1e-3}, Q6_K: {max_rel: 0.5, act_q8: {nmse: 2e-3}}}\n"
           "  decode: {top1: 0.9}\n");
  const auto F = ToleranceClass::FloatActivations, Q = ToleranceClass::ActQ8;
  EXPECT_EQ(e.tolerance(Brick::Gemv, BB_TYPE_Q4_K, F).nmse, 2e-5);
  EXPECT_EQ(e.tolerance(Brick::Gemv, BB_TYPE_Q4_K, F).max_rel, 1e-3);  // default kept
  EXPECT_EQ(e.tolerance(Brick::Gemv, BB_TYPE_Q4_K, Q).nmse, 1e-3);
  EXPECT_EQ(e.tolerance(Brick::Gemv, BB_TYPE_Q6_K, F).nmse, 2e-5);    // brick-wide
  EXPECT_EQ(e.tolerance(Brick::Gemv, BB_TYPE_Q6_K, F).max_rel, 0.5);  // per type
  EXPECT_EQ(e.tolerance(Brick::Gemv, BB_TYPE_Q6_K, Q).nmse, 2e-3);
  EXPECT_EQ(e.tolerance(Brick::Decode, BB_TYPE_ANY, F).top1, 0.9);
  EXPECT_EQ(e.tolerance(Brick::Decode, BB_TYPE_ANY, Q).top1, 0.85);  // the other class keeps its default
}

// ---- errors: file:line:column, the bad key or value, what is accepted ----

TEST(ConfigErrors, UnknownBrick) {
  std::string msg = error_of(kModel +
                             "bricks:\n"
                             "  - {brick: qkvv, budget_us: 1}\n");
  EXPECT_HAS(msg,
             "cfg.yaml:3:13: unknown brick 'qkvv'; did you mean 'qkv'? known: copy, rms_norm, qkv, rope, "
             "attention, o_proj, ffn, layer, decode, generate, gemv");
}

TEST(ConfigErrors, WrongTypeOfValue) {
  EXPECT_HAS(error_of(kModel + "protocol:\n  cv_target: fast\n"),
             "cfg.yaml:3:14: protocol.cv_target: expected a number in (0, 1), got 'fast'");
  EXPECT_HAS(error_of(kModel + "protocol: {min_samples: 2.5}\n"),
             "cfg.yaml:2:25: protocol.min_samples: expected an integer >= 1, got '2.5'");
  EXPECT_HAS(error_of(kModel + "protocol: {order: random}\n"),
             "cfg.yaml:2:19: protocol.order: expected one of interleaved, sequential, got 'random'");
  EXPECT_HAS(error_of(kModel + "backends: scalar_ref\n"),
             "cfg.yaml:2:11: backends: expected a non-empty list of backend names");
  EXPECT_HAS(error_of(kModel + "protocol: [1, 2]\n"),
             "cfg.yaml:2:11: protocol: expected a mapping (key: value), got a list");
  EXPECT_HAS(error_of(kModel + "backend_caps: {scalar_ref: {reference_only: maybe}}\n"),
             "cfg.yaml:2:45: backend_caps.scalar_ref.reference_only: expected true or false, got 'maybe'");
}

TEST(ConfigErrors, UnknownKeysListTheKnownOnes) {
  EXPECT_HAS(error_of(kModel + "protcol: {seed: 1}\n"),
             "cfg.yaml:2:1: unknown key 'protcol' at top level; did you mean 'protocol'? known: name, model, "
             "backends, reference, threads, protocol, backend_caps, backend_options, bricks, tolerances");
  EXPECT_HAS(error_of(kModel + "protocol:\n  cv_targte: 0.1\n"),
             "cfg.yaml:3:3: unknown key 'cv_targte' in protocol; did you mean 'cv_target'? known: cv_target, "
             "max_samples,");
  EXPECT_HAS(
      error_of(kModel + "bricks:\n  - {brick: qkv, budget: 3}\n"),
      "cfg.yaml:3:18: unknown key 'budget' in bricks[0]; did you mean 'budget_us'? known: brick, budget_us,");
  EXPECT_HAS(
      error_of("model: {synthetic: {model: qwen2.5-coder-0.5b, sed: 3}}\n"),
      "cfg.yaml:1:48: unknown key 'sed' in model.synthetic; did you mean 'seed'? known: model, quant, seed");
  EXPECT_HAS(
      error_of(kModel + "tolerances: {gemv: {nsme: 1}}\n"),
      "unknown key 'nsme' in tolerances.gemv; did you mean 'nmse'? known: nmse, max_rel, top1, act_q8, or a "
      "weight type");
}

TEST(ConfigErrors, YamlSyntaxKeepsThePosition) {
  std::string msg = error_of(kModel + "bricks: [qkv, rope\nname: x\n");
  EXPECT_HAS(msg, "cfg.yaml:");
  EXPECT_HAS(msg, "YAML syntax error");
  try {
    load(kModel + "protocol: {seed: 1\n");
    ADD_FAILURE() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_GE(e.line(), 2);
    EXPECT_GE(e.column(), 1);
  }
}

TEST(ConfigErrors, MissingModelSaysHowToFixIt) {
  EXPECT_HAS(
      error_of("name: x\nthreads: 2\n"),
      "cfg.yaml:1:1: no model: set model.gguf: PATH (a GGUF file, relative to this config's directory) or "
      "model.synthetic: {model: qwen2.5-coder-1.5b, quant: q4_k_m, seed: 1} (known synthetic models: "
      "qwen2.5-coder-0.5b,");
  std::string msg = error_of("model:\n  gguf: nowhere/model.gguf\n");
  EXPECT_HAS(msg, "cfg.yaml:2:9: model.gguf: no such file: " + kData + "/nowhere/model.gguf");
  EXPECT_HAS(msg, "add model.synthetic:");
  {  // an Ollama tag alone must be in Ollama's store; here the store is empty
    bb::test::TempDir store;
    bb::test::ScopedEnv models("OLLAMA_MODELS", store.path());
    EXPECT_HAS(error_of("model: {ollama: \"qwen2.5-coder:1.5b\"}\n"), "run `ollama pull qwen2.5-coder:1.5b`");
  }
  EXPECT_HAS(error_of("model: {synthetic: {model: qwen3}}\n"),
             "cfg.yaml:1:28: model.synthetic.model: unknown model 'qwen3'; known: qwen2.5-coder-0.5b");
  EXPECT_HAS(error_of("model: {synthetic: {model: qwen2.5-coder-0.5b, quant: q4_k}}\n"),
             "model.synthetic.quant: expected one of q4_k_m, q8_0, f16, f32, got 'q4_k'");
  EXPECT_HAS(error_of(""), "cfg.yaml: empty config");
}

TEST(ConfigErrors, MissingGgufFallsBackToSynthetic) {
  Experiment e = load("model: {gguf: nowhere.gguf, synthetic: {model: 1.5b}}\n");
  EXPECT_EQ(e.model.source, ModelSource::Synthetic);
  EXPECT_FALSE(e.model.gguf_found);
  EXPECT_EQ(e.model.synthetic->model, "qwen2.5-coder-1.5b");
}

TEST(ConfigErrors, ContextMustBePositive) {
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: attention, context: [512, 0]}\n"),
             "cfg.yaml:3:39: bricks[0].context[1]: expected a positive integer (KV positions), got '0'");
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: decode, context: -4}\n"),
             "bricks[0].context: expected a positive integer (KV positions), got '-4'");
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: decode, context: []}\n"), "got an empty list");
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: decode, context: [64, 64]}\n"), "64 is listed twice");
}

TEST(ConfigErrors, KeysThatDoNotApplyToTheBrick) {
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: qkv, context: 512}\n"),
             "cfg.yaml:3:18: bricks[0] (qkv): 'context' does not apply to qkv; it applies to attention, "
             "layer, decode");
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: decode, budget_us: 900}\n"),
             "bricks[0] (decode): decode is budgeted in tokens per second: use budget_tok_s");
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: qkv, budget_tok_s: 9}\n"),
             "'budget_tok_s' does not apply to qkv");
  EXPECT_HAS(
      error_of(kModel + "bricks:\n  - {brick: gemv, type: Q4K}\n"),
      "cfg.yaml:3:25: bricks[0].type: unknown weight type 'Q4K'; did you mean 'Q4_K'? known: all, F32, F16,");
  EXPECT_HAS(error_of(kModel + "tolerances: {qkv: {top1: 0.9}}\n"),
             "tolerances.qkv.top1: top1 applies only to decode, generate");
}

TEST(ConfigErrors, DuplicateEntries) {
  EXPECT_HAS(error_of(kModel + "bricks:\n"
                               "  - {brick: attention, context: [512, 4096]}\n"
                               "  - {brick: attention, context: 512, budget_us: 1}\n"),
             "cfg.yaml:4:5: duplicate brick entry: attention at context 512 is already listed at 3:5");
  EXPECT_HAS(error_of(kModel + "bricks: [qkv, qkv]\n"),
             "cfg.yaml:2:15: duplicate brick entry: qkv is already listed at 2:10");
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: gemv, type: Q4_K}\n  - {brick: gemv}\n"),
             "cfg.yaml:4:5: bricks[1]: gemv of type all overlaps a gemv entry at 3:5");
  EXPECT_HAS(error_of(kModel + "threads: 2\nthreads: 3\n"),
             "cfg.yaml:3:1: top level: duplicate key 'threads' (first at 2:1)");
  EXPECT_HAS(error_of(kModel + "backends: [a, b, a]\n"), "backends: 'a' is listed twice");
}

// Issue 14, defect 16: the brick list was checked pairwise (64k entries: 10.6 s; a 10 MB YAML did not
// finish in 60 s). The same checks, by lookup: every message as before, on a list of 65536 entries.
TEST(ConfigErrors, DuplicateChecksHoldOnAListOfSixtyFourThousandEntries) {
  std::string many = kModel + "bricks:\n";
  for (int c = 1; c <= 65536; ++c) many += "  - {brick: attention, context: " + std::to_string(c) + "}\n";
  EXPECT_HAS(error_of(many + "  - {brick: attention, context: 70000}\n  - {brick: attention, context: 3}\n"),
             "cfg.yaml:65540:5: duplicate brick entry: attention at context 3 is already listed at 5:5");
  EXPECT_HAS(error_of(kModel + "bricks:\n  - {brick: gemv}\n  - qkv\n  - {brick: gemv, type: Q6_K}\n"),
             "cfg.yaml:5:5: bricks[2]: gemv of type all overlaps a gemv entry at 3:5");
  EXPECT_HAS(
      error_of(kModel + "bricks:\n  - {brick: gemv, type: [Q4_K, Q6_K]}\n  - {brick: gemv, type: Q6_K}\n"),
      "duplicate brick entry: gemv of type Q6_K is already listed at 3:5");
}

// Issue 14, defect 17: a second YAML document was silently ignored.
TEST(ConfigErrors, ASecondYamlDocumentIsRefused) {
  EXPECT_HAS(error_of(kModel + "bricks: [qkv]\n---\nbricks: [rms_norm]\n"),
             "cfg.yaml:4:1: a second YAML document (after '---')");
}

TEST(ConfigErrors, ProtocolConsistency) {
  EXPECT_HAS(error_of(kModel + "protocol: {min_samples: 50, max_samples: 10}\n"),
             "protocol.max_samples (10) is below protocol.min_samples (50)");
  EXPECT_HAS(error_of(kModel + "protocol: {cv_target: 1.5}\n"), "expected a number in (0, 1), got '1.5'");
}

TEST(ConfigErrors, UnreadableFile) {
  try {
    load_experiment("/nonexistent/x.yaml");
    ADD_FAILURE() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_HAS(std::string(e.what()), "/nonexistent/x.yaml: cannot read the config");
  }
}

TEST(ExperimentConfig, RelativeGgufResolvesAgainstTheConfigDirectory) {
  const fs::path dir = fs::temp_directory_path() / ("bb_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir / "configs");
  { std::ofstream(dir / "model.gguf") << "not really"; }
  { std::ofstream(dir / "configs" / "x.yaml") << "model: {gguf: ../model.gguf}\n"; }
  Experiment e = load_experiment((dir / "configs" / "x.yaml").string());
  EXPECT_EQ(e.model.source, ModelSource::Gguf);
  EXPECT_EQ(e.model.gguf, "../model.gguf");
  EXPECT_EQ(fs::path(e.model.gguf_path), (dir / "model.gguf").lexically_normal());
  // Absolute paths stay as they are.
  Experiment a = load("model: {gguf: " + (dir / "model.gguf").string() + "}\n");
  EXPECT_EQ(fs::path(a.model.gguf_path), dir / "model.gguf");
  fs::remove_all(dir);
}

// The protocol and the caps as the result file and the hash see them: every key, in canonical
// (sorted) order. Pinned so that the table listing the cappable fields once (measure/protocol.h)
// leaves every existing result's experiment hash as it was.
TEST(ExperimentHash, ProtocolAndCapsKeepTheirCanonicalForm) {
  const Experiment e = load(
      "name: x\n" + kModel +
      "protocol: {warmup_ms: 20, warmup_min_iterations: 3, min_samples: 7, max_samples: 90, cv_target: 0.04,"
      " max_seconds_per_cell: 1.5, seed: 9, order: sequential, cache: warm, unstable_fails_ci: false}\n"
      "backend_caps: {b: {warmup_ms: 1, warmup_min_iterations: 2, min_samples: 3, max_samples: 4,"
      " cv_target: 0.5, max_seconds_per_cell: 6}, a: {reference_only: true}}\nbricks: [qkv]\n");
  const std::string j = canonical_json(e);
  EXPECT_HAS(j, R"("protocol":{"cache":"warm","cv_target":0.04,"max_samples":90,"max_seconds_per_cell":1.5,)"
                R"("min_samples":7,"order":"sequential","seed":9,"unstable_fails_ci":false,)"
                R"("warmup_min_iterations":3,"warmup_ms":20.0})");
  EXPECT_HAS(j, R"("backend_caps":{"a":{"reference_only":true},"b":{"cv_target":0.5,"max_samples":4,)"
                R"("max_seconds_per_cell":6.0,"min_samples":3,"reference_only":false,)"
                R"("warmup_min_iterations":2,"warmup_ms":1.0}})");
}

// Issue 14, defect 17: yaml-cpp's own words for YAML nested past its depth limit are "bad file".
TEST(ExperimentConfig, YamlNestedTooDeepSaysSo) {
  const std::string deep =
      "name: x\n" + kModel + "bricks: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  const std::string err = error_of(deep);
  EXPECT_HAS(err, "cfg.yaml:3:");
  EXPECT_HAS(err, "levels deep, past the parser's limit");
  EXPECT_EQ(err.find("bad file"), std::string::npos) << err;
}

TEST(ExperimentHash, StableAcrossKeyOrderAndSources) {
  const std::string a =
      "name: x\nmodel: {synthetic: {model: qwen2.5-coder-0.5b, seed: 3}}\n"
      "protocol: {cv_target: 0.05, seed: 7}\nbackend_caps: {b: {max_samples: 5}, a: {reference_only: true}}\n"
      "bricks: [qkv, {brick: attention, context: 512, budget_us: 2}]\n";
  const std::string b =
      "bricks: [{brick: qkv}, {budget_us: 2.0, context: [512], brick: attention}]\n"
      "backend_caps: {a: {reference_only: true}, b: {max_samples: 5}}\n"
      "protocol: {seed: 7, cv_target: 5e-2}\nmodel: {synthetic: {seed: 3, model: 0.5b}}\nname: x\n";
  Experiment ea = load(a);
  Experiment eb = load_experiment_from_string(b, "elsewhere/other.yaml", "/tmp");
  EXPECT_EQ(canonical_json(ea), canonical_json(eb));
  EXPECT_EQ(experiment_hash(ea), experiment_hash(eb));
  EXPECT_EQ(experiment_hash(ea).size(), 16u);
  // A changed value changes the hash; so does a tolerance or a budget.
  EXPECT_NE(experiment_hash(load(a + "threads: 4\n")), experiment_hash(ea));
  std::string c = a;
  c.replace(c.find("0.05"), 4, "0.06");
  EXPECT_NE(experiment_hash(load(c)), experiment_hash(ea));
  EXPECT_NE(experiment_hash(load(a + "tolerances: {qkv: {nmse: 1e-6}}\n")), experiment_hash(ea));
  std::string d = a;
  d.replace(d.find("budget_us: 2"), 12, "budget_us: 3");
  EXPECT_NE(experiment_hash(load(d)), experiment_hash(ea));
}

TEST(ExperimentHash, CanonicalJsonIsJsonWithEveryDefault) {
  Experiment e = load_experiment(kConfigs + "/qwen1.5b.yaml");
  rapidjson::Document doc;
  const std::string text = canonical_json(e);
  doc.Parse(text.c_str());
  ASSERT_FALSE(doc.HasParseError()) << text;
  EXPECT_EQ(doc["experiment_schema"].GetInt(), 1);
  EXPECT_STREQ(doc["name"].GetString(), "qwen2.5-coder-1.5b");
  EXPECT_STREQ(doc["model"]["synthetic"]["model"].GetString(), "qwen2.5-coder-1.5b");
  EXPECT_TRUE(doc["model"]["gguf"].IsNull());
  EXPECT_EQ(doc["protocol"]["min_samples"].GetInt(), 20);
  EXPECT_TRUE(doc["backend_caps"]["scalar_ref"]["reference_only"].GetBool());
  EXPECT_EQ(doc["bricks"].Size(), e.bricks.size());
  EXPECT_DOUBLE_EQ(doc["tolerances"]["decode"]["act_q8"]["top1"].GetDouble(), 0.85);
  EXPECT_TRUE(doc["tolerances"]["decode"]["act_q8"]["max_rel"].IsNull());
  // Where the checkout lives is not part of the experiment.
  Experiment smoke = load_experiment(kConfigs + "/smoke.yaml");
  const std::string smoke_text = canonical_json(smoke);
  EXPECT_EQ(smoke_text.find(smoke.model.gguf_path), std::string::npos);
  EXPECT_HAS(smoke_text, "\"gguf\":\"../tests/data/oracle/tiny-b-q4_k_m.gguf\"");
}

}  // namespace
}  // namespace bb::config
