// What a decode produces, token by token: the logits of every prompt position, then of each greedy
// token fed back one at a time (the layout of the oracle's *.logits.json, which verify/ reads and
// writes and compares), and the argmax that picks a greedy token.
#pragma once

#include <cstdint>
#include <vector>

namespace bb::workload {

struct LogitsRecord {
  int32_t n_vocab = 0;
  std::vector<int32_t> prompt;
  std::vector<std::vector<float>> prompt_logits;  // [prompt.size()][n_vocab]
  std::vector<int32_t> greedy;
  std::vector<std::vector<float>> greedy_logits;  // [greedy.size()][n_vocab]

  // The tokens fed, position by position: prompt + greedy[:-1].
  std::vector<int32_t> fed_tokens() const;
  // Logits of those positions: prompt_logits + greedy_logits[:-1].
  std::vector<std::vector<float>> fed_logits() const;
};

int32_t argmax(const std::vector<float>& row);  // first index of the maximum

}  // namespace bb::workload
