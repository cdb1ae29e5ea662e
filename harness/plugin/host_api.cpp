// The host services of the plugin ABI: logging to stderr, aligned allocation, the thread count
// plugins are offered and the cancel flag they poll.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "plugin/host_services.h"

namespace bb::plugin {
namespace {

// The cancel flag: plugins read it through `const volatile int32_t*`, the host writes it with an
// atomic store, lock-free and therefore safe from a signal handler.
alignas(std::atomic_ref<int32_t>::required_alignment) int32_t g_cancel_flag = 0;
static_assert(std::atomic_ref<int32_t>::is_always_lock_free);

std::atomic<int32_t> g_threads{0};  // 0: std::thread::hardware_concurrency()
std::atomic<int32_t> g_log_level{BB_LOG_INFO};

// Every live HostServices, so set_host_threads reaches plugins already loaded. Leaked on purpose:
// a registry in static storage may destroy its plugins after this translation unit's statics.
struct LiveHosts {
  std::mutex mutex;
  std::vector<HostServices*> hosts;
};
LiveHosts& live_hosts() {
  static auto* live = new LiveHosts;
  return *live;
}

int32_t hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int32_t>(std::min<unsigned>(n, INT32_MAX));
}

const char* level_name(int32_t level) {
  switch (level) {
    case BB_LOG_DEBUG:
      return "debug";
    case BB_LOG_INFO:
      return "info";
    case BB_LOG_WARN:
      return "warning";
    case BB_LOG_ERROR:
      return "error";
    default:
      return "log";
  }
}

void host_log(void* host_data, int32_t level, const char* message) {
  if (level < g_log_level.load(std::memory_order_relaxed)) return;
  try {
    std::string label = host_data ? static_cast<const HostServices*>(host_data)->label() : "plugin";
    std::fprintf(stderr, "[%s] %s: %s\n", label.c_str(), level_name(level), message ? message : "(null)");
  } catch (...) {
    // A log line is not worth an exception escaping into C code.
  }
}

// std::aligned_alloc wants a power-of-two alignment and a size that is a multiple of it.
void* host_aligned_alloc(void* /*host_data*/, size_t alignment, size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return nullptr;
  alignment = std::max(alignment, sizeof(void*));
  if (size == 0) size = 1;
  if (size > SIZE_MAX - (alignment - 1)) return nullptr;
  size_t rounded = (size + alignment - 1) & ~(alignment - 1);
  return std::aligned_alloc(alignment, rounded);
}

void host_aligned_free(void* /*host_data*/, void* ptr) { std::free(ptr); }

}  // namespace

HostServices::HostServices(std::string label) : api_{}, label_(std::move(label)) {
  api_.struct_size = sizeof(bb_host_api);
  api_.abi_major = BB_ABI_VERSION_MAJOR;
  api_.abi_minor = BB_ABI_VERSION_MINOR;
  api_.host_data = this;
  api_.log = host_log;
  api_.aligned_alloc = host_aligned_alloc;
  api_.aligned_free = host_aligned_free;
  api_.cancel_flag = &g_cancel_flag;
  auto& live = live_hosts();
  std::lock_guard lock(live.mutex);
  api_.n_threads = host_threads();
  live.hosts.push_back(this);
}

HostServices::~HostServices() {
  auto& live = live_hosts();
  std::lock_guard lock(live.mutex);
  std::erase(live.hosts, this);
}

void HostServices::set_label(std::string label) {
  std::lock_guard lock(label_mutex_);
  label_ = std::move(label);
}

std::string HostServices::label() const {
  std::lock_guard lock(label_mutex_);
  return label_;
}

const bb_host_api* host_api() {
  static auto* host = new HostServices("plugin");  // leaked: see LiveHosts
  return host->api();
}

void set_host_threads(int32_t n_threads) {
  g_threads.store(std::max(n_threads, 0));
  auto& live = live_hosts();
  std::lock_guard lock(live.mutex);
  for (HostServices* host : live.hosts) host->set_threads(host_threads());
}

int32_t host_threads() {
  int32_t n = g_threads.load();
  return n > 0 ? n : hardware_threads();
}

void set_host_log_level(int32_t level) { g_log_level.store(level); }

void request_cancel() { std::atomic_ref<int32_t>(g_cancel_flag).store(1); }
bool cancel_requested() { return std::atomic_ref<int32_t>(g_cancel_flag).load() != 0; }
void reset_cancel() { std::atomic_ref<int32_t>(g_cancel_flag).store(0); }

}  // namespace bb::plugin
