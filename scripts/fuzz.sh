#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, -DBRICKBENCH_FUZZ=ON) into build-fuzz/ and runs
# one of them on its committed seed corpus.
#
#   scripts/fuzz.sh gguf_fuzz|yaml_fuzz|result_json_fuzz|ollama_fuzz [extra libFuzzer flags...]
#   scripts/fuzz.sh build                   # only build
#
# A campaign stops at 10 million executions or 30 minutes, whichever comes first (override with
# FUZZ_RUNS / FUZZ_SECONDS), at the lowest CPU priority, one process:
#   nice -n 19 fuzz/<target> -runs=$FUZZ_RUNS -max_total_time=$FUZZ_SECONDS -jobs=1 -workers=1 \
#        build-fuzz/corpus/<target> fuzz/corpus/<seeds>
# New inputs go to build-fuzz/corpus/<target> (the committed fuzz/corpus/ stays the seeds), crashes
# to build-fuzz/artifacts/<target>/, the log to build-fuzz/run/<target>/fuzz-0.log. Reproduce a
# crash with: build-fuzz/fuzz/<target> build-fuzz/artifacts/<target>/crash-...
# Warnings are not errors here: the gcc build of scripts/test.sh is the -Werror gate, and clang 14
# warns about some of rapidjson's operators in C++20 mode.
# Seeds: fuzz/corpus/gguf (written by fuzz/make_gguf_seeds.py from tests/data/oracle),
# fuzz/corpus/yaml (configs/*.yaml and the examples of docs/CONFIG.md), fuzz/corpus/result_json (small
# result files of `bench run` and damaged ones), fuzz/corpus/ollama (NDJSON streams and bodies as the
# stand-in and Ollama send them, each prefixed by the byte that chooses the piece size).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
target=${1:?usage: scripts/fuzz.sh gguf_fuzz|yaml_fuzz|result_json_fuzz|ollama_fuzz|build [libFuzzer flags...]}
shift

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: needs clang (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBRICKBENCH_FUZZ=ON -DBRICKBENCH_SANITIZE=ON -DBRICKBENCH_TESTS=OFF -DBRICKBENCH_WERROR=OFF >/dev/null
nice -n 19 cmake --build "$build_dir" -j "${FUZZ_BUILD_JOBS:-2}" --target gguf_fuzz yaml_fuzz result_json_fuzz ollama_fuzz
[ "$target" = build ] && exit 0

case "$target" in
  gguf_fuzz) seeds=fuzz/corpus/gguf; max_len=262144 ;;
  yaml_fuzz) seeds=fuzz/corpus/yaml; max_len=16384; set -- -dict="$root/fuzz/yaml.dict" "$@" ;;
  result_json_fuzz) seeds=fuzz/corpus/result_json; max_len=65536; set -- -dict="$root/fuzz/json.dict" "$@" ;;
  ollama_fuzz) seeds=fuzz/corpus/ollama; max_len=16384; set -- -dict="$root/fuzz/json.dict" "$@" ;;
  *) echo "fuzz.sh: unknown target '$target' (gguf_fuzz, yaml_fuzz, result_json_fuzz, ollama_fuzz)" >&2; exit 2 ;;
esac
corpus=$root/$build_dir/corpus/$target
artifacts=$root/$build_dir/artifacts/$target
run_dir=$root/$build_dir/run/$target
mkdir -p "$corpus" "$artifacts" "$run_dir"
cd "$run_dir"  # -jobs=1 writes fuzz-0.log into the current directory
exec nice -n 19 "$root/$build_dir/fuzz/$target" \
  -runs="${FUZZ_RUNS:-10000000}" -max_total_time="${FUZZ_SECONDS:-1800}" -jobs=1 -workers=1 \
  -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$@" "$corpus" "$root/$seeds"
