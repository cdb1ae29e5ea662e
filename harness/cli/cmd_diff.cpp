// bench diff: compare two result files cell by cell; exit 1 on a significant slowdown.
#include <boost/program_options.hpp>
#include <cmath>
#include <iostream>

#include "cli/commands.h"
#include "cli/parse_args.h"
#include "report/diff.h"
#include "result/result_json.h"

namespace po = boost::program_options;

namespace bb::cli {
namespace {

// "3%" -> 0.03, "0.03" -> 0.03; a bare number above 1 is refused (was "3" meant as 3% or 300%?).
double parse_effect(const std::string& text) {
  std::string t = text;
  const bool pct = !t.empty() && t.back() == '%';
  if (pct) t.pop_back();
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != t.size() || !std::isfinite(v) || v < 0)
    throw po::error("--min-effect '" + text + "': expected a fraction (0.03) or a percentage (3%)");
  if (pct) return v / 100.0;
  if (v > 1)
    throw po::error("--min-effect " + text + ": ambiguous; write " + text + "% or a fraction such as 0.03");
  return v;
}

}  // namespace

int cmd_diff(const std::vector<std::string>& args) {
  std::string base_path, new_path, format = "console", effect_text = "3%", bootstrap = "iid";
  report::DiffSettings settings;
  po::options_description opts(
      "usage: bench diff BASE.json NEW.json [--alpha A] [--min-effect P] [--format console|md|json]\n\n"
      "Compares two `bench run` result files cell by cell (cell id and backend) on their raw samples:\n"
      "the change of the median with a bootstrap confidence interval of the ratio NEW/BASE, a two-sided\n"
      "Mann-Whitney U p-value, and a verdict:\n"
      "  slower / faster  p < alpha, the median moved by more than the minimum effect, and the interval\n"
      "                   of the ratio excludes no change (excludes the minimum effect itself when a cell\n"
      "                   is UNSTABLE or CAPPED_SLOW)\n"
      "  noisy            neither, and the data cannot tell a change of the minimum effect from none\n"
      "                   (a large change that is not significant, an interval wider than the effect on\n"
      "                   both sides, or an UNSTABLE / CAPPED_SLOW cell)\n"
      "  same             the median moved by less than the minimum effect, and the data say so\n"
      "  only-in-base / only-in-new   measured in one file only; a cell of BASE that NEW did not measure\n"
      "                   (an interrupted run, a backend that did not load) fails the comparison unless\n"
      "                   --allow-missing\n"
      "Then the geometric mean of the ratios per backend, and warnings when the two runs differ in\n"
      "machine, model digest, plugin build or protocol (experiment hash).\n\n"
      "exit codes: 0 no cell significantly slower, 1 at least one cell slower (a regression) or a cell of\n"
      "BASE missing from NEW (without --allow-missing),\n"
      "2 usage error or unreadable result file, 3 internal error\n\noptions");
  // clang-format off
  opts.add_options()
      ("help,h", "this help")
      ("base", po::value(&base_path), "the baseline result (first positional argument)")
      ("new", po::value(&new_path), "the result to judge (second positional argument)")
      ("alpha", po::value(&settings.alpha)->default_value(settings.alpha), "significance level of the U test")
      ("min-effect", po::value(&effect_text)->default_value(effect_text),
       "smallest change of the median that counts: a percentage (3%) or a fraction (0.03)")
      ("format", po::value(&format)->default_value(format), "console, md or json")
      ("resamples", po::value(&settings.resamples)->default_value(settings.resamples), "bootstrap resamples")
      ("seed", po::value(&settings.seed)->default_value(settings.seed), "bootstrap seed")
      ("bootstrap", po::value(&bootstrap)->default_value(bootstrap),
       "iid: resample single samples; block: blocks of ~cbrt(n) consecutive samples (bursty interference)")
      ("allow-missing", po::bool_switch(&settings.allow_missing),
       "cells measured in BASE but not in NEW are reported, not failures (NEW is a subset on purpose)");
  // clang-format on
  po::positional_options_description pos;
  pos.add("base", 1).add("new", 1);

  std::unique_ptr<report::DiffReporter> reporter;
  try {
    po::variables_map vm;
    if (!parse_args(args, opts, &pos, vm)) return kExitOk;
    if (base_path.empty() || new_path.empty())
      throw po::error("give two result files: bench diff BASE.json NEW.json");
    settings.min_effect = parse_effect(effect_text);
    if (bootstrap != "block" && bootstrap != "iid") throw po::error("--bootstrap must be block or iid");
    settings.block_bootstrap = bootstrap == "block";
    if (!(settings.alpha > 0 && settings.alpha < 1)) throw po::error("--alpha must be in (0, 1), e.g. 0.01");
    if (settings.resamples < 1) throw po::error("--resamples must be >= 1");
    reporter = report::make_diff_reporter(format);
  } catch (const std::exception& e) {
    std::cerr << "bench diff: " << e.what() << "\n(bench diff --help for usage)\n";
    return kExitUsage;
  }

  report::RunResult base, next;
  try {
    base = report::read_result_json(base_path);
    next = report::read_result_json(new_path);
  } catch (const std::exception& e) {
    std::cerr << "bench diff: " << e.what() << "\n";
    return kExitUsage;
  }
  const report::DiffResult d = report::diff_results(base, next, settings, base_path, new_path);
  reporter->report(d, std::cout);
  std::cout.flush();
  return d.failed() ? kExitFailure : kExitOk;
}

}  // namespace bb::cli
