#include "model/ollama_models.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "io/json_limits.h"

namespace bb::model {
namespace fs = std::filesystem;

namespace {

constexpr const char* kModelMediaType = "application/vnd.ollama.image.model";

std::string pull_hint(const std::string& tag) {
  return "run `ollama pull " + tag + "` (or point OLLAMA_MODELS at the store that has it)";
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

std::string OllamaTag::display() const {
  std::string s;
  if (registry != "registry.ollama.ai")
    s = registry + "/" + ns + "/";
  else if (ns != "library")
    s = ns + "/";
  return s + name + ":" + tag;
}

OllamaTag parse_ollama_tag(const std::string& text) {
  OllamaTag t;
  std::string rest = text;
  const size_t slash = rest.rfind('/');
  const size_t colon = rest.find(':', slash == std::string::npos ? 0 : slash + 1);
  if (colon != std::string::npos) {
    t.tag = rest.substr(colon + 1);
    rest.resize(colon);
  }
  std::vector<std::string> parts;
  std::stringstream ss(rest);
  for (std::string p; std::getline(ss, p, '/');) parts.push_back(p);
  if (parts.size() == 1) {
    t.name = parts[0];
  } else if (parts.size() == 2) {
    t.ns = parts[0];
    t.name = parts[1];
  } else if (parts.size() == 3) {
    t.registry = parts[0];
    t.ns = parts[1];
    t.name = parts[2];
  }
  bool bad = parts.empty() || parts.size() > 3 || t.tag.empty();
  for (const auto& p : parts) bad |= p.empty() || p == "." || p == "..";
  bad |= t.tag.find('/') != std::string::npos || t.tag == "." || t.tag == "..";
  if (bad)
    throw OllamaModelError("'" + text +
                           "' is not an Ollama model tag (expected NAME[:TAG], e.g. qwen2.5-coder:1.5b)");
  return t;
}

std::string ollama_models_dir() {
  if (const char* m = std::getenv("OLLAMA_MODELS"); m && *m) {
    std::string s = m;
    if (s.rfind("~/", 0) == 0)
      if (const char* home = std::getenv("HOME")) s = std::string(home) + s.substr(1);
    return s;
  }
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : "/") / ".ollama" / "models").string();
}

OllamaModelRef resolve_ollama_model(const std::string& tag_text, const std::string& models_dir) {
  const OllamaTag t = parse_ollama_tag(tag_text);
  OllamaModelRef r;
  r.tag = t.display();
  r.models_dir = models_dir;
  const fs::path manifest = fs::path(models_dir) / "manifests" / t.registry / t.ns / t.name / t.tag;
  r.manifest_path = manifest.string();
  std::error_code ec;
  if (!fs::is_regular_file(manifest, ec))
    throw OllamaModelError("Ollama model " + r.tag + " is not in the models directory " + models_dir +
                           " (no manifest " + r.manifest_path + "); " + pull_hint(r.tag));
  std::ifstream in(manifest, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw OllamaModelError("Ollama manifest " + r.manifest_path + ": cannot be read");
  const std::string json = text.str();
  if (io::json_too_deep(json) != std::string::npos)
    throw OllamaModelError("Ollama manifest " + r.manifest_path + ": JSON nested deeper than " +
                           std::to_string(io::kMaxJsonDepth) + " levels; " + pull_hint(r.tag) + " again");
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject())
    throw OllamaModelError(
        "Ollama manifest " + r.manifest_path + ": not valid JSON (" +
        (d.HasParseError() ? rapidjson::GetParseError_En(d.GetParseError()) : "not an object") + "); " +
        pull_hint(r.tag) + " again");
  auto layers = d.FindMember("layers");
  if (layers == d.MemberEnd() || !layers->value.IsArray())
    throw OllamaModelError("Ollama manifest " + r.manifest_path + ": no 'layers' array");
  for (const auto& l : layers->value.GetArray()) {
    if (!l.IsObject()) continue;
    auto mt = l.FindMember("mediaType");
    if (mt == l.MemberEnd() || !mt->value.IsString() || std::string(mt->value.GetString()) != kModelMediaType)
      continue;
    auto dg = l.FindMember("digest");
    const std::string digest = dg != l.MemberEnd() && dg->value.IsString() ? dg->value.GetString() : "";
    if (digest.rfind("sha256:", 0) != 0 || !is_hex64(digest.substr(7)))
      throw OllamaModelError("Ollama manifest " + r.manifest_path + ": the model layer's digest '" + digest +
                             "' is not sha256:<64 hex digits>");
    r.digest = digest;
    auto sz = l.FindMember("size");
    if (sz != l.MemberEnd() && sz->value.IsUint64()) r.size = sz->value.GetUint64();
    const fs::path blob = fs::path(models_dir) / "blobs" / ("sha256-" + digest.substr(7));
    r.blob_path = blob.string();
    if (!fs::is_regular_file(blob, ec))  // follows symbolic links
      throw OllamaModelError("Ollama model " + r.tag + ": its manifest names the blob " + r.blob_path +
                             ", which is missing; " + pull_hint(r.tag) + " again");
    const uint64_t actual = fs::file_size(blob, ec);
    if (!ec && r.size != 0 && actual != r.size)
      throw OllamaModelError("Ollama model " + r.tag + ": blob " + r.blob_path + " has " +
                             std::to_string(actual) + " bytes, the manifest says " + std::to_string(r.size) +
                             " (an interrupted pull?); " + pull_hint(r.tag) + " again");
    return r;
  }
  throw OllamaModelError("Ollama manifest " + r.manifest_path + ": no layer of media type " +
                         kModelMediaType + " (not a GGUF model?)");
}

}  // namespace bb::model
