#!/usr/bin/env bash
# A/B of two cuda_bricks builds in ONE device call. Runs ON THE H100 MACHINE from the repository
# root, with build-h100/ (A, the baseline) and build-h100-alt/ (B, the candidate) carried; both are
# made by scripts/h100-build.sh (copy B's output to build-h100-alt/; A may hold its
# plugins/cuda_bricks.so alone, see below). Without build-h100-alt/, B is
# build-h100/ itself and the A/B is one of settings: H100_AB_A_ENV=NAME=VALUE is A's (e.g.
# CUDA_BRICKS_PDL=0), B runs with the build's defaults. Steps, each time-boxed:
#   facts      GPU, both BUILD_INFO.txt
#   tests_B    B's kernel tests vs scalar_ref (cuda_bricks_plugin_test, every shape);
#              H100_AB_SKIP_TESTS_B=1 leaves it out (when only settings of B are on trial)
#   tests_TAG, memcheck_TAG  with H100_AB_TEST_ENVS (space-separated TAG:NAME=VALUE[,NAME=VALUE]):
#              B's kernel tests, then memcheck at 0.5B shapes, with those settings (a kernel that
#              only a setting selects is checked before its timings are believed)
#   synth      synthetic Q4_K_M models 0.5B, 1.5B, 7B (BRICKBENCH_CACHE_DIR; H100_AB_SIZES="0.5b 3b"
#              picks others)
#   perf       `bench run` of configs/qwen{0.5b,1.5b,7b}.yaml as scripts/h100-run.sh's perf step
#              makes them (cuda_bricks only, CV 2%, <= 4 s a cell), A then B per size (A alone when
#              A and B are one build with the same settings: the variants are then the candidates)
#   perf_SIZE_TAG  B again with one setting changed, per H100_AB_VARIANTS: space-separated
#              SIZE:TAG:NAME=VALUE, e.g. "7b:P0:CUDA_BRICKS_PREFETCH=0" (default: the attention chunk
#              floors of the 2026-11-26 run, CUDA_BRICKS_ATTN_MIN_CHUNK=16/64)
#   equiv_B    B's equivalence vs scalar_ref at 0.5B / 1.5B (decode included), as h100-run.sh
#   racecheck_B compute-sanitizer racecheck (shared memory) of B's attention test at 0.5B and 1.5B
#              shapes (head_dim 64 and 128, F32 and F16 caches, contexts 1 to 4096)
#   memcheck_B compute-sanitizer memcheck of B's kernel tests at 0.5B shapes (if time is left)
#   ncu_B      with H100_AB_NCU=1: Nsight Compute sections of B's large GEMVs at 7B (if ncu is there)
# Everything lands in $OUT (./h100-ab-out when unset): NAME.log per step, results/*.json,
# configs/*.yaml, summary.txt (steps, then per-cell medians / tok/s of A and B side by side).
#   run(command="scripts/h100-ab.sh; cd $OUT && tar czf /tmp/h.tgz . && find . -mindepth 1 -delete && mv /tmp/h.tgz $OUT/",
#       carry=["build-h100","build-h100-alt"])
# H100_AB_BUDGET_S (default 500) caps the whole invocation; a step never starts past it.
# H100_AB_DRY=1: print what would run, run nothing (for checking the script without a GPU).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/h100-equiv-config.sh"  # equiv_config
ROOT=$(pwd)
SELF=$ROOT/scripts/h100-ab.sh
A=$ROOT/build-h100
B=$ROOT/build-h100-alt
[ -d "$B" ] || B=$A  # an A/B of settings on one build
A_ENV=${H100_AB_A_ENV:-}
export OUT=${OUT:-$ROOT/h100-ab-out}
mkdir -p "$OUT" "$OUT/configs" "$OUT/results"
BUDGET=${H100_AB_BUDGET_S:-500}
DRY=${H100_AB_DRY:-0}
T0=$(date +%s)
SUMMARY=$OUT/summary.txt
export BRICKBENCH_CACHE_DIR=${BRICKBENCH_CACHE_DIR:-/tmp/brickbench-cache}
read -r -a SIZES <<<"${H100_AB_SIZES:-0.5b 1.5b 7b}"  # synthetic models made and timed
# B variants: SIZE:TAG:NAME=VALUE (perf_SIZE_TAG steps, A/TAG tables in the summary).
read -r -a VARIANTS <<<"${H100_AB_VARIANTS:-1.5b:B16:CUDA_BRICKS_ATTN_MIN_CHUNK=16 1.5b:B64:CUDA_BRICKS_ATTN_MIN_CHUNK=64 7b:B16:CUDA_BRICKS_ATTN_MIN_CHUNK=16}"

