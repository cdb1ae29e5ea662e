// bench generate: greedy decode of token ids through any backend that offers `decode`; optionally
// writes the logits in the oracle's layout, or checks them against llama.cpp's answers.
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/parse_args.h"
#include "config/experiment.h"
#include "model/gguf.h"
#include "model/qwen2_model.h"
#include "model/synthetic.h"
#include "plugin/plugin_options.h"
#include "plugin/registry.h"
#include "verify/logits_compare.h"
#include "workload/decode_driver.h"

namespace po = boost::program_options;

namespace bb::cli {
namespace {

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 0 || v > INT32_MAX)
      throw po::error("--tokens: '" + item + "' is not a token id (expected e.g. --tokens 3,17,42)");
    out.push_back(static_cast<int32_t>(v));
  }
  if (out.empty()) throw po::error("--tokens: give at least one token id, e.g. --tokens 3,17,42");
  return out;
}

// The model: the file, or the synthetic model of that name (made on first use; model_path is then
// its cache path).
model::Qwen2Model load_model(std::string& model_path, const std::string& synthetic, const std::string& quant,
                             uint64_t seed) {
  if (!synthetic.empty()) {
    model::SynthOptions so;
    so.model = synthetic;
    so.quant = quant;
    so.seed = seed;
    model_path = model::ensure_synthetic_model(so);
  }
  return model::load_qwen2(model_path);
}

// The oracle's logits file, which must be of the same vocabulary as the model.
verify::LogitsRecord load_oracle(const std::string& path, const model::Qwen2Model& model,
                                 const std::string& model_path) {
  verify::LogitsRecord oracle = verify::read_logits_json(path);
  if (oracle.n_vocab != model.dims.n_vocab)
    throw std::runtime_error(path + " has n_vocab " + std::to_string(oracle.n_vocab) + " but " + model_path +
                             " has " + std::to_string(model.dims.n_vocab) + ": not the same model");
  return oracle;
}

// --check-against: the oracle's own tokens fed through the backend, its logits compared with the
// oracle's under the bounds (defaults by the model's weight types).
struct OracleCheck {
  std::string backend, oracle_path, logits_out;
  double max_nmse, min_top1;  // < 0: the default
};

int check_against_oracle(workload::DecodeDriver& driver, const model::Qwen2Model& model,
                         const verify::LogitsRecord& oracle, const OracleCheck& c,
                         const std::function<void(int, int)>& progress) {
  auto fed = oracle.fed_tokens();
  std::vector<std::vector<float>> ours;
  for (size_t p = 0; p < fed.size(); ++p) {
    ours.push_back(driver.decode(fed[p], static_cast<int32_t>(p)));
    progress(static_cast<int>(p) + 1, static_cast<int>(fed.size()));
  }
  auto agreement = verify::compare_logits(ours, oracle.fed_logits());
  bool float_model = true;
  for (const auto& t : model.tensors)
    if (t.type != BB_TYPE_F32 && t.type != BB_TYPE_F16 && t.type != BB_TYPE_BF16) float_model = false;
  double max_nmse = c.max_nmse, min_top1 = c.min_top1;
  if (max_nmse < 0) max_nmse = float_model ? 5e-6 : 2e-3;
  if (min_top1 < 0) min_top1 = float_model ? 1.0 : 0.85;
  bool pass = agreement.non_finite == 0 && agreement.nmse <= max_nmse && agreement.top1_agreement >= min_top1;
  std::printf(
      "check %s vs %s: %d positions, NMSE %.3g (bound %.3g), top-1 %.1f%% (bound %.1f%%), max |err| "
      "%.3g%s: %s\n",
      c.backend.c_str(), c.oracle_path.c_str(), agreement.positions, agreement.nmse, max_nmse,
      100 * agreement.top1_agreement, 100 * min_top1, agreement.max_abs_error,
      agreement.non_finite ? (", " + std::to_string(agreement.non_finite) + " non-finite").c_str() : "",
      pass ? "PASS" : "FAIL");
  if (!c.logits_out.empty()) {
    verify::LogitsRecord rec = oracle;
    for (size_t p = 0; p < rec.prompt.size(); ++p) rec.prompt_logits[p] = ours[p];
    for (size_t i = 0; i + 1 < rec.greedy.size(); ++i) rec.greedy_logits[i] = ours[rec.prompt.size() + i];
    if (!rec.greedy.empty())
      rec.greedy_logits.back() = driver.decode(rec.greedy.back(), static_cast<int32_t>(fed.size()));
    verify::write_logits_json(rec, c.logits_out);
  }
  return pass ? kExitOk : kExitFailure;
}

