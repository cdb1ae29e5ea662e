#include "cli/exit_guard.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <mutex>

#include "cli/commands.h"

namespace bb::cli {
namespace {

std::atomic<bool> g_armed{false};
std::string g_message;  // written only while not armed

extern "C" void on_exit_while_armed() {
  if (!g_armed.exchange(false)) return;
  const std::string line = g_message + "\n";
  // write(2): the streams may be mid-use by the thread that called exit().
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  ::_exit(kExitInternal);
}

std::string g_bus_message;  // written only while no BusErrorGuard lives
struct sigaction g_old_bus {};

extern "C" void on_bus_error(int) {
  // write(2) and _exit(2) only: async-signal-safe.
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, g_bus_message.data(), g_bus_message.size());
  ::_exit(kExitInternal);
}

}  // namespace

BusErrorGuard::BusErrorGuard(std::string message) {
  g_bus_message = std::move(message) + "\n";
  struct sigaction sa {};
  sa.sa_handler = on_bus_error;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, &g_old_bus);
}

BusErrorGuard::~BusErrorGuard() { ::sigaction(SIGBUS, &g_old_bus, nullptr); }

ExitGuard::ExitGuard(std::string message) {
  static std::once_flag registered;
  std::call_once(registered, [] { std::atexit(on_exit_while_armed); });
  g_message = std::move(message);
  g_armed = true;
}

ExitGuard::~ExitGuard() { g_armed = false; }

}  // namespace bb::cli