left() { echo $((BUDGET - ($(date +%s) - T0))); }

# Environment of one build (the plugin test finds its plugins and bench through these).
use_build() {
  local b=$1
  export CUDA_BRICKS_PLUGIN=$b/plugins/cuda_bricks.so SCALAR_REF_PLUGIN=$b/plugins/scalar_ref.so BB_BENCH_EXE=$b/bench
}

# step NAME CAP_SECONDS function args...: timeout (SIGINT first, so bench keeps what it measured),
# log in $OUT/NAME.log, OK / FAIL(rc) / TIMEOUT / SKIP in the summary.
step() {
  local name=$1 cap=$2
  shift 2
  local l t
  l=$(left)
  t=$((cap < l ? cap : l))
  if [ "$t" -lt 10 ]; then
    printf '%-14s SKIP     (no time left in the %ss budget)\n' "$name" "$BUDGET" | tee -a "$SUMMARY"
    return 0
  fi
  echo "=== $name (timeout ${t}s, $(left)s left)"
  if [ "$DRY" = 1 ]; then
    echo "    would run: $*"
    printf '%-14s DRY\n' "$name" >>"$SUMMARY"
    return 0
  fi
  local s0 rc dt verdict=OK
  s0=$(date +%s)
  timeout -s INT -k 20 "$t" bash "$SELF" __run "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  dt=$(($(date +%s) - s0))
  if [ $rc -eq 124 ] || [ $rc -eq 130 ] || [ $rc -eq 137 ]; then verdict=TIMEOUT; elif [ $rc -ne 0 ]; then verdict="FAIL($rc)"; fi
  printf '%-14s %-9s %4ss  %s\n' "$name" "$verdict" "$dt" "$(grep -E 'PASSED|FAILED|tests? (passed|failed)|equivalence:|ERROR SUMMARY|RACECHECK SUMMARY|result:' "$OUT/$name.log" | tail -1 | cut -c1-100)" | tee -a "$SUMMARY"
  tail -n 3 "$OUT/$name.log" | sed 's/^/    /'
  return 0
}

# ---- steps (run under `timeout` through __run) -----------------------------------------------------
facts() {
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.limit --format=csv || true
  echo "--- A: $A ${A_ENV:+(with $A_ENV)}"; cat "$A/BUILD_INFO.txt"
  echo "--- B: $B"; cat "$B/BUILD_INFO.txt"
}

tests() {  # tests BUILD TAG [NAME=VALUE,...]
  use_build "$1"
  with_env "${3:-}"
  # With settings: H100_AB_TEST_FILTER (a gtest filter, default all) narrows the suite to their kernels.
  local filter='*'
  [ -n "${3:-}" ] && filter=${H100_AB_TEST_FILTER:-*}
  "$1/tests/cuda_bricks_plugin_test" --gtest_filter="$filter" --gtest_output="json:$OUT/results/plugin_test-$2.json"
}

synth() {
  use_build "$A"
  for m in "${SIZES[@]}"; do
    "$A/bench" synth --model "qwen2.5-coder-$m" --quant q4_k_m --seed 1 --threads "$(nproc)" || return 1
  done
  ls -la "$BRICKBENCH_CACHE_DIR/models"
}

