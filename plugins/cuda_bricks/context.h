// A cuda_bricks context: one GPU, one stream every plan and session of the context runs on.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "brickbench/brick_abi.h"
#include "glue.h"

struct bb_context {
  const bb_host_api* host = nullptr;
  int device = 0;
  cudaStream_t stream = nullptr;
  int n_sms = 1;
  std::string device_name;
};

namespace bb::cuda_bricks {

// Makes the context's device current for the calling thread (the host may call from any thread).
inline void use_device(const bb_context& ctx) { BB_CUDA(cudaSetDevice(ctx.device)); }

// Times `iterations` launches of work on the context's stream with events; waits for the end.
// launch(i) issues iteration group i and returns the number of iterations it covered.
template <typename LaunchGroup>
uint64_t timed_on_stream(const bb_context& ctx, int64_t iterations, const volatile int32_t* cancel,
                         const char* where, LaunchGroup&& launch_group) {
  Event start, stop;
  BB_CUDA(cudaEventRecord(start.get(), ctx.stream));
  int64_t done = 0;
  while (done < iterations) {
    if (cancel != nullptr && *cancel != 0) {
      cudaStreamSynchronize(ctx.stream);
      throw_cancelled(where);
    }
    done += launch_group(done, iterations - done);
  }
  BB_CUDA(cudaEventRecord(stop.get(), ctx.stream));
  BB_CUDA(cudaEventSynchronize(stop.get()));
  BB_CUDA(cudaGetLastError());
  float ms = 0.0f;
  BB_CUDA(cudaEventElapsedTime(&ms, start.get(), stop.get()));
  return static_cast<uint64_t>(static_cast<double>(ms) * 1e6);
}

}  // namespace bb::cuda_bricks
