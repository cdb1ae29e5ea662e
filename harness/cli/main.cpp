// bench: the brickbench command line. Dispatches to one subcommand per file in cli/.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"
#include "cli/commands.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(const std::vector<std::string>&);
  const char* summary;
};

const Command kCommands[] = {
    {"run", bb::cli::cmd_run, "measure an experiment (YAML) on every backend; write a result JSON"},
    {"diff", bb::cli::cmd_diff, "compare two result files cell by cell; exit 1 on a significant slowdown"},
    {"report", bb::cli::cmd_report,
     "one self-contained HTML report of a result (and its diff to a baseline)"},
    {"export", bb::cli::cmd_export, "convert a result file to another format (Google Benchmark JSON, ...)"},
    {"plugins", bb::cli::cmd_plugins, "list the backend plugins found, or why each was rejected"},
    {"synth", bb::cli::cmd_synth, "write a synthetic Qwen2.5-Coder GGUF with the real shapes and quant mix"},
    {"inspect", bb::cli::cmd_inspect, "print a GGUF file's metadata, tensors and model description"},
    {"generate", bb::cli::cmd_generate, "greedy-decode token ids through a backend; optionally dump logits"},
};

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "brickbench %s: measure and check LLM-inference kernels (\"bricks\") on plugin backends\n\n"
               "usage: bench <command> [options]   (bench <command> --help for its options)\n\ncommands:\n",
               BRICKBENCH_VERSION);
  for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
  std::fprintf(
      out, "\nexit codes: 0 ok, 1 the command found a failure, 2 usage or input error, 3 internal error\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return bb::cli::kExitUsage;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return bb::cli::kExitOk;
  }
  if (name == "--version") {
    std::printf("brickbench %s (plugin ABI %d.%d)\n", BRICKBENCH_VERSION, BB_ABI_VERSION_MAJOR,
                BB_ABI_VERSION_MINOR);
    return bb::cli::kExitOk;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  if (name == "plugin-host") return bb::cli::cmd_plugin_host(args);  // hidden: bench run --isolate's child
  for (const auto& c : kCommands) {
    if (name == c.name) {
      try {
        return c.fn(args);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench %s: internal error: %s\n", c.name, e.what());
        return bb::cli::kExitInternal;
      }
    }
  }
  std::fprintf(stderr, "bench: unknown command '%s'; known:", name.c_str());
  for (const auto& c : kCommands) std::fprintf(stderr, " %s", c.name);
  std::fprintf(stderr, "\n");
  return bb::cli::kExitUsage;
}
