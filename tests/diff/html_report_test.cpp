// bench report opened in headless Chromium (Debian's `chromium`, scripts/install-deps.sh) with every
// network request refused: each chart must have drawn (the page's own per-canvas check: values
// plotted, non-zero size, pixels inked, read back from the canvas), and a screenshot is left in
// <build>/test-artifacts/report.png for people to look at.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "report/diff.h"
#include "report/html_reporter.h"
#include "result/result_json.h"
#include "sample_result.h"
#include "test_util.h"

namespace bb::report {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (std::filesystem::exists(p)) return p;
  return "";
}

// Runs headless Chromium on a local file with every request outside the page refused (an unusable
// proxy for everything, loopback included); returns stdout.
std::string run_chromium(const std::string& args, const std::string& profile) {
  const std::string cmd = test::shell_quote(chromium()) +
                          " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run"
                          " --disable-extensions --disable-background-networking --hide-scrollbars"
                          " --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>'"
                          " --user-data-dir=" +
                          test::shell_quote(profile) + " " + args + " 2>/dev/null";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

struct CanvasCheck {
  std::string chart;
  long points = -1, inked = -1;
  std::string size, error;
};

std::vector<CanvasCheck> canvases(const std::string& dom) {
  std::vector<CanvasCheck> out;
  const std::regex tag("<canvas[^>]*>");
  auto attr = [](const std::string& t, const std::string& name) {
    const std::regex a(" " + name + "=\"([^\"]*)\"");
    std::smatch m;
    return std::regex_search(t, m, a) ? m[1].str() : std::string();
  };
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), tag); it != std::sregex_iterator(); ++it) {
    const std::string t = it->str();
    CanvasCheck c;
    c.chart = attr(t, "data-chart");
    const std::string points = attr(t, "data-points"), inked = attr(t, "data-inked");
    if (!points.empty()) c.points = std::stol(points);
    if (!inked.empty()) c.inked = std::stol(inked);
    c.size = attr(t, "data-size");
    c.error = attr(t, "data-error");
    out.push_back(c);
  }
  return out;
}

class HtmlReport : public ::testing::Test {
 protected:
  void SetUp() override {
    if (chromium().empty())
      FAIL() << "headless Chromium not found (/usr/bin/chromium): scripts/install-deps.sh installs Debian's "
                "chromium";
  }
  test::ScopedEnv no_env_plugins_{"BRICKBENCH_PLUGIN_PATH", std::nullopt};
  test::TempDir dir_;
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

  // Renders file in Chromium; checks every chart drew; returns the DOM.
  std::string check_every_chart_renders(const std::string& html, size_t expected_charts) {
    const std::string dom =
        run_chromium("--virtual-time-budget=10000 --dump-dom file://" + html, path("profile"));
    EXPECT_THAT(dom, HasSubstr("data-charts-expected=\"" + std::to_string(expected_charts) + "\""));
    EXPECT_THAT(dom, HasSubstr("data-charts-rendered=\"" + std::to_string(expected_charts) + "\""));
    const auto cs = canvases(dom);
    EXPECT_EQ(cs.size(), expected_charts);
    for (const auto& c : cs) {
      EXPECT_TRUE(c.error.empty()) << c.chart << ": " << c.error;
      EXPECT_GT(c.points, 0) << c.chart;
      EXPECT_GT(c.inked, 2000) << c.chart << " drew almost nothing";
      EXPECT_THAT(c.size, ::testing::MatchesRegex("[1-9][0-9]*x[1-9][0-9]*")) << c.chart;
    }
    EXPECT_THAT(dom, Not(HasSubstr("chart-error\">chart")));
    return dom;
  }
};

TEST_F(HtmlReport, SelfContainedAndOffline) {
  write_result_json(testing::sample_result(), path("r.json"));
  auto r = test::run_bench("report " + path("r.json") + " -o " + path("r.html"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = slurp(path("r.html"));
  EXPECT_THAT(html, HasSubstr("Content-Security-Policy\" content=\"default-src 'none'"));
  EXPECT_THAT(html, HasSubstr("Chart.js v4"));  // the library's banner: inlined, not linked
  // Nothing the page would fetch: no src or href attributes at all, no module imports.
  EXPECT_THAT(html, Not(::testing::ContainsRegex("<(script|link|img|iframe)[^>]* (src|href)=")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
}

TEST_F(HtmlReport, SampleResultEveryChartRendersInHeadlessChromium) {
  write_result_json(testing::sample_result(), path("r.json"));
  ASSERT_EQ(test::run_bench("report " + path("r.json") + " -o " + path("r.html")).exit_code, 0);
  // budget, roofline, bandwidth, decode (no baseline: no diff chart)
  const std::string dom = check_every_chart_renders(path("r.html"), 4);
  EXPECT_THAT(dom, HasSubstr("data-chart=\"roofline\""));
  EXPECT_THAT(dom, HasSubstr("data-chart=\"decode\""));
}

TEST_F(HtmlReport, RealSmokeRunWithBaselineRendersAndLeavesAScreenshot) {
  const std::string cfg = std::string(BRICKBENCH_CONFIGS_DIR) + "/smoke.yaml";
  // The runs' stderr goes into the failure message: under ASan + UBSan a report lands there.
  for (const char* name : {"base.json", "new.json"}) {
    auto run = test::run_bench("run " + cfg + " --quiet --bandwidth-mib 16 --out " + path(name));
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  auto r = test::run_bench("report " + path("new.json") + " --baseline " + path("base.json") + " -o " +
                           path("r.html"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = slurp(path("r.html"));
  EXPECT_THAT(html, HasSubstr("Change against the baseline"));
  EXPECT_THAT(html, HasSubstr("<th>verdict</th>"));
  const std::string dom = check_every_chart_renders(path("r.html"), 5);  // + the diff chart
  EXPECT_THAT(dom, HasSubstr("data-chart=\"diff\""));

  const std::string artifacts = BRICKBENCH_TEST_ARTIFACT_DIR;
  std::filesystem::create_directories(artifacts);
  std::filesystem::copy_file(path("r.html"), artifacts + "/report.html",
                             std::filesystem::copy_options::overwrite_existing);
  const std::string png = artifacts + "/report.png";
  std::filesystem::remove(png);
  run_chromium("--virtual-time-budget=10000 --window-size=1280,4200 --screenshot=" + test::shell_quote(png) +
                   " file://" + path("r.html"),
               path("profile2"));
  ASSERT_TRUE(std::filesystem::exists(png));
  // A blank page compresses to a few KB; five charts and tables do not.
  EXPECT_GT(std::filesystem::file_size(png), 100000u);
}

TEST(HtmlEscape, EscapesMarkup) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

}  // namespace
}  // namespace bb::report
