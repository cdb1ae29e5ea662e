#include "result/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace bb::report {
namespace fs = std::filesystem;

OutputLock::OutputLock(const std::string& path) {
  std::error_code ec;
  const fs::path target = fs::weakly_canonical(fs::path(path), ec);  // a symlink's target is what is written
  if (ec) return;
  const auto status = fs::status(target, ec);
  if (fs::exists(status) && !fs::is_regular_file(status)) return;
  if (!fs::is_directory(target.parent_path(), ec)) return;
  std::string name = target.filename().string();
  name.insert(name.begin(), '.');  // not "." + name: GCC 12's -Wrestrict misfires on that
  name.append(".lock");
  const std::string lock = (target.parent_path() / name).string();
  // Locked, then checked to be still the file at that name: a run that ended unlinks its lock file,
  // and a run that opened it just before must not hold a lock nobody else can see.
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;  // a directory we may not write: the result write will say so
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      [[maybe_unused]] const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      std::string pid = buf;
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      throw OutputBusy("another bench run" + (pid.empty() ? std::string() : " (pid " + pid + ")") +
                       " is writing " + target.string() + " (it holds " + lock +
                       "); wait for it to end, or give this run another --out");
    }
    struct stat by_fd = {};
    struct stat by_name = {};
    if (::fstat(fd, &by_fd) == 0 && ::stat(lock.c_str(), &by_name) == 0 && by_fd.st_ino == by_name.st_ino &&
        by_fd.st_dev == by_name.st_dev) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) == 0) {
        [[maybe_unused]] const ssize_t n = ::pwrite(fd, pid.data(), pid.size(), 0);
      }
      fd_ = fd;
      lock_path_ = lock;
      return;
    }
    ::close(fd);  // unlinked under us by a run that just ended: take the new one
  }
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // while still holding it, so no one can take the unlinked file
  ::close(fd_);
}

}  // namespace bb::report
