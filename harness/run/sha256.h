// SHA-256 (FIPS 180-4) of files: models and plugins are identified by content in every result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace bb::run {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex_digest();  // finishes; the object is spent afterwards

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const void* data, size_t n);
// Throws std::runtime_error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);
// The same, remembered in PATH.sha256 next to the file (keyed by size and mtime) when that
// directory is writable, so multi-GB synthetic models are hashed once.
std::string sha256_file_cached(const std::string& path);

}  // namespace bb::run
