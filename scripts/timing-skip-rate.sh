#!/usr/bin/env bash
# How often each timing test (ctest label `timing`) passes, skips and fails in N runs on this machine
# (docs/VALIDATION.md records it). Usage: scripts/timing-skip-rate.sh [BUILD_DIR] [N]
# Prints one line per run (time, 1-minute load average, each test's outcome) and a tally per test.
set -euo pipefail
build=${1:-build}
n=${2:-20}
[ -f "$build/CTestTestfile.cmake" ] || { echo "timing-skip-rate: $build is not a build tree with tests" >&2; exit 2; }
log=$(mktemp)
keep="$build/timing-skip-rate"  # the verbose output of every run that did not pass whole
mkdir -p "$keep"
for i in $(seq 1 "$n"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  out=$(cd "$build" && ctest -L timing -V 2>&1 || true)
  grep -qE '\*\*\*(Skipped|Failed)|Failed ' <<<"$out" && echo "$out" >"$keep/run-$i.log"
  line="run $i $(date -u +%H:%M:%S) load $load:"
  while read -r name outcome; do
    line+=" $name=$outcome"
    echo "$name $outcome" >>"$log"
  done < <(sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) \.+ *\**(Passed|Skipped|Failed|Not Run|Timeout).*/\1 \2/p' <<<"$out")
  echo "$line"
done
echo "tally over $n runs (runs with a skip or a failure: $keep/run-N.log):"
sort "$log" | uniq -c | awk '{printf "  %-70s %-8s %d\n", $2, $3, $1}'
rm -f "$log"
