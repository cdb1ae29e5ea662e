// Names of the result model's enumerations, as result files and tables spell them.
#include "result/run_result.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace bb::report {
std::optional<double> PeerRequest::decode_tok_s() const {
  if (!eval_count || !eval_duration_s || !(*eval_duration_s > 0)) return std::nullopt;
  return *eval_count / *eval_duration_s;
}

std::optional<double> PeerRequest::prefill_tok_s() const {
  if (!prompt_eval_count || !prompt_eval_duration_s || !(*prompt_eval_duration_s > 0)) return std::nullopt;
  return *prompt_eval_count / *prompt_eval_duration_s;
}

const std::string* PeerRecord::fact(std::string_view key) const {
  for (const auto& [k, v] : facts)
    if (k == key) return &v;
  return nullptr;
}

std::optional<double> median_of_present(const std::vector<std::optional<double>>& values) {
  std::vector<double> v;
  for (const auto& x : values)
    if (x && std::isfinite(*x)) v.push_back(*x);
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void compare_with_peers(RunResult& r) {
  for (PeerRecord& p : r.peers) {
    for (PeerCell& pc : p.cells) {
      auto med = [&](auto get) {
        std::vector<std::optional<double>> v;
        for (const PeerRequest& q : pc.requests) v.push_back(get(q));
        return median_of_present(v);
      };
      pc.decode_tok_s = med([](const PeerRequest& q) { return q.decode_tok_s(); });
      pc.prefill_tok_s = med([](const PeerRequest& q) { return q.prefill_tok_s(); });
      pc.ttft_s = med([](const PeerRequest& q) { return q.ttft_s; });
      pc.gap_p50_s = med([](const PeerRequest& q) { return q.gap_p50_s; });
      pc.gap_p99_s = med([](const PeerRequest& q) { return q.gap_p99_s; });
      pc.load_duration_s = med([](const PeerRequest& q) { return q.load_duration_s; });
      pc.versus.clear();
      for (const Cell& c : r.cells) {
        if (c.id != pc.cell_id || c.backend == p.backend) continue;
        PeerVersus v;
        v.backend = c.backend;
        if (c.tok_s && std::isfinite(*c.tok_s)) {
          v.tok_s = c.tok_s;
        } else if (c.stats.n > 0 && c.stats.median > 0) {
          v.tok_s = 1.0 / c.stats.median;
        }
        if (v.tok_s && pc.decode_tok_s && *pc.decode_tok_s > 0) v.ratio = *v.tok_s / *pc.decode_tok_s;
        pc.versus.push_back(std::move(v));
      }
    }
  }
}

}  // namespace bb::report
