#include "workload/logits_record.h"

#include <cstddef>

namespace bb::workload {

std::vector<int32_t> LogitsRecord::fed_tokens() const {
  std::vector<int32_t> t = prompt;
  if (!greedy.empty()) t.insert(t.end(), greedy.begin(), greedy.end() - 1);
  return t;
}

std::vector<std::vector<float>> LogitsRecord::fed_logits() const {
  auto l = prompt_logits;
  if (!greedy_logits.empty()) l.insert(l.end(), greedy_logits.begin(), greedy_logits.end() - 1);
  return l;
}

int32_t argmax(const std::vector<float>& row) {
  int32_t best = 0;
  for (size_t i = 1; i < row.size(); ++i)
    if (row[i] > row[best]) best = static_cast<int32_t>(i);
  return best;
}

}  // namespace bb::workload
