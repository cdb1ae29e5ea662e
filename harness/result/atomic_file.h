// Replacing a file so that a reader (or a crash, or Ctrl-C) sees either the old content or the new,
// never a torn mix: write PATH.<pid>.tmp in the same directory, fsync it, rename it over PATH, fsync
// the directory. The rename is atomic because both names are on one file system.
#pragma once

#include <string>
#include <string_view>

namespace bb::report {

// Writes content to path atomically, creating missing parent directories. On failure throws
// std::runtime_error naming the path, the step and the OS error; the temporary file is removed and
// an existing file at path is left as it was. A symbolic link is followed (its target is replaced,
// the link stays); a device or FIFO (/dev/null, a pipe) is written in place, not atomically; a
// directory is refused.
void write_file_atomically(const std::string& path, std::string_view content);

// The temporary name write_file_atomically uses for path in this process: "PATH.<pid>.tmp".
std::string atomic_temp_path(const std::string& path);

}  // namespace bb::report
