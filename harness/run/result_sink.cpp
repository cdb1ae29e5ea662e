#include "run/result_sink.h"

#include <utility>

#include "result/result_json.h"

namespace bb::run {

ResultSink::ResultSink(report::RunResult& result, std::string out_path, ProgressSink say)
    : result_(result), out_path_(std::move(out_path)), say_(std::move(say)) {}

size_t ResultSink::add(const report::Cell& cell) {
  result_.cells.push_back(cell);
  return result_.cells.size() - 1;
}

void ResultSink::store(size_t index, const report::Cell& cell) { result_.cells.at(index) = cell; }

void ResultSink::save() {
  report::compare_with_peers(result_);
  if (out_path_.empty()) return;
  try {
    report::write_result_json(result_, out_path_);
  } catch (const std::exception& e) {
    if (write_failure_.empty() && say_)
      say_(std::string("WARNING: ") + e.what() + "; measuring goes on, the result is kept in memory and " +
           "written when a later save succeeds");
    write_failure_ = e.what();
    return;
  }
  if (!write_failure_.empty() && say_) say_("the result file is written again: " + out_path_);
  write_failure_.clear();
}

}  // namespace bb::run
