#include "standin.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace bb::test {
namespace fs = std::filesystem;

namespace {

const std::string kStandinDir = BRICKBENCH_STANDIN_DIR;  // tests/ollama_standin
const std::string kNode = BRICKBENCH_NODE;               // "" when CMake found none
const std::string kNpm = BRICKBENCH_NPM;

bool runs(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

}  // namespace

std::optional<std::string> standin_unavailable() {
  if (kNode.empty() || !runs("'" + kNode + "' --version"))
    return "node (Node.js >= 20) is not installed, so the Ollama stand-in server cannot run; install nodejs "
           "and "
           "npm (scripts/install-deps.sh) to run these tests";
  const fs::path marker = fs::path(kStandinDir) / "node_modules" / "node-llama-cpp" / "package.json";
  if (fs::exists(marker)) return std::nullopt;
  // One `npm ci` at a time: ctest runs these tests in parallel.
  const std::string lock = (fs::temp_directory_path() / "brickbench-standin-npm-ci.lock").string();
  int fd = open(lock.c_str(), O_CREAT | O_RDWR, 0644);
  if (fd >= 0) flock(fd, LOCK_EX);
  std::optional<std::string> why;
  if (!fs::exists(marker)) {
    if (kNpm.empty()) {
      why = "npm is not installed, and tests/ollama_standin/node_modules is missing (run `npm ci` there)";
    } else {
      const std::string cmd =
          "cd '" + kStandinDir + "' && '" + kNpm + "' ci --ignore-scripts --no-audit --no-fund";
      if (std::system((cmd + " >&2").c_str()) != 0 || !fs::exists(marker))
        throw std::runtime_error("`npm ci` in " + kStandinDir +
                                 " failed (see above): the stand-in's dependencies "
                                 "(node-llama-cpp, from package-lock.json) could not be installed");
    }
  }
  if (fd >= 0) {
    flock(fd, LOCK_UN);
    close(fd);
  }
  return why;
}

Standin::Standin(const std::vector<std::string>& args, const std::string& log_dir) {
  static int counter = 0;
  log_path_ =
      (fs::path(log_dir) / ("standin-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".log"))
          .string();
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(out[1], 1);
    int err = open(log_path_.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (err >= 0) dup2(err, 2);
    close(out[0]);
    std::vector<std::string> argv_s = {kNode, kStandinDir + "/server.mjs", "--port", "0"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kNode.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 200) > 0) {
      char buf[256];
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
      const size_t at = got.find("listening on ");
      const size_t nl = at == std::string::npos ? std::string::npos : got.find('\n', at);
      if (nl != std::string::npos) {
        url_ = got.substr(at + 13, nl - at - 13);
        break;
      }
    }
  }
  close(out[0]);
  if (url_.empty()) {
    const std::string why = log();
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw std::runtime_error("the Ollama stand-in did not start within 60 s; its stderr:\n" + why);
  }
}

Standin::~Standin() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 40; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

std::string Standin::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int dead_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

}  // namespace bb::test
