#include "run/result_sink.h"

#include <utility>

#include "result/result_json.h"

namespace bb::run {

ResultSink::ResultSink(report::RunResult& result, std::string out_path)
    : result_(result), out_path_(std::move(out_path)) {}

size_t ResultSink::add(const report::Cell& cell) {
  result_.cells.push_back(cell);
  return result_.cells.size() - 1;
}

void ResultSink::store(size_t index, const report::Cell& cell) { result_.cells.at(index) = cell; }

void ResultSink::save() {
  report::compare_with_peers(result_);
  if (!out_path_.empty()) report::write_result_json(result_, out_path_);
}

}  // namespace bb::run
