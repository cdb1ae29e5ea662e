#!/usr/bin/env bash
# The Ollama comparison of the README's performance section, reproducible on any machine with Node.js:
# the stand-in server (tests/ollama_standin: real llama.cpp inference through node-llama-cpp, CPU)
# serves the synthetic Qwen2.5-Coder Q4_K_M file from a throw-away Ollama store (manifest + blob, the
# way a real Ollama keeps it), and `bench run` measures it through ollama_client beside our CPU
# backends on that very file (same_weights in the result).
#
#   scripts/ollama-compare.sh [--model qwen2.5-coder-0.5b] [--threads 2] [--tokens 64] [--out FILE]
#
# Against a real Ollama instead: `ollama pull qwen2.5-coder:0.5b`, then a config with
# `model: {ollama: "qwen2.5-coder:0.5b"}` (docs/OLLAMA.md). Exit status: bench run's.
set -euo pipefail
cd "$(dirname "$0")/.."
model=qwen2.5-coder-0.5b threads=2 tokens=64 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ollama-compare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
bench=${BENCH:-build/bench}
[ -x "$bench" ] || { echo "ollama-compare.sh: $bench not found: run scripts/build.sh first" >&2; exit 2; }
command -v node >/dev/null || { echo "ollama-compare.sh: node is not installed (scripts/install-deps.sh)" >&2; exit 2; }
if [ ! -f tests/ollama_standin/node_modules/node-llama-cpp/package.json ]; then
  (cd tests/ollama_standin && npm ci --ignore-scripts --no-audit --no-fund)
fi
[ -n "$out" ] || out=results/$(hostname -s)/$(date -u +%F)/ollama-compare-${model#qwen2.5-coder-}.json

gguf=$("$bench" synth --model "$model" | awk '$1 == "path" { print $2 }')
hex=$(sha256sum "$gguf" | cut -d' ' -f1)
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
tag_name=${model%-*}-synth tag_size=${model##*-}   # qwen2.5-coder-synth:0.5b
mkdir -p "$work/models/blobs" "$work/models/manifests/registry.ollama.ai/library/$tag_name"
ln -s "$(readlink -f "$gguf")" "$work/models/blobs/sha256-$hex"
printf '{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:%s","size":%s}]}' \
  "$hex" "$(stat -L -c %s "$gguf")" >"$work/models/manifests/registry.ollama.ai/library/$tag_name/$tag_size"

mkfifo "$work/ready"
node tests/ollama_standin/server.mjs --port 0 --models-dir "$work/models" --threads "$threads" \
  >"$work/ready" 2>"$work/standin.log" &
server_pid=$!
url=""
while read -r -t 120 line; do
  case "$line" in "listening on "*) url=${line#listening on }; break ;; esac
done <"$work/ready"
[ -n "$url" ] || { echo "ollama-compare.sh: the stand-in did not start:" >&2; cat "$work/standin.log" >&2; exit 1; }
echo "stand-in (node-llama-cpp) at $url serving $tag_name:$tag_size = $gguf ($threads threads)"

cat >"$work/compare.yaml" <<EOF
name: ollama-compare-${model#qwen2.5-coder-}
model: {ollama: "$tag_name:$tag_size"}
backends: [scalar_ref, avx_bricks, ollama_client]
threads: $threads
protocol: {warmup_ms: 500, warmup_min_iterations: 2, min_samples: 10, max_samples: 40, cv_target: 0.03,
           max_seconds_per_cell: 60, seed: 42}
backend_caps:
  scalar_ref: {warmup_ms: 0, warmup_min_iterations: 1, min_samples: 1, max_samples: 1, max_seconds_per_cell: 1,
               reference_only: true}
backend_options:
  ollama_client: {host: "$url", num_thread: $threads}
bricks:
  - {brick: decode, context: 512}
  - {brick: generate, tokens: $tokens}
EOF
mkdir -p "$(dirname "$out")"
OLLAMA_MODELS="$work/models" "$bench" run "$work/compare.yaml" --out "$out"
