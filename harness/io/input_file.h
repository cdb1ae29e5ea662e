// What may be read as an input file. Opening a FIFO blocks until someone writes it, /dev/zero never
// ends, and a directory opens but reads nothing: `bench inspect`, `generate`, `diff` and `export` hung
// on a FIFO, and `bench run` called a FIFO, a directory or /dev/zero "no such file" (issue 14,
// defect 14). Every reader of a user's file asks here first.
#pragma once

#include <optional>
#include <string>

namespace bb::io {

// Why `path` is no input file: "is a directory", "is a FIFO (named pipe)", "is a character device",
// ... (symbolic links followed); nullopt when it is a regular file or does not exist (the caller's
// open then says that in its own words).
std::optional<std::string> not_a_regular_file(const std::string& path);

}  // namespace bb::io
