// The gbench export read as google/benchmark's tools/compare.py (tools/gbench/report.py, util.py) reads
// a --benchmark_format=json file: the structural checks below are the fields and relations those tools
// and Google Benchmark's documented JSON layout rely on (a benchmark is comparable when it has
// time_unit, real_time and cpu_time; entries are paired by name and time unit; the U test takes the
// real_time / cpu_time of the run_type "iteration" entries and needs >= 2 of them a side; aggregates
// carry aggregate_name; repetition_index orders repetitions; time units are ns/us/ms/s).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "measure/statistics.h"
#include "report/reporter.h"
#include "sample_result.h"

namespace bb::report {
namespace {

using rapidjson::Value;

std::string export_gbench(const RunResult& r) {
  std::ostringstream out;
  make_reporter("gbench")->report(r, out);
  return out.str();
}

bool comparable(const Value& b) {
  return b.HasMember("time_unit") && b.HasMember("real_time") && b.HasMember("cpu_time");
}

// Every structural rule a compare.py-style consumer depends on; returns the problems found.
std::vector<std::string> gbench_problems(const rapidjson::Document& doc) {
  std::vector<std::string> p;
  auto need = [&](bool ok, const std::string& what) {
    if (!ok) p.push_back(what);
  };
  need(doc.IsObject(), "top level is not an object");
  if (!doc.IsObject()) return p;
  need(doc.HasMember("context") && doc["context"].IsObject(), "no context object");
  need(doc.HasMember("benchmarks") && doc["benchmarks"].IsArray(), "no benchmarks array");
  if (!p.empty()) return p;
  const Value& ctx = doc["context"];
  for (const char* k : {"date", "host_name", "executable", "library_build_type"})
    need(ctx.HasMember(k) && ctx[k].IsString(), std::string("context.") + k + " is not a string");
  for (const char* k : {"num_cpus", "mhz_per_cpu"})
    need(ctx.HasMember(k) && ctx[k].IsInt64(), std::string("context.") + k + " is not an integer");
  need(ctx.HasMember("cpu_scaling_enabled") && ctx["cpu_scaling_enabled"].IsBool(),
       "context.cpu_scaling_enabled");
  need(ctx.HasMember("caches") && ctx["caches"].IsArray(), "context.caches is not an array");
  const std::set<std::string> units = {"ns", "us", "ms", "s"};
  const std::set<std::string> aggregates = {"mean", "median", "stddev", "cv"};
  std::map<std::string, std::vector<int64_t>> repetition_indices;
  std::map<std::string, int64_t> repetitions;
  for (rapidjson::SizeType i = 0; i < doc["benchmarks"].Size(); ++i) {
    const Value& b = doc["benchmarks"][i];
    const std::string at = "benchmarks[" + std::to_string(i) + "]";
    need(b.IsObject(), at + " is not an object");
    if (!b.IsObject()) continue;
    for (const char* k : {"name", "run_name", "run_type"})
      need(b.HasMember(k) && b[k].IsString(), at + "." + k + " is not a string");
    for (const char* k : {"family_index", "per_family_instance_index", "repetitions", "threads"})
      need(b.HasMember(k) && b[k].IsInt64(), at + "." + k + " is not an integer");
    if (!p.empty()) return p;
    const std::string name = b["name"].GetString(), run_name = b["run_name"].GetString();
    const std::string type = b["run_type"].GetString();
    need(name.find(' ') == std::string::npos, at + " name has a space: " + name);
    need(type == "iteration" || type == "aggregate", at + " run_type " + type);
    if (b.HasMember("error_occurred")) {
      need(b["error_occurred"].IsBool() && b["error_occurred"].GetBool(), at + " error_occurred not true");
      need(b.HasMember("error_message") && b["error_message"].IsString(),
           at + " error without error_message");
      need(!comparable(b), at + " an errored benchmark must not look comparable");
      continue;
    }
    need(comparable(b), at + " lacks time_unit/real_time/cpu_time");
    need(b["real_time"].IsNumber() && b["cpu_time"].IsNumber(), at + " times are not numbers");
    need(b["time_unit"].IsString() && units.count(b["time_unit"].GetString()), at + " time_unit");
    need(b.HasMember("iterations") && b["iterations"].IsInt64() && b["iterations"].GetInt64() >= 1,
         at + " iterations");
    if (type == "iteration") {
      need(name == run_name, at + " iteration name != run_name");
      need(b.HasMember("repetition_index") && b["repetition_index"].IsInt64(), at + " repetition_index");
      need(b["real_time"].GetDouble() > 0, at + " real_time <= 0");
      repetition_indices[name].push_back(b["repetition_index"].GetInt64());
      repetitions[name] = b["repetitions"].GetInt64();
    } else {
      need(b.HasMember("aggregate_name") && b["aggregate_name"].IsString() &&
               aggregates.count(b["aggregate_name"].GetString()),
           at + " aggregate_name");
      if (!p.empty()) return p;
      need(name == run_name + "_" + b["aggregate_name"].GetString(),
           at + " aggregate name != run_name_aggregate");
      need(b.HasMember("aggregate_unit") && b["aggregate_unit"].IsString(), at + " aggregate_unit");
      need(!b.HasMember("repetition_index"), at + " aggregate with repetition_index");
    }
  }
  for (const auto& [name, idx] : repetition_indices) {
    need(static_cast<int64_t>(idx.size()) == repetitions[name],
         name + ": repetitions != number of iteration entries");
    for (size_t k = 0; k < idx.size(); ++k)
      need(idx[k] == static_cast<int64_t>(k), name + ": repetition_index out of order");
  }
  return p;
}

// compare.py's partition_benchmarks + get_difference_report, reduced to what decides whether the U test
// runs: per name present in both, the entries with the lhs's first time unit; U test when >= 2 a side.
std::map<std::string, std::pair<size_t, size_t>> utest_partitions(const rapidjson::Document& lhs,
                                                                  const rapidjson::Document& rhs) {
  std::map<std::string, std::pair<size_t, size_t>> out;
  std::vector<std::string> names;
  for (const auto& b : lhs["benchmarks"].GetArray())
    if (std::find(names.begin(), names.end(), b["name"].GetString()) == names.end())
      names.push_back(b["name"].GetString());
  for (const auto& name : names) {
    std::string unit;
    for (const auto& b : lhs["benchmarks"].GetArray())
      if (b["name"].GetString() == name && comparable(b)) {
        unit = b["time_unit"].GetString();
        break;
      }
    if (unit.empty()) continue;
    auto count = [&](const rapidjson::Document& d) {
      size_t n = 0;
      for (const auto& b : d["benchmarks"].GetArray())
        n += b["name"].GetString() == name && comparable(b) && b["time_unit"].GetString() == unit;
      return n;
    };
    out[name] = {count(lhs), count(rhs)};
  }
  return out;
}

TEST(GbenchExport, HasGoogleBenchmarksStructure) {
  const RunResult r = testing::sample_result();
  rapidjson::Document doc;
  const std::string text = export_gbench(r);
  doc.Parse(text.c_str());
  ASSERT_FALSE(doc.HasParseError()) << text.substr(0, 400);
  const auto problems = gbench_problems(doc);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(GbenchExport, SamplesBecomeRepetitionsAndAggregatesMatchTheStatistics) {
  const RunResult r = testing::sample_result();
  rapidjson::Document doc;
  doc.Parse(export_gbench(r).c_str());
  const Cell* qkv = nullptr;
  for (const auto& c : r.cells)
    if (c.id == "qkv" && c.backend == "scalar_ref") qkv = &c;
  ASSERT_NE(qkv, nullptr);
  std::vector<double> reps;
  std::map<std::string, double> agg;
  for (const auto& b : doc["benchmarks"].GetArray()) {
    if (std::string(b["run_name"].GetString()) != "qkv/scalar_ref") continue;
    if (std::string(b["run_type"].GetString()) == "iteration") {
      reps.push_back(b["real_time"].GetDouble());
      EXPECT_EQ(b["iterations"].GetInt64(), qkv->iterations_per_sample);
      EXPECT_EQ(b["cpu_time"].GetDouble(), b["real_time"].GetDouble());
      EXPECT_TRUE(b.HasMember("bytes_per_second"));
    } else {
      agg[b["aggregate_name"].GetString()] = b["real_time"].GetDouble();
      if (std::string(b["aggregate_name"].GetString()) == "cv") {
        EXPECT_STREQ(b["aggregate_unit"].GetString(), "percentage");
      } else {
        EXPECT_STREQ(b["aggregate_unit"].GetString(), "time");
      }
    }
  }
  ASSERT_EQ(reps.size(), qkv->samples.size());
  for (size_t i = 0; i < reps.size(); ++i) EXPECT_NEAR(reps[i], qkv->samples[i] * 1e9, 1e-9 * reps[i]);
  EXPECT_NEAR(agg["median"], qkv->stats.median * 1e9, 1e-9 * agg["median"]);
  EXPECT_NEAR(agg["mean"], qkv->stats.mean * 1e9, 1e-9 * agg["mean"]);
  EXPECT_NEAR(agg["stddev"], qkv->stats.stdev * 1e9, 1e-6 * agg["stddev"]);
  EXPECT_NEAR(agg["cv"], qkv->stats.cv, 1e-9);
}

// Issue 14, defect 16: a cell of 3M samples took 3.4 GB to export, one repetition a sample. Past
// 10000 a cell gets every k-th sample as its repetitions, says so, and keeps aggregates of all.
TEST(GbenchExport, ACellOfManySamplesExportsEveryKthAndItsAggregatesOfAll) {
  RunResult r = testing::sample_result();
  Cell* qkv = nullptr;
  for (auto& c : r.cells)
    if (c.id == "qkv" && c.backend == "scalar_ref") qkv = &c;
  ASSERT_NE(qkv, nullptr);
  qkv->samples.clear();
  for (int i = 0; i < 30000; ++i) qkv->samples.push_back(1e-3 + 1e-9 * (i % 977));
  rapidjson::Document doc;
  const std::string text = export_gbench(r);
  doc.Parse(text.c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_TRUE(gbench_problems(doc).empty()) << ::testing::PrintToString(gbench_problems(doc));
  size_t reps = 0;
  double median = 0;
  for (const auto& b : doc["benchmarks"].GetArray()) {
    if (std::string(b["run_name"].GetString()) != "qkv/scalar_ref") continue;
    if (std::string(b["run_type"].GetString()) == "iteration") {
      ++reps;
      EXPECT_STREQ(b["label"].GetString(), "1 in 3 of 30000 samples");
    } else if (std::string(b["aggregate_name"].GetString()) == "median") {
      median = b["real_time"].GetDouble();
    }
  }
  EXPECT_EQ(reps, 10000u);
  EXPECT_NEAR(median, measure::median(qkv->samples) * 1e9, 1e-6);
}

TEST(GbenchExport, SkippedCellsAreErrorsThatComparePyLeavesOut) {
  const RunResult r = testing::sample_result();
  rapidjson::Document doc;
  doc.Parse(export_gbench(r).c_str());
  bool found = false;
  for (const auto& b : doc["benchmarks"].GetArray()) {
    if (std::string(b["name"].GetString()) != "gemv.Q4_K/avx_bricks") continue;
    found = true;
    EXPECT_TRUE(b["error_occurred"].GetBool());
    EXPECT_THAT(b["error_message"].GetString(), ::testing::HasSubstr("SKIPPED"));
  }
  EXPECT_TRUE(found);
  // Two exports of the same run: every measured cell pairs with itself and has enough repetitions
  // for compare.py's U test; the skipped one does not pair.
  const auto parts = utest_partitions(doc, doc);
  EXPECT_EQ(parts.count("gemv.Q4_K/avx_bricks"), 0u);
  ASSERT_EQ(parts.count("qkv/avx_bricks"), 1u);
  EXPECT_GE(parts.at("qkv/avx_bricks").first, 2u);
  EXPECT_EQ(parts.at("qkv/avx_bricks").first, parts.at("qkv/avx_bricks").second);
  EXPECT_EQ(parts.count("qkv/avx_bricks_median"), 1u);
}

TEST(GbenchExport, ContextDescribesTheMachineAndTheRun) {
  const RunResult r = testing::sample_result();
  rapidjson::Document doc;
  doc.Parse(export_gbench(r).c_str());
  const Value& ctx = doc["context"];
  EXPECT_EQ(std::string(ctx["date"].GetString()), r.started_utc);
  EXPECT_EQ(std::string(ctx["brickbench_experiment_hash"].GetString()), r.experiment_hash);
  EXPECT_EQ(ctx["json_schema_version"].GetInt(), 1);
}

}  // namespace
}  // namespace bb::report
