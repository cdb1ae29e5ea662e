#!/usr/bin/env bash
# Measures what `bench run --isolate` costs against in-process plugins: the same experiment run
# alternately in-process and isolated (A B A B ...), ROUNDS times each, then per cell the median of
# each mode's per-run medians and the relative difference. Evidence for docs/VALIDATION.md.
#
#   scripts/isolate-overhead.sh [BUILD_DIR] [ROUNDS]     (defaults: build, 3)
#
# Experiments: configs/smoke.yaml, and qwen2.5-coder-0.5b (synthetic Q4_K_M) on scalar_ref with a
# protocol long enough for stable medians (written to a temp file below). --threads 1 for both
# modes, so a busy second core disturbs both alike.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
rounds=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/qwen0.5b-scalar.yaml" <<'YAML'
name: isolate-overhead-qwen0.5b
model:
  synthetic: {model: qwen2.5-coder-0.5b, quant: q4_k_m, seed: 1}
backends: [scalar_ref]
protocol: {warmup_ms: 50, warmup_min_iterations: 2, min_samples: 10, max_samples: 40, cv_target: 0.02,
           max_seconds_per_cell: 3, seed: 42}
bricks:
  - rms_norm
  - qkv
  - rope
  - {brick: attention, context: 512}
  - o_proj
  - ffn
  - {brick: layer, context: 512}
  - {brick: decode, context: 512}
  - {brick: generate, tokens: 4}
  - {brick: gemv, type: Q8_0}
YAML
for cfg in configs/smoke.yaml "$work/qwen0.5b-scalar.yaml"; do
  name=$(basename "$cfg" .yaml)
  for ((i = 0; i < rounds; ++i)); do
    for mode in inproc isolate; do
      flag=""; [ "$mode" = isolate ] && flag=--isolate
      "$build_dir"/bench run "$cfg" $flag --threads 1 --quiet --bandwidth-mib 64 --format csv \
        --out "$work/$name.$mode.$i.json" > /dev/null
    done
  done
  echo "== $name ($rounds runs per mode, alternating)"
  python3 - "$work" "$name" "$rounds" <<'PY'
import json, statistics, sys
work, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
med = {}
for mode in ("inproc", "isolate"):
    for i in range(rounds):
        r = json.load(open(f"{work}/{name}.{mode}.{i}.json"))
        for c in r["cells"]:
            s = (c.get("stats") or {}).get("median_s")
            if s:
                med.setdefault((c["id"], c["backend"]), {}).setdefault(mode, []).append(s)
print(f"{'cell':16} {'in-process':>12} {'isolated':>12} {'diff':>8}   per-run medians (us) in / iso")
diffs = []
for (cid, be), m in med.items():
    if "inproc" not in m or "isolate" not in m: continue
    a, b = statistics.median(m["inproc"]), statistics.median(m["isolate"])
    d = (b - a) / a * 100
    diffs.append(d)
    fmt = lambda v: " ".join(f"{x*1e6:.4g}" for x in v)
    print(f"{cid:16} {a*1e6:10.4g}us {b*1e6:10.4g}us {d:+7.2f}%   {fmt(m['inproc'])} / {fmt(m['isolate'])}")
if diffs:
    print(f"median of per-cell differences: {statistics.median(diffs):+.2f}%, range {min(diffs):+.2f}% .. {max(diffs):+.2f}%")
PY
done
