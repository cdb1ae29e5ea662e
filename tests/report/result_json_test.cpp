// The result file: every field survives write + read, NaN becomes null, doubles are exact, the
// experiment spec is embedded as an object and comes back verbatim, writes are atomic, and a bad
// file is rejected with its name and the JSON pointer of the bad field.
#include "result/result_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

#include "config/experiment.h"
#include "io/json_limits.h"
#include "result/atomic_file.h"
#include "result/result_schema.h"
#include "sample_result.h"
#include "test_dir.h"

namespace bb::report {
namespace {

using ::testing::HasSubstr;
using testing::read_file;
using testing::sample_result;
using testing::TestDir;
using testing::write_file;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Equal, with NaN equal to NaN (null in the file reads back as NaN).
void expect_same(double a, double b, const std::string& what) {
  if (std::isnan(a)) {
    EXPECT_TRUE(std::isnan(b)) << what << ": " << b;
  } else {
    EXPECT_EQ(std::bit_cast<uint64_t>(a), std::bit_cast<uint64_t>(b)) << what << ": " << a << " vs " << b;
  }
}

void expect_same(const std::optional<double>& a, const std::optional<double>& b, const std::string& what) {
  ASSERT_EQ(a.has_value(), b.has_value()) << what;
  if (a) expect_same(*a, *b, what);
}

void expect_same_stats(const measure::SampleStatistics& a, const measure::SampleStatistics& b,
                       const std::string& w) {
  EXPECT_EQ(a.n, b.n) << w;
  expect_same(a.mean, b.mean, w + ".mean");
  expect_same(a.median, b.median, w + ".median");
  expect_same(a.stdev, b.stdev, w + ".stdev");
  expect_same(a.cv, b.cv, w + ".cv");
  expect_same(a.min, b.min, w + ".min");
  expect_same(a.max, b.max, w + ".max");
  expect_same(a.p50, b.p50, w + ".p50");
  expect_same(a.p90, b.p90, w + ".p90");
  expect_same(a.p99, b.p99, w + ".p99");
  expect_same(a.q1, b.q1, w + ".q1");
  expect_same(a.q3, b.q3, w + ".q3");
  expect_same(a.mad, b.mad, w + ".mad");
  expect_same(a.mad_scaled, b.mad_scaled, w + ".mad_scaled");
  expect_same(a.outliers.lower_fence, b.outliers.lower_fence, w + ".lower_fence");
  expect_same(a.outliers.upper_fence, b.outliers.upper_fence, w + ".upper_fence");
  EXPECT_EQ(a.outliers.low, b.outliers.low) << w;
  EXPECT_EQ(a.outliers.high, b.outliers.high) << w;
  expect_same(a.median_ci.lower, b.median_ci.lower, w + ".ci.lower");
  expect_same(a.median_ci.upper, b.median_ci.upper, w + ".ci.upper");
  expect_same(a.median_ci.confidence, b.median_ci.confidence, w + ".ci.confidence");
}

void expect_same_cell(const Cell& a, const Cell& b) {
  const std::string w = a.id + "/" + a.backend;
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.brick, b.brick) << w;
  EXPECT_EQ(a.backend, b.backend) << w;
  EXPECT_EQ(a.shape, b.shape) << w;
  EXPECT_EQ(a.context, b.context) << w;
  EXPECT_EQ(a.weight_type, b.weight_type) << w;
  EXPECT_EQ(a.tokens, b.tokens) << w;
  EXPECT_EQ(a.n_weight_sets, b.n_weight_sets) << w;
  EXPECT_EQ(a.status, b.status) << w;
  EXPECT_EQ(a.status_reason, b.status_reason) << w;
  EXPECT_EQ(a.warmup_iterations, b.warmup_iterations) << w;
  expect_same(a.warmup_seconds, b.warmup_seconds, w + ".warmup_seconds");
  EXPECT_EQ(a.iterations_per_sample, b.iterations_per_sample) << w;
  EXPECT_EQ(a.time_source, b.time_source) << w;
  ASSERT_EQ(a.samples.size(), b.samples.size()) << w;
  for (size_t i = 0; i < a.samples.size(); ++i) expect_same(a.samples[i], b.samples[i], w + ".samples");
  expect_same_stats(a.stats, b.stats, w + ".stats");
  expect_same(a.tok_s, b.tok_s, w + ".tok_s");
  expect_same(a.roofline.bytes, b.roofline.bytes, w + ".bytes");
  expect_same(a.roofline.flops, b.roofline.flops, w + ".flops");
  expect_same(a.roofline.gbps, b.roofline.gbps, w + ".gbps");
  expect_same(a.roofline.gflops, b.roofline.gflops, w + ".gflops");
  expect_same(a.roofline.ceiling_gbps, b.roofline.ceiling_gbps, w + ".ceiling_gbps");
  expect_same(a.roofline.fraction_of_ceiling, b.roofline.fraction_of_ceiling, w + ".fraction");
  EXPECT_EQ(a.budget.has_budget, b.budget.has_budget) << w;
  expect_same(a.budget.budget_us, b.budget.budget_us, w + ".budget_us");
  expect_same(a.budget.budget_tok_s, b.budget.budget_tok_s, w + ".budget_tok_s");
  expect_same(a.budget.gap, b.budget.gap, w + ".gap");
  expect_same(a.budget.score, b.budget.score, w + ".score");
  EXPECT_EQ(a.budget.grade, b.budget.grade) << w;
  EXPECT_EQ(a.budget.pass, b.budget.pass) << w;
  EXPECT_EQ(a.budget.graded, b.budget.graded) << w;
  const Equivalence& x = a.equivalence;
  const Equivalence& y = b.equivalence;
  EXPECT_EQ(x.checked, y.checked) << w;
  EXPECT_EQ(x.pass, y.pass) << w;
  EXPECT_EQ(x.reference, y.reference) << w;
  EXPECT_EQ(x.tolerance_class, y.tolerance_class) << w;
  expect_same(x.nmse, y.nmse, w + ".nmse");
  expect_same(x.max_rel, y.max_rel, w + ".max_rel");
  EXPECT_EQ(x.non_finite, y.non_finite) << w;
  expect_same(x.top1, y.top1, w + ".top1");
  expect_same(x.tol_nmse, y.tol_nmse, w + ".tol_nmse");
  expect_same(x.tol_max_rel, y.tol_max_rel, w + ".tol_max_rel");
  expect_same(x.tol_top1, y.tol_top1, w + ".tol_top1");
  EXPECT_EQ(x.note, y.note) << w;
  EXPECT_EQ(a.engine, b.engine) << w;
}

void expect_same_result(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(a.schema_version, b.schema_version);
  EXPECT_EQ(a.tool_version, b.tool_version);
  EXPECT_EQ(a.git_commit, b.git_commit);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.started_utc, b.started_utc);
  EXPECT_EQ(a.finished_utc, b.finished_utc);
  EXPECT_EQ(a.command_line, b.command_line);
  EXPECT_EQ(a.experiment_name, b.experiment_name);
  EXPECT_EQ(a.experiment_hash, b.experiment_hash);
  EXPECT_EQ(a.experiment_json, b.experiment_json);
  EXPECT_EQ(a.config_path, b.config_path);
  EXPECT_EQ(a.environment, b.environment);
  ASSERT_EQ(a.plugins.size(), b.plugins.size());
  for (size_t i = 0; i < a.plugins.size(); ++i) {
    const PluginRecord& p = a.plugins[i];
    const PluginRecord& q = b.plugins[i];
    EXPECT_EQ(p.name, q.name);
    EXPECT_EQ(p.version, q.version);
    EXPECT_EQ(p.path, q.path);
    EXPECT_EQ(p.sha256, q.sha256);
    EXPECT_EQ(p.abi_major, q.abi_major);
    EXPECT_EQ(p.abi_minor, q.abi_minor);
    EXPECT_EQ(p.probe_score, q.probe_score);
    EXPECT_EQ(p.build_info, q.build_info);
  }
  ASSERT_EQ(a.skipped_backends.size(), b.skipped_backends.size());
  for (size_t i = 0; i < a.skipped_backends.size(); ++i) {
    EXPECT_EQ(a.skipped_backends[i].name, b.skipped_backends[i].name);
    EXPECT_EQ(a.skipped_backends[i].reason, b.skipped_backends[i].reason);
  }
  EXPECT_EQ(a.model.path, b.model.path);
  EXPECT_EQ(a.model.sha256, b.model.sha256);
  EXPECT_EQ(a.model.name, b.model.name);
  EXPECT_EQ(a.model.synthetic, b.model.synthetic);
  EXPECT_EQ(a.model.synthetic_spec, b.model.synthetic_spec);
  EXPECT_EQ(a.model.dims, b.model.dims);
  EXPECT_EQ(a.model.type_counts, b.model.type_counts);
  expect_same(a.model.weight_mib, b.model.weight_mib, "weight_mib");
  ASSERT_EQ(a.cells.size(), b.cells.size());
  for (size_t i = 0; i < a.cells.size(); ++i) expect_same_cell(a.cells[i], b.cells[i]);
  EXPECT_EQ(a.warnings, b.warnings);
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(text.c_str());
  EXPECT_FALSE(d.HasParseError()) << text;
  return d;
}

