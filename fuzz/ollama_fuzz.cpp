// libFuzzer target: ollama_client's parsers of what an Ollama server sends (plugins/ollama_client/
// ollama_api.h): the NDJSON stream of /api/generate fed in pieces as the network delivers them, a
// non-streamed body, an {"error": ...} body, and the text -> token-id mapping. Contract under test:
// no crash, no exception (the plugin turns every bad answer into an error message, never a dead
// `bench run`), and a stream that says done has consistent counters. The first input byte chooses
// where the stream is cut into pieces. scripts/fuzz.sh runs it.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "ollama_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;  // 1..64 bytes a piece
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    bb::ollama::GenerateStream stream;
    const auto t0 = std::chrono::steady_clock::now();
    bool ok = true;
    for (size_t at = 0; ok && at < text.size(); at += piece)
      ok = stream.feed(text.data() + at, std::min(piece, text.size() - at), t0);
    if (ok) ok = stream.finish(t0);
    if (!ok && stream.error().empty()) {
      std::fprintf(stderr, "ollama_fuzz: the stream was refused without a reason\n");
      std::abort();
    }
    (void)stream.text();
    (void)bb::ollama::gap_percentile_ns(stream.token_times(), 50);
    (void)bb::ollama::counters_of(text);
    (void)bb::ollama::error_of_body(text);
    (void)bb::ollama::ids_from_text(text);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ollama_fuzz: an exception escaped: %s\n", e.what());
    std::abort();
  }
  return 0;
}
