// libFuzzer target: the result-file reader (result/result_json.h) on arbitrary bytes, as `bench diff`,
// `report` and `export` meet a damaged or hostile file. Contract under test: any input either parses
// or throws std::runtime_error naming the source (a crash, a stack overflow on deep nesting, or any
// other exception type escaping would reach `bench` as a signal or an internal error, exit 3). A
// parsed result must serialize again (result_json) and that text must parse back. scripts/fuzz.sh
// runs it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "result/result_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bb::report::RunResult r;
  try {
    r = bb::report::parse_result_json(text, "fuzz.json");
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).rfind("fuzz.json", 0) != 0) {
      std::fprintf(stderr, "result_json_fuzz: an error that does not name the file: %s\n", e.what());
      std::abort();
    }
    return 0;  // the documented outcome for a bad file
  } catch (const std::exception& e) {
    std::fprintf(stderr, "result_json_fuzz: an exception other than runtime_error escaped: %s\n", e.what());
    std::abort();
  }
  try {
    (void)bb::report::parse_result_json(bb::report::result_json(r), "again.json");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "result_json_fuzz: a parsed result did not survive write + read: %s\n", e.what());
    std::abort();
  }
  return 0;
}
