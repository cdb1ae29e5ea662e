// Stage 8 of `bench run` (docs/DESIGN.md §8): the result record and its file. Cells are added once
// planned and stored again as they change; every save summarises the peers and rewrites the file
// atomically (temp + rename), so an interrupted run keeps every finished cell.
#pragma once

#include <string>

#include "result/run_result.h"

namespace bb::run {

class ResultSink {
 public:
  // out_path "" = keep the record in memory only.
  ResultSink(report::RunResult& result, std::string out_path);
  size_t add(const report::Cell& cell);  // returns its index in result.cells
  void store(size_t index, const report::Cell& cell);
  void save();  // report::compare_with_peers, then the file
  report::RunResult& result() { return result_; }

 private:
  report::RunResult& result_;
  std::string out_path_;
};

}  // namespace bb::run
