#include "ollama_api.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace bb::ollama {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A count or a duration in ns: a non-negative integer. Anything else (negative, not finite, beyond
// int64: ollama_fuzz found 2.3e81 converted with undefined behaviour) is unknown, never a number.
std::optional<int64_t> int_field(const rapidjson::Value& o, const char* key) {
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || !it->value.IsNumber()) return std::nullopt;
  if (it->value.IsInt64()) {
    const int64_t v = it->value.GetInt64();
    return v >= 0 ? std::optional<int64_t>(v) : std::nullopt;
  }
  const double d = it->value.GetDouble();
  if (!(d >= 0 && d < 9.2e18)) return std::nullopt;  // also NaN
  return static_cast<int64_t>(d);
}

void read_counters(const rapidjson::Value& o, GenerateCounters& c) {
  c.eval_count = int_field(o, "eval_count");
  c.eval_duration_ns = int_field(o, "eval_duration");
  c.prompt_eval_count = int_field(o, "prompt_eval_count");
  c.prompt_eval_duration_ns = int_field(o, "prompt_eval_duration");
  c.load_duration_ns = int_field(o, "load_duration");
  c.total_duration_ns = int_field(o, "total_duration");
  auto dr = o.FindMember("done_reason");
  if (dr != o.MemberEnd() && dr->value.IsString()) c.done_reason = dr->value.GetString();
}

// A server's message as a user will read it: all of it (NULs included, by length), control bytes as
// '?', and never empty (ollama_fuzz found an error line whose message began with NUL: it read as "").
std::string message_text(const rapidjson::Value& v) {
  std::string m(v.GetString(), v.GetStringLength());
  for (char& c : m)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return m.empty() ? "(an empty message)" : m;
}

std::string excerpt(const std::string& s) {
  std::string e = s.size() > 80 ? s.substr(0, 77) + "..." : s;
  for (char& c : e)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return e;
}

// Words that are one token each (with their leading space) in GPT-2-style BPE vocabularies
// (Qwen2, Llama 3, ...): a prompt of n ids becomes about n tokens.
constexpr const char* kWords[] = {
    " the",   " of",    " and",   " to",    " in",    " is",   " that",  " for",  " it",    " as",   " with",
    " was",   " on",    " be",    " at",    " by",    " this", " had",   " not",  " are",   " but",  " from",
    " or",    " have",  " an",    " they",  " which", " one",  " you",   " were", " her",   " all",  " she",
    " there", " would", " their", " we",    " him",   " been", " has",   " when", " who",   " will", " more",
    " no",    " if",    " out",   " so",    " said",  " what", " up",    " its",  " about", " into", " than",
    " them",  " can",   " only",  " other", " new",   " some", " could", " time", " these", " two",  " may"};
constexpr int32_t kNumWords = static_cast<int32_t>(sizeof(kWords) / sizeof(kWords[0]));

}  // namespace

std::string base_url_from_host(const std::string& text) {
  std::string s = text;
  s.erase(0, s.find_first_not_of(" \t\r\n"));
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  std::string scheme = "http", port = "11434", rest = s;
  if (const size_t sep = s.find("://"); sep != std::string::npos) {
    scheme = lower(s.substr(0, sep));
    rest = s.substr(sep + 3);
    port = scheme == "https" ? "443" : "80";
  }
  std::string path;
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash);
    rest.resize(slash);
    while (!path.empty() && path.back() == '/') path.pop_back();
  }
  std::string host = rest;
  if (!rest.empty() && rest.front() == '[') {  // [v6]:port
    const size_t close = rest.find(']');
    host = rest.substr(0, close == std::string::npos ? rest.size() : close + 1);
    if (close != std::string::npos && close + 1 < rest.size() && rest[close + 1] == ':')
      port = rest.substr(close + 2);
  } else if (const size_t colon = rest.rfind(':'); colon != std::string::npos && rest.find(':') == colon) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) host = "127.0.0.1";
  return scheme + "://" + host + ":" + port + path;
}

std::string prompt_text(const int32_t* ids, int32_t n, PromptFormat format) {
  std::string s;
  for (int32_t i = 0; i < n; ++i) {
    if (format == PromptFormat::kIds) {
      if (i) s.push_back(' ');
      s.append(std::to_string(ids[i]));
    } else {
      const int32_t id = ids[i] < 0 ? -ids[i] : ids[i];
      s.append(kWords[id % kNumWords]);
    }
  }
  return s;
}

