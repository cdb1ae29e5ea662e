// Stage 8 of `bench run` (docs/DESIGN.md §8): the result record and its file. Cells are added once
// planned and stored again as they change; every save summarises the peers and rewrites the file
// atomically (temp + rename), so an interrupted run keeps every finished cell.
#pragma once

#include <string>

#include "result/run_result.h"
#include "run/progress_sink.h"

namespace bb::run {

class ResultSink {
 public:
  // out_path "" = keep the record in memory only. A save whose write fails is not an error: the
  // record stays in memory, `say` is told once (and again when a later write succeeds), and
  // write_failure() says why until one does.
  ResultSink(report::RunResult& result, std::string out_path, ProgressSink say = {});
  size_t add(const report::Cell& cell);  // returns its index in result.cells
  void store(size_t index, const report::Cell& cell);
  void save();  // report::compare_with_peers, then the file
  report::RunResult& result() { return result_; }
  const std::string& write_failure() const { return write_failure_; }

 private:
  report::RunResult& result_;
  std::string out_path_;
  ProgressSink say_;
  std::string write_failure_;
};

}  // namespace bb::run
