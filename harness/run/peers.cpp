#include "run/peers.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>

namespace bb::run {
namespace {

using Metrics = std::vector<std::pair<std::string, std::string>>;

std::optional<double> metric_number(const Metrics& kv, const char* key, double scale = 1.0) {
  for (const auto& [k, v] : kv) {
    if (k != key) continue;
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !std::isfinite(x)) return std::nullopt;
    return x * scale;
  }
  return std::nullopt;
}

report::PeerRequest peer_request(const Metrics& kv, int64_t sample) {
  report::PeerRequest q;
  q.sample = sample;
  q.eval_count = metric_number(kv, "eval_count");
  q.eval_duration_s = metric_number(kv, "eval_duration_ns", 1e-9);
  q.prompt_eval_count = metric_number(kv, "prompt_eval_count");
  q.prompt_eval_duration_s = metric_number(kv, "prompt_eval_duration_ns", 1e-9);
  q.load_duration_s = metric_number(kv, "load_duration_ns", 1e-9);
  q.total_duration_s = metric_number(kv, "total_duration_ns", 1e-9);
  q.ttft_s = metric_number(kv, "ttft_ns", 1e-9);
  q.gap_p50_s = metric_number(kv, "gap_p50_ns", 1e-9);
  q.gap_p99_s = metric_number(kv, "gap_p99_ns", 1e-9);
  for (const auto& [key, v] : kv)
    if (key == "done_reason") q.done_reason = v;
  return q;
}

// A peer's record of one finished cell from the metrics of its timed calls: the last n_samples * K
// calls are the samples' (warm-up and calibration calls come first). Returns false when the calls
// carry no peer.* facts (not a peer).
bool peer_cell_of(const std::vector<Metrics>& calls, size_t n_samples, int64_t k, report::PeerCell& out,
                  report::KeyValues& facts) {
  if (calls.empty()) return false;
  facts.clear();
  for (const auto& [key, v] : calls.back())
    if (key.rfind("peer.", 0) == 0) facts.emplace_back(key.substr(5), v);
  if (facts.empty()) return false;
  const size_t per = static_cast<size_t>(std::max<int64_t>(1, k));
  const size_t want = std::min(calls.size(), n_samples * per);
  const size_t first = calls.size() - want;
  for (size_t i = first; i < calls.size(); ++i)
    out.requests.push_back(peer_request(calls[i], static_cast<int64_t>((i - first) / per)));
  return true;
}

// The same weights? The peer's digest against the file every other backend ran.
void check_same_weights(const std::string& backend, report::KeyValues& facts, report::RunResult& r) {
  std::optional<std::string> digest;  // a copy: facts grows below, which would dangle a pointer into it
  for (const auto& [k, v] : facts)
    if (k == "digest" && !v.empty()) digest = v;
  if (!digest) return;
  const std::string hex = digest->substr(digest->find(':') == std::string::npos ? 0 : digest->find(':') + 1);
  const bool same = hex == r.model.sha256;
  facts.emplace_back("same_weights", same ? "true" : "false");
  const std::string w = backend + " serves weights of digest " + *digest +
                        ", not the model file the other "
                        "backends ran (sha256 " +
                        r.model.sha256 + "): the comparison is not on the same weights";
  if (!same && std::find(r.warnings.begin(), r.warnings.end(), w) == r.warnings.end())
    r.warnings.push_back(w);
}

}  // namespace

void record_peer(const CellRunner& c, report::RunResult& r) {
  report::PeerCell pc;
  report::KeyValues facts;
  pc.cell_id = c.result.id;
  if (!peer_cell_of(c.call_metrics, c.result.samples.size(), c.result.iterations_per_sample, pc, facts))
    return;
  auto it = std::find_if(r.peers.begin(), r.peers.end(),
                         [&](const auto& p) { return p.backend == c.backend.name; });
  if (it == r.peers.end()) {
    r.peers.push_back({c.backend.name, {}, {}});
    it = r.peers.end() - 1;
  }
  check_same_weights(c.backend.name, facts, r);
  it->facts = facts;
  auto cit = std::find_if(it->cells.begin(), it->cells.end(),
                          [&](const auto& x) { return x.cell_id == pc.cell_id; });
  if (cit == it->cells.end()) {
    it->cells.push_back(std::move(pc));
  } else {
    *cit = std::move(pc);
  }
}

}  // namespace bb::run
