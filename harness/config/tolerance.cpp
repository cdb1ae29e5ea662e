#include "config/tolerance.h"

namespace bb::config {

std::string_view tolerance_class_name(ToleranceClass c) {
  return c == ToleranceClass::ActQ8 ? "act_q8" : "float";
}

// Why these numbers: two correct float implementations differ only in summation order, which for
// these sizes gives NMSE around 1e-12..1e-9, so 1e-5 (float class) passes any correct kernel and
// catches a wrong index, scale or bias (NMSE ~1e-1 and up). 8-bit activations add ~1e-4 NMSE per
// dot product (the oracle README measures 2.8e-4..9e-4 for llama.cpp's logits), hence 5e-4 per
// GEMV-type brick and the oracle's own bounds (NMSE 2e-3, top-1 0.85) for whole tokens.
Tolerance default_tolerance(Brick brick, ToleranceClass cls) {
  const bool q8 = cls == ToleranceClass::ActQ8;
  switch (brick) {
    case Brick::Copy:
      return {0.0, 0.0, std::nullopt};  // bytes in, the same bytes out
    case Brick::RmsNorm:
    case Brick::Rope:
      return {1e-6, 1e-4, std::nullopt};  // no weight dot products: act_q8 does not apply
    case Brick::Attention:
      return q8 ? Tolerance{1e-4, 1e-2, std::nullopt} : Tolerance{1e-5, 1e-3, std::nullopt};
    case Brick::Gemv:
    case Brick::Qkv:
    case Brick::OProj:
    case Brick::Ffn:
      return q8 ? Tolerance{5e-4, 5e-2, std::nullopt} : Tolerance{1e-5, 1e-3, std::nullopt};
    case Brick::Layer:
      return q8 ? Tolerance{1e-3, 1e-1, std::nullopt} : Tolerance{1e-5, 1e-3, std::nullopt};
    case Brick::Decode:
      return q8 ? Tolerance{2e-3, std::nullopt, 0.85} : Tolerance{1e-4, 1e-2, 0.99};
    case Brick::Generate:
      // Free-running greedy decoding parts for good at the first near-tie, so when the tokens differ
      // the runner teacher-forces the candidate's tokens through the reference and counts each as
      // top-1 with ties (verify::tie_margin): the same per-position check as decode, same bounds.
      return q8 ? Tolerance{std::nullopt, std::nullopt, 0.85} : Tolerance{std::nullopt, std::nullopt, 0.99};
  }
  return {};
}

Tolerance resolve_tolerance(const std::vector<ToleranceOverride>& overrides, Brick brick, int32_t weight_type,
                            ToleranceClass cls) {
  Tolerance t = default_tolerance(brick, cls);
  auto apply = [&](int32_t type) {
    for (const ToleranceOverride& o : overrides) {
      if (o.brick != brick || o.cls != cls || o.weight_type != type) continue;
      if (o.values.nmse) t.nmse = o.values.nmse;
      if (o.values.max_rel) t.max_rel = o.values.max_rel;
      if (o.values.top1) t.top1 = o.values.top1;
    }
  };
  apply(BB_TYPE_ANY);
  if (weight_type != BB_TYPE_ANY) apply(weight_type);
  return t;
}

}  // namespace bb::config
