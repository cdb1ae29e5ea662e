#include "io/input_file.h"

#include <sys/stat.h>

namespace bb::io {

std::optional<std::string> not_a_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  if (S_ISREG(st.st_mode)) return std::nullopt;
  if (S_ISDIR(st.st_mode)) return "is a directory, not a file";
  if (S_ISFIFO(st.st_mode)) return "is a FIFO (named pipe), not a file; reading it would wait for a writer";
  if (S_ISCHR(st.st_mode)) return "is a character device, not a file";
  if (S_ISBLK(st.st_mode)) return "is a block device, not a file";
  if (S_ISSOCK(st.st_mode)) return "is a socket, not a file";
  return "is not a regular file";
}

}  // namespace bb::io
