// The budgets of configs/qwen*.yaml, recomputed from the cost model so they cannot drift.
//
// Derivation (also at the top of each YAML): decode goal G tok/s on one H100 -> token time 1/G at
// context 512; whole-token bytes T = decode_cost(context 512) on the synthetic Q4_K_M model (F32
// KV); the implied bandwidth is B = T * G. A brick's budget_us = 1e6 * bytes(brick) / B, i.e.
// token time * bytes(brick) / T, with bytes averaged over layers (cells rotate through every
// layer). decode at context L: budget_tok_s = B / decode bytes(L) (= G at 512); generate: G.
//
// BRICKBENCH_PRINT_BUDGETS=1 prints the bricks sections to paste into the YAMLs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "config/brick_cost.h"
#include "config/experiment.h"
#include "model/ggml_types.h"
#include "model/synthetic.h"

namespace bb::config {
namespace {

struct Goal {
  const char* config;
  const char* model;
  double tok_s;
};
constexpr Goal kGoals[] = {{"qwen0.5b.yaml", "qwen2.5-coder-0.5b", 1770},
                           {"qwen1.5b.yaml", "qwen2.5-coder-1.5b", 1110},
                           {"qwen7b.yaml", "qwen2.5-coder-7b", 545},
                           {"qwen32b.yaml", "qwen2.5-coder-32b", 120}};
constexpr int32_t kContexts[] = {512, 4096};
constexpr int32_t kReferenceContext = 512;

struct Derivation {
  double token_bytes = 0;  // T at the reference context
  double bandwidth = 0;    // B, bytes/s
  // cell key ("qkv", "attention@4096", "gemv:Q6_K", "decode@512", "generate") -> budget
  // (microseconds, or tokens/s for decode and generate), in the order the YAMLs list them.
  std::vector<std::pair<std::string, double>> budgets;
};

Derivation derive(const Goal& g) {
  const auto& shape = bb::model::find_qwen2_shape(g.model);
  const bb_model_dims d = dims_of(shape);
  const ModelTypes t = synthetic_model_types(shape, "q4_k_m");
  Derivation out;
  out.token_bytes = decode_cost(d, t, kReferenceContext).bytes();
  out.bandwidth = out.token_bytes * g.tok_s;
  auto us = [&](const BrickCost& c) { return 1e6 * c.bytes() / out.bandwidth; };
  auto add = [&](const std::string& key, double v) { out.budgets.push_back({key, v}); };
  CostParams p;
  add("rms_norm", us(brick_cost_average(Brick::RmsNorm, d, t, p)));
  add("qkv", us(brick_cost_average(Brick::Qkv, d, t, p)));
  add("rope", us(brick_cost_average(Brick::Rope, d, t, p)));
  for (int32_t c : kContexts) {
    p.context = c;
    add("attention@" + std::to_string(c), us(brick_cost_average(Brick::Attention, d, t, p)));
  }
  p.context = kReferenceContext;
  add("o_proj", us(brick_cost_average(Brick::OProj, d, t, p)));
  add("ffn", us(brick_cost_average(Brick::Ffn, d, t, p)));
  for (int32_t c : kContexts) {
    p.context = c;
    add("layer@" + std::to_string(c), us(brick_cost_average(Brick::Layer, d, t, p)));
  }
  for (int32_t c : kContexts)
    add("decode@" + std::to_string(c), out.bandwidth / decode_cost(d, t, c).bytes());
  add("generate", g.tok_s);
  for (int32_t type : gemv_types_present(t)) {
    p.weight_type = type;
    add("gemv:" + bb::model::ggml_type_name(type), us(brick_cost(Brick::Gemv, d, t, 0, p)));
  }
  return out;
}

// The cells of a brick entry, keyed as derive() keys them.
std::vector<std::string> cell_keys(const BrickSpec& b) {
  std::string name(brick_name(b.brick));
  if (brick_takes_context(b.brick)) {
    std::vector<std::string> out;
    for (int32_t c : b.contexts) out.push_back(name + "@" + std::to_string(c));
    return out;
  }
  if (b.brick == Brick::Gemv) {
    std::vector<std::string> out;
    for (int32_t t : b.types) out.push_back("gemv:" + bb::model::ggml_type_name(t));
    if (b.all_types) out.push_back("gemv:all");
    return out;
  }
  return {name};
}

void print_yaml(const Goal& g, const Derivation& dv) {
  std::printf("# %s: goal %g tok/s -> token time %.4g us; T = %.0f bytes at context %d; B = %.4g GB/s\n",
              g.config, g.tok_s, 1e6 / g.tok_s, dv.token_bytes, kReferenceContext, dv.bandwidth / 1e9);
  std::printf("bricks:\n  - {brick: copy}\n");
  for (const auto& [key, v] : dv.budgets) {
    auto at = key.find('@'), colon = key.find(':');
    std::string brick = key.substr(0, std::min(at, colon));
    std::string extra;
    if (at != std::string::npos) extra = ", context: " + key.substr(at + 1);
    if (colon != std::string::npos) extra = ", type: " + key.substr(colon + 1);
    if (brick == "generate") extra = ", tokens: 64";
    bool per_token = brick == "decode" || brick == "generate";
    std::printf("  - {brick: %s%s, %s: %.4g}\n", brick.c_str(), extra.c_str(),
                per_token ? "budget_tok_s" : "budget_us", v);
  }
}

TEST(BudgetDerivation, PrintWhenAsked) {
  if (std::getenv("BRICKBENCH_PRINT_BUDGETS") == nullptr)
    GTEST_SKIP() << "set BRICKBENCH_PRINT_BUDGETS=1 to print";
  for (const Goal& g : kGoals) print_yaml(g, derive(g));
}

TEST(BudgetDerivation, CommittedConfigsMatchTheCostModel) {
  for (const Goal& g : kGoals) {
    SCOPED_TRACE(g.config);
    const Derivation dv = derive(g);
    const Experiment e = load_experiment(std::string(BRICKBENCH_CONFIGS_DIR) + "/" + g.config);
    ASSERT_TRUE(e.model.synthetic.has_value());
    EXPECT_EQ(e.model.synthetic->model, g.model);
    EXPECT_EQ(e.model.synthetic->quant, "q4_k_m");

    std::map<std::string, double> expected(dv.budgets.begin(), dv.budgets.end());
    std::map<std::string, double> committed;
    for (const BrickSpec& b : e.bricks) {
      if (b.brick == Brick::Copy) continue;  // the bandwidth probe has no budget
      auto keys = cell_keys(b);
      ASSERT_EQ(keys.size(), 1u) << "derived configs give every cell its own entry (line " << b.line << ")";
      double v = brick_is_per_token(b.brick) ? b.budget_tok_s.value_or(-1) : b.budget_us.value_or(-1);
      committed[keys[0]] = v;
      if (b.brick == Brick::Generate) {
        EXPECT_EQ(b.tokens, 64);
      }
    }
    for (const auto& [key, want] : expected) {
      auto it = committed.find(key);
      if (it == committed.end()) {
        ADD_FAILURE() << g.config << ": no entry for " << key << " (derived budget " << want << ")";
        continue;
      }
      EXPECT_NEAR(it->second, want, 0.01 * want) << g.config << ": " << key;
    }
    for (const auto& [key, v] : committed)
      EXPECT_TRUE(expected.count(key)) << g.config << ": " << key << " is not a derived cell";
  }
}

// The decode goal itself comes back at the reference context, and a layer's bricks add up to
// (nearly) the layer: the split is a partition of the token, not an arbitrary set of numbers.
TEST(BudgetDerivation, SplitIsConsistent) {
  for (const Goal& g : kGoals) {
    SCOPED_TRACE(g.model);
    const Derivation dv = derive(g);
    std::map<std::string, double> b(dv.budgets.begin(), dv.budgets.end());
    EXPECT_NEAR(b["decode@512"], g.tok_s, 1e-9 * g.tok_s);
    EXPECT_LT(b["decode@4096"], g.tok_s);  // longer context, more KV bytes, fewer tokens/s
    const double parts =
        2 * b["rms_norm"] + b["qkv"] + b["rope"] + b["attention@512"] + b["o_proj"] + b["ffn"];
    EXPECT_NEAR(parts, b["layer@512"], 0.01 * b["layer@512"]);
    // All layers take most of the token; the rest is the embedding row and the LM head.
    const auto& shape = bb::model::find_qwen2_shape(g.model);
    const double layers_us = shape.n_layer * b["layer@512"];
    EXPECT_LT(layers_us, 1e6 / g.tok_s);
    EXPECT_GT(layers_us, 0.5e6 / g.tok_s);
  }
}

}  // namespace
}  // namespace bb::config