# The perf config of a size, exactly as scripts/h100-run.sh's perf step makes it.
perf_config() {
  local m=$1 cfg=$OUT/configs/qwen$1-perf.yaml
  sed -e 's/^name: \(.*\)$/name: \1-h100-perf/' -e 's/^backends:.*/backends: [cuda_bricks]/' \
    -e 's/^reference:.*/reference: cuda_bricks/' -e 's/^  cv_target:.*/  cv_target: 0.02/' \
    -e 's/^  max_seconds_per_cell:.*/  max_seconds_per_cell: 4/' "$ROOT/configs/qwen$m.yaml" >"$cfg"
  echo "$cfg"
}

# with_env [NAME=VALUE[,NAME=VALUE...]]: exports the variables (a variant of a build's defaults).
with_env() {
  local kv
  [ -n "${1:-}" ] || return 0
  IFS=, read -r -a kvs <<<"$1"
  for kv in "${kvs[@]}"; do export "${kv?}"; echo "env: $kv"; done
}

perf() {  # perf SIZE BUILD TAG [NAME=VALUE], e.g. CUDA_BRICKS_ATTN_MIN_CHUNK=16
  local m=$1 b=$2 tag=$3 cfg
  use_build "$b"
  with_env "${4:-}"
  cfg=$(perf_config "$m")
  "$b/bench" run "$cfg" --no-default-plugin-dirs --plugin-dir "$b/plugins" --out "$OUT/results/perf-$m-$tag.json" --format md
}

# Equivalence vs scalar_ref, the config of scripts/h100-run.sh's equiv step (reference capped).
equiv() {  # equiv SIZE BUILD TAG
  local m=$1 b=$2 tag=$3 cfg=$OUT/configs/qwen$1-equiv.yaml
  use_build "$b"
  equiv_config "$m" >"$cfg"
  "$b/bench" run "$cfg" --no-default-plugin-dirs --plugin-dir "$b/plugins" --out "$OUT/results/equiv-$m-$tag.json" --format md || return 1
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
cb = [c for c in r["cells"] if c.get("backend") == "cuda_bricks"]
bad = [c["id"] for c in cb if (c.get("equivalence") or {}).get("checked") and not c["equivalence"].get("pass")]
ok = sum(1 for c in cb if (c.get("equivalence") or {}).get("pass"))
worst = max(((c["equivalence"].get("nmse") or 0.0, c["id"]) for c in cb if (c.get("equivalence") or {}).get("checked")), default=(0.0, "-"))
print(f"equivalence: {ok} cells pass, {len(bad)} FAIL {bad}; worst NMSE {worst[0]:.3g} ({worst[1]})")
sys.exit(1 if bad else 0)' "$OUT/results/equiv-$m-$tag.json"
}

racecheck() {  # racecheck BUILD [TAG [NAME=VALUE]]
  local cs=/usr/local/cuda/bin/compute-sanitizer
  use_build "$1"
  with_env "${3:-}"
  [ -x "$cs" ] || cs=$(command -v compute-sanitizer || true)
  if [ -z "$cs" ]; then echo "compute-sanitizer not found: skipped"; return 0; fi
  CUDA_BRICKS_TEST_SHAPES=0.5B,1.5B "$cs" --tool racecheck --error-exitcode 9 --print-limit 20 \
    "$1/tests/cuda_bricks_plugin_test" --gtest_filter='CudaVsRef.Attention*' \
    --gtest_output="json:$OUT/results/racecheck-${2:-B}.json"
}