const rapidjson::Value* at(const rapidjson::Document& d, const char* pointer) {
  return rapidjson::Pointer(pointer).Get(d);
}

// The message of the std::runtime_error parse_result_json throws ("" if none).
std::string read_error(const std::string& text) {
  try {
    parse_result_json(text, "bad.json");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// The sample result's JSON with one edit made through the DOM.
std::string edited(const std::function<void(rapidjson::Document&)>& edit) {
  rapidjson::Document d = parse(result_json(sample_result()));
  edit(d);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  d.Accept(w);
  return buf.GetString();
}

TEST(ResultJson, RoundTripsEveryField) {
  TestDir dir;
  const RunResult r = sample_result();
  const std::string path = dir / "run.json";
  write_result_json(r, path);
  const RunResult back = read_result_json(path);
  expect_same_result(r, back);
  // And what the writer writes is exactly what it wrote before: nothing lost, nothing added.
  EXPECT_EQ(result_json(back), read_file(path));
}

TEST(ResultJson, RoundTripsAFreshRunAndUnknownWeightTypes) {
  RunResult r;  // what the runner writes before the first cell finishes
  Cell c;
  c.id = "gemv.type#99";
  c.brick = "gemv";
  c.backend = "b";
  c.weight_type = 99;  // a ggml id this build does not know
  r.cells.push_back(c);
  const std::string text = result_json(r);
  EXPECT_THAT(text, HasSubstr("\"finished_utc\": null"));
  const RunResult back = parse_result_json(text, "fresh.json");
  expect_same_result(r, back);
  EXPECT_EQ(back.cells.at(0).weight_type, 99);
}

TEST(ResultJson, DoublesAreExactAndShortest) {
  RunResult r = sample_result();
  const std::vector<double> odd = {
      0.1 + 0.2, 1.0 / 3,       5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0,
      1e-7,      123456789.125, 0.2};
  r.cells[0].samples = odd;
  const std::string text = result_json(r);
  EXPECT_THAT(
      text, HasSubstr("\"samples_s\": [0.30000000000000004, 0.3333333333333333, 5e-324, "
                      "2.2250738585072014e-308, 1.7976931348623157e+308, -0.0, 1e-07, 123456789.125, 0.2]"));
  EXPECT_THAT(text, HasSubstr("\"warmup_seconds\": 0.2,"));
  const RunResult back = parse_result_json(text, "odd.json");
  ASSERT_EQ(back.cells[0].samples.size(), odd.size());
  for (size_t i = 0; i < odd.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint64_t>(back.cells[0].samples[i]), std::bit_cast<uint64_t>(odd[i])) << i;
  }
}

TEST(ResultJson, NanAndInfinityAreWrittenAsNull) {
  RunResult r = sample_result();
  Cell& c = r.cells[0];
  c.samples = {1e-6, kNaN, kInf};
  c.stats.stdev = kNaN;
  c.roofline.gbps = kInf;
  c.tok_s = -kInf;
  c.equivalence.nmse = kNaN;
  const std::string text = result_json(r);
  EXPECT_THAT(text, ::testing::Not(::testing::ContainsRegex("[:, \\[](-?nan|-?inf|NaN|-?Infinity)")));
  const rapidjson::Document d = parse(text);
  EXPECT_TRUE(at(d, "/cells/0/samples_s/1")->IsNull());
  EXPECT_TRUE(at(d, "/cells/0/samples_s/2")->IsNull());
  EXPECT_TRUE(at(d, "/cells/0/stats/stdev_s")->IsNull());
  EXPECT_TRUE(at(d, "/cells/0/roofline/gbps")->IsNull());
  EXPECT_TRUE(at(d, "/cells/0/tok_s")->IsNull());
  EXPECT_TRUE(at(d, "/cells/0/equivalence/nmse")->IsNull());
  // The skipped cell took no samples: its statistics are null, its count 0.
  EXPECT_TRUE(at(d, "/cells/5/stats/median_s")->IsNull());
  EXPECT_EQ(at(d, "/cells/5/stats/n")->GetInt(), 0);

  const RunResult back = parse_result_json(text, "nan.json");
  EXPECT_TRUE(std::isnan(back.cells[0].samples[1]));
  EXPECT_TRUE(std::isnan(back.cells[0].samples[2]));  // an infinity cannot come back: null is NaN
  EXPECT_TRUE(std::isnan(back.cells[0].stats.stdev));
  EXPECT_FALSE(back.cells[0].tok_s.has_value());  // an optional's null reads back as absent
}

TEST(ResultJson, LayoutHasTheDocumentedFields) {
  const rapidjson::Document d = parse(result_json(sample_result()));
  EXPECT_EQ(at(d, "/schema_version")->GetInt(), kResultSchemaVersion);
  EXPECT_STREQ(at(d, "/tool/version")->GetString(), "0.1.0");
  EXPECT_STREQ(at(d, "/tool/git_commit")->GetString(), "0a60d36f00dfeedbeef");
  EXPECT_STREQ(at(d, "/state")->GetString(), "complete");
  EXPECT_STREQ(at(d, "/environment/cpu")->GetString(), "AMD EPYC 9454, 48-Core");
  EXPECT_STREQ(at(d, "/plugins/1/build_info/isa_detected")->GetString(), "avx2");
  EXPECT_STREQ(at(d, "/skipped_backends/0/name")->GetString(), "cuda_bricks");
  EXPECT_EQ(at(d, "/model/dims/n_embd")->GetInt(), 1536);            // integers as numbers
  EXPECT_STREQ(at(d, "/model/dims/rms_eps")->GetString(), "1e-06");  // other text stays text
  EXPECT_STREQ(at(d, "/model/dims/padded")->GetString(), "007");
  EXPECT_EQ(at(d, "/model/type_counts/Q4_K")->GetInt(), 169);
  EXPECT_STREQ(at(d, "/cells/0/status")->GetString(), "CONVERGED");
  EXPECT_TRUE(at(d, "/cells/0/weight_type")->IsNull());
  EXPECT_STREQ(at(d, "/cells/2/weight_type")->GetString(), "Q4_K");
  EXPECT_STREQ(at(d, "/cells/0/protocol/time_source")->GetString(), "host");
  EXPECT_EQ(at(d, "/cells/0/samples_s")->Size(), 25u);
  EXPECT_EQ(at(d, "/cells/0/stats/median_ci_s")->Size(), 2u);
  EXPECT_DOUBLE_EQ(at(d, "/cells/0/stats/confidence")->GetDouble(), 0.95);
  EXPECT_STREQ(at(d, "/cells/6/equivalence/reference")->GetString(), "scalar_ref");
  EXPECT_DOUBLE_EQ(at(d, "/cells/6/equivalence/top1")->GetDouble(), 0.8);
  EXPECT_STREQ(at(d, "/cells/6/engine/engine.graph_nodes")->GetString(), "146");  // text, as reported
  EXPECT_STREQ(at(d, "/cells/6/engine/engine.graph_empty_replay_ns")->GetString(), "812.5");
  EXPECT_EQ(at(d, "/cells/1/engine"), nullptr);  // reported nothing: no key
  EXPECT_STREQ(at(d, "/warnings/1")->GetString(), "only 2 cores: threads capped at 2");
}

TEST(ResultJson, ExperimentSpecIsAnObjectAndReadsBackVerbatim) {
  RunResult r = sample_result();
  const rapidjson::Document d = parse(result_json(r));
  ASSERT_TRUE(at(d, "/experiment/spec")->IsObject());
  EXPECT_DOUBLE_EQ(at(d, "/experiment/spec/protocol/cv_target")->GetDouble(), 0.03);
  EXPECT_EQ(parse_result_json(result_json(r), "x.json").experiment_json, r.experiment_json);

  // The real thing: the smoke config's canonical JSON survives the trip byte for byte, so a
  // reader can recompute experiment_hash from a result file.
  const config::Experiment e = config::load_experiment(BRICKBENCH_CONFIGS_DIR "/smoke.yaml");
  r.experiment_json = config::canonical_json(e);
  r.experiment_hash = config::experiment_hash(e);
  EXPECT_EQ(parse_result_json(result_json(r), "x.json").experiment_json, r.experiment_json);

  r.experiment_json = "";
  EXPECT_TRUE(at(parse(result_json(r)), "/experiment/spec")->IsNull());
  r.experiment_json = "{not json";
  EXPECT_THROW(result_json(r), std::invalid_argument);
}

TEST(AtomicWrite, WritesCreatesDirectoriesAndLeavesNoTempFile) {
  TestDir dir;
  const std::string path = dir / "deep/er/run.json";
  write_result_json(sample_result(), path);
  EXPECT_EQ(read_file(path), result_json(sample_result()));
  EXPECT_FALSE(std::filesystem::exists(atomic_temp_path(path)));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() / "deep/er"),
                          std::filesystem::directory_iterator()),
            1);
  EXPECT_THAT(atomic_temp_path(path), HasSubstr("run.json." + std::to_string(::getpid()) + ".tmp"));
}

