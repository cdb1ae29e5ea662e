#!/usr/bin/env bash
# Runs ON THE H200 MACHINE (issue 16), from the repository root, with .peer/ carried: build-h100.txz
# (scripts/h200-build.sh; unpacked to build-h100/ when that is absent) and llamacpp.txz (llama.cpp's
# source from node-llama-cpp, ../shared/peer/get_llamacpp.sh, trimmed and xz-packed). Every step is time-boxed; a failing step is recorded, the next runs.
# Everything lands in $OUT; the last lines printed are a summary table, and $OUT/h200.tgz holds it all.
#
#   scripts/h200-run.sh STEP...   steps, in the order given:
#     facts                GPU, driver, clocks, the build's facts
#     llama_start          unpack llama.cpp and build llama-bench in the background (~4 min, 12 jobs)
#     llama_wait           wait for that build
#     probe                tests/cuda_bricks/bandwidth_probe: read and copy kernels vs cudaMemcpy D2D
#     synth                bench synth of every size in $H200_SIZES (default 0.5b 1.5b 3b 7b 32b)
#     perf:SIZE[:TAG[:VAR=VAL/...]]  `bench run` cuda_bricks alone: copy probe, decode @512 and @4096
#                          (CV target 2%, 4 s a cell at most), under the given environment (A/B)
#     llama:SIZE           llama-bench tg128 at depth 0 and 4096 (FA on, all layers on the GPU), 3 reps
#     ncu:SIZE:CTX[:VAR=VAL/...:TAG]  per-kernel device times of one decode token through Nsight Compute
#                          (H200_NCU_METRICS: the metrics collected, time and DRAM bytes read first)
#     ncu_gemv             Nsight Compute sections of the 7B Q4_K GEMV, gate+up and down
#     ncu_sec:SIZE:REGEX[:VAR=VAL/...[:TAG]]  the same sections for 3 launches of the kernels matching
#                          REGEX in a decode@512 token (the 41st on), under an environment
#     test:TAG:FILTER[:VAR=VAL/...]  (FILTER: gtest patterns joined by +) the kernel tests vs scalar_ref (gtest filter) under an environment
#     memcheck|racecheck:TAG:FILTER:SHAPES[:VAR=VAL/...]  compute-sanitizer on the kernel tests
#     h100:STEP            a step of scripts/h100-run.sh (unit gpu_tests oracle equiv_0.5b ... memcheck
#                          racecheck logits_7b), its output under $OUT/h100/
# H200_BUDGET_S (default 560) caps the whole invocation; steps that would start past it are skipped.
set -u
ROOT=$(pwd)
SELF=$ROOT/scripts/h200-run.sh
B=$ROOT/build-h100
export OUT=${OUT:-$ROOT/h200-out}
mkdir -p "$OUT/configs" "$OUT/results"
BUDGET=${H200_BUDGET_S:-560}
T0=${H200_T0:-$(date +%s)}
export H200_T0=$T0
SUMMARY=$OUT/summary.txt
export BRICKBENCH_CACHE_DIR=${BRICKBENCH_CACHE_DIR:-/tmp/brickbench-cache}
export CUDA_BRICKS_PLUGIN=$B/plugins/cuda_bricks.so SCALAR_REF_PLUGIN=$B/plugins/scalar_ref.so BB_BENCH_EXE=$B/bench
PLUG=(--no-default-plugin-dirs --plugin-dir "$B/plugins")
SIZES=${H200_SIZES:-0.5b 1.5b 3b 7b 32b}
LLAMA=/tmp/llama
left() { echo $((BUDGET - ($(date +%s) - T0))); }

