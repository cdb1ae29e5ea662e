#!/usr/bin/env bash
# Fails, listing them, when a tracked C/C++/CUDA file is not formatted by the root .clang-format
# (clang-format 14, Debian 12's). Fix with: clang-format -i FILE... (or scripts/format-check.sh --fix).
set -euo pipefail
cd "$(dirname "$0")/.."
clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null || { echo "format-check: $clang_format not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
mapfile -t files < <(git ls-files -- '*.c' '*.cc' '*.cpp' '*.h' '*.hpp' '*.cu' '*.cuh')
if [ "${1:-}" = --fix ]; then
  "$clang_format" -i "${files[@]}"
  exit 0
fi
# One call checks every file; only when it fails is each file checked alone, to name the bad ones.
if "$clang_format" --dry-run --Werror "${files[@]}" >/dev/null 2>&1; then
  echo "format-check: ${#files[@]} files formatted"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$clang_format" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]} > 0)); then
  echo "format-check: ${#bad[@]} file(s) not formatted by .clang-format ($("$clang_format" --version)):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "fix with: scripts/format-check.sh --fix" >&2
  exit 1
fi
echo "format-check: $clang_format failed on the whole set but on no single file" >&2
exit 2
