// The result in Google Benchmark's JSON layout (what `--benchmark_format=json --benchmark_repetitions=N`
// writes), so tools/compare.py and benchmark dashboards read brickbench results unchanged:
//   context     date, host_name, executable, num_cpus, mhz_per_cpu, cpu_scaling_enabled, caches,
//               load_avg, library_version, library_build_type, json_schema_version, plus brickbench's
//               own keys (experiment, hash, model, commit) as custom context strings;
//   benchmarks  per measured cell "<cell id>/<backend>": one run_type "iteration" entry per raw sample
//               (repetition_index 0..n-1 of repetitions n; iterations = iterations per sample;
//               real_time = that sample's time per call), then the aggregates mean, median, stddev
//               (time) and cv (percentage), as Google Benchmark computes them over repetitions.
// Times are in ns for every entry: compare.py pairs entries by name and time unit, so a unit chosen
// per value would make a cell whose median crosses a unit boundary vanish from the comparison.
// cpu_time = real_time: brickbench times wall clock (or device time) only. Cells that were not
// measured (skipped, failed, interrupted) appear once with error_occurred and error_message, and no
// times, as Google Benchmark writes a benchmark that called SkipWithError.
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cmath>
#include <map>

#include "measure/statistics.h"
#include "report/reporter.h"
#include "report/table.h"
#include "result/json_write.h"
#include "result/number_format.h"

