// ollama_client: the `generate` brick measured through Ollama's HTTP API, so every backend can be set
// beside what users already run. One context = one server (its /api/version answered), one session =
// one model on it (found with /api/show, loaded by an empty /api/generate), one session_generate = one
// streamed POST /api/generate with raw: true. The time it reports as device time is the server's own
// eval_duration; the rest of what the server says, and the stream's timing seen from here (time to
// first token, gaps between tokens), goes out through session_get_metrics (ABI 1.1).
//
// Context options (bb_context_args.options; the config's backend_options.ollama_client):
//   host                  server URL or host[:port] (else $OLLAMA_HOST, else http://127.0.0.1:11434)
//   model                 the tag to ask for (else "model.ollama", which the host passes from the config)
//   connect_timeout_s     5      TCP connect
//   first_byte_timeout_s  300    request -> first byte (model load and prefill happen here)
//   stall_timeout_s       60     longest silence between bytes once the response started
//   keep_alive            30m    Ollama's keep_alive for every request (the model stays loaded)
//   num_ctx               the session's context rounded up to 256, at least 2048
//   seed                  42     options.seed (temperature is always 0: greedy)
//   num_thread            (unset) options.num_thread, when given
//   prompt_format         auto   ids | words | auto (ids when /api/show names no tokenizer)
//   vary_prompt           true   replace the first prompt token per request so the server's prompt
//                                cache cannot serve the prefill (every request measures a full prefill)
#include <curl/curl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../common/plugin_glue.h"
#include "brickbench/brick_abi.h"
#include "http.h"
#include "ollama_api.h"

#ifndef OLLAMA_CLIENT_VERSION
#define OLLAMA_CLIENT_VERSION "0.0.0"
#endif

namespace {

using bb::ollama::GenerateStream;
using bb::ollama::HttpClient;
using bb::ollama::HttpFailure;
using bb::ollama::HttpResponse;
using bb::ollama::HttpTimeouts;
using Clock = std::chrono::steady_clock;

const bb_host_api* g_host = nullptr;

// The shared ABI glue (plugins/common/plugin_glue.h), with this plugin's name in its messages.
constinit bb::plugin_util::PluginId g_plugin{"ollama_client",
                                             {BB_OUT_OF_MEMORY, "ollama_client: out of memory"}};
using bb::plugin_util::AbiError;

bb_error* make_error(int32_t status, const std::string& message) noexcept {
  return bb::plugin_util::make_error(g_plugin, status, message);
}

template <typename Body>
bb_error* guarded(const char* where, Body&& body) noexcept {
  return bb::plugin_util::guarded(g_plugin, where, std::forward<Body>(body));
}

void log(int32_t level, const std::string& msg) {
  if (g_host && g_host->log) g_host->log(g_host->host_data, level, msg.c_str());
}

double number_option(const std::map<std::string, std::string>& o, const char* key, double fallback) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end == it->second.c_str() || *end != '\0' || !(v >= 0))
    throw AbiError(BB_INVALID_ARGUMENT, std::string("ollama_client: option ") + key +
                                            ": expected a number >= 0, got '" + it->second + "'");
  return v;
}

std::string json_string(const std::string& s) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return std::string(b.GetString(), b.GetSize());
}

// keep_alive as Ollama takes it: a duration string ("30m") or a number of seconds.
std::string keep_alive_json(const std::string& v) {
  char* end = nullptr;
  std::strtod(v.c_str(), &end);
  if (end != v.c_str() && *end == '\0') return v;
  return json_string(v);
}

}  // namespace

// One server.
struct bb_context {
  std::string base;   // "http://127.0.0.1:11434"
  std::string model;  // the tag asked for
  HttpTimeouts timeouts;
  std::map<std::string, std::string> options;
  std::string server_version;
  std::unique_ptr<HttpClient> http;

  std::string url(const char* path) const { return base + path; }

