# Sourced by scripts/h100-run.sh and scripts/h100-ab.sh: the equivalence experiment against scalar_ref
# at one model size, with the bricks scalar_ref can afford there, each measured once or twice.
#   equiv_config SIZE   (0.5b, 1.5b, 3b, 7b) -> the YAML on stdout
equiv_config() {
  local m=$1
  echo "name: qwen2.5-coder-$m-h100-equiv"
  echo "model:"
  echo "  synthetic: {model: qwen2.5-coder-$m, quant: q4_k_m, seed: 1}"
  echo "backends: [cuda_bricks]"
  echo "reference: scalar_ref"
  echo "protocol: {warmup_ms: 0, warmup_min_iterations: 1, min_samples: 2, max_samples: 3, cv_target: 0.5,"
  echo "           max_seconds_per_cell: 1, seed: 42, order: sequential, cache: cold}"
  echo "backend_caps:"
  echo "  scalar_ref: {warmup_ms: 0, warmup_min_iterations: 0, min_samples: 1, max_samples: 1,"
  echo "               max_seconds_per_cell: 0.5, reference_only: true}"
  echo "bricks:"
  echo "  - {brick: rms_norm}"
  echo "  - {brick: qkv}"
  echo "  - {brick: rope}"
  echo "  - {brick: attention, context: [512, 4096]}"
  echo "  - {brick: o_proj}"
  echo "  - {brick: ffn}"
  echo "  - {brick: layer, context: [512, 4096]}"
  echo "  - {brick: gemv, type: all}"
  case $m in
    0.5b) echo "  - {brick: decode, context: [512, 4096]}"; echo "  - {brick: generate, tokens: 8}" ;;
    1.5b) echo "  - {brick: decode, context: 512}" ;;
  esac
}