# Nsight Compute on B's large GEMVs at 7B (plain Q4_K 18944x3584, the fused gate+up), when the
# machine has ncu and lets it read the counters: speed of light, memory, occupancy, warp stalls.
ncu_probe() {
  local ncu cfg=$OUT/configs/qwen7b-ncu.yaml
  ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  if [ -z "$ncu" ]; then echo "ncu not found: skipped"; ls /usr/local/cuda/bin | head -50; return 0; fi
  use_build "$B"
  cat >"$cfg" <<'YAML'
name: qwen2.5-coder-7b-ncu
model:
  synthetic: {model: qwen2.5-coder-7b, quant: q4_k_m, seed: 1}
backends: [cuda_bricks]
reference: cuda_bricks
protocol: {warmup_ms: 0, warmup_min_iterations: 1, min_samples: 2, max_samples: 2, cv_target: 0.5,
           max_seconds_per_cell: 1, seed: 42, order: sequential, cache: cold}
bricks:
  - {brick: gemv, type: Q4_K}
  - {brick: ffn}
YAML
  local k
  for k in gemv_kernel gate_up_kernel; do
    "$ncu" --target-processes all -k regex:"$k" --launch-skip 4 --launch-count 2 \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats \
      --section SchedulerStats --section LaunchStats \
      "$B/bench" run "$cfg" --no-default-plugin-dirs --plugin-dir "$B/plugins" --out "$OUT/results/ncu-run.json" || return 1
  done
}

# Per-kernel device times of one decode token (the graph's kernel nodes, each profiled alone by
# Nsight Compute: no PDL overlap, caches and clocks left as they are) at context CTX, SIZE's model.
# Lands in ncu-decode-SIZE.csv; the summary gets the time per kernel kind and its share of a token.
ncu_decode() {  # ncu_decode SIZE CTX
  local m=$1 ctx=$2 ncu cfg=$OUT/configs/qwen$1-ncu-decode.yaml csv=$OUT/ncu-decode-$1.csv
  ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  if [ -z "$ncu" ]; then echo "ncu not found: skipped"; return 0; fi
  use_build "$B"
  cat >"$cfg" <<YAML
name: qwen2.5-coder-$m-ncu-decode
model:
  synthetic: {model: qwen2.5-coder-$m, quant: q4_k_m, seed: 1}
backends: [cuda_bricks]
reference: cuda_bricks
protocol: {warmup_ms: 0, warmup_min_iterations: 1, min_samples: 2, max_samples: 2, cv_target: 0.5,
           max_seconds_per_cell: 30, seed: 42, order: sequential, cache: warm}
bricks:
  - {brick: decode, context: [$ctx]}
YAML
  # Only the decode's kernels (not the bandwidth probe's copy); 3 tokens' worth of nodes at most.
  "$ncu" --target-processes all -k regex:'(gemv|gate_up|attention|embed|rms_norm|rope|quantize|advance)' \
    --launch-count 600 --metrics gpu__time_duration.sum --cache-control none --clock-control none --csv \
    "$B/bench" run "$cfg" --no-default-plugin-dirs --plugin-dir "$B/plugins" --out "$OUT/results/ncu-decode-$m.json" \
    >"$csv" || return 1
  python3 - "$csv" <<'PY'
import csv, re, sys
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"')) if len(r) > 10]
head, rows = rows[0], rows[1:]
ki, ni, vi, ui = head.index("Kernel Name"), head.index("Metric Name"), head.index("Metric Value"), head.index("Metric Unit")
gi = head.index("Grid Size") if "Grid Size" in head else None
seq = []
for r in rows:
    if r[ni] != "gpu__time_duration.sum":
        continue
    v = float(r[vi].replace(",", ""))
    v = v / 1000.0 if r[ui] in ("nsecond", "ns") else v * 1000.0 if r[ui] in ("msecond", "ms") else v
    k = re.search(r"([A-Za-z_0-9]+_kernel)(<.*?>)?\(", r[ki])
    name = re.sub(r"\([^()]*\)", "", k.group(1) + (k.group(2) or "")) if k else r[ki][:60]
    seq.append((name + (" " + r[gi].replace(" ", "") if gi is not None else ""), v))
# One token: from the last embed_kernel back to the one before it.
emb = [i for i, (n, _) in enumerate(seq) if n.startswith("embed")]
tok = seq[emb[-2]:emb[-1]] if len(emb) >= 2 else seq
tot = sum(v for _, v in tok)
print(f"{len(seq)} kernels profiled; one token = {len(tok)} kernels, {tot:.1f} us of kernel time (serialized)")
agg = {}
for n, v in tok:
    a = agg.setdefault(n, [0, 0.0])
    a[0] += 1
    a[1] += v
for n, (c, v) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    print(f"  {n[:60]:<60} x{c:<4} {v:9.1f} us {100 * v / tot:5.1f}%  {v / c:7.2f} us each")
PY
}

