#include "run/model_record.h"

#include <map>

#include "model/ggml_types.h"
#include "model/synthetic.h"
#include "run/sha256.h"
#include "run/text.h"

namespace bb::run {
namespace {

// The file the experiment's model is: a GGUF path, Ollama's own blob (the same weights the peer
// serves) or a synthetic model, made and cached on first use.
std::string model_path_of(const config::Experiment& e, report::ModelRecord& record) {
  if (e.model.source == config::ModelSource::Gguf) return e.model.gguf_path;
  if (e.model.source == config::ModelSource::Ollama) return e.model.ollama_blob_path;
  model::SynthOptions so;
  so.model = e.model.synthetic->model;
  so.quant = e.model.synthetic->quant;
  so.seed = e.model.synthetic->seed;
  record.synthetic_spec = so.model + " " + so.quant + " seed " + std::to_string(so.seed);
  return model::ensure_synthetic_model(so);
}

void record_shape(const model::Qwen2Model& m, report::ModelRecord& record) {
  const bb_model_dims& d = m.dims;
  record.dims = {{"n_embd", std::to_string(d.n_embd)},
                 {"n_ff", std::to_string(d.n_ff)},
                 {"n_layer", std::to_string(d.n_layer)},
                 {"n_head", std::to_string(d.n_head)},
                 {"n_head_kv", std::to_string(d.n_head_kv)},
                 {"head_dim", std::to_string(d.head_dim)},
                 {"n_vocab", std::to_string(d.n_vocab)},
                 {"n_ctx_max", std::to_string(d.n_ctx_max)},
                 {"rms_eps", printf_number("%g", d.rms_eps)},
                 {"rope_theta", printf_number("%g", d.rope_theta)},
                 {"tied_embeddings", d.tied_embeddings ? "true" : "false"}};
  std::map<std::string, int> counts;
  double bytes = 0;
  for (const auto& t : m.tensors) {
    ++counts[model::ggml_type_name(t.type)];
    bytes += static_cast<double>(t.nbytes);
  }
  for (const auto& [k, v] : counts) record.type_counts.emplace_back(k, std::to_string(v));
  record.weight_mib = bytes / (1024.0 * 1024.0);
}

}  // namespace

ModelUnderTest load_model(const config::Experiment& e, report::RunResult& r) {
  report::ModelRecord& record = r.model;
  std::string path = model_path_of(e, record);
  model::Qwen2Model m = model::load_qwen2(path);
  config::ModelTypes types = config::model_types_of(m);
  record.path = path;
  record.synthetic = m.synthetic || e.model.source == config::ModelSource::Synthetic;
  if (e.model.source == config::ModelSource::Ollama) {
    // The blob's name is its digest, which Ollama checked when it pulled it; hashing a multi-GB blob
    // again (or caching a .sha256 inside Ollama's store) is not ours to do.
    record.sha256 = e.model.ollama_digest.substr(e.model.ollama_digest.find(':') + 1);
  } else {
    record.sha256 = record.synthetic ? sha256_file_cached(path) : sha256_file(path);
  }
  record.ollama_tag = e.model.ollama;
  record.ollama_digest = e.model.ollama_digest;
  if (!e.model.ollama_note.empty()) r.warnings.push_back("model.ollama: " + e.model.ollama_note);
  if (auto n = m.file->get_string_opt("general.name")) record.name = *n;
  record_shape(m, record);
  return {std::move(path), std::move(m), types};
}

}  // namespace bb::run
