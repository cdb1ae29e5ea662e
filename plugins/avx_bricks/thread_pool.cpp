#include "thread_pool.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <immintrin.h>

namespace bb::avx {
namespace {

// How long an idle worker spins before it sleeps: long enough to bridge the serial parts between
// the parallel regions of a decode (microseconds), short enough that an idle pool frees its core.
constexpr auto kSpin = std::chrono::microseconds(150);

void futex_wait(std::atomic<uint32_t>* word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_all(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 0x7fffffff, nullptr, nullptr, 0);
}
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_main(t); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_seq_cst);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  futex_wake_all(&generation_);
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
  const Job job = job_;
  for (;;) {
    const int64_t i = next_item_.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.n_items) break;
    job.fn(job.ctx, i, thread);
  }
}

void ThreadPool::dispatch(const Job& job) {
  job_ = job;
  next_item_.store(0, std::memory_order_relaxed);
  busy_workers_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);  // publishes job_ (release)
  if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(&generation_);
  work(0);
  // Spin for the workers' last items; yield now and then, so that on an oversubscribed machine a
  // preempted worker gets the core back instead of watching us spin.
  for (int spins = 1; busy_workers_.load(std::memory_order_acquire) != 0; ++spins) {
    _mm_pause();
    if ((spins & 1023) == 0) sched_yield();
  }
}

void ThreadPool::worker_main(int thread) {
  // The generation at construction, not the current one: a job may already have been dispatched
  // before this thread got to run.
  uint32_t seen = 0;
  for (;;) {
    // Spin, then sleep until the generation moves.
    auto start = std::chrono::steady_clock::now();
    uint32_t g;
    for (int spins = 0;; ++spins) {
      g = generation_.load(std::memory_order_acquire);
      if (g != seen) break;
      _mm_pause();
      if ((spins & 255) == 255 && std::chrono::steady_clock::now() - start > kSpin) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while ((g = generation_.load(std::memory_order_seq_cst)) == seen) futex_wait(&generation_, seen);
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        break;
      }
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    work(thread);
    busy_workers_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace bb::avx