memcheck() {  # memcheck BUILD [TAG [NAME=VALUE,...]]
  local cs=/usr/local/cuda/bin/compute-sanitizer
  use_build "$1"
  with_env "${3:-}"
  [ -x "$cs" ] || cs=$(command -v compute-sanitizer || true)
  if [ -z "$cs" ]; then echo "compute-sanitizer not found: skipped"; return 0; fi
  CUDA_BRICKS_TEST_SHAPES=0.5B "$cs" --tool memcheck --error-exitcode 9 --print-limit 20 \
    "$1/tests/cuda_bricks_plugin_test" --gtest_filter='CudaVsRef.*:CudaSession.*' \
    --gtest_output="json:$OUT/results/memcheck-${2:-B}.json"
}

# Per-cell medians (us) and tok/s of A and B side by side; B/A < 1 = B faster.
ab_table() {
  python3 - "$OUT/results" "${A_ENV:+ with $A_ENV}" "$(basename "$B")" "${SIZES[@]/%/:B}" "${VARIANTS[@]}" <<'PY'
import json, os, sys
d, a_env, b_dir = sys.argv[1:4]
def load(p):
    try:
        r = json.load(open(p))
    except Exception as e:
        return None, str(e)
    return {c["id"]: c for c in r.get("cells", []) if c.get("backend") == "cuda_bricks"}, None
for arg in sys.argv[4:]:
    m, tb_, env = (arg.split(":", 2) + [""])[:3]
    a, ea = load(os.path.join(d, f"perf-{m}-A.json"))
    b, eb = load(os.path.join(d, f"perf-{m}-{tb_}.json"))
    print(f"\n--- {m}: A = build-h100{a_env}, {tb_} = {b_dir}" + (f" with {env}" if env else "")
          + (f"  (A: {ea})" if ea else "") + (f"  (B: {eb})" if eb else ""))
    if a is None and b is None:
        continue
    a = a or {}; b = b or {}
    print(f"{'cell':<22} {'A_us':>9} {'B_us':>9} {'B/A':>6} {'A_tok/s':>8} {'B_tok/s':>8} {'A%ceil':>6} {'B%ceil':>6}  status A / B")
    for cid in list(a) + [k for k in b if k not in a]:
        ca, cb = a.get(cid, {}), b.get(cid, {})
        ma = (ca.get("stats") or {}).get("median_s"); mb = (cb.get("stats") or {}).get("median_s")
        ta, tb = ca.get("tok_s"), cb.get("tok_s")
        fa = (ca.get("roofline") or {}).get("fraction_of_ceiling"); fb = (cb.get("roofline") or {}).get("fraction_of_ceiling")
        if ta and tb:
            ratio = f"{ta / tb:.3f}"
        elif ma and mb:
            ratio = f"{mb / ma:.3f}"
        else:
            ratio = "-"
        f = lambda v, s, k=1e6: f"{v * k:.{s}f}" if v else "-"
        print(f"{cid[:22]:<22} {f(ma, 2):>9} {f(mb, 2):>9} {ratio:>6} {f(ta, 0, 1):>8} {f(tb, 0, 1):>8} {f(fa, 0, 100):>6} {f(fb, 0, 100):>6}  {ca.get('status', '-')} / {cb.get('status', '-')}")
print("\n(B/A: time ratio, or tok/s A/B for decode/generate; < 1 means B is faster)")
PY
}

