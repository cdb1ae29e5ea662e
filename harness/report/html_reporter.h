// `bench report`: one self-contained HTML file per result: no request leaves the page (its
// Content-Security-Policy forbids any), the charting library (Chart.js, see tools/report-assets) and
// the data are inline, so it opens offline, from a CI artefact or an e-mail attachment.
//
// Sections: budget bars (measured / budget per brick and backend), a roofline (achieved GFLOP/s
// against arithmetic intensity under each backend's measured bandwidth ceiling) with the fraction of
// that ceiling per cell, decode tok/s per backend (and the Ollama peer's when the result has one), the
// diff against a baseline when one is given (chart and table), and the full cell table.
//
// Every chart checks itself once drawn: its canvas gets data-points (values plotted) and data-inked
// (pixels drawn on), and <html> gets data-charts-expected / data-charts-rendered, so a headless
// browser's --dump-dom shows whether each chart really rendered (tests/report/html_report_test.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "report/diff.h"
#include "report/reporter.h"

namespace bb::report {

// A whole-model decode rate measured by a peer itself (Ollama's eval_count / eval_duration).
struct PeerRate {
  std::string label;  // "ollama_client generate64@512 (server)"
  double tok_s = 0;
};

// The server-side decode rates of r.peers, one per peer cell that has one.
std::vector<PeerRate> peer_rates(const RunResult& r);

class HtmlReporter final : public Reporter {
 public:
  HtmlReporter() = default;
  explicit HtmlReporter(std::optional<DiffResult> diff) : diff_(std::move(diff)) {}
  void report(const RunResult& r, std::ostream& out) const override;
  std::string_view format() const override { return "html"; }

 private:
  std::optional<DiffResult> diff_;
};

// Text safe in HTML element content and attribute values.
std::string html_escape(std::string_view s);

}  // namespace bb::report
