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

void write_all(int fd, std::string_view content, const std::string& path, const std::string& what) {
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      fail(path, "writing " + what, err);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

// PATH is a device or a FIFO (--out /dev/null, --out /dev/stdout, a pipe): written in place, as a
// shell redirection would; renaming a temp file over it would replace the device with a regular file.
void write_in_place(const std::string& path, std::string_view content, bool fifo) {
  // A FIFO opened without O_NONBLOCK blocks until someone reads it; with it, a FIFO nobody reads
  // fails at once (ENXIO), which is the clearer answer.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | (fifo ? O_NONBLOCK : 0));
  if (fd < 0) {
    const int err = errno;
    fail(path, fifo && err == ENXIO ? "a FIFO that nobody reads" : "opening it", err);
  }
  if (fifo) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  try {
    write_all(fd, content, path, "it");
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

}  // namespace

std::string atomic_temp_path(const std::string& path) {
  std::string tmp = path;
  tmp.append(".").append(std::to_string(::getpid())).append(".tmp");
  return tmp;
}

void write_file_atomically(const std::string& given, std::string_view content) {
  if (given.empty()) throw std::runtime_error("cannot write a file with an empty path");
  // What is at the path decides how it is written (issue 14, defect 6): a symlink is followed (the
  // file it names is replaced, the link stays), a directory is refused, a device or FIFO is written
  // in place; only a regular file (or nothing) is replaced by rename.
  std::string path = given;
  std::error_code ec;
  // Links are followed one by one (weakly_canonical would stop at a dangling one and leave the link
  // to be renamed over); 40 is the kernel's own limit.
  for (int hops = 0; std::filesystem::symlink_status(path, ec).type() == std::filesystem::file_type::symlink;
       ++hops) {
    if (hops == 40) fail(given, "resolving the symbolic link", ELOOP);
    std::filesystem::path to = std::filesystem::read_symlink(path, ec);
    if (ec) fail(given, "resolving the symbolic link", ec.value());
    if (to.is_relative()) to = std::filesystem::path(path).parent_path() / to;
    path = to.lexically_normal().string();
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      throw std::runtime_error("cannot write " + given + ": it is a directory; give a file name inside it");
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
      write_in_place(path, content, S_ISFIFO(st.st_mode));
      return;
    }
    if (!S_ISREG(st.st_mode))
      throw std::runtime_error("cannot write " + given +
                               ": it is neither a regular file, a device nor a FIFO");
  }
  const std::filesystem::path target(path);
  const std::filesystem::path dir =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  if (!target.has_parent_path() || !std::filesystem::is_directory(dir)) {
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
  write_all(tmp.fd(), content, path, tmp_path);
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
