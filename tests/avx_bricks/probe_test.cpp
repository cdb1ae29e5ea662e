// Which avx_bricks build the host picks: both builds listed with their scores, the AVX-512 build
// rejected with the probe's reason when the probe is capped (BRICKBENCH_AVX_PROBE_MAX), both rejected
// at "none", and the static guarantee behind "no illegal instruction ever runs": the probe's object
// code has no VEX/EVEX instruction and neither plugin runs any code of its own at load time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstdio>
#include <memory>
#include <string>

#include "avx_test_util.h"
#include "plugin/registry.h"

namespace {

using bb::avx_test::run_bench_with;
using ::testing::HasSubstr;

struct Listed {
  bool found = false, usable = false, selected = false;
  int score = -1;
  std::string name, rejection;
};

Listed find_plugin(const rapidjson::Document& d, const std::string& file) {
  Listed l;
  for (const auto& p : d["plugins"].GetArray()) {
    const std::string path = p["path"].GetString();
    if (path.size() < file.size() || path.compare(path.size() - file.size(), file.size(), file) != 0)
      continue;
    l.found = true;
    l.usable = p["usable"].GetBool();
    l.selected = p.HasMember("selected") && p["selected"].GetBool();
    l.score = p["probe_score"].GetInt();
    l.name = p["name"].GetString();
    if (p.HasMember("rejection")) l.rejection = p["rejection"].GetString();
  }
  return l;
}

rapidjson::Document plugins_json(const std::optional<std::string>& cap) {
  auto r = run_bench_with("plugins --json", cap);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  EXPECT_FALSE(d.HasParseError()) << r.out;
  return d;
}

TEST(AvxProbe, BothBuildsListedWithScoresAndAvx512Selected) {
  AVX_TEST_REQUIRE_AVX512();
  const auto d = plugins_json(std::nullopt);
  const Listed a2 = find_plugin(d, "/avx_bricks_avx2.so"), a5 = find_plugin(d, "/avx_bricks_avx512.so");
  ASSERT_TRUE(a2.found && a5.found);
  EXPECT_EQ(a2.name, "avx_bricks");
  EXPECT_EQ(a5.name, "avx_bricks");
  EXPECT_TRUE(a2.usable);
  EXPECT_TRUE(a5.usable);
  EXPECT_EQ(a2.score, 100);
  EXPECT_EQ(a5.score, 200);
  EXPECT_TRUE(a5.selected);
  EXPECT_FALSE(a2.selected);
  auto text = run_bench_with("plugins", std::nullopt);
  EXPECT_THAT(text.out, HasSubstr("has a higher probe score, 200"));
}

TEST(AvxProbe, CappedAtAvx2RejectsTheAvx512BuildWithTheReason) {
  AVX_TEST_REQUIRE_AVX2();
  const auto d = plugins_json(std::string("avx2"));
  const Listed a2 = find_plugin(d, "/avx_bricks_avx2.so"), a5 = find_plugin(d, "/avx_bricks_avx512.so");
  ASSERT_TRUE(a2.found && a5.found);
  EXPECT_FALSE(a5.usable);
  EXPECT_EQ(a5.score, 0);
  // On a CPU with AVX-512 the cap is the reason; on one without (AMD Zen 3 VMs, say) the CPU is.
  if (::bb::avx_test::cpu_has_avx512())
    EXPECT_THAT(a5.rejection, HasSubstr("lacks AVX-512 (forced by BRICKBENCH_AVX_PROBE_MAX=avx2)"));
  else
    EXPECT_THAT(a5.rejection, HasSubstr("this CPU/OS lacks AVX512F"));
  EXPECT_TRUE(a2.usable);
  EXPECT_TRUE(a2.selected);
  EXPECT_EQ(a2.score, 100);

  // In process too: the registry hands out the AVX2 build, and it runs a whole decode.
  bb::test::ScopedEnv cap("BRICKBENCH_AVX_PROBE_MAX", std::string("avx2"));
  bb::plugin::PluginRegistry registry;
  bb::plugin::SearchPaths paths;
  paths.use_env = false;
  registry.discover(paths);
  auto p = registry.find("avx_bricks");
  ASSERT_TRUE(p) << registry.why_unavailable("avx_bricks");
  EXPECT_EQ(p->info().path, std::string(AVX_BRICKS_AVX2_SO));
  auto r = run_bench_with("generate --synthetic qwen2.5-coder-0.5b --backend avx_bricks --tokens 1,2,3 --n 2",
                          std::string("avx2"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(AvxProbe, CappedAtNoneRejectsBothBuildsAndBenchSaysWhy) {
  const auto d = plugins_json(std::string("none"));
  const Listed a2 = find_plugin(d, "/avx_bricks_avx2.so"), a5 = find_plugin(d, "/avx_bricks_avx512.so");
  ASSERT_TRUE(a2.found && a5.found);
  EXPECT_FALSE(a2.usable);
  EXPECT_FALSE(a5.usable);
  EXPECT_THAT(a2.rejection, HasSubstr("forced by BRICKBENCH_AVX_PROBE_MAX=none"));
  EXPECT_THAT(a5.rejection, HasSubstr("forced by BRICKBENCH_AVX_PROBE_MAX=none"));
  auto r = run_bench_with("generate --model " + std::string(BRICKBENCH_TEST_DATA_DIR) +
                              "/oracle/tiny-a-f32.gguf --backend avx_bricks --n 1",
                          std::string("none"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("BRICKBENCH_AVX_PROBE_MAX=none"));
}

TEST(AvxProbe, UnknownCapValueIsARejectionThatNamesTheValues) {
  const auto d = plugins_json(std::string("avx3"));
  const Listed a5 = find_plugin(d, "/avx_bricks_avx512.so");
  ASSERT_TRUE(a5.found);
  EXPECT_FALSE(a5.usable);
  EXPECT_THAT(a5.rejection, HasSubstr("'avx3' is not one of none, avx2, avx512"));
}

std::string shell_output(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0) out.append(buf, n);
  return out;
}

// The probe is what runs on a CPU that may lack AVX: its object code must contain no VEX/EVEX
// instruction (their AT&T mnemonics all start with 'v') and touch no ymm/zmm/opmask register.
TEST(AvxProbe, ProbeObjectCodeHasNoVectorExtensionInstructions) {
  for (const char* obj : {AVX_BRICKS_PROBE_AVX2_OBJ, AVX_BRICKS_PROBE_AVX512_OBJ}) {
    const std::string dis =
        shell_output("objdump -d --no-show-raw-insn " + bb::test::shell_quote(obj) + " 2>&1");
    if (dis.find("not found") != std::string::npos || dis.empty())
      GTEST_SKIP() << "objdump unavailable: " << dis;
    ASSERT_THAT(dis, HasSubstr("bb_plugin_probe"));
    size_t bad = 0;
    std::string first;
    size_t pos = 0;
    while ((pos = dis.find('\n', pos)) != std::string::npos) {
      ++pos;
      const size_t tab = dis.find('\t', pos);
      const size_t eol = dis.find('\n', pos);
      if (tab == std::string::npos || tab > eol) continue;
      const std::string insn = dis.substr(tab + 1, eol - tab - 1);
      if (insn.rfind('v', 0) == 0 || insn.find("%ymm") != std::string::npos ||
          insn.find("%zmm") != std::string::npos) {
        if (bad++ == 0) first = insn;
      }
    }
    EXPECT_EQ(bad, 0u) << obj << ": first vector instruction: " << first;
  }
}

// Loading a plugin runs its initializers before the probe can say no: both builds must have none
// of their own (the only .init_array entry is the C runtime's frame_dummy).
TEST(AvxProbe, PluginsRunNoCodeOfTheirOwnAtLoadTime) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "built with AddressSanitizer, which adds its own .init_array entries to every object";
#endif
  for (const char* so : {AVX_BRICKS_AVX2_SO, AVX_BRICKS_AVX512_SO}) {
    const std::string sections = shell_output("readelf -SW " + bb::test::shell_quote(so) + " 2>&1");
    if (sections.find(".text") == std::string::npos) GTEST_SKIP() << "readelf unavailable: " << sections;
    const size_t at = sections.find(".init_array");
    ASSERT_NE(at, std::string::npos) << so;
    const std::string line = sections.substr(at, sections.find('\n', at) - at);
    // Name Type Address Off Size ...: the 5th field is the size in hex.
    char name[64], type[64];
    unsigned long addr = 0, off = 0, size = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%63s %63s %lx %lx %lx", name, type, &addr, &off, &size), 5) << line;
    EXPECT_EQ(size, 8u) << so << ": .init_array has " << size / 8 << " entries: " << line;
  }
}

}  // namespace
