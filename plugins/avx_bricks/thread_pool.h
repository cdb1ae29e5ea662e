// A persistent fork-join pool: workers are created once (context_create) and wait for jobs by
// spinning briefly, then sleeping on a futex; the calling thread is worker 0. A job is `n_items`
// indices claimed through one atomic counter tagged with the job's generation, and the caller waits
// for the items to be done, not for every worker to check in: a worker that another process keeps
// off its core claims nothing and delays no one. Dispatching allocates nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace bb::avx {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls f(item, thread) for every item in [0, n_items) on the pool's threads (thread in
  // [0, size()), each thread id used by one thread at a time) and returns when all are done.
  // f must not throw.
  template <typename F>
  void parallel_for(int64_t n_items, F&& f) {
    if (n_items <= 0) return;
    if (n_threads_ == 1 || n_items == 1) {
      for (int64_t i = 0; i < n_items; ++i) f(i, 0);
      return;
    }
    Job job{[](void* ctx, int64_t item, int thread) { (*static_cast<F*>(ctx))(item, thread); },
            const_cast<void*>(static_cast<const void*>(&f)), n_items};
    dispatch(job);
  }

 private:
  struct Job {
    void (*fn)(void* ctx, int64_t item, int thread);
    void* ctx;
    int64_t n_items;
  };
  void dispatch(const Job& job);
  void run_items(int thread, uint32_t generation);
  void worker_main(int thread);

  int n_threads_;
  // Two slots: a late worker may still read the previous job's slot while the next one is written.
  // The fields are atomics (relaxed) so that such a stale read is not a data race; its values are
  // used only after a claim on the generation-tagged counter proves the slot was still current.
  struct Slot {
    std::atomic<void (*)(void*, int64_t, int)> fn{nullptr};
    std::atomic<void*> ctx{nullptr};
    std::atomic<int64_t> n_items{0};
  };
  Slot jobs_[2];
  alignas(64) std::atomic<uint64_t> next_{0};  // (generation << 32) | next item
  alignas(64) std::atomic<int64_t> done_{0};   // items finished in the current job
  alignas(64) std::atomic<uint32_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace bb::avx
