// gemv_tile.cu's launchers (issue 16): the bandwidth-bound GEMVs (Q4_K / Q6_K) streamed through
// shared memory with cp.async. Each returns false, launching nothing, when the launch is not one it
// takes (type, shape, epilogue, missing buffers, or CUDA_BRICKS_TILE leaves it off); then the caller
// runs its own kernel. *err is the launch's error when it returns true.
#pragma once

#include "kernel_api.h"

namespace bb::cuda_bricks {

bool launch_gemv_tile(const GemvLaunch& h, const GemvLaunch* d, GemvEpilogue epilogue, cudaStream_t stream,
                      cudaError_t* err);
bool launch_gate_up_tile(const GateUpLaunch& h, const GateUpLaunch* d, cudaStream_t stream, cudaError_t* err);

}  // namespace bb::cuda_bricks