step() {  # step NAME CAP command...
  local name=$1 cap=$2
  shift 2
  local l t s0 rc dt verdict
  l=$(left)
  t=$((cap < l ? cap : l))
  if [ "$t" -lt 10 ]; then
    printf '%-22s SKIP     (budget %ss spent)\n' "$name" "$BUDGET" | tee -a "$SUMMARY"
    return 0
  fi
  echo "=== $name (timeout ${t}s, $(left)s left)"
  s0=$(date +%s)
  timeout -s INT -k 20 "$t" bash "$SELF" __run "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  dt=$(($(date +%s) - s0))
  verdict=OK
  if [ $rc -eq 124 ] || [ $rc -eq 130 ] || [ $rc -eq 137 ]; then verdict=TIMEOUT; elif [ $rc -ne 0 ]; then verdict="FAIL($rc)"; fi
  printf '%-22s %-9s %4ss  %s\n' "$name" "$verdict" "$dt" "$(grep -E 'PASSED|FAILED|pass|FAIL|best|tok/s|built' "$OUT/$name.log" | tail -1 | cut -c1-100)" | tee -a "$SUMMARY"
  tail -n 3 "$OUT/$name.log" | sed 's/^/    /'
}

model_path() { cat "$OUT/models/$1.path" 2>/dev/null; }

# ---- steps ------------------------------------------------------------------------------------
facts() {
  date -u +%FT%TZ
  nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,clocks.sm,clocks.mem,power.limit --format=csv
  uname -a; nproc; free -g | head -2; df -h /tmp | tail -1
  cat "$B/BUILD_INFO.txt"
  "$B/bench" plugins "${PLUG[@]}"
}

llama_start() {
  rm -rf "$LLAMA" && mkdir -p "$LLAMA/src" && tar xJf "$ROOT/.peer/llamacpp.txz" -C "$LLAMA/src" || return 1
  cat "$LLAMA/src/.peer-version"
  (
    cd "$LLAMA" && cmake -S src -B llb -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release \
      -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON >"$OUT/llama-configure.log" 2>&1 &&
      cmake --build llb -j "${H200_LLAMA_JOBS:-12}" --target llama-bench >"$OUT/llama-build.log" 2>&1
    echo "rc=$?" >"$LLAMA/done"
  ) </dev/null >/dev/null 2>&1 &
  echo "llama-bench build started in the background"
}

llama_wait() {
  while [ ! -f "$LLAMA/done" ]; do sleep 2; done
  cat "$LLAMA/done"
  tail -3 "$OUT/llama-build.log"
  grep -q 'rc=0' "$LLAMA/done" && ls -la "$LLAMA/llb/bin/llama-bench" && echo "llama-bench built"
}

probe() { "$B/tests/cuda_bricks_bandwidth_probe" 2 20; }

synth() {
  mkdir -p "$OUT/models"
  local m p
  for m in $SIZES; do
    "$B/bench" synth --model "qwen2.5-coder-$m" --quant q4_k_m --seed 1 --threads "$(nproc)" | tee "$OUT/models/$m.txt" || return 1
    p=$(awk '/^path/{print $2}' "$OUT/models/$m.txt")
    echo "$p" >"$OUT/models/$m.path"
    sha256sum "$p" | cut -c1-16 >>"$OUT/models/$m.txt" &
  done
  wait
  df -h /tmp | tail -1
}

# perf SIZE TAG [VAR=VAL/...]
perf() {
  local m=$1 tag=${2:-A} envs=${3:-} cfg
  cfg=$OUT/configs/qwen$m-decode.yaml
  cat >"$cfg" <<YAML
name: qwen2.5-coder-$m-h200-decode
model:
  synthetic: {model: qwen2.5-coder-$m, quant: q4_k_m, seed: 1}
backends: [cuda_bricks]
reference: cuda_bricks
protocol: {warmup_ms: 200, warmup_min_iterations: 10, min_samples: 20, max_samples: 500, cv_target: 0.02,
           max_seconds_per_cell: 4, seed: 42, order: interleaved, cache: cold}
bricks:
  - {brick: decode, context: [512, 4096]}
YAML
  local e
  IFS=/ read -r -a e <<<"$envs"
  env "${e[@]}" "$B/bench" run "$cfg" "${PLUG[@]}" --out "$OUT/results/perf-$m-$tag.json" --format md
}

