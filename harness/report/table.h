// The summary of a run as text cells, shared by the console and markdown reporters so both show the
// same columns with the same numbers: one row per (cell, backend), then per-backend decode speed,
// notes on cells that did not simply pass, skipped backends and warnings.
#pragma once

#include <string>
#include <vector>

#include "result/run_result.h"

namespace bb::report {

struct SummaryTable {
  std::vector<std::string> header;  // "cell", "backend", "median", "95% CI", ...
  std::vector<bool> right_aligned;  // per column: numbers right, names left
  std::vector<std::vector<std::string>> rows;
};

// Rows grouped by cell id, then backend, each in order of first appearance (the runner records
// cells in its interleaved execution order). ASCII only; "-" where a value does not apply.
SummaryTable summary_table(const RunResult& r);

// One row's texts, by column; exposed for tests and for reporters that lay out a single cell.
std::string median_text(const Cell& c);       // "12.35 us"
std::string median_ci_text(const Cell& c);    // "[12.30, 12.41] us", in the median's unit
std::string cv_text(const Cell& c);           // "1.23%"
std::string gbps_text(const Cell& c);         // "812.4"
std::string ceiling_text(const Cell& c);      // "67%"
std::string budget_text(const Cell& c);       // "x1.23 B"
std::string equivalence_text(const Cell& c);  // "PASS nmse=1.2e-07", "FAIL nmse=3.4e-02 top1=0.80", "-"
std::string tok_s_text(double tok_s);         // "1234", "56.7", "8.90"

// Tokens per second of a decode/generate cell: tok_s when recorded, else 1 / median; nullopt otherwise.
std::optional<double> cell_tok_s(const Cell& c);

// "avx_bricks: decode@512 1234 tok/s (x0.90 A), generate64@512 1180 tok/s" per backend that has
// decode or generate cells, in backend order of first appearance. Empty when there are none.
std::vector<std::string> decode_summary_lines(const RunResult& r);

// Each whole-model peer's cells beside every other backend's on the same cell, e.g.
//   "generate64@512: ollama_client (Ollama 0.12.6, qwen2 494.03M Q4_K_M, same weights) decode 38.2 tok/s,
//    prefill 85.1 tok/s, TTFT 6.04 s, gap p50/p99 26.1/31.0 ms"
//   "generate64@512: scalar_ref 3.10 tok/s = x0.081 of ollama_client"
// Unknown values print as "?". Empty when the run has no peer.
std::vector<std::string> peer_comparison_lines(const RunResult& r);

// "qkv avx_bricks: FAILED: <reason>" for every cell whose status is not CONVERGED or whose
// equivalence failed, in table order.
std::vector<std::string> cell_notes(const RunResult& r);

// "brickbench 0.1.0 (abc1234) | experiment smoke (hash 0123...) | model ... | state complete"
std::string run_headline(const RunResult& r);

// Table order: indices into r.cells grouped by id, then backend, each by first appearance.
std::vector<size_t> table_order(const RunResult& r);

}  // namespace bb::report
