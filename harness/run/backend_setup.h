// Stage 3 of `bench run` (docs/DESIGN.md §8): the backends the experiment names, found in the
// plugin registry, each with a context made with its options, recorded in the result; the reference
// first, so every other backend's check run can be compared with its outputs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "measure/protocol.h"
#include "plugin/backend.h"
#include "plugin/registry.h"
#include "result/run_result.h"
#include "run/progress_sink.h"
#include "workload/decode_driver.h"

namespace bb::run {

struct Backend {
  std::string name;
  std::shared_ptr<const plugin::LoadedPlugin> plugin;
  std::shared_ptr<plugin::Context> ctx;
  std::unique_ptr<workload::DecodeDriver> driver;  // made on first use (CellWorkloads::driver_of)
  std::string driver_error;                        // why there is none
  bool reference = false;
  bool reference_only = false;
  measure::ProtocolSettings protocol;
  double ceiling_gbps = 0;  // measured by its bandwidth probe cell
};

// The backend names to run: the experiment's list (every usable plugin when it has none), the
// reference always, narrowed to `only` (--backend) when given.
std::vector<std::string> backend_names(const config::Experiment& e, const plugin::PluginRegistry& registry,
                                       const std::vector<std::string>& only);

// One Backend per name that is available and makes a context; the others go to r.skipped_backends
// (with why). Reference first. Throws InputError (input_error.h) when none is left.
std::vector<std::unique_ptr<Backend>> set_up_backends(const config::Experiment& e,
                                                      const plugin::PluginRegistry& registry,
                                                      const std::vector<std::string>& names, int32_t threads,
                                                      report::RunResult& r, const ProgressSink& say);

}  // namespace bb::run