llama() {
  local m=$1 p
  p=$(model_path "$m")
  [ -n "$p" ] || { echo "no model file for $m"; return 1; }
  LD_LIBRARY_PATH=$LLAMA/llb/bin "$LLAMA/llb/bin/llama-bench" -m "$p" -ngl 99 -fa 1 -p 0 -n 128 -d 0,4096 -r 3 -o json \
    >"$OUT/results/llama-$m.json" || return 1
  python3 - "$OUT/results/llama-$m.json" "$m" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    print(f"llama-bench {sys.argv[2]} depth {r.get('n_depth')} tg{r.get('n_gen')}: {r['avg_ts']:.1f} tok/s (sd {r['stddev_ts']:.2f})")
PY
}

ncu_bin() { command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1; }

# Per-kernel device times of one decode token (each graph kernel profiled alone: no PDL overlap).
ncu_decode() {
  local m=$1 ctx=$2 ncu cfg=$OUT/configs/qwen$1-ncu-decode.yaml csv=$OUT/ncu-decode-$1-$2${4:+-$4}.csv e
  IFS=/ read -r -a e <<<"${3:-}"
  ncu=$(ncu_bin)
  [ -n "$ncu" ] || { echo "ncu not found"; return 1; }
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
  env "${e[@]}" "$ncu" --target-processes all -k regex:'(gemv|gate_up|attention|embed|rms_norm|rope|quantize|advance)' \
    --launch-count 900 --metrics "${H200_NCU_METRICS:-gpu__time_duration.sum,dram__bytes_read.sum}" --cache-control none --clock-control none --csv \
    "$B/bench" run "$cfg" "${PLUG[@]}" --out "$OUT/results/ncu-decode-$m${4:+-$4}.json" >"$csv" || return 1
  python3 - "$csv" "$m" "$ctx" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"')) if len(r) > 10]
head, rows = rows[0], rows[1:]
ki, ni, vi, ui = head.index("Kernel Name"), head.index("Metric Name"), head.index("Metric Value"), head.index("Metric Unit")
idi = head.index("ID")
per = collections.OrderedDict()
import re
eps = {"0": "store", "1": "resnorm", "2": "qkv", "3": "argmax"}
for r in rows:
    full = r[ki]
    mk = re.search(r"(\w+_kernel)", full)
    k = mk.group(1).replace("_kernel", "") if mk else full[:20]
    mt = re.search(r"<([^>]*)>", full)
    targs = [a.strip() for a in mt.group(1).split(",")] if mt else []
    if k == "gemv" and targs:
        me = re.search(r"\)(\d)", targs[0])
        k = "gemv_" + eps.get(me.group(1) if me else targs[0], targs[0]) + ("_ks" + targs[1] if len(targs) > 1 else "")
    elif k == "gemv_res" and targs:
        me = re.search(r"\)(\d)", targs[0])
        k = "res_" + eps.get(me.group(1) if me else targs[0], targs[0]) + "_t" + targs[1]
    elif targs:
        k = k + "<" + ",".join(targs) + ">"
    rec = per.setdefault(r[idi], {"k": k})
    v = float(r[vi].replace(",", ""))
    u = r[ui]
    if r[ni] == "gpu__time_duration.sum":
        rec["ns"] = v * {"nsecond": 1, "usecond": 1e3, "msecond": 1e6}.get(u, 1)
    elif r[ni] == "dram__bytes_read.sum":
        rec["b"] = v * {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(u, 1)
recs = list(per.values())
# One token: the kernels from one embed_kernel to the next (the last complete one).
starts = [i for i, r in enumerate(recs) if r["k"].startswith("embed")]
if len(starts) >= 2:
    tok = recs[starts[-2]:starts[-1]]
else:
    tok = recs
tot = sum(r.get("ns", 0) for r in tok)
agg = collections.OrderedDict()
for r in tok:
    a = agg.setdefault(r["k"], [0, 0.0, 0.0])
    a[0] += 1; a[1] += r.get("ns", 0); a[2] += r.get("b", 0)
print(f"ncu decode {sys.argv[2]} @{sys.argv[3]}: {len(tok)} kernels, sum of kernel times {tot/1e3:.1f} us (each alone, no PDL overlap)")
print(f"{'kernel':<20} {'n':>4} {'us':>9} {'share':>6} {'us/each':>8} {'MB read':>8} {'GB/s':>7}")
for k, (n, ns, b) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
    print(f"{k:<20} {n:>4} {ns/1e3:>9.1f} {100*ns/tot:>5.1f}% {ns/1e3/n:>8.2f} {b/1e6:>8.1f} {b/ns if ns else 0:>7.0f}")
PY
}

ncu_gemv() {
  local ncu cfg=$OUT/configs/qwen7b-ncu.yaml
  ncu=$(ncu_bin)
  [ -n "$ncu" ] || { echo "ncu not found"; return 1; }
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
  "$ncu" --target-processes all -k regex:'(gemv_kernel|gate_up_kernel)' --launch-skip 4 --launch-count 3 --clock-control none \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats \
    --section SchedulerStats --section LaunchStats \
    "$B/bench" run "$cfg" "${PLUG[@]}" --out "$OUT/results/ncu-run.json"
}

# ncu_sec SIZE REGEX [VAR=VAL/...] [TAG]: Nsight Compute sections (speed of light, memory, scheduler,
# warp states, occupancy) of 3 launches of the kernels matching REGEX in one decode@512 token.
ncu_sec() {
  local m=$1 re=$2 ncu cfg=$OUT/configs/qwen$1-ncu-sec.yaml e
  IFS=/ read -r -a e <<<"${3:-}"
  ncu=$(ncu_bin)
  [ -n "$ncu" ] || { echo "ncu not found"; return 1; }
  cat >"$cfg" <<YAML
name: qwen2.5-coder-$m-ncu-sec
model:
  synthetic: {model: qwen2.5-coder-$m, quant: q4_k_m, seed: 1}
backends: [cuda_bricks]
reference: cuda_bricks
protocol: {warmup_ms: 0, warmup_min_iterations: 1, min_samples: 2, max_samples: 2, cv_target: 0.5,
           max_seconds_per_cell: 30, seed: 42, order: sequential, cache: warm}
bricks:
  - {brick: decode, context: [512]}
YAML
  env "${e[@]}" "$ncu" --target-processes all -k regex:"$re" --launch-skip 40 --launch-count 3 --clock-control none \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section WarpStateStats \
    --section SchedulerStats --section LaunchStats \
    "$B/bench" run "$cfg" "${PLUG[@]}" --out "$OUT/results/ncu-sec-$m${4:+-$4}.json"
}

gtest() {  # gtest TAG FILTER [VAR=VAL/...]
  local e
  IFS=/ read -r -a e <<<"${3:-}"
  env "${e[@]}" "$B/tests/cuda_bricks_plugin_test" --gtest_filter="${2//+/:}" --gtest_output="json:$OUT/results/test-$1.json"
}

# sanitize TOOL TAG FILTER SHAPES [VAR=VAL/...]: compute-sanitizer on the kernel tests.
sanitize() {
  local cs=/usr/local/cuda/bin/compute-sanitizer e
  [ -x "$cs" ] || cs=$(command -v compute-sanitizer)
  IFS=/ read -r -a e <<<"${5:-}"
  env CUDA_BRICKS_TEST_SHAPES="$4" "${e[@]}" "$cs" --tool "$1" --error-exitcode 9 --print-limit 20 \
    "$B/tests/cuda_bricks_plugin_test" --gtest_filter="${3//+/:}" --gtest_output="json:$OUT/results/$1-$2.json"
}

h100() {
  mkdir -p "$OUT/h100"
  OUT=$OUT/h100 H100_BUDGET_S=$(left) bash "$ROOT/scripts/h100-run.sh" "$@"
}

summary_table() {
  echo
  echo "================ summary ($(date -u +%FT%TZ), $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))"
  cat "$SUMMARY"
  grep -h '^best\|cudaMemcpy' "$OUT/probe.log" 2>/dev/null
  python3 - "$OUT/results" <<'PY'
import json, sys, glob, os
d = sys.argv[1]
llama = {}
for f in glob.glob(os.path.join(d, "llama-*.json")):
    m = os.path.basename(f)[6:-5]
    try:
        for r in json.load(open(f)):
            llama[(m, r.get("n_depth", 0))] = r["avg_ts"]
    except Exception as e:
        print(f"{f}: {e}")
print(f"{'run':<16} {'cell':<18} {'tok/s|GB/s':>10} {'cv%':>5}  {'llama tg128':>11} {'ratio':>6}")
for f in sorted(glob.glob(os.path.join(d, "perf-*.json"))):
    name = os.path.basename(f)[5:-5]
    m = name.split("-")[0]
    try:
        r = json.load(open(f))
    except Exception as e:
        print(f"{name}: unreadable ({e})"); continue
    for c in r.get("cells", []):
        st = c.get("stats") or {}
        cv = st.get("cv")
        if c.get("brick") == "copy":
            g = (c.get("roofline") or {}).get("gbps")
            print(f"{name:<16} {'copy probe':<18} {g or 0:>10.0f} {100*cv if cv is not None else 0:>5.1f}")
            continue
        tok = c.get("tok_s")
        ctx = c.get("context") or (512 if "512" in c.get("id", "") else 4096)
        l = llama.get((m, 0 if ctx == 512 else 4096))
        ratio = f"{tok / l:.2f}x" if tok and l else "-"
        print(f"{name:<16} {c.get('id','?')[:18]:<18} {tok or 0:>10.1f} {100*cv if cv is not None else 0:>5.1f}  {l or 0:>11.1f} {ratio:>6}  {c.get('status','')}")
PY
}

# ---- what to run ------------------------------------------------------------------------------
if [ "${1:-}" = __run ]; then
  shift
  "$@"
  exit $?
fi
: >"$SUMMARY"
[ -x "$B/bench" ] || [ ! -f "$ROOT/.peer/build-h100.txz" ] || tar xJf "$ROOT/.peer/build-h100.txz" -C "$ROOT"
[ -x "$B/bench" ] || { echo "h200-run: $B/bench missing: scripts/h200-build.sh here, carry build-h100" | tee -a "$SUMMARY"; exit 2; }
for a in "$@"; do
  IFS=: read -r s x y z w <<<"$a"  # (a gtest filter's ':' is written '+' here)
  case $s in
    facts) step facts 30 facts ;;
    llama_start) step llama_start 30 llama_start ;;
    llama_wait) step llama_wait 400 llama_wait ;;
    probe) step probe 90 probe ;;
    synth) step synth 300 synth ;;
    perf) step "perf-$x-${y:-A}" 150 perf "$x" "${y:-A}" "${z:-}" ;;
    llama) step "llama-$x" 120 llama "$x" ;;
    ncu) step "ncu-$x-$y${w:+-$w}" 150 ncu_decode "$x" "$y" "${z:-}" "${w:-}" ;;
    ncu_gemv) step ncu_gemv 120 ncu_gemv ;;
    ncu_sec) step "ncu-sec-$x${w:+-$w}" 120 ncu_sec "$x" "$y" "${z:-}" "${w:-}" ;;
    h100) step "h100-$x" 200 h100 "$x" ;;
    test) step "test-$x" 150 gtest "$x" "$y" "${z:-}" ;;
    memcheck | racecheck) step "$s-$x" 150 sanitize "$s" "$x" "$y" "$z" "${w:-}" ;;
    *) printf '%-22s UNKNOWN step\n' "$a" | tee -a "$SUMMARY" ;;
  esac
done
summary_table | tee "$OUT/summary_table.txt"
# At most 8 files come back from a device call: everything in one archive, and the table beside it.
(cd "$OUT" && tar czf /tmp/h200.tgz . && find . -mindepth 1 -delete && mv /tmp/h200.tgz "$OUT/h200.tgz" &&
  tar xzf h200.tgz ./summary_table.txt ./summary.txt)
