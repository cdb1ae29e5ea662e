// Atomic file replacement: temp file + fsync + rename + directory fsync.
#include "result/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace bb::report {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& step, int err) {
  std::string msg = "cannot write ";
  msg.append(path).append(": ").append(step).append(": ").append(std::strerror(err));
  throw std::runtime_error(msg);
}

// Closes and unlinks the temp file unless released: every early exit cleans up after itself.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!released_) ::unlink(path_.c_str());
  }
  int& fd() { return fd_; }
  void release() { released_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool released_ = false;
};

}  // namespace

std::string atomic_temp_path(const std::string& path) {
  std::string tmp = path;
  tmp.append(".").append(std::to_string(::getpid())).append(".tmp");
  return tmp;
}

void write_file_atomically(const std::string& path, std::string_view content) {
  if (path.empty()) throw std::runtime_error("cannot write a file with an empty path");
  const std::filesystem::path target(path);
  const std::filesystem::path dir =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  if (!target.has_parent_path() || !std::filesystem::is_directory(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) fail(path, "creating its directory", ec.value());
  }

  const std::string tmp_path = atomic_temp_path(path);
  TempFile tmp(tmp_path);
  tmp.fd() = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (tmp.fd() < 0) {
    const int err = errno;
    tmp.release();  // nothing was created
    fail(path, "creating " + tmp_path, err);
  }
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(tmp.fd(), p, left);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      fail(path, "writing " + tmp_path, err);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(tmp.fd()) != 0) {
    const int err = errno;
    fail(path, "fsync of " + tmp_path, err);
  }
  const int fd = tmp.fd();
  tmp.fd() = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    fail(path, "closing " + tmp_path, err);
  }
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    const int err = errno;
    fail(path, "renaming " + tmp_path + " over it", err);
  }
  tmp.release();

  // Make the rename itself durable. Failure here is not worth failing the write: the data is on disk.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace bb::report
