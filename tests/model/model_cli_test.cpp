// `bench synth` and `bench inspect` as a user runs them: output, exit codes, error messages.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/gguf.h"
#include "model_test_util.h"

namespace {

using bb::model::test::TempDir;

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

RunResult run_bench(const TempDir& dir, const std::string& args) {
  std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  std::string cmd = std::string("'") + BRICKBENCH_BENCH_EXE + "' " + args + " >'" + out + "' 2>'" + err + "'";
  int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(BenchSynthCli, HelpUnknownModelAndUnknownFlag) {
  TempDir dir;
  RunResult help = run_bench(dir, "synth --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(contains(help.out, "usage: bench synth")) << help.out;
  EXPECT_TRUE(contains(help.out, "qwen2.5-coder-32b")) << help.out;

  RunResult unknown = run_bench(dir, "synth --model qwen9 -o " + dir.file("x.gguf"));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.err, "unknown model 'qwen9'; known: qwen2.5-coder-0.5b")) << unknown.err;

  RunResult bad_quant = run_bench(dir, "synth --model 0.5b --quant q2_k -o " + dir.file("x.gguf"));
  EXPECT_EQ(bad_quant.exit_code, 2);
  EXPECT_TRUE(contains(bad_quant.err, "unknown quant 'q2_k'")) << bad_quant.err;

  RunResult bad_flag = run_bench(dir, "synth --modle 0.5b");
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.gguf")));
}

TEST(BenchSynthCli, WritesAndInspectsA05BModel) {
  TempDir dir;
  const std::string path = dir.file("q05.gguf");
  RunResult synth =
      run_bench(dir, "synth --model qwen2.5-coder-0.5b --quant q4_k_m --seed 3 --threads 2 -o " + path);
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  EXPECT_TRUE(contains(synth.out, "path      " + path)) << synth.out;
  EXPECT_TRUE(contains(synth.out, "tensors   290")) << synth.out;
  EXPECT_TRUE(contains(synth.out, "MiB")) << synth.out;
  EXPECT_TRUE(contains(synth.out, "seconds")) << synth.out;

  RunResult inspect = run_bench(dir, "inspect " + path + " --tensors");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_TRUE(contains(inspect.out, "GGUF v3")) << inspect.out;
  EXPECT_TRUE(contains(inspect.out, "brickbench.seed")) << inspect.out;
  EXPECT_TRUE(contains(inspect.out, "n_embd 896, n_ff 4864, n_layer 24, n_head 14, n_head_kv 2"))
      << inspect.out;
  EXPECT_TRUE(contains(inspect.out, "blk.23.ffn_down.weight")) << inspect.out;
  EXPECT_TRUE(contains(inspect.out, "Q6_K")) << inspect.out;
}

TEST(BenchInspectCli, OracleCorruptAndMissingFiles) {
  TempDir dir;
  const std::string oracle = bb::model::test::oracle_path("tiny-b-q4_k_m.gguf");
  RunResult ok = run_bench(dir, "inspect " + oracle);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(contains(ok.out, "embeddings untied")) << ok.out;
  EXPECT_FALSE(contains(ok.out, "tensors (27")) << "tensors listed without --tensors";

  auto bytes = bb::model::test::read_bytes(oracle);
  bytes.resize(1000);
  const std::string corrupt = dir.file("corrupt.gguf");
  bb::model::test::write_bytes(corrupt, bytes);
  RunResult bad = run_bench(dir, "inspect " + corrupt);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, corrupt + ": ")) << bad.err;

  RunResult none = run_bench(dir, "inspect");
  EXPECT_EQ(none.exit_code, 2);
  RunResult missing = run_bench(dir, "inspect " + dir.file("absent.gguf"));
  EXPECT_EQ(missing.exit_code, 2);

  // Issue 14, defect 17: a valid GGUF that is no usable Qwen2 model was exit 1 for inspect, 2 for
  // generate. Both say 2, an input error.
  bb::model::GgufWriter w;
  w.add("general.architecture", bb::model::GgufValue::of_string("qwen2"));
  const std::string hollow = dir.file("hollow.gguf");
  w.write(hollow);
  RunResult inspected = run_bench(dir, "inspect " + hollow);
  EXPECT_EQ(inspected.exit_code, 2) << inspected.out;
  EXPECT_TRUE(contains(inspected.out, "not a usable Qwen2 model")) << inspected.out;
  EXPECT_EQ(run_bench(dir, "generate --model " + hollow + " --n 1").exit_code, 2);
}

}  // namespace
