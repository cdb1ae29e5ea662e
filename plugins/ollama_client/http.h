// HTTP for ollama_client: blocking libcurl requests with the three timeouts a streaming benchmark
// needs (connect, first byte, stall between bytes) and the host's cancel flag, each failure turned
// into words a user can act on.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace bb::ollama {

struct HttpTimeouts {
  double connect_s = 5;       // TCP (and TLS) connect
  double first_byte_s = 300;  // request sent -> first byte of the response (model load + prefill)
  double stall_s = 60;        // no byte for this long after the first one
};

// Why a request ended without a complete response.
enum class HttpFailure {
  kNone,
  kConnect,    // nothing listening / unreachable / DNS
  kFirstByte,  // no response within first_byte_s
  kStall,      // the response stopped for stall_s
  kDropped,    // the peer closed the connection before the response was complete
  kAborted,    // the body callback asked to stop (a bad line, an error line)
  kCancelled,  // the host's cancel flag
  kTooLarge,   // a collected body grew past kMaxBodyBytes
  kOther,
};

struct HttpResponse {
  long status = 0;   // HTTP status; 0 when none arrived
  std::string body;  // collected unless a body callback consumed it
  HttpFailure failure = HttpFailure::kNone;
  std::string error;   // libcurl's words for the failure
  double seconds = 0;  // wall time of the whole request
};

// The most a response body collected into HttpResponse::body may hold: no answer of Ollama's API
// comes near it (a /api/tags of hundreds of models is kilobytes), and a server that sends more is
// cut off rather than buffered (issue 14, defect 12: a 3 GB body added 2.4 GB of RSS).
inline constexpr size_t kMaxBodyBytes = size_t{64} << 20;

// Called with each piece of the body as it arrives (with the time it arrived); return false to abort.
using BodySink = std::function<bool(const char* data, size_t n, std::chrono::steady_clock::time_point at)>;

class HttpClient {
 public:
  explicit HttpClient(const volatile int32_t* cancel_flag = nullptr);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET (json_body empty) or POST of JSON. With a sink the body goes to it (not to .body).
  // *sent, when given, is set to the moment the request was handed to libcurl.
  HttpResponse request(const std::string& method, const std::string& url, const std::string& json_body,
                       const HttpTimeouts& timeouts, const BodySink& sink = {},
                       std::chrono::steady_clock::time_point* sent = nullptr);

 private:
  void* curl_ = nullptr;  // CURL*, reused so the connection is kept alive between requests
  const volatile int32_t* cancel_flag_;
};

// "connection refused", "no data for 1.0 s after the first byte (stall timeout)", ...: for messages.
std::string describe_failure(const HttpResponse& r, const HttpTimeouts& t);

}  // namespace bb::ollama