  // A failed request as a message: what was asked, what happened, what to do.
  [[noreturn]] void fail(const std::string& what, const HttpResponse& r) const {
    std::string msg = what + ": ";
    bb_status status = BB_DEVICE_ERROR;
    if (r.failure == HttpFailure::kCancelled) throw AbiError(BB_CANCELLED, msg + "cancelled by the host");
    if (r.failure == HttpFailure::kConnect) {
      msg +=
          "nothing is listening at " + base + " (" + r.error +
          "); start Ollama (`ollama serve`) or point OLLAMA_HOST / backend_options.ollama_client.host at it";
    } else if (r.failure != HttpFailure::kNone) {
      msg += describe_failure(r, timeouts) + " (" + base + ")";
    } else {
      const auto err = bb::ollama::error_of_body(r.body);
      std::string said = err ? *err : (r.body.size() > 200 ? r.body.substr(0, 197) + "..." : r.body);
      msg += "HTTP " + std::to_string(r.status) + " from " + base + ": " + said;
      if (r.status == 404 && err) msg += "; the model is not on this server: run `ollama pull " + model + "`";
      if (r.status >= 500) msg += " (a server-side failure)";
    }
    throw AbiError(status, msg);
  }

  std::string get_json(const char* path, const char* what) {
    HttpResponse r = http->request("GET", url(path), "", timeouts);
    if (r.failure != HttpFailure::kNone || r.status != 200) fail(what, r);
    return r.body;
  }
};

// One model on the server.
struct bb_session {
  bb_context* ctx = nullptr;
  bb_model_dims dims{};
  int32_t num_ctx = 2048;
  bb::ollama::PromptFormat format = bb::ollama::PromptFormat::kIds;
  bool vary_prompt = true;
  int64_t requests = 0;
  // facts (peer.*) and the last call's metrics, and the bb_kv view handed out
  std::vector<std::pair<std::string, std::string>> facts, last;
  bool ps_pending = true;
  std::vector<std::pair<std::string, std::string>> view_text;
  std::vector<bb_kv> view;

  void fact(const std::string& k, const std::string& v) {
    for (auto& [fk, fv] : facts)
      if (fk == k) {
        fv = v;
        return;
      }
    facts.emplace_back(k, v);
  }
};

