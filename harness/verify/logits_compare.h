// Comparing logits: NMSE and top-1 agreement between a backend and a reference (another backend,
// or llama.cpp's answers in the oracle's *.logits.json layout).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "workload/logits_record.h"

namespace bb::verify {

// The record of a decode (workload/logits_record.h), in the layout of the oracle's *.logits.json.
using workload::LogitsRecord;

// Throws std::runtime_error naming the file and what is malformed.
LogitsRecord read_logits_json(const std::string& path);
// Atomic (temp + rename); floats printed with 9 significant digits (exact round trip).
void write_logits_json(const LogitsRecord& record, const std::string& path);

struct LogitsAgreement {
  double nmse = 0;  // sum (x - ref)^2 / sum ref^2 over all positions
  double max_abs_error = 0;
  double top1_agreement = 0;  // fraction of positions whose argmax agrees
  int positions = 0;
  int non_finite = 0;  // NaN/Inf values in the candidate
};

// Rows must match in count and width; throws std::invalid_argument otherwise.
LogitsAgreement compare_logits(const std::vector<std::vector<float>>& candidate,
                               const std::vector<std::vector<float>>& reference);

using workload::argmax;  // first index of the maximum

}  // namespace bb::verify
