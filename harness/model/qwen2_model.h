// The description of a Qwen2-architecture model read from a GGUF file: dimensions, per-tensor
// types, and the tensors in the shape the plugin ABI passes them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"
#include "model/gguf.h"

namespace bb::model {

struct Qwen2Model {
  std::shared_ptr<GgufFile> file;  // keeps the mapping alive
  bb_model_dims dims{};            // n_ctx_max = the file's qwen2.context_length
  bool synthetic = false;          // general.name / brickbench.synthetic metadata says so
  // Every tensor as a bb_tensor (CPU, compact, shape outermost-first, name = GGUF name).
  std::vector<bb_tensor> tensors;
  const GgufTensorInfo& tensor(const std::string& name) const;  // throws GgufError naming it
  std::string describe() const;                                 // multi-line summary for `bench inspect`
};

// Reads dims from the qwen2.* keys, checks every tensor a Qwen2 decoder needs is present with a
// consistent shape and a supported type (F32, F16, BF16, Q8_0, Q5_0, Q4_0, Q4_K, Q5_K, Q6_K);
// throws GgufError naming the file and what is wrong.
Qwen2Model load_qwen2(std::shared_ptr<GgufFile> file);
Qwen2Model load_qwen2(const std::string& path);

// A bb_tensor view of one GGUF tensor.
bb_tensor to_bb_tensor(const GgufTensorInfo& t);

}  // namespace bb::model
