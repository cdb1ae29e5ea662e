// Ollama's REST API as ollama_client uses it (docs.ollama.com/api, the API of Ollama v0.12): where
// the server is, the prompt text sent for token ids, and the NDJSON stream of POST /api/generate read
// line by line. No I/O here, so the protocol's corner cases are testable without a server.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bb::ollama {

// The server's base URL ("http://127.0.0.1:11434", no trailing slash) from an OLLAMA_HOST-style text,
// read the way Ollama reads OLLAMA_HOST: "host", "host:port", "scheme://host[:port][/path]";
// scheme http by default; port 11434 without a scheme, else the scheme's (80, 443).
std::string base_url_from_host(const std::string& text);
inline constexpr const char* kDefaultHost = "http://127.0.0.1:11434";

// How token ids become prompt text.
//   kIds:   "17 4096 33" (each id in decimal, space-separated): the stand-in server's documented mapping
//           for models without a tokenizer (tests/ollama_standin), exact.
//   kWords: one common English word per id (" the", " of", ...), each a single token in the BPE
//           vocabularies of real models, so a prompt of n ids is about n tokens; the server reports
//           the real count (prompt_eval_count).
enum class PromptFormat { kIds, kWords };
std::string prompt_text(const int32_t* ids, int32_t n, PromptFormat format);
// Token ids back from a kIds response ("  17 4096"); -1 where a piece is not an id.
std::vector<int32_t> ids_from_text(const std::string& text);

// The final line of a stream (done: true), or a non-streamed response. Absent fields stay nullopt.
struct GenerateCounters {
  std::optional<int64_t> eval_count, eval_duration_ns, prompt_eval_count, prompt_eval_duration_ns;
  std::optional<int64_t> load_duration_ns, total_duration_ns;
  std::string done_reason;
};

// Reads a /api/generate stream as it arrives. feed() returns false at the first line that ends the
// stream badly: an {"error": ...} line, a line that is not a JSON object; error() says what and where.
class GenerateStream {
 public:
  // The longest line a stream may send: a token's line is about 100 bytes; a server that sends more
  // without a newline is abandoned, not buffered.
  static constexpr size_t kMaxLineBytes = size_t{1} << 20;
  bool feed(const char* data, size_t n, std::chrono::steady_clock::time_point at);
  // Call when the transfer ended: a last line without a newline is parsed; false if it is bad.
  bool finish(std::chrono::steady_clock::time_point at);
  bool done() const { return done_; }  // the done:true line arrived
  const GenerateCounters& counters() const { return counters_; }
  const std::string& text() const { return text_; }  // the response pieces, concatenated
  // Arrival time of each done:false line with a non-empty response (one per token: Ollama streams a
  // line per generated token).
  const std::vector<std::chrono::steady_clock::time_point>& token_times() const { return token_times_; }
  int64_t lines() const { return lines_; }
  const std::string& error() const { return error_; }
  bool server_error() const { return server_error_; }  // the error is the server's {"error": ...} line

 private:
  bool line(const std::string& l, std::chrono::steady_clock::time_point at);
  std::string pending_;
  bool done_ = false;
  GenerateCounters counters_;
  std::string text_;
  std::vector<std::chrono::steady_clock::time_point> token_times_;
  int64_t lines_ = 0;
  std::string error_;
  bool server_error_ = false;
};

// Parses a (non-streamed) response: the counters of a generate, and "error" of an error body.
GenerateCounters counters_of(const std::string& json);
// The "error" of an {"error": "..."} body; nullopt when the body is not one (then it is quoted raw).
std::optional<std::string> error_of_body(const std::string& body);

// p-th percentile (0..100) of the gaps between consecutive times, in ns (nearest rank); nullopt < 2 times.
std::optional<double> gap_percentile_ns(const std::vector<std::chrono::steady_clock::time_point>& times,
                                        double p);

}  // namespace bb::ollama