namespace bb::report {
namespace {

using Writer = json::PrettyWriter;
using json::num;
using json::str;

std::string env(const RunResult& r, const std::string& key) {
  for (const auto& [k, v] : r.environment)
    if (k == key) return v;
  return "";
}

bool measured(const Cell& c) {
  return (c.status == CellStatus::Converged || c.status == CellStatus::Unstable ||
          c.status == CellStatus::CappedSlow) &&
         !c.samples.empty();
}

struct Entry {
  std::string name;
  int64_t family_index = 0, instance_index = 0;
};

void common(Writer& w, const Entry& e, const std::string& name, const char* run_type, int64_t repetitions) {
  w.Key("name"), str(w, name);
  w.Key("family_index"), w.Int64(e.family_index);
  w.Key("per_family_instance_index"), w.Int64(e.instance_index);
  w.Key("run_name"), str(w, e.name);
  w.Key("run_type"), str(w, run_type);
  w.Key("repetitions"), w.Int64(repetitions);
}

// Counters Google Benchmark's users know: bytes_per_second (SetBytesProcessed) from the cost model,
// items_per_second (SetItemsProcessed) as tokens per second for decode / generate.
void counters(Writer& w, const Cell& c, double seconds) {
  if (!(seconds > 0)) return;
  if (c.roofline.bytes > 0) w.Key("bytes_per_second"), num(w, c.roofline.bytes / seconds);
  if (c.roofline.flops > 0) w.Key("flops_per_second"), num(w, c.roofline.flops / seconds);
  if (c.brick == "decode" || c.brick == "generate") w.Key("items_per_second"), num(w, 1.0 / seconds);
}

void time_fields(Writer& w, double seconds) {
  w.Key("real_time"), num(w, seconds * 1e9);
  w.Key("cpu_time"), num(w, seconds * 1e9);
  w.Key("time_unit"), str(w, "ns");
}

// Google Benchmark's "context" block from the run's header and machine facts.
void write_context(Writer& w, const RunResult& r) {
  w.Key("context");
  w.StartObject();
  w.Key("date"), str(w, r.started_utc);
  w.Key("host_name"), str(w, env(r, "hostname"));
  w.Key("executable"), str(w, r.command_line.empty() ? std::string("bench") : r.command_line);
  int64_t cpus = 0;
  try {
    cpus = std::stoll(env(r, "cpu_cores"));
  } catch (const std::exception&) {
    cpus = 0;
  }
  w.Key("num_cpus"), w.Int64(cpus);
  w.Key("mhz_per_cpu"), w.Int64(0);  // not recorded by brickbench
  const std::string governor = env(r, "cpu_governor");
  w.Key("cpu_scaling_enabled"),
      w.Bool(!governor.empty() && governor != "performance" && governor.rfind("unknown", 0) != 0);
  w.Key("caches"), w.StartArray(), w.EndArray();
  w.Key("load_avg"), w.StartArray(), w.EndArray();
  w.Key("library_version"), str(w, "brickbench " + r.tool_version);
#ifdef NDEBUG
  w.Key("library_build_type"), str(w, "release");
#else
  w.Key("library_build_type"), str(w, "debug");
#endif
  w.Key("json_schema_version"), w.Int(1);
  // Custom context (benchmark::AddCustomContext): strings only.
  w.Key("brickbench_experiment"), str(w, r.experiment_name);
  w.Key("brickbench_experiment_hash"), str(w, r.experiment_hash);
  w.Key("brickbench_git_commit"), str(w, r.git_commit);
  w.Key("brickbench_model"), str(w, r.model.name + " sha256:" + r.model.sha256);
  w.Key("brickbench_cpu_model"), str(w, env(r, "cpu_model"));
  w.Key("brickbench_state"), str(w, r.state);
  w.EndObject();
}

}  // namespace

void GbenchReporter::report(const RunResult& r, std::ostream& out) const {
  constexpr int64_t kMaxGbenchRepetitions = 10000;
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.SetIndent(' ', 2);
  w.StartObject();
  write_context(w, r);

  w.Key("benchmarks");
  w.StartArray();
  std::map<std::string, int64_t> family, instances;
  for (size_t i : table_order(r)) {
    const Cell& c = r.cells[i];
    Entry e;
    e.name = c.id + "/" + c.backend;
    e.family_index = family.emplace(c.id, static_cast<int64_t>(family.size())).first->second;
    e.instance_index = instances[c.id]++;
    if (!measured(c)) {
      w.StartObject();
      common(w, e, e.name, "iteration", 1);
      w.Key("repetition_index"), w.Int64(0);
      w.Key("threads"), w.Int(1);
      w.Key("error_occurred"), w.Bool(true);
      str(w, "error_message");
      str(w,
          std::string(cell_status_name(c.status)) + (c.status_reason.empty() ? "" : ": " + c.status_reason));
      w.EndObject();
      continue;
    }
    const auto n = static_cast<int64_t>(c.samples.size());
    // One repetition a sample, up to kMaxGbenchRepetitions; past that every k-th (in recorded order),
    // said in the label; the aggregates below are of all samples (issue 14, defect 16: a cell of 3M
    // samples took 3.4 GB to export).
    const int64_t step = (n + kMaxGbenchRepetitions - 1) / kMaxGbenchRepetitions;
    const int64_t shown = (n + step - 1) / step;
    std::string label = c.status == CellStatus::Converged ? "" : cell_status_name(c.status);
    if (step > 1)
      label += (label.empty() ? "" : ", ") + std::string("1 in ") + std::to_string(step) + " of " +
               std::to_string(n) + " samples";
    for (int64_t k = 0; k < shown; ++k) {
      const double s = c.samples[static_cast<size_t>(k * step)];
      w.StartObject();
      common(w, e, e.name, "iteration", shown);
      w.Key("repetition_index"), w.Int64(k);
      w.Key("threads"), w.Int(1);
      w.Key("iterations"), w.Int64(c.iterations_per_sample);
      time_fields(w, s);
      counters(w, c, s);
      if (!label.empty()) w.Key("label"), str(w, label);
      w.EndObject();
    }
    const double mean = measure::mean(c.samples);
    const double median = measure::median(c.samples);
    const double stdev = n > 1 ? measure::sample_stdev(c.samples) : 0.0;
    struct Aggregate {
      const char* name;
      double value;
      bool percentage;
    };
    const Aggregate aggregates[] = {
        {"mean", mean, false},
        {"median", median, false},
        {"stddev", stdev, false},
        {"cv", mean > 0 ? stdev / mean : 0.0, true},
    };
    for (const auto& a : aggregates) {
      w.StartObject();
      common(w, e, e.name + "_" + a.name, "aggregate", n);
      w.Key("threads"), w.Int(1);
      w.Key("aggregate_name"), str(w, a.name);
      w.Key("aggregate_unit"), str(w, a.percentage ? "percentage" : "time");
      w.Key("iterations"), w.Int64(n);
      if (a.percentage) {
        // Google Benchmark writes the CV as a fraction in the time fields of a "percentage" aggregate.
        w.Key("real_time"), num(w, a.value);
        w.Key("cpu_time"), num(w, a.value);
        w.Key("time_unit"), str(w, "ns");
      } else {
        time_fields(w, a.value);
        if (a.name != std::string_view("stddev")) counters(w, c, a.value);
      }
      if (!label.empty()) w.Key("label"), str(w, label);
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  out << buf.GetString() << '\n';
}

}  // namespace bb::report
