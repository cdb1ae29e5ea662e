// The GGUF files Ollama already stores, found by tag, so `bench` runs every backend on the very
// weights Ollama serves (DESIGN.md §7). Ollama keeps an OCI-style store: a manifest per tag at
//   <models>/manifests/<registry>/<namespace>/<name>/<tag>
// (registry.ollama.ai/library/ for plain names) whose layer of media type
// application/vnd.ollama.image.model names the weights blob <models>/blobs/sha256-<hex>.
// <models> is $OLLAMA_MODELS, else ~/.ollama/models (the same rule as `ollama serve`).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace bb::model {

// What is wrong and what to do ("... run `ollama pull qwen2.5-coder:1.5b` ...").
class OllamaModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A tag split the way Ollama splits it: "qwen2.5-coder:1.5b" -> registry.ollama.ai, library,
// qwen2.5-coder, 1.5b; "user/m" -> registry.ollama.ai, user, m, latest; "host/ns/m:t" kept as given.
struct OllamaTag {
  std::string registry = "registry.ollama.ai";
  std::string ns = "library";
  std::string name;
  std::string tag = "latest";
  std::string display() const;  // "qwen2.5-coder:1.5b" (registry and library left out when default)
};
// OllamaModelError for an empty tag or one with empty parts ("x:", "/m").
OllamaTag parse_ollama_tag(const std::string& text);

struct OllamaModelRef {
  std::string tag;         // as display()ed
  std::string models_dir;  // the store searched
  std::string manifest_path;
  std::string blob_path;  // <models>/blobs/sha256-<hex>: the GGUF file
  std::string digest;     // "sha256:<hex>", from the manifest
  uint64_t size = 0;      // the layer's size in the manifest (checked against the blob)
};

// $OLLAMA_MODELS when set (a leading ~/ expanded), else $HOME/.ollama/models.
std::string ollama_models_dir();

// Reads the tag's manifest and checks the model blob it names exists with the stated size. Throws
// OllamaModelError naming the path it looked at and saying `ollama pull <tag>` when the manifest is
// missing, or what is broken when the manifest or blob is.
OllamaModelRef resolve_ollama_model(const std::string& tag,
                                    const std::string& models_dir = ollama_models_dir());

}  // namespace bb::model
