// bench synth: write a synthetic Qwen2.5-Coder GGUF (real shapes, real quant mix, seeded weights).
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "model/gguf.h"
#include "model/synthetic.h"

namespace po = boost::program_options;

namespace bb::cli {
namespace {

std::string joined(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

std::vector<std::string> known_model_names() {
  std::vector<std::string> names;
  for (const auto& s : model::known_qwen2_shapes()) names.push_back(s.name);
  return names;
}

std::string cache_dir_or_hint() {
  try {
    return model::cache_dir();
  } catch (const std::exception&) {
    return "$BRICKBENCH_CACHE_DIR";
  }
}

void print_usage(std::FILE* out, const po::options_description& opts) {
  std::fprintf(
      out,
      "usage: bench synth --model NAME [--quant Q] [--seed S] [-o FILE] [--threads N]\n\n"
      "Writes a synthetic Qwen2.5-Coder GGUF: the real shapes and the real llama-quantize type mix,\n"
      "seeded random weights (valid blocks of every type), loadable by llama.cpp. Without -o the\n"
      "file goes to the model cache (%s/models) and an existing cached file is reused.\n\n",
      cache_dir_or_hint().c_str());
  std::ostringstream o;
  o << opts;
  std::fprintf(out, "%s\nmodels: %s\nquants: %s\n", o.str().c_str(), joined(known_model_names()).c_str(),
               joined(model::known_synth_quants()).c_str());
}

}  // namespace

int cmd_synth(const std::vector<std::string>& args) {
  po::options_description opts("options");
  // clang-format off
  opts.add_options()
      ("help,h", "print this help")
      ("model,m", po::value<std::string>(), "model shape, e.g. qwen2.5-coder-1.5b (or 1.5b)")
      ("quant,q", po::value<std::string>()->default_value("q4_k_m"), "weight types: q4_k_m, q8_0, f16, f32")
      ("seed,s", po::value<uint64_t>()->default_value(1), "random seed of the weights")
      ("output,o", po::value<std::string>(), "output GGUF path (default: the model cache)")
      ("threads,t", po::value<int>()->default_value(0), "filling threads (0 = all hardware threads)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "bench synth: %s (see bench synth --help)\n", e.what());
    return kExitUsage;
  }
  if (vm.count("help")) {
    print_usage(stdout, opts);
    return kExitOk;
  }
  if (!vm.count("model")) {
    std::fprintf(stderr, "bench synth: --model is required; known: %s\n",
                 joined(known_model_names()).c_str());
    return kExitUsage;
  }

  model::SynthOptions o;
  o.quant = vm["quant"].as<std::string>();
  o.seed = vm["seed"].as<uint64_t>();
  o.threads = vm["threads"].as<int>();
  try {
    o.model = model::find_qwen2_shape(vm["model"].as<std::string>()).name;
    model::synthetic_tensor_plan(model::find_qwen2_shape(o.model), o.quant);  // validates --quant
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "bench synth: %s\n", e.what());
    return kExitUsage;
  }
  if (o.threads < 0) {
    std::fprintf(stderr, "bench synth: --threads %d: must be 0 (all) or positive\n", o.threads);
    return kExitUsage;
  }

  auto t0 = std::chrono::steady_clock::now();
  std::string path;
  try {
    if (vm.count("output")) {
      path = vm["output"].as<std::string>();
      std::fprintf(stderr, "bench synth: writing %s (%s, seed %llu)\n", o.model.c_str(), o.quant.c_str(),
                   static_cast<unsigned long long>(o.seed));
      o.show_progress = true;
      model::write_synthetic_gguf(o, path);
    } else {
      path = model::ensure_synthetic_model(o);
    }
  } catch (
      const std::runtime_error& e) {  // GgufError or filesystem: unwritable path, full disk, no cache dir
    std::fprintf(stderr, "bench synth: %s\n", e.what());
    return kExitUsage;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  auto file = model::GgufFile::open(path);
  std::printf("path      %s\n", path.c_str());
  std::printf("model     %s, %s, seed %llu\n", o.model.c_str(), o.quant.c_str(),
              static_cast<unsigned long long>(o.seed));
  std::printf("size      %.1f MiB\n", static_cast<double>(file->file_size()) / (1024.0 * 1024.0));
  std::printf("tensors   %zu\n", file->tensors().size());
  std::printf("seconds   %.2f\n", secs);
  return kExitOk;
}

}  // namespace bb::cli
