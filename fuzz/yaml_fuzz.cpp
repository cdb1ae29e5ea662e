// libFuzzer target: the YAML experiment loader (config/experiment.h) on arbitrary text.
// Contract under test: any input either loads or throws ConfigError naming file:line:column;
// nothing else escapes (a yaml-cpp exception or std::out_of_range would reach `bench` as an
// internal error, exit 3, instead of a usage error). A loaded experiment must also serialize
// (canonical_json, experiment_hash) and answer protocol_for/tolerance queries. scripts/fuzz.sh runs it.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "config/experiment.h"

// A model.ollama tag in the input is looked up in Ollama's store: point that at nothing, so the
// run never depends on what models the fuzzing machine happens to have.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("OLLAMA_MODELS", "/nonexistent-fuzz-ollama", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    // base_dir "/nonexistent": a model.gguf in the input resolves there, so the run never depends
    // on what files the fuzzing machine happens to have.
    bb::config::Experiment e =
        bb::config::load_experiment_from_string(text, "fuzz.yaml", "/nonexistent-fuzz-base");
    (void)bb::config::canonical_json(e);
    (void)bb::config::experiment_hash(e);
    for (const auto& b : e.backends) {
      (void)e.protocol_for(b);
      (void)e.reference_only(b);
    }
    for (const auto& brick : e.bricks)
      for (int32_t t : brick.types) (void)e.tolerance(brick.brick, t, bb::config::ToleranceClass{});
  } catch (const bb::config::ConfigError&) {
    // the documented outcome for a bad config
  } catch (const std::exception& e) {
    std::fprintf(stderr, "yaml_fuzz: an exception other than ConfigError escaped: %s\n", e.what());
    std::abort();
  }
  return 0;
}
