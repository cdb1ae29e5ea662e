// The Ollama stand-in server (tests/ollama_standin/server.mjs) run by a test: started on a free
// loopback port with the given switches, stopped at destruction.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace bb::test {

// Why the stand-in cannot run here ("node is not installed ..."), or nullopt when it can. Runs
// `npm ci` in tests/ollama_standin first when its node_modules is missing (once, under a lock).
std::optional<std::string> standin_unavailable();

class Standin {
 public:
  // args: the server's switches ("--model", "tag=path", "--fail", "500", ...). Throws
  // std::runtime_error with the server's stderr when it does not say "listening" within 60 s.
  explicit Standin(const std::vector<std::string>& args, const std::string& log_dir);
  ~Standin();
  Standin(const Standin&) = delete;
  Standin& operator=(const Standin&) = delete;
  const std::string& url() const { return url_; }  // "http://127.0.0.1:PORT"
  std::string log() const;                         // its stderr so far

 private:
  pid_t pid_ = -1;
  std::string url_, log_path_;
};

// A loopback port nothing listens on (bound, then closed).
int dead_port();

}  // namespace bb::test