namespace {

using bb::plugin_util::error_message;
using bb::plugin_util::error_status;
void error_destroy(bb_error* e) { bb::plugin_util::destroy_error(g_plugin, e); }

const bb_capability kCaps[] = {
    {sizeof(bb_capability), BB_OP_GENERATE, BB_TYPE_ANY, BB_CAP_DEVICE_TIME},
};

bb_error* get_capabilities(const bb_capability** caps, size_t* n) {
  return guarded("get_capabilities", [&] {
    if (!caps || !n) throw AbiError(BB_INVALID_ARGUMENT, "ollama_client get_capabilities: NULL output");
    *caps = kCaps;
    *n = sizeof(kCaps) / sizeof(kCaps[0]);
  });
}

bb_error* get_build_info(const bb_kv** kvs, size_t* n) {
  return guarded("get_build_info", [&] {
    if (!kvs || !n) throw AbiError(BB_INVALID_ARGUMENT, "ollama_client get_build_info: NULL output");
    static const std::string curl = curl_version_info(CURLVERSION_NOW)->version;
    static const bb_kv info[] = {
        {"api",
         "Ollama REST API (docs.ollama.com/api, Ollama v0.12): /api/version, /api/show, /api/tags, /api/ps, "
         "/api/generate (stream, raw)"},
        {"libcurl", curl.c_str()},
        {"compiler", __VERSION__},
    };
    *kvs = info;
    *n = sizeof(info) / sizeof(info[0]);
  });
}

bb_error* context_create(const bb_context_args* args, bb_context** out) {
  return guarded("context_create", [&] {
    if (!args || !out || args->struct_size < offsetof(bb_context_args, options) + sizeof(void*))
      throw AbiError(BB_INVALID_ARGUMENT, "ollama_client context_create: bad arguments");
    *out = nullptr;
    auto ctx = std::make_unique<bb_context>();
    for (size_t i = 0; i < args->n_options; ++i)
      if (args->options[i].key && args->options[i].value)
        ctx->options[args->options[i].key] = args->options[i].value;
    std::string host = bb::ollama::kDefaultHost;
    if (const char* env = std::getenv("OLLAMA_HOST"); env && *env) host = env;
    if (auto it = ctx->options.find("host"); it != ctx->options.end()) host = it->second;
    ctx->base = bb::ollama::base_url_from_host(host);
    if (auto it = ctx->options.find("model"); it != ctx->options.end()) {
      ctx->model = it->second;
    } else if (auto m = ctx->options.find("model.ollama"); m != ctx->options.end()) {
      ctx->model = m->second;
    }
    ctx->timeouts.connect_s = number_option(ctx->options, "connect_timeout_s", 5);
    ctx->timeouts.first_byte_s = number_option(ctx->options, "first_byte_timeout_s", 300);
    ctx->timeouts.stall_s = number_option(ctx->options, "stall_timeout_s", 60);
    if (ctx->model.empty())
      throw AbiError(BB_UNSUPPORTED,
                     "no model to ask Ollama for: name one in the config as "
                     "model: {ollama: \"qwen2.5-coder:1.5b\"} (or backend_options.ollama_client.model)");
    ctx->http = std::make_unique<HttpClient>(g_host ? g_host->cancel_flag : nullptr);
    // Is anyone there? /api/version is the cheapest question Ollama answers.
    HttpTimeouts quick = ctx->timeouts;
    quick.first_byte_s = std::min(quick.first_byte_s, 30.0);
    HttpResponse r = ctx->http->request("GET", ctx->url("/api/version"), "", quick);
    if (r.failure != HttpFailure::kNone || r.status != 200) ctx->fail("GET /api/version", r);
    rapidjson::Document d;
    d.Parse<rapidjson::kParseIterativeFlag>(r.body.data(), r.body.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("version") || !d["version"].IsString())
      throw AbiError(BB_DEVICE_ERROR,
                     "GET " + ctx->url("/api/version") +
                         " did not answer {\"version\": ...}: is this an Ollama server? (got '" +
                         r.body.substr(0, 80) + "')");
    ctx->server_version = d["version"].GetString();
    log(BB_LOG_INFO,
        "ollama_client: Ollama " + ctx->server_version + " at " + ctx->base + ", model " + ctx->model);
    *out = ctx.release();
  });
}

void context_destroy(bb_context* ctx) { delete ctx; }

bb_error* plan_create(bb_context*, const bb_plan_desc*, bb_plan** out) {
  if (out) *out = nullptr;
  return make_error(BB_UNSUPPORTED, "Ollama's API runs whole models only: no single bricks (plans)");
}
void plan_destroy(bb_plan*) {}
bb_error* plan_write_inputs(bb_plan*, int32_t, const bb_tensor*) {
  return make_error(BB_UNSUPPORTED, "no plans");
}
bb_error* plan_run(bb_plan*, bb_run_args*) { return make_error(BB_UNSUPPORTED, "no plans"); }
bb_error* plan_read_outputs(bb_plan*, int32_t, bb_tensor*) { return make_error(BB_UNSUPPORTED, "no plans"); }

std::string string_member(const rapidjson::Value& o, const char* k) {
  if (!o.IsObject()) return "";
  auto it = o.FindMember(k);
  if (it == o.MemberEnd()) return "";
  if (it->value.IsString()) return it->value.GetString();
  if (it->value.IsInt64()) return std::to_string(it->value.GetInt64());
  if (it->value.IsUint64()) return std::to_string(it->value.GetUint64());
  return "";
}

// Facts from /api/tags (digest, size) and /api/ps (size_vram, context_length) for our model.
void refresh_listing(bb_session* s, const char* path) {
  bb_context* ctx = s->ctx;
  HttpResponse r = ctx->http->request("GET", ctx->url(path), "", ctx->timeouts);
  if (r.failure != HttpFailure::kNone || r.status != 200) {
    log(BB_LOG_WARN, "ollama_client: GET " + std::string(path) + ": " +
                         (r.failure != HttpFailure::kNone ? describe_failure(r, ctx->timeouts)
                                                          : "HTTP " + std::to_string(r.status)));
    return;  // facts stay unknown
  }
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(r.body.data(), r.body.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("models") || !d["models"].IsArray()) return;
  auto canon = [](std::string t) { return t.find(':') == std::string::npos ? t + ":latest" : t; };
  for (const auto& m : d["models"].GetArray()) {
    const std::string name =
        string_member(m, "name").empty() ? string_member(m, "model") : string_member(m, "name");
    if (canon(name) != canon(ctx->model)) continue;
    for (const char* k : {"digest", "size", "size_vram", "context_length"}) {
      const std::string v = string_member(m, k);
      if (!v.empty()) s->fact(std::string("peer.") + k, v);
    }
  }
}

bb_error* session_create(bb_context* ctx, const bb_session_desc* desc, bb_session** out) {
  return guarded("session_create", [&] {
    if (!ctx || !desc || !out || !desc->dims)
      throw AbiError(BB_INVALID_ARGUMENT, "ollama_client session_create: NULL");
    *out = nullptr;
    auto s = std::make_unique<bb_session>();
    s->ctx = ctx;
    s->dims = *desc->dims;
    const double want = number_option(ctx->options, "num_ctx", 0);
    s->num_ctx = want > 0 ? static_cast<int32_t>(want)
                          : std::max<int32_t>(2048, (s->dims.n_ctx_max + 16 + 255) / 256 * 256);
    if (auto it = ctx->options.find("vary_prompt"); it != ctx->options.end())
      s->vary_prompt = !(it->second == "false" || it->second == "0" || it->second == "no");

    // /api/show: is the model there, and what is it?
    HttpResponse r = ctx->http->request("POST", ctx->url("/api/show"),
                                        "{\"model\":" + json_string(ctx->model) + "}", ctx->timeouts);
    if (r.failure != HttpFailure::kNone || r.status != 200)
      ctx->fail("POST /api/show for model " + ctx->model, r);
    rapidjson::Document d;
    d.Parse<rapidjson::kParseIterativeFlag>(r.body.data(), r.body.size());
    if (d.HasParseError() || !d.IsObject())
      throw AbiError(BB_DEVICE_ERROR, "POST /api/show answered something that is not a JSON object: '" +
                                          r.body.substr(0, 80) + "'");
    s->fact("peer.kind", "ollama");
    s->fact("peer.endpoint", ctx->base);
    s->fact("peer.server_version", ctx->server_version);
    s->fact("peer.model", ctx->model);
    if (d.HasMember("details") && d["details"].IsObject())
      for (const char* k : {"family", "parameter_size", "quantization_level"})
        if (std::string v = string_member(d["details"], k); !v.empty()) s->fact(std::string("peer.") + k, v);
    std::string tokenizer;
    if (d.HasMember("model_info") && d["model_info"].IsObject())
      tokenizer = string_member(d["model_info"], "tokenizer.ggml.model");
    std::string fmt = "auto";
    if (auto it = ctx->options.find("prompt_format"); it != ctx->options.end()) fmt = it->second;
    if (fmt == "ids") {
      s->format = bb::ollama::PromptFormat::kIds;
    } else if (fmt == "words") {
      s->format = bb::ollama::PromptFormat::kWords;
    } else if (fmt == "auto") {
      s->format = tokenizer.empty() || tokenizer == "none" ? bb::ollama::PromptFormat::kIds
                                                           : bb::ollama::PromptFormat::kWords;
    } else {
      throw AbiError(BB_INVALID_ARGUMENT,
                     "option prompt_format: expected ids, words or auto, got '" + fmt + "'");
    }
    s->fact("peer.prompt_format", s->format == bb::ollama::PromptFormat::kIds ? "ids" : "words");
    refresh_listing(s.get(), "/api/tags");

    // Load it now (an empty prompt loads a model), with the context every request will ask for, so
    // no timed request pays for a (re)load.
    const std::string keep = ctx->options.count("keep_alive") ? ctx->options.at("keep_alive") : "30m";
    const std::string load = "{\"model\":" + json_string(ctx->model) +
                             ",\"stream\":false,\"keep_alive\":" + keep_alive_json(keep) +
                             ",\"options\":{\"num_ctx\":" + std::to_string(s->num_ctx) + "}}";
    r = ctx->http->request("POST", ctx->url("/api/generate"), load, ctx->timeouts);
    if (r.failure != HttpFailure::kNone || r.status != 200)
      ctx->fail("loading " + ctx->model + " (POST /api/generate)", r);
    if (auto c = bb::ollama::counters_of(r.body); c.load_duration_ns)
      s->fact("peer.load_duration_ns", std::to_string(*c.load_duration_ns));
    *out = s.release();
  });
}

void session_destroy(bb_session* s) { delete s; }

bb_error* session_decode(bb_session*, bb_decode_args*) {
  return make_error(BB_UNSUPPORTED,
                    "Ollama's API cannot decode one token at a given position; "
                    "only whole generations (the generate brick)");
}

bb_error* session_read_logits(bb_session*, float*, int32_t) {
  return make_error(BB_UNSUPPORTED, "Ollama's API does not return logits");
}

bb_error* session_generate(bb_session* s, bb_generate_args* a) {
  return guarded("session_generate", [&] {
    if (!s || !a || a->n_prompt < 1 || !a->prompt || a->n_generate < 1 || !a->tokens_out)
      throw AbiError(BB_INVALID_ARGUMENT, "ollama_client session_generate: bad arguments");
    if (a->pos_begin != 0)
      throw AbiError(BB_UNSUPPORTED,
                     "a generation must start at position 0 (Ollama has no KV "
                     "history to continue from); pass the whole prompt");
    bb_context* ctx = s->ctx;
    a->device_time_valid = 0;
    s->last.clear();
    std::vector<int32_t> ids(a->prompt, a->prompt + a->n_prompt);
    // A different first token per request: Ollama keeps the last prompt in its KV cache and would
    // otherwise evaluate only the part past the common prefix (often one token).
    if (s->vary_prompt && s->dims.n_vocab > 0)
      ids[0] = static_cast<int32_t>((static_cast<int64_t>(ids[0]) + 1 + s->requests) % s->dims.n_vocab);
    ++s->requests;
    const std::string keep = ctx->options.count("keep_alive") ? ctx->options.at("keep_alive") : "30m";
    std::string opts = "\"num_predict\":" + std::to_string(a->n_generate) + ",\"temperature\":0,\"seed\":" +
                       std::to_string(static_cast<int64_t>(number_option(ctx->options, "seed", 42))) +
                       ",\"num_ctx\":" + std::to_string(s->num_ctx);
    if (ctx->options.count("num_thread"))
      opts += ",\"num_thread\":" +
              std::to_string(static_cast<int64_t>(number_option(ctx->options, "num_thread", 0)));
    const std::string body =
        "{\"model\":" + json_string(ctx->model) +
        ",\"prompt\":" + json_string(bb::ollama::prompt_text(ids.data(), a->n_prompt, s->format)) +
        ",\"raw\":true,\"stream\":true,\"keep_alive\":" + keep_alive_json(keep) + ",\"options\":{" + opts +
        "}}";
    GenerateStream stream;
    std::string raw;  // the first bytes, verbatim: an error status's body
    Clock::time_point sent{};
    HttpResponse r = ctx->http->request(
        "POST", ctx->url("/api/generate"), body, ctx->timeouts,
        [&](const char* data, size_t n, Clock::time_point at) {
          if (raw.size() < 4096) raw.append(data, std::min(n, 4096 - raw.size()));
          return stream.feed(data, n, at);
        },
        &sent);
    const std::string where = "POST /api/generate (" + ctx->model + ")";
    const int64_t got = static_cast<int64_t>(stream.token_times().size());
    if (r.status != 200 && r.status != 0 &&
        (r.failure == HttpFailure::kNone || r.failure == HttpFailure::kAborted)) {
      HttpResponse e = r;  // not a stream: an error status with (usually) an {"error": ...} body
      e.failure = HttpFailure::kNone;
      e.body = raw;
      ctx->fail(where, e);
    }
    if (r.failure == HttpFailure::kAborted ||
        (r.failure == HttpFailure::kNone && !stream.finish(Clock::now()))) {
      if (stream.server_error())
        throw AbiError(BB_DEVICE_ERROR, "" + where + ": the server reported an error mid-stream after " +
                                            std::to_string(got) + " tokens: " + stream.error());
      throw AbiError(BB_DEVICE_ERROR, "" + where + ": malformed response after " + std::to_string(got) +
                                          " tokens: " + stream.error());
    }
    if (r.failure != HttpFailure::kNone) {
      if (r.failure == HttpFailure::kCancelled) throw AbiError(BB_CANCELLED, "cancelled by the host");
      if (r.failure == HttpFailure::kConnect) ctx->fail(where, r);
      throw AbiError(BB_DEVICE_ERROR, "" + where + ": after " + std::to_string(got) + " tokens, " +
                                          describe_failure(r, ctx->timeouts));
    }
    if (!stream.done())
      throw AbiError(BB_DEVICE_ERROR, "" + where + ": the connection was dropped mid-stream after " +
                                          std::to_string(got) +
                                          " tokens (the stream ended without its done:true line)");

    // Tokens back where the mapping allows it (ids); -1 elsewhere.
    std::vector<int32_t> back;
    if (s->format == bb::ollama::PromptFormat::kIds) back = bb::ollama::ids_from_text(stream.text());
    for (int32_t i = 0; i < a->n_generate; ++i)
      a->tokens_out[i] = i < static_cast<int32_t>(back.size()) ? back[static_cast<size_t>(i)] : -1;

    const auto& c = stream.counters();
    auto put = [&](const char* k, const std::optional<int64_t>& v) {
      if (v) s->last.emplace_back(k, std::to_string(*v));
    };
    put("eval_count", c.eval_count);
    put("eval_duration_ns", c.eval_duration_ns);
    put("prompt_eval_count", c.prompt_eval_count);
    put("prompt_eval_duration_ns", c.prompt_eval_duration_ns);
    put("load_duration_ns", c.load_duration_ns);
    put("total_duration_ns", c.total_duration_ns);
    if (!c.done_reason.empty()) s->last.emplace_back("done_reason", c.done_reason);
    s->last.emplace_back("tokens_received", std::to_string(got));
    if (got > 0)
      s->last.emplace_back(
          "ttft_ns",
          std::to_string(static_cast<int64_t>(
              std::chrono::duration<double, std::nano>(stream.token_times().front() - sent).count())));
    if (auto p = bb::ollama::gap_percentile_ns(stream.token_times(), 50))
      put("gap_p50_ns", static_cast<int64_t>(*p));
    if (auto p = bb::ollama::gap_percentile_ns(stream.token_times(), 99))
      put("gap_p99_ns", static_cast<int64_t>(*p));
    if (got > 1) s->last.emplace_back("gap_count", std::to_string(got - 1));
    // Device time: the server's eval_duration, for n_generate tokens (scaled when it stopped early).
    if (c.eval_duration_ns && c.eval_count && *c.eval_count > 0 && *c.eval_duration_ns > 0) {
      a->device_time_valid = 1;
      a->device_time_ns = static_cast<uint64_t>(static_cast<double>(*c.eval_duration_ns) * a->n_generate /
                                                static_cast<double>(*c.eval_count));
    }
    s->ps_pending = true;
  });
}

bb_error* session_get_metrics(bb_session* s, const bb_kv** kvs, size_t* n) {
  return guarded("session_get_metrics", [&] {
    if (!s || !kvs || !n) throw AbiError(BB_INVALID_ARGUMENT, "ollama_client session_get_metrics: NULL");
    if (s->ps_pending && !s->last.empty()) {  // after a generate: what is loaded where (VRAM)
      refresh_listing(s, "/api/ps");
      s->ps_pending = false;
    }
    s->view_text = s->last;
    s->view_text.insert(s->view_text.end(), s->facts.begin(), s->facts.end());
    s->view.clear();
    for (const auto& [k, v] : s->view_text) s->view.push_back({k.c_str(), v.c_str()});
    *kvs = s->view.data();
    *n = s->view.size();
  });
}

const bb_plugin_api kApi = {
    sizeof(bb_plugin_api),
    BB_ABI_VERSION_MAJOR,
    BB_ABI_VERSION_MINOR,
    "ollama_client",
    OLLAMA_CLIENT_VERSION,
    "Whole-model generate through an Ollama server's HTTP API (its server-side timings), for comparison",
    error_status,
    error_message,
    error_destroy,
    get_capabilities,
    get_build_info,
    context_create,
    context_destroy,
    plan_create,
    plan_destroy,
    plan_write_inputs,
    plan_run,
    plan_read_outputs,
    session_create,
    session_destroy,
    session_decode,
    session_read_logits,
    nullptr,  // session_write_kv: there is no KV cache to fill through Ollama's API
    session_generate,
    session_get_metrics,
};

}  // namespace

extern "C" {

BB_EXPORT const bb_plugin_api* bb_plugin_entry(const bb_host_api* host) {
  if (host != nullptr) {
    if (host->struct_size < offsetof(bb_host_api, abi_minor) + sizeof(uint32_t)) return nullptr;
    if (host->abi_major != BB_ABI_VERSION_MAJOR) return nullptr;
    // cancel_flag is read only when the host's table has it.
    if (host->struct_size < offsetof(bb_host_api, cancel_flag) + sizeof(void*)) return nullptr;
  }
  g_host = host;
  return &kApi;
}

}  // extern "C"