std::vector<int32_t> ids_from_text(const std::string& text) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    const std::string piece = text.substr(i, j - i);
    char* end = nullptr;
    const long v = std::strtol(piece.c_str(), &end, 10);
    out.push_back(end && *end == '\0' && v >= 0 && v <= INT32_MAX ? static_cast<int32_t>(v) : -1);
    i = j;
  }
  return out;
}

bool GenerateStream::feed(const char* data, size_t n, std::chrono::steady_clock::time_point at) {
  pending_.append(data, n);
  size_t start = 0;
  for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (!line(pending_.substr(start, nl - start), at)) {
      pending_.clear();
      return false;
    }
  }
  pending_.erase(0, start);
  if (pending_.size() > kMaxLineBytes) {
    ++lines_;
    error_ = "line " + std::to_string(lines_) + " of the stream is longer than " +
             std::to_string(kMaxLineBytes >> 20) + " MiB without a newline; abandoned";
    pending_.clear();
    pending_.shrink_to_fit();
    return false;
  }
  return true;
}

bool GenerateStream::finish(std::chrono::steady_clock::time_point at) {
  if (pending_.find_first_not_of(" \t\r") == std::string::npos) return true;
  std::string l;
  l.swap(pending_);
  return line(l, at);
}

bool GenerateStream::line(const std::string& l, std::chrono::steady_clock::time_point at) {
  if (l.find_first_not_of(" \t\r") == std::string::npos) return true;  // blank lines are not lines
  ++lines_;
  if (done_) {
    error_ = "line " + std::to_string(lines_) + " arrived after the done:true line: '" + excerpt(l) + "'";
    return false;
  }
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(l.data(), l.size());
  if (d.HasParseError() || !d.IsObject()) {
    error_ = "line " + std::to_string(lines_) + " of the stream is not a JSON object (" +
             (d.HasParseError() ? std::string(rapidjson::GetParseError_En(d.GetParseError())) +
                                      " at offset " + std::to_string(d.GetErrorOffset())
                                : std::string("not an object")) +
             "): '" + excerpt(l) + "'";
    return false;
  }
  if (auto e = d.FindMember("error"); e != d.MemberEnd()) {
    server_error_ = true;
    error_ = e->value.IsString() ? message_text(e->value) : "an error line without a message";
    return false;
  }
  if (auto r = d.FindMember("response"); r != d.MemberEnd() && r->value.IsString()) {
    const std::string piece(r->value.GetString(), r->value.GetStringLength());
    text_ += piece;
    auto dn = d.FindMember("done");
    const bool is_done = dn != d.MemberEnd() && dn->value.IsBool() && dn->value.GetBool();
    if (!piece.empty() && !is_done) token_times_.push_back(at);
  }
  auto dn = d.FindMember("done");
  if (dn == d.MemberEnd() || !dn->value.IsBool()) {
    error_ = "line " + std::to_string(lines_) + " of the stream has no boolean 'done': '" + excerpt(l) + "'";
    return false;
  }
  if (dn->value.GetBool()) {
    done_ = true;
    read_counters(d, counters_);
  }
  return true;
}

GenerateCounters counters_of(const std::string& json) {
  GenerateCounters c;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (!d.HasParseError() && d.IsObject()) read_counters(d, c);
  return c;
}

std::optional<std::string> error_of_body(const std::string& body) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) return std::nullopt;
  auto e = d.FindMember("error");
  if (e == d.MemberEnd() || !e->value.IsString()) return std::nullopt;
  return message_text(e->value);
}

std::optional<double> gap_percentile_ns(const std::vector<std::chrono::steady_clock::time_point>& times,
                                        double p) {
  if (times.size() < 2) return std::nullopt;
  std::vector<double> gaps;
  for (size_t i = 1; i < times.size(); ++i)
    gaps.push_back(std::chrono::duration<double, std::nano>(times[i] - times[i - 1]).count());
  std::sort(gaps.begin(), gaps.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(gaps.size()));
  const size_t idx = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(gaps.size()))) - 1;
  return gaps[idx];
}

}  // namespace bb::ollama
