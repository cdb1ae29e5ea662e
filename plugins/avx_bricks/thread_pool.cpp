#include "thread_pool.h"

#include <immintrin.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

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

// Claims and runs items of job `generation` until none is left. A thread that arrives after that job
// ended (the tag moved on) claims nothing, so a stale or half-overwritten copy of the slot is never run.
void ThreadPool::run_items(int thread, uint32_t generation) {
  const Slot& slot = jobs_[generation & 1];
  const Job job{slot.fn.load(std::memory_order_relaxed), slot.ctx.load(std::memory_order_relaxed),
                slot.n_items.load(std::memory_order_relaxed)};
  uint64_t v = next_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(v >> 32) != generation) return;
    const auto item = static_cast<int64_t>(v & 0xffffffffu);
    if (item >= job.n_items) return;
    if (!next_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      continue;
    job.fn(job.ctx, item, thread);
    done_.fetch_add(1, std::memory_order_release);
    v = next_.load(std::memory_order_acquire);
  }
}

void ThreadPool::dispatch(const Job& job) {
  const uint32_t g = generation_.load(std::memory_order_relaxed) + 1;
  Slot& slot = jobs_[g & 1];
  slot.fn.store(job.fn, std::memory_order_relaxed);
  slot.ctx.store(job.ctx, std::memory_order_relaxed);
  slot.n_items.store(job.n_items, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  next_.store(static_cast<uint64_t>(g) << 32, std::memory_order_release);
  generation_.store(g, std::memory_order_seq_cst);  // publishes the slot and the counter
  if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(&generation_);
  run_items(0, g);
  // Wait for items others claimed; yield now and then, so that on an oversubscribed machine a
  // preempted worker gets the core back instead of watching us spin.
  for (int spins = 1; done_.load(std::memory_order_acquire) < job.n_items; ++spins) {
    _mm_pause();
    if ((spins & 1023) == 0) sched_yield();
  }
}

void ThreadPool::worker_main(int thread) {
  // The generation at construction, not the current one: a job may already have been dispatched
  // before this thread got to run.
  uint32_t seen = 0;
  for (;;) {
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
    run_items(thread, g);
  }
}

}  // namespace bb::avx
