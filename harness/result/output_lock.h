// Two `bench run`s given one --out both rewrote it as their cells finished: the last writer won and
// neither said so (issue 14, defect 17). A run holds the lock of its result file from start to end;
// a second run on the same path is refused up front, naming the first one's pid.
//
// The lock is a hidden file beside the result, `.NAME.lock`, locked with flock(2) (so a run that is
// killed leaves no stale lock: the kernel drops it) and removed when the run ends. A path that is
// not a regular file (/dev/null, a FIFO) or whose directory does not exist yet, or where the lock
// file cannot be made, is not locked: those are written as before (write_file_atomically).
#pragma once

#include <stdexcept>
#include <string>

namespace bb::report {

struct OutputBusy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class OutputLock {
 public:
  // Throws OutputBusy when another process holds the lock of `path`.
  explicit OutputLock(const std::string& path);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  bool held() const { return fd_ >= 0; }
  const std::string& lock_path() const { return lock_path_; }  // "" when not locked

 private:
  int fd_ = -1;
  std::string lock_path_;
};

}  // namespace bb::report
