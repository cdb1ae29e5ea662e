// A persistent fork-join pool: workers are created once (context_create) and wait for jobs by
// spinning briefly, then sleeping on a futex; the calling thread is worker 0. A job is `n_items`
// indices handed out through one atomic counter, so a core that another process slows down takes
// fewer items. Dispatching allocates nothing.
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
  // [0, size())) and returns when all are done. f must not throw.
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
  void work(int thread);
  void worker_main(int thread);

  int n_threads_;
  Job job_{};
  alignas(64) std::atomic<int64_t> next_item_{0};
  alignas(64) std::atomic<uint32_t> generation_{0};
  alignas(64) std::atomic<int> busy_workers_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace bb::avx
