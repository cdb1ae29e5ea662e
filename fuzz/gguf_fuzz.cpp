// libFuzzer target: the GGUF reader and the Qwen2 model loader on arbitrary bytes.
// Contract under test (gguf.h): any input either parses or throws GgufError; nothing else escapes,
// and no read leaves the buffer (the input is libFuzzer's exact-size heap copy, so ASan sees a
// one-byte over-read, which an mmap of the same bytes would hide). scripts/fuzz.sh runs it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "model/gguf.h"
#include "model/qwen2_model.h"

namespace {

// Touches everything a caller of a parsed file reads, so a value the parser let through that a
// consumer cannot handle shows up here too.
void exercise(const bb::model::GgufFile& f) {
  for (const auto& [key, value] : f.metadata()) {
    (void)value.to_string();
    (void)f.get_int_opt(key);
    (void)f.get_float_opt(key);
    (void)f.get_string_opt(key);
    (void)f.get_bool_opt(key);
  }
  uint64_t checksum = 0;
  for (const auto& t : f.tensors()) {
    (void)t.n_elements();
    if (f.find_tensor(t.name) == nullptr) std::abort();
    // The reader promises [data, data + nbytes) lies inside the file: read its first and last byte.
    if (t.nbytes > 0 && t.data != nullptr) checksum += t.data[0] + t.data[t.nbytes - 1];
  }
  volatile uint64_t sink = checksum;
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto file = bb::model::GgufFile::from_memory(data, size, "fuzz.gguf");
    exercise(*file);
    auto model = bb::model::load_qwen2(file);
    (void)model.describe();
  } catch (const bb::model::GgufError&) {
    // the documented outcome for a malformed file
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gguf_fuzz: an exception other than GgufError escaped: %s\n", e.what());
    std::abort();
  }
  return 0;
}
