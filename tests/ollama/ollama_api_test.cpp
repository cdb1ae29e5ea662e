// ollama_client's parsers of Ollama's answers (plugins/ollama_client/ollama_api.h), without a server.
#include "ollama_api.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace bb::ollama {
namespace {

// Found by ollama_fuzz (fuzz/regressions/ollama/double-beyond-int64): a count of 2.3e81 was cast
// to int64 with undefined behaviour. Counts and durations that are no non-negative int64 are unknown.
TEST(OllamaApi, CountsThatAreNoNonNegativeIntegersAreUnknown) {
  const auto c = counters_of(
      R"({"done":true,"eval_count":2.345e81,"eval_duration":-5,"prompt_eval_count":7,)"
      R"("prompt_eval_duration":1.5e3,"load_duration":-1e300,"total_duration":9223372036854775807})");
  EXPECT_FALSE(c.eval_count.has_value());
  EXPECT_FALSE(c.eval_duration_ns.has_value());
  EXPECT_EQ(c.prompt_eval_count, 7);
  EXPECT_EQ(c.prompt_eval_duration_ns, 1500);
  EXPECT_FALSE(c.load_duration_ns.has_value());
  EXPECT_EQ(c.total_duration_ns, 9223372036854775807);
}

// Found by ollama_fuzz (fuzz/regressions/ollama/error-message-starting-with-nul): an error line whose
// message began with NUL was refused with an empty reason.
TEST(OllamaApi, AnErrorMessageIsKeptWholeAndPrintable) {
  GenerateStream s;
  const std::string line = std::string(R"({"error":"\u0000bad\u001b[2J thing"})") + "\n";
  EXPECT_FALSE(s.feed(line.data(), line.size(), std::chrono::steady_clock::now()));
  EXPECT_TRUE(s.server_error());
  EXPECT_EQ(s.error(), "?bad?[2J thing");
  EXPECT_EQ(error_of_body(R"({"error":""})"), "(an empty message)");
}

TEST(OllamaApi, AStreamLineLongerThanTheLimitIsRefusedWithWhy) {
  GenerateStream s;
  const auto t = std::chrono::steady_clock::now();
  const std::string piece(64 << 10, 'x');
  bool ok = true;
  for (size_t sent = 0; ok && sent <= GenerateStream::kMaxLineBytes; sent += piece.size())
    ok = s.feed(piece.data(), piece.size(), t);
  EXPECT_FALSE(ok);
  EXPECT_NE(s.error().find("longer than 1 MiB without a newline"), std::string::npos) << s.error();
}

}  // namespace
}  // namespace bb::ollama
