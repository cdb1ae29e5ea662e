#include "http.h"

#include <curl/curl.h>

#include <cstdio>
#include <stdexcept>

namespace bb::ollama {
namespace {

using Clock = std::chrono::steady_clock;

// curl_global_init/cleanup once per load of the plugin (its static storage lives exactly as long).
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

struct Transfer {
  const BodySink* sink = nullptr;
  std::string* body = nullptr;
  HttpTimeouts timeouts;
  Clock::time_point start, last_byte;
  bool got_byte = false;
  bool aborted_by_sink = false;
  bool too_large = false;
  HttpFailure timeout = HttpFailure::kNone;
  bool cancelled = false;
  const volatile int32_t* cancel_flag = nullptr;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  const auto now = Clock::now();
  t->got_byte = true;
  t->last_byte = now;
  if (t->sink && *t->sink) {
    if (!(*t->sink)(data, bytes, now)) {
      t->aborted_by_sink = true;
      return 0;  // CURLE_WRITE_ERROR
    }
  } else if (t->body) {
    if (t->body->size() + bytes > kMaxBodyBytes) {
      t->too_large = true;
      return 0;  // CURLE_WRITE_ERROR
    }
    t->body->append(data, bytes);
  }
  return bytes;
}

size_t on_header(char*, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->got_byte = true;
  t->last_byte = Clock::now();
  return size * n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel_flag && *t->cancel_flag) {
    t->cancelled = true;
    return 1;
  }
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - (t->got_byte ? t->last_byte : t->start)).count();
  if (!t->got_byte && t->timeouts.first_byte_s > 0 && since > t->timeouts.first_byte_s) {
    t->timeout = HttpFailure::kFirstByte;
    return 1;
  }
  if (t->got_byte && t->timeouts.stall_s > 0 && since > t->timeouts.stall_s) {
    t->timeout = HttpFailure::kStall;
    return 1;
  }
  return 0;
}

std::string fmt_s(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g s", s);
  return b;
}

}  // namespace

HttpClient::HttpClient(const volatile int32_t* cancel_flag) : cancel_flag_(cancel_flag) {
  static CurlGlobal global;
  curl_ = curl_easy_init();
  if (!curl_) throw std::runtime_error("libcurl: curl_easy_init failed");
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpClient::request(const std::string& method, const std::string& url,
                                 const std::string& json_body, const HttpTimeouts& timeouts,
                                 const BodySink& sink, Clock::time_point* sent) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  HttpResponse r;
  Transfer t;
  t.sink = &sink;
  t.body = &r.body;
  t.timeouts = timeouts;
  t.cancel_flag = cancel_flag_;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: application/json, application/x-ndjson");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "brickbench-ollama_client");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts.connect_s * 1000));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }
  t.start = Clock::now();
  if (sent) *sent = t.start;
  const CURLcode rc = curl_easy_perform(c);
  r.seconds = std::chrono::duration<double>(Clock::now() - t.start).count();
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  if (rc == CURLE_OK) return r;
  r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  if (t.cancelled) {
    r.failure = HttpFailure::kCancelled;
  } else if (t.timeout != HttpFailure::kNone) {
    r.failure = t.timeout;
  } else if (t.too_large) {
    r.failure = HttpFailure::kTooLarge;
    r.body.clear();
    r.body.shrink_to_fit();
  } else if (t.aborted_by_sink) {
    r.failure = HttpFailure::kAborted;
  } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
             rc == CURLE_COULDNT_RESOLVE_PROXY || (rc == CURLE_OPERATION_TIMEDOUT && !t.got_byte)) {
    r.failure = t.got_byte ? HttpFailure::kFirstByte : HttpFailure::kConnect;
  } else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
             rc == CURLE_SEND_ERROR || rc == CURLE_HTTP2_STREAM) {
    r.failure = HttpFailure::kDropped;
  } else {
    r.failure = HttpFailure::kOther;
  }
  return r;
}

std::string describe_failure(const HttpResponse& r, const HttpTimeouts& t) {
  switch (r.failure) {
    case HttpFailure::kNone:
      return "no failure";
    case HttpFailure::kConnect:
      return "nothing answered (" + r.error + ")";
    case HttpFailure::kFirstByte:
      return "no response within " + fmt_s(t.first_byte_s) +
             " (first_byte_timeout_s); the server is stuck or "
             "still loading";
    case HttpFailure::kStall:
      return "the response stalled: no data for " + fmt_s(t.stall_s) + " (stall_timeout_s)";
    case HttpFailure::kDropped:
      return "the connection was dropped before the response was complete (" + r.error + ")";
    case HttpFailure::kAborted:
      return "the response was abandoned (" + r.error + ")";
    case HttpFailure::kCancelled:
      return "cancelled by the host";
    case HttpFailure::kTooLarge:
      return "the response was larger than " + std::to_string(kMaxBodyBytes >> 20) +
             " MiB and was abandoned; that is no answer of Ollama's API";
    case HttpFailure::kOther:
      return r.error;
  }
  return r.error;
}

}  // namespace bb::ollama
