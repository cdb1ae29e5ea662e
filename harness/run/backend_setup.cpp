#include "run/backend_setup.h"

#include <algorithm>

#include "run/input_error.h"
#include "run/sha256.h"

namespace bb::run {
namespace {

// Options: the config's backend_options for this backend, then the experiment's Ollama tag
// (model.ollama), which whole-model peers serve; backends ignore keys they do not know.
std::shared_ptr<plugin::Context> make_context(const config::Experiment& e, const std::string& name,
                                              const std::shared_ptr<const plugin::LoadedPlugin>& p,
                                              int32_t threads) {
  std::vector<std::pair<std::string, std::string>> opt_text;
  for (const auto& [bn, kvs] : e.backend_options)
    if (bn == name) opt_text = kvs;
  if (!e.model.ollama.empty()) opt_text.emplace_back("model.ollama", e.model.ollama);
  std::vector<bb_kv> opts;
  opts.reserve(opt_text.size());
  for (const auto& [k, v] : opt_text) opts.push_back({k.c_str(), v.c_str()});
  bb_context_args ca{};
  ca.struct_size = sizeof(ca);
  ca.n_threads = threads;
  ca.n_options = opts.size();
  ca.options = opts.empty() ? nullptr : opts.data();
  return std::make_shared<plugin::Context>(p, ca);
}

report::PluginRecord plugin_record(const plugin::LoadedPlugin& p, report::RunResult& r) {
  report::PluginRecord pr;
  const auto& info = p.info();
  pr.name = info.name;
  pr.version = info.version;
  pr.path = info.path;
  pr.abi_major = info.abi_major;
  pr.abi_minor = info.abi_minor;
  pr.probe_score = info.probe_score;
  pr.build_info = info.build_info;
  try {
    pr.sha256 = sha256_file(info.path);
  } catch (const std::exception& ex) {
    r.warnings.push_back(ex.what());
  }
  return pr;
}

}  // namespace

std::vector<std::string> backend_names(const config::Experiment& e, const plugin::PluginRegistry& registry,
                                       const std::vector<std::string>& only) {
  // A name is known when a plugin of that name was found (usable or not) or the config lists it (a
  // backend this machine lacks is skipped, with why); anything else is a typo, and running without
  // it would measure less than was asked for and still pass (issue 14, defects 1 and 2).
  std::vector<std::string> found;
  for (const auto& c : registry.candidates())
    if (!c.name.empty() && std::find(found.begin(), found.end(), c.name) == found.end())
      found.push_back(c.name);
  auto known = found;
  for (const auto& n : e.backends)
    if (std::find(known.begin(), known.end(), n) == known.end()) known.push_back(n);
  const std::string where = "(bench plugins lists the plugins found and why any was rejected)";
  if (std::find(found.begin(), found.end(), e.reference) == found.end())
    throw InputError("reference backend '" + e.reference + "' (" + e.source +
                     ": reference) is no plugin that was found; " + config::suggestion(e.reference, found) +
                     "found: " + (found.empty() ? "none" : config::join(found)) + " " + where);
  for (const auto& want : only)
    if (std::find(known.begin(), known.end(), want) == known.end())
      throw InputError("--backend " + want + ": no such backend; " + config::suggestion(want, known) +
                       "known: " + (known.empty() ? "none" : config::join(known)) + " " + where);
  std::vector<std::string> names = e.backends;
  if (names.empty())
    for (const auto& p : registry.usable()) names.push_back(p->info().name);
  if (std::find(names.begin(), names.end(), e.reference) == names.end())
    names.insert(names.begin(), e.reference);
  if (only.empty()) return names;
  std::vector<std::string> kept;
  for (const auto& n : names)
    if (n == e.reference || std::find(only.begin(), only.end(), n) != only.end()) kept.push_back(n);
  for (const auto& want : only)
    if (std::find(names.begin(), names.end(), want) == names.end()) kept.push_back(want);
  return kept;
}

std::vector<std::unique_ptr<Backend>> set_up_backends(const config::Experiment& e,
                                                      const plugin::PluginRegistry& registry,
                                                      const std::vector<std::string>& names, int32_t threads,
                                                      report::RunResult& r, const ProgressSink& say) {
  std::vector<std::unique_ptr<Backend>> backends;
  // backend_options for a name that is neither a backend of the config nor a plugin that was found
  // is most likely a typo: said in the result rather than ignored (issue 14, defect 17).
  for (const auto& [bn, kvs] : e.backend_options) {
    bool known = std::find(e.backends.begin(), e.backends.end(), bn) != e.backends.end() || bn == e.reference;
    for (const auto& c : registry.candidates()) known |= c.name == bn;
    if (!known) {
      r.warnings.push_back("backend_options for '" + bn +
                           "', which is no backend of this config and no plugin that was found: ignored");
      say("WARNING: " + r.warnings.back());
    }
  }
  auto skip = [&](const std::string& name, std::string reason) {
    r.skipped_backends.push_back({name, std::move(reason)});
    say("skipping backend " + name + ": " + r.skipped_backends.back().reason);
  };
  for (const auto& name : names) {
    auto p = registry.find(name);
    if (!p) {
      skip(name, registry.why_unavailable(name));
      continue;
    }
    auto b = std::make_unique<Backend>();
    b->name = name;
    b->plugin = p;
    b->reference = name == e.reference;
    b->reference_only = e.reference_only(name);
    b->protocol = e.protocol_for(name);  // the sampler's part of it
    try {
      b->ctx = make_context(e, name, p, threads);
    } catch (const std::exception& ex) {
      skip(name, std::string("context creation failed: ") + ex.what());
      continue;
    }
    r.plugins.push_back(plugin_record(*p, r));
    backends.push_back(std::move(b));
  }
  if (backends.empty())
    throw InputError("no backend of the experiment is available (bench plugins lists what was found)");
  // The reference runs first so every other backend's check run can be compared at once.
  std::stable_partition(backends.begin(), backends.end(), [](const auto& b) { return b->reference; });
  if (!backends.front()->reference)
    r.warnings.push_back("reference backend '" + e.reference +
                         "' is not available: equivalence is not checked");
  return backends;
}

}  // namespace bb::run