// The tokens of a greedy run, its (untimed) speed, and the logits file when asked for.
void print_greedy(const verify::LogitsRecord& rec, int32_t positions, double s,
                  const std::string& logits_out) {
  std::printf("prompt:");
  for (int32_t t : rec.prompt) std::printf(" %d", t);
  std::printf("\ngreedy:");
  for (int32_t t : rec.greedy) std::printf(" %d", t);
  std::printf(
      "\n%d tokens in %.3f s (%.2f tok/s, one token at a time, untimed protocol: use bench run to "
      "measure)\n",
      positions, s, positions / s);
  if (!logits_out.empty()) {
    verify::write_logits_json(rec, logits_out);
    std::printf("logits written to %s\n", logits_out.c_str());
  }
}

constexpr const char* kUsage =
    "usage: bench generate (--model FILE.gguf | --synthetic NAME) [--backend NAME] [--tokens 3,17,42] [--n "
    "12]\n"
    "                      [--logits-out FILE.json] [--check-against ORACLE.logits.json]\n\n"
    "Greedy-decodes token ids through a backend's decode session. With --logits-out, writes prompt,\n"
    "prompt_logits, greedy, greedy_logits in the layout of the oracle's *.logits.json. With\n"
    "--check-against, feeds the oracle's own tokens (prompt + greedy[:-1]) and reports the logits'\n"
    "NMSE and top-1 agreement against it; exit 1 when they miss the bounds.\n\noptions";

// What the command line gave.
struct GenerateArgs {
  std::string model_path, synthetic, quant = "q4_k_m", backend = "scalar_ref", tokens_text = "3,17,42";
  std::string logits_out, check_against;
  uint64_t seed = 1;
  int32_t n = 12, threads = 0, n_ctx = 0;
  double max_nmse = -1, min_top1 = -1;
  plugin::SearchPaths paths;
  std::vector<int32_t> prompt;
};

po::options_description command_line_options(GenerateArgs& a) {
  po::options_description opts(kUsage);
  opts.add_options()("help,h", "this help")("model", po::value(&a.model_path), "a Qwen2 GGUF file")(
      "synthetic", po::value(&a.synthetic),
      "a synthetic model, e.g. qwen2.5-coder-0.5b (cached after first use)")(
      "quant", po::value(&a.quant)->default_value(a.quant), "quant mix of the synthetic model")(
      "seed", po::value(&a.seed)->default_value(a.seed), "seed of the synthetic model")(
      "backend", po::value(&a.backend)->default_value(a.backend), "plugin name (see bench plugins)")(
      "tokens", po::value(&a.tokens_text)->default_value(a.tokens_text), "comma-separated prompt token ids")(
      "n", po::value(&a.n)->default_value(a.n), "greedy tokens to generate")(
      "ctx", po::value(&a.n_ctx)->default_value(0), "KV cache positions (0 = prompt + n)")(
      "threads", po::value(&a.threads)->default_value(0), "backend threads (0 = the backend decides)")(
      "logits-out", po::value(&a.logits_out), "write the logits JSON here")(
      "check-against", po::value(&a.check_against), "an oracle *.logits.json to check against")(
      "max-nmse", po::value(&a.max_nmse),
      "bound for --check-against (default: 5e-6 for f32/f16 models, 2e-3 otherwise)")(
      "min-top1", po::value(&a.min_top1),
      "bound for --check-against (default: 1.0 for f32/f16, 0.85 otherwise)");
  add_plugin_options(opts, a.paths);
  return opts;
}

// Reads the command line into `a`; an exit code when the command ends here (--help 0, bad usage 2).
std::optional<int> parse_generate_args(const std::vector<std::string>& args, GenerateArgs& a) {
  a.paths.probe_in_child = true;  // a bad .so in the plugin path is rejected, never loaded here
  po::options_description opts = command_line_options(a);
  try {
    po::variables_map vm;
    if (!parse_args(args, opts, nullptr, vm)) return kExitOk;
    if (a.model_path.empty() == a.synthetic.empty())
      throw po::error("give exactly one of --model FILE.gguf or --synthetic NAME");
    if (a.n < 0) throw po::error("--n must be >= 0");
    if (a.threads < 0 || a.threads > config::kMaxThreads)
      throw po::error("--threads " + std::to_string(a.threads) + ": expected 0 (the backend decides) to " +
                      std::to_string(config::kMaxThreads));
    a.prompt = parse_token_list(a.tokens_text);
  } catch (const po::error& e) {
    std::cerr << "bench generate: " << e.what() << "\n(bench generate --help for usage)\n";
    return kExitUsage;
  }
  return std::nullopt;
}