# ---- what to run --------------------------------------------------------------------------------
if [ "${1:-}" = __run ]; then
  shift
  "$@"
  exit $?
fi
: >"$SUMMARY"
# Two full builds and the working tree (the oracle data alone is 37 MB) pass the 64 MiB a device call
# carries: A may carry its plugins/cuda_bricks.so alone, and takes bench and scalar_ref from B.
if [ "$A" != "$B" ]; then
  for f in bench plugins/scalar_ref.so; do
    if [ ! -e "$A/$f" ] && [ -e "$B/$f" ]; then
      mkdir -p "$(dirname "$A/$f")" && cp "$B/$f" "$A/$f" && echo "h100-ab: $A/$f taken from $B" | tee -a "$SUMMARY"
    fi
  done
fi
for b in "$A" "$B"; do
  if [ ! -x "$b/bench" ] || [ ! -f "$b/plugins/cuda_bricks.so" ]; then
    echo "h100-ab: $b/bench or its plugins are missing: carry build-h100 and build-h100-alt" | tee -a "$SUMMARY"
    exit 2
  fi
done
echo "h100-ab: $(date -u +%FT%TZ), budget ${BUDGET}s, A=$A${A_ENV:+ with $A_ENV} B=$B, variants: ${VARIANTS[*]}" | tee -a "$SUMMARY"
step facts 20 facts
[ "${H100_AB_SKIP_TESTS_B:-0}" = 1 ] || step tests_B 200 tests "$B" B
read -r -a TEST_ENVS <<<"${H100_AB_TEST_ENVS:-}"
for v in "${TEST_ENVS[@]}"; do
  IFS=: read -r tag env <<<"$v"
  step "tests_$tag" 200 tests "$B" "$tag" "$env"
  step "memcheck_$tag" 70 memcheck "$B" "$tag" "$env"
done
step synth 90 synth
for m in "${SIZES[@]}"; do
  cap=50
  [ "$m" = 7b ] && cap=75
  step "perf_${m}_A" "$cap" perf "$m" "$A" A "$A_ENV"
  # One build, defaults on both sides: B would be an A/A of A; the variants are the comparisons.
  if [ "$A" != "$B" ] || [ -n "$A_ENV" ]; then step "perf_${m}_B" "$cap" perf "$m" "$B" B; fi
done
# B with another attention chunk floor (the 1.5B/7B attention@512 regression: 64-row chunks at
# head_dim 128 were two serial block steps and few splits).
for v in "${VARIANTS[@]}"; do
  IFS=: read -r m tag env <<<"$v"
  cap=50
  [ "$m" = 7b ] && cap=75
  step "perf_${m}_$tag" "$cap" perf "$m" "$B" "$tag" "$env"
done
if [ "${H100_AB_SKIP_EQUIV:-0}" != 1 ]; then  # =1: B's defaults are A's code (a settings trial)
  step equiv_0.5b_B 80 equiv 0.5b "$B" B
  step equiv_1.5b_B 60 equiv 1.5b "$B" B
fi
# Attention (ticket-merged split-KV, shared memory) is where races would be.
step racecheck_B 75 racecheck "$B"
step memcheck_B 70 memcheck "$B"
[ "${H100_AB_NCU:-0}" = 1 ] && step ncu_B 120 ncu_probe
# H100_AB_NCU_DECODE="1.5b:512 7b:512": per-kernel times of a decode token (ncu_decode).
read -r -a NCU_DECODE <<<"${H100_AB_NCU_DECODE:-}"
for v in "${NCU_DECODE[@]}"; do
  IFS=: read -r m ctx <<<"$v"
  step "ncu_decode_$m" 120 ncu_decode "$m" "$ctx"
  grep -A40 "kernels profiled" "$OUT/ncu_decode_$m.log" >>"$SUMMARY"
done
{
  echo
  echo "================ A/B ($(date -u +%FT%TZ), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), $(($(date +%s) - T0))s)"
  ab_table
} | tee -a "$SUMMARY"