TEST(AtomicWrite, OverwritesAnExistingFile) {
  TestDir dir;
  const std::string path = dir / "run.json";
  write_file(path, "old content that is longer than nothing");
  RunResult r = sample_result();
  r.state = "running";
  write_result_json(r, path);
  r.state = "complete";
  write_result_json(r, path);
  EXPECT_EQ(read_file(path), result_json(r));
  EXPECT_FALSE(std::filesystem::exists(atomic_temp_path(path)));
}

TEST(AtomicWrite, FailureKeepsTheOldFileAndSaysWhy) {
  TestDir dir;
  const std::string path = dir / "run.json";
  write_file(path, "old");
  // The temp name is taken by a directory: the write fails before anything touches path.
  std::filesystem::create_directory(atomic_temp_path(path));
  try {
    write_result_json(sample_result(), path);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr("Is a directory"));
  }
  EXPECT_EQ(read_file(path), "old");
  EXPECT_TRUE(std::filesystem::is_directory(atomic_temp_path(path)));  // not ours to remove

  // A parent that is a file.
  try {
    write_result_json(sample_result(), path + "/sub/run.json");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("creating its directory"));
  }
  EXPECT_EQ(read_file(path), "old");
}

// Issue 14, defect 6: --out /dev/null (as root) replaced the device with a regular file, and a
// symlink was replaced by a file. What is at the path decides how it is written.
TEST(AtomicWrite, PathsThatAreNotRegularFilesAreNeverRenamedOver) {
  TestDir dir;
  const std::string content = result_json(sample_result());
  // A symlink: its target gets the content, the link stays a link.
  const std::string target = dir / "target.json", link = dir / "link.json";
  write_file(target, "old");
  std::filesystem::create_symlink(target, link);
  write_file_atomically(link, content);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(read_file(target), content);
  // A dangling symlink: the file it names is created.
  const std::string dangling = dir / "dangling.json", later = dir / "later.json";
  std::filesystem::create_symlink(later, dangling);
  write_file_atomically(dangling, "x");
  EXPECT_TRUE(std::filesystem::is_symlink(dangling));
  EXPECT_EQ(read_file(later), "x");
  // A directory: refused, left alone.
  const std::string sub = dir / "sub";
  std::filesystem::create_directory(sub);
  try {
    write_file_atomically(sub, content);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("is a directory"));
  }
  EXPECT_TRUE(std::filesystem::is_directory(sub));
  // A character device: written in place, still a device.
  write_file_atomically("/dev/null", content);
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  // A FIFO nobody reads: an error at once, not a hang; with a reader, the reader gets the content.
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    write_file_atomically(fifo, content);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("a FIFO that nobody reads"));
  }
  std::string got;
  std::thread reader([&] { got = read_file(fifo); });
  for (int i = 0; i < 500; ++i) {  // until the reader has the FIFO open
    try {
      write_file_atomically(fifo, content);
      break;
    } catch (const std::runtime_error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  reader.join();
  EXPECT_EQ(got, content);
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(AtomicWrite, UnwritableDirectoryKeepsTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  TestDir dir;
  const std::string sub = dir / "ro";
  std::filesystem::create_directory(sub);
  const std::string path = sub + "/run.json";
  write_file(path, "old");
  ASSERT_EQ(::chmod(sub.c_str(), 0555), 0);
  try {
    write_result_json(sample_result(), path);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr("Permission denied"));
  }
  ::chmod(sub.c_str(), 0755);
  EXPECT_EQ(read_file(path), "old");
  EXPECT_FALSE(std::filesystem::exists(atomic_temp_path(path)));
}

TEST(ResultJsonReader, NamesTheFileAndTheField) {
  EXPECT_THAT(read_error("{"), HasSubstr("bad.json: not valid JSON at offset 1"));
  EXPECT_THAT(read_error("[]"), HasSubstr("bad.json: /: expected an object"));
  EXPECT_THAT(read_error(edited(
                  [](auto& d) { rapidjson::Pointer("/cells/3/stats").Get(d)->RemoveMember("median_s"); })),
              HasSubstr("bad.json: /cells/3/stats/median_s: missing"));
  EXPECT_THAT(read_error(edited([](auto& d) { rapidjson::Pointer("/cells/1/context").Set(d, "64"); })),
              HasSubstr("bad.json: /cells/1/context: expected a 32-bit integer, found a string"));
  EXPECT_THAT(read_error(edited([](auto& d) { rapidjson::Pointer("/cells/2/status").Set(d, "DONE"); })),
              HasSubstr("/cells/2/status: unknown status 'DONE'; known: CONVERGED"));
  EXPECT_THAT(read_error(edited([](auto& d) { rapidjson::Pointer("/cells/2/weight_type").Set(d, "Q9_X"); })),
              HasSubstr("/cells/2/weight_type: unknown weight type 'Q9_X'"));
  EXPECT_THAT(read_error(edited([](auto& d) { rapidjson::Pointer("/cells/0/samples_s/4").Set(d, "1"); })),
              HasSubstr("/cells/0/samples_s/4: expected a number or null, found a string"));
  EXPECT_THAT(read_error(edited([](auto& d) { rapidjson::Pointer("/environment/cores").Set(d, 2); })),
              HasSubstr("/environment/cores: expected a string, found a number"));
  EXPECT_THAT(read_error(edited([](auto& d) { rapidjson::Pointer("/schema_version").Set(d, 2); })),
              HasSubstr("/schema_version: schema_version 2 is not one this build reads (1)"));
  // Fields this build does not know are ignored.
  EXPECT_EQ(read_error(edited([](auto& d) { rapidjson::Pointer("/cells/0/future_field").Set(d, 1); })), "");
}

TEST(JsonDepth, CountsNestingOutsideStringsOnly) {
  EXPECT_EQ(io::json_too_deep(std::string(128, '[') + std::string(128, ']')), std::string::npos);
  EXPECT_EQ(io::json_too_deep(std::string(129, '[')), 128u);
  EXPECT_EQ(io::json_too_deep("{\"a\": \"" + std::string(500, '[') + "\"}"), std::string::npos);
  EXPECT_EQ(io::json_too_deep("[\"\\\"" + std::string(200, '{') + "\"]"),
            std::string::npos);  // escaped quote
  EXPECT_EQ(io::json_too_deep("{\"a\":" + std::string(3, '{'), 2), 2u + 4u);
  std::vector<std::string> errors =
      validate_result_json(std::string(1000, '['), default_result_schema_path());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("nested deeper than 128 levels"));
}

TEST(ResultJsonReader, MissingFileIsNamed) {
  try {
    read_result_json("/nonexistent/dir/run.json");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/dir/run.json"));
  }
}

}  // namespace
}  // namespace bb::report