// The model and, with --check-against, the oracle (whose tokens then replace the prompt and --n);
// every token and the number of positions checked before any token is decoded. Throws on bad input.
void load_inputs(GenerateArgs& a, model::Qwen2Model& model, verify::LogitsRecord& oracle) {
  model = load_model(a.model_path, a.synthetic, a.quant, a.seed);
  if (!a.check_against.empty()) {
    oracle = load_oracle(a.check_against, model, a.model_path);
    a.prompt = oracle.prompt;
    a.n = static_cast<int32_t>(oracle.greedy.size());
  }
  for (int32_t t : a.prompt)
    if (t >= model.dims.n_vocab)
      throw std::runtime_error("token " + std::to_string(t) + " is outside the vocabulary of " +
                               std::to_string(model.dims.n_vocab));
  // Said before any token is decoded, not after the cache runs out.
  const int64_t wanted = static_cast<int64_t>(a.prompt.size()) + a.n;
  if (wanted > model.dims.n_ctx_max || (a.n_ctx > 0 && wanted > a.n_ctx))
    throw std::runtime_error(std::to_string(a.prompt.size()) + " prompt tokens + --n " + std::to_string(a.n) +
                             " = " + std::to_string(wanted) + " positions, more than " +
                             (a.n_ctx > 0 && a.n_ctx < model.dims.n_ctx_max
                                  ? "--ctx " + std::to_string(a.n_ctx)
                                  : "the model's context of " + std::to_string(model.dims.n_ctx_max)) +
                             "; lower --n");
}

// Decodes through the backend: the oracle check, or a greedy run printed. Its exit code.
int decode(const GenerateArgs& a, const std::shared_ptr<const plugin::LoadedPlugin>& plugin,
           const model::Qwen2Model& model, const verify::LogitsRecord& oracle) {
  const int32_t positions = static_cast<int32_t>(a.prompt.size()) + a.n;
  std::fprintf(stderr, "bench generate: %s on %s (%d layers, n_embd %d, vocab %d), %d positions\n",
               a.backend.c_str(), a.model_path.c_str(), model.dims.n_layer, model.dims.n_embd,
               model.dims.n_vocab, positions);
  try {
    workload::DecodeDriver driver(plugin, model, a.n_ctx > 0 ? a.n_ctx : positions, a.threads);
    auto t0 = std::chrono::steady_clock::now();
    auto last_print = t0;
    auto progress = [&](int done, int total) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_print > std::chrono::seconds(2) || done == total) {
        double s = std::chrono::duration<double>(now - t0).count();
        std::fprintf(stderr, "  decoded %d/%d tokens, %.3f s/token\n", done, total, s / done);
        last_print = now;
      }
    };
    if (!a.check_against.empty()) {
      OracleCheck check{a.backend, a.check_against, a.logits_out, a.max_nmse, a.min_top1};
      return check_against_oracle(driver, model, oracle, check, progress);
    }
    auto rec = driver.greedy(a.prompt, a.n, progress);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_greedy(rec, positions, s, a.logits_out);
  } catch (const plugin::BackendError& e) {
    std::cerr << "bench generate: " << e.what() << "\n";
    return e.status() == BB_UNSUPPORTED || e.status() == BB_INVALID_ARGUMENT ? kExitUsage : kExitFailure;
  } catch (const std::exception& e) {
    std::cerr << "bench generate: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

// The stages of bench generate: the command line, the model (and oracle), the backend, the decode.
int cmd_generate(const std::vector<std::string>& args) {
  GenerateArgs a;
  if (auto rc = parse_generate_args(args, a)) return *rc;

  model::Qwen2Model model;
  verify::LogitsRecord oracle;
  try {
    load_inputs(a, model, oracle);
  } catch (const std::exception& e) {
    std::cerr << "bench generate: " << e.what() << "\n";
    return kExitUsage;
  }

  plugin::PluginRegistry registry;
  registry.discover(a.paths);
  auto plugin = registry.find(a.backend);
  if (!plugin) {
    std::cerr << "bench generate: backend '" << a.backend
              << "' is not available: " << registry.why_unavailable(a.backend)
              << "\n(bench plugins lists what was found)\n";
    return kExitUsage;
  }
  return decode(a, plugin, model, oracle);
}

}  // namespace bb::cli
