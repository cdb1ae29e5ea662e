#!/usr/bin/env bash
# Runs clang-tidy (the checks of the root .clang-tidy) over harness/'s sources, with the flags of
# $BUILD_DIR/compile_commands.json (default build/; scripts/build.sh writes it). Extra arguments
# are files or folders to check instead of harness/. Exits non-zero when clang-tidy reports a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
clang_tidy=${CLANG_TIDY:-clang-tidy}
command -v "$clang_tidy" >/dev/null || { echo "clang-tidy.sh: $clang_tidy not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
[ -f "$build_dir/compile_commands.json" ] || { echo "clang-tidy.sh: no $build_dir/compile_commands.json: run scripts/build.sh first" >&2; exit 2; }
targets=("$@")
((${#targets[@]} > 0)) || targets=(harness)
mapfile -t files < <(git ls-files -- "${targets[@]}" | grep -E '\.(cc|cpp)$')
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
for f in "${files[@]}"; do
  # gcc's flags (-Wshadow=local) are unknown to clang: not a finding.
  "$clang_tidy" -p "$build_dir" --quiet --extra-arg=-Wno-unknown-warning-option "$f" >>"$log" 2>/dev/null || status=1
done
if grep -q "warning:\|error:" "$log"; then
  grep -E "(warning|error):" "$log" | sort -u
  echo "clang-tidy.sh: $(grep -cE '(warning|error):' "$log") finding(s) in ${#files[@]} files" >&2
  exit 1
fi
((status == 0)) || { cat "$log"; exit 1; }
echo "clang-tidy.sh: ${#files[@]} files clean"
