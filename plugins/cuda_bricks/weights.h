// Weights on the device: matrices repacked (repack.h) and 1-D weights converted to float, all in
// one arena. Register everything first, then upload() once.
#pragma once

#include <cstdint>
#include <vector>

#include "brickbench/brick_abi.h"
#include "glue.h"
#include "kernel_api.h"

namespace bb::cuda_bricks {

class WeightStore {
 public:
  // t was checked (check_weight) with shape {rows, cols}; returns an id for matrix().
  // rope_head_dim > 0: rows stored in RoPE row order (kernel_api.h, rope_pair_source_row).
  int add_matrix(const bb_tensor& t, int64_t rows, int64_t cols, int32_t rope_head_dim = 0);
  // A 1-D weight of n elements, any supported type, kept as float; returns an id for vector().
  int add_vector(const bb_tensor& t, int64_t n, int32_t rope_head_dim = 0);
  // Allocates and copies everything; `cancel` (may be null) is polled between tensors.
  void upload(const volatile int32_t* cancel);
  MatDesc matrix(int id) const;
  const float* vector(int id) const;
  uint64_t device_bytes() const { return arena_.size(); }
  const uint8_t* device_base() const { return arena_.at(0); }

 private:
  struct Entry {
    const void* data;  // host data, valid until the store is uploaded (the ABI's guarantee)
    int32_t type;
    bool is_matrix;
    int64_t rows, cols;
    int32_t rope_head_dim = 0;
    size_t off_q = 0, off_aux = 0, off_sc = 0, off_d = 0;
  };
  std::vector<Entry> entries_;
  DeviceArena arena_;
  bool uploaded_ = false;
};

}  // namespace bb::cuda_bricks
