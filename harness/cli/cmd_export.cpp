// bench export: a result file through any reporter (gbench for compare.py and dashboards, csv, md, ...).
#include <boost/program_options.hpp>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/parse_args.h"
#include "report/reporter.h"
#include "result/atomic_file.h"
#include "result/result_json.h"

namespace po = boost::program_options;

namespace bb::cli {

int cmd_export(const std::vector<std::string>& args) {
  std::string in_path, out_path, format = "gbench";
  std::string formats;
  for (const auto& f : report::reporter_formats()) formats += (formats.empty() ? "" : ", ") + f;
  po::options_description opts(
      "usage: bench export RESULT.json [--format gbench|csv|md|json|console] [-o FILE]\n\n"
      "Writes a `bench run` result file in another format. gbench is Google Benchmark's JSON layout\n"
      "(one iteration entry per raw sample plus mean/median/stddev/cv aggregates per cell, named\n"
      "<cell>/<backend>), read as-is by google/benchmark's tools/compare.py:\n"
      "  bench export --format gbench base.json -o base.gbench.json\n"
      "  bench export --format gbench new.json -o new.gbench.json\n"
      "  compare.py benchmarks base.gbench.json new.gbench.json\n\n"
      "exit codes: 0 written, 2 usage error or unreadable result file, 3 internal error\n\noptions");
  // clang-format off
  opts.add_options()
      ("help,h", "this help")
      ("result", po::value(&in_path), "the result file (positional)")
      ("format", po::value(&format)->default_value(format), ("output format: " + formats).c_str())
      ("out,o", po::value(&out_path), "output file (default: stdout); written atomically");
  // clang-format on
  po::positional_options_description pos;
  pos.add("result", 1);

  std::unique_ptr<report::Reporter> reporter;
  try {
    po::variables_map vm;
    if (!parse_args(args, opts, &pos, vm)) return kExitOk;
    if (in_path.empty()) throw po::error("give a result file: bench export --format gbench RESULT.json");
    reporter = report::make_reporter(format);
  } catch (const std::exception& e) {
    std::cerr << "bench export: " << e.what() << "\n(bench export --help for usage)\n";
    return kExitUsage;
  }
  report::RunResult result;
  try {
    result = report::read_result_json(in_path);
  } catch (const std::exception& e) {
    std::cerr << "bench export: " << e.what() << "\n";
    return kExitUsage;
  }
  std::ostringstream text;
  reporter->report(result, text);
  if (out_path.empty()) {
    std::cout << text.str();
    std::cout.flush();
    return kExitOk;
  }
  try {
    report::write_file_atomically(out_path, text.str());
  } catch (const std::exception& e) {
    std::cerr << "bench export: " << e.what() << "\n";
    return kExitUsage;
  }
  std::cerr << "bench export: wrote " << out_path << " (" << reporter->format() << ")\n";
  return kExitOk;
}

}  // namespace bb::cli
