#include "plugin/isolated_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

extern char** environ;

namespace bb::plugin {
namespace {

std::mutex g_hosts_mutex;
std::set<pid_t>& live_hosts() {
  static std::set<pid_t> hosts;
  return hosts;
}
void note_host(pid_t pid, bool alive) {
  const std::lock_guard<std::mutex> lock(g_hosts_mutex);
  if (alive)
    live_hosts().insert(pid);
  else
    live_hosts().erase(pid);
}

using Clock = std::chrono::steady_clock;

std::string signal_text(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  const char* desc = strsignal(sig);
  return std::string("killed by ") +
         (abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig)) +
         (desc ? std::string(" (") + desc + ")" : std::string());
}

std::string wait_status_text(int status) {
  if (WIFSIGNALED(status)) return signal_text(WTERMSIG(status));
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == 4) return "exited after a C++ exception escaped the plugin";
    return "exited with status " + std::to_string(code) +
           (code == 0 ? std::string(" (the plugin called exit)")
                      : std::string(" (the plugin called exit, or a sanitizer report: see stderr)"));
  }
  return "ended (wait status " + std::to_string(status) + ")";
}

int64_t rss_mib(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  int64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE)) / (1024 * 1024);
}

}  // namespace

int64_t default_isolate_memory_limit_mib() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<int64_t>(pages) * page / (1024 * 1024) * 3 / 4;
}

bool IsolatedChannel::spawn(const std::string& plugin_path) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    failure_ =
        PluginFailure{false, std::string("cannot create the plugin host's socket: ") + std::strerror(errno)};
    return false;
  }
  // The child's end becomes its fd 3 (dup2 clears close-on-exec); its stdout goes to our stderr so
  // a chatty plugin cannot corrupt `bench run --format json` on stdout.
  constexpr int kChildFd = 3;
  int child_end = sv[1];
  if (child_end == kChildFd) child_end = ::fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
  std::string exe = options_.host_executable;
  if (exe.empty()) {
    std::array<char, 4096> buf{};
    ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    exe = n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string();
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, child_end, kChildFd);
  posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
  std::vector<std::string> args = {exe,        "plugin-host", "--fd", std::to_string(kChildFd),
                                   "--plugin", plugin_path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = exe.empty() ? ENOENT : ::posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(sv[1]);
  if (child_end != sv[1]) ::close(child_end);
  if (rc != 0) {
    ::close(sv[0]);
    failure_ =
        PluginFailure{false, "cannot start the plugin host '" + exe + " plugin-host': " + std::strerror(rc)};
    return false;
  }
  pid_ = pid;
  fd_ = sv[0];
  note_host(pid_, true);
  return true;
}

std::vector<pid_t> live_plugin_host_pids() {
  const std::lock_guard<std::mutex> lock(g_hosts_mutex);
  return {live_hosts().begin(), live_hosts().end()};
}

void IsolatedChannel::reap(bool kill_first) {
  if (pid_ <= 0) return;
  note_host(pid_, false);
  if (kill_first) ::kill(pid_, SIGKILL);
  int status = 0;
  // A child that closed its socket exits at once; one that does not within a second is killed.
  for (int i = 0; i < 100; ++i) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void IsolatedChannel::fail(bool timeout, const std::string& what, const std::string& how) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  failure_ = PluginFailure{
      timeout, "the plugin host of " + label_ + " " + (timeout ? "timed out" : "died") + " during " + what +
                   ": " + how +
                   (what == "loading" ? std::string() : "; its remaining cells are lost (not restarted)")};
}

void IsolatedChannel::shut_down() {
  if (fd_ >= 0) ::close(fd_);  // the child sees EOF and exits
  fd_ = -1;
  reap(false);
}

bool IsolatedChannel::call(ipc::Writer& request, const std::string& what, Reply& reply) {
  auto dead = [&] {
    reply.status = BB_INTERNAL;
    reply.message = failure_ ? failure_->reason : "the plugin host is gone";
    return false;
  };
  if (failure_ || fd_ < 0) return dead();
  if (request.buffer().size() > ipc::kMaxFrame) {  // the child is fine; this call cannot be made
    reply.status = BB_INVALID_ARGUMENT;
    reply.message = what + ": " + std::to_string(request.buffer().size() >> 20) +
                    " MiB of arguments, more than an isolated plugin call carries (2 GiB)";
    return false;
  }
  if (!ipc::send_frame(fd_, request.buffer())) {
    int status = 0;
    const pid_t pid = pid_;
    if (pid > 0 && ::waitpid(pid, &status, 0) == pid) {
      pid_ = -1;
      fail(false, what, wait_status_text(status));
    } else {
      reap(true);
      fail(false, what, "the socket to it broke");
    }
    return dead();
  }
  const auto start = Clock::now();
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, 50);
    if (n < 0 && errno != EINTR) {
      reap(true);
      fail(false, what, std::string("poll failed: ") + std::strerror(errno));
      return dead();
    }
    if (n > 0) break;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (waited > options_.call_timeout_s) {
      reap(true);
      char buf[96];
      std::snprintf(buf, sizeof buf, "no answer after %.1f s (limit %.1f s, --isolate-timeout); killed",
                    waited, options_.call_timeout_s);
      fail(true, what, buf);
      return dead();
    }
    if (const int64_t rss = rss_mib(pid_); memory_limit_mib_ > 0 && rss > memory_limit_mib_) {
      reap(true);
      fail(false, what,
           "its memory grew to " + std::to_string(rss) + " MiB, past the limit of " +
               std::to_string(memory_limit_mib_) + " MiB (--isolate-memory-mib); killed");
      return dead();
    }
  }
  if (!ipc::recv_frame(fd_, reply.frame)) {
    int status = 0;
    pid_t r = -1;
    // EOF: the child is exiting; wait for it (briefly) to learn how it ended.
    for (int i = 0; i < 200 && r != pid_; ++i) {
      r = ::waitpid(pid_, &status, WNOHANG);
      if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (r < 0 && errno != EINTR) break;
    }
    if (r == pid_) {
      pid_ = -1;
      fail(false, what, wait_status_text(status));
    } else {
      reap(true);
      fail(false, what, "it closed the connection (killed)");
    }
    return dead();
  }
  reply.results = ipc::Reader(reply.frame.data(), reply.frame.size());
  try {
    reply.status = reply.results.pod<int32_t>();
    if (reply.status != BB_OK) reply.message = reply.results.str();
  } catch (const ipc::ProtocolError& e) {
    reap(true);
    fail(false, what, e.what());
    return dead();
  }
  // The watchdog looks between polls; a call that grows and answers quickly is caught here.
  if (const int64_t rss = rss_mib(pid_); memory_limit_mib_ > 0 && rss > memory_limit_mib_) {
    reap(true);
    fail(false, what,
         "its memory grew to " + std::to_string(rss) + " MiB, past the limit of " +
             std::to_string(memory_limit_mib_) + " MiB (--isolate-memory-mib); killed");
    return dead();
  }
  if (reply.status == ipc::kFatalStatus) {
    const std::string message = reply.message;
    reap(false);
    fail(false, what, message);
    return dead();
  }
  return true;
}

}  // namespace bb::plugin
