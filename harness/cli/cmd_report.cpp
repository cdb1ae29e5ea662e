// bench report: one self-contained HTML file for a result, with its diff to a baseline when given.
#include <boost/program_options.hpp>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/parse_args.h"
#include "report/diff.h"
#include "report/html_reporter.h"
#include "result/atomic_file.h"
#include "result/result_json.h"

namespace po = boost::program_options;

namespace bb::cli {

int cmd_report(const std::vector<std::string>& args) {
  std::string result_path, baseline_path, out_path;
  report::DiffSettings settings;
  po::options_description opts(
      "usage: bench report RESULT.json [--baseline BASE.json] -o report.html\n\n"
      "Writes one self-contained HTML file (charts by Chart.js, inlined; no network needed to open it):\n"
      "budget bars per brick and backend, a roofline against each backend's measured bandwidth ceiling,\n"
      "decode tok/s per backend (and Ollama's, when the result has an Ollama section), every cell in a\n"
      "table, and with --baseline the bench diff of BASE against RESULT as a chart and a table.\n\n"
      "exit codes: 0 written, 2 usage error or unreadable result file, 3 internal error\n\noptions");
  // clang-format off
  opts.add_options()
      ("help,h", "this help")
      ("result", po::value(&result_path), "the result file (positional)")
      ("baseline", po::value(&baseline_path), "a baseline result: adds bench diff BASE RESULT")
      ("out,o", po::value(&out_path), "the HTML file to write")
      ("alpha", po::value(&settings.alpha)->default_value(settings.alpha), "with --baseline: as bench diff --alpha")
      ("min-effect", po::value(&settings.min_effect)->default_value(settings.min_effect),
       "with --baseline: as bench diff --min-effect, as a fraction");
  // clang-format on
  po::positional_options_description pos;
  pos.add("result", 1);
  try {
    po::variables_map vm;
    if (!parse_args(args, opts, &pos, vm)) return kExitOk;
    if (result_path.empty()) throw po::error("give a result file: bench report RESULT.json -o report.html");
    if (out_path.empty()) throw po::error("give the output file: -o report.html");
    if (!(settings.alpha > 0 && settings.alpha < 1)) throw po::error("--alpha must be in (0, 1)");
    if (!(settings.min_effect >= 0)) throw po::error("--min-effect must be >= 0 (a fraction, e.g. 0.03)");
  } catch (const std::exception& e) {
    std::cerr << "bench report: " << e.what() << "\n(bench report --help for usage)\n";
    return kExitUsage;
  }

  report::RunResult result;
  std::optional<report::DiffResult> diff;
  try {
    result = report::read_result_json(result_path);
    if (!baseline_path.empty()) {
      diff = report::diff_results(report::read_result_json(baseline_path), result, settings, baseline_path,
                                  result_path);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench report: " << e.what() << "\n";
    return kExitUsage;
  }
  std::ostringstream html;
  report::HtmlReporter(std::move(diff)).report(result, html);
  try {
    report::write_file_atomically(out_path, html.str());
  } catch (const std::exception& e) {
    std::cerr << "bench report: " << e.what() << "\n";
    return kExitUsage;
  }
  std::cerr << "bench report: wrote " << out_path << " (" << html.str().size() / 1024
            << " KiB, self-contained)\n";
  return kExitOk;
}

}  // namespace bb::cli
