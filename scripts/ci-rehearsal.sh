#!/usr/bin/env bash
# The CI rehearsal: a fresh clone of HEAD in a temporary directory, `CI=true bash .ci/run` there, N times
# in a row, optionally with CPU hogs (busy loops) running beside it. Prints each run's wall time, exit
# code and test counts; exits non-zero if any run failed. The logs stay in the printed directory.
#   scripts/ci-rehearsal.sh [--runs N] [--hogs K]
set -euo pipefail
runs=1 hogs=0
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --hogs) hogs=$2; shift 2 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "ci-rehearsal: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/bb-ci-rehearsal.XXXXXX)
hog_pids=()
stop_hogs() { ((${#hog_pids[@]})) && kill "${hog_pids[@]}" 2>/dev/null; true; }
trap stop_hogs EXIT
for ((h = 0; h < hogs; h++)); do sh -c 'while :; do :; done' & hog_pids+=($!); done
echo "ci-rehearsal: commit $(git -C "$repo" rev-parse --short HEAD), $runs run(s), $hogs hog(s), logs in $work"
failed=0
for ((i = 1; i <= runs; i++)); do
  git clone -q "$repo" "$work/clone-$i"
  # shared/ sits beside the repository in CI as here.
  [ -d "$repo/../shared" ] && [ ! -e "$work/shared" ] && ln -s "$repo/../shared" "$work/shared"
  start=$(date +%s)
  if (cd "$work/clone-$i" && CI=true bash .ci/run) >"$work/run-$i.log" 2>&1; then rc=0; else rc=$?; fi
  took=$(($(date +%s) - start))
  counts=$(grep -E "tests passed|tests failed out of" "$work/run-$i.log" | tr '\n' ';')
  skips=$(grep -cE "\(Skipped\)" "$work/run-$i.log" || true)
  echo "run $i: exit $rc, $((took / 60)) min $((took % 60)) s, $counts $skips skipped"
  ((rc == 0)) || failed=1
  rm -rf "$work/clone-$i"
done
exit $failed
