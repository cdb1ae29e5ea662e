// What a plan-based cell hands a backend: the op, its weights (views into the model's mmap, one
// set per rotated layer, in the ABI's order for the op), seeded random inputs (never zeros) and
// the output descriptors. The same workload goes to every backend, so outputs are comparable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"
#include "model/qwen2_model.h"
#include "workload/cells.h"

namespace bb::workload {

class PlanWorkload {
 public:
  PlanWorkload(const model::Qwen2Model& model, const CellSpec& cell, uint64_t seed);
  PlanWorkload(const PlanWorkload&) = delete;
  PlanWorkload& operator=(const PlanWorkload&) = delete;

  // Pointers inside stay valid while this object lives.
  const bb_plan_desc& desc() const { return desc_; }
  const std::vector<bb_tensor>& inputs() const { return inputs_; }
  const std::vector<bb_tensor>& output_descs() const { return outputs_; }
  int32_t n_weight_sets() const { return desc_.n_weight_sets; }

  // Host buffers for the outputs, filled with NaN (poison) before every read-back; `tensors` view them.
  struct OutputBuffers {
    std::vector<std::vector<float>> data;  // F32 for every op but copy (whose output is bytes)
    std::vector<std::vector<uint8_t>> bytes;
    std::vector<bb_tensor> tensors;
  };
  OutputBuffers poisoned_outputs() const;

 private:
  void add_input(const char* name, int32_t type, std::vector<int64_t> shape, std::vector<uint8_t> bytes);
  void add_f32_input(const char* name, std::vector<int64_t> shape, uint64_t seed, float lo = -1,
                     float hi = 1);
  void add_output(const char* name, int32_t type, std::vector<int64_t> shape);

  bb_model_dims dims_{};
  bb_plan_desc desc_{};
  std::vector<bb_tensor> weights_;
  std::vector<bb_tensor> inputs_;
  std::vector<std::vector<uint8_t>> input_storage_;
  std::vector<bb_tensor> outputs_;
};

// Seeded uniform floats in [lo, hi), never exactly zero (a zero input hides a missing term).
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1, float hi = 1);
// IEEE binary16 of a float, round to nearest even (F16 KV caches).
uint16_t f32_to_f16(float x);
// The KV history rows a cell at `context` starts with: rows [0, context-1) of layer `layer`.
// Seeded by (seed, layer, k-or-v), so every backend gets the same history.
std::vector<float> kv_history(uint64_t seed, int32_t layer, bool is_v, int32_t n_rows, int32_t row_width);

}  // namespace bb::workload
