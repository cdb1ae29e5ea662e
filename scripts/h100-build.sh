#!/usr/bin/env bash
# Builds HERE (a development machine: Debian 12, nvcc 13, no GPU needed) what scripts/h100-run.sh
# runs on the H100 machine (Ubuntu 24.04, no Boost/yaml-cpp libraries there, no network):
#   build-h100-work/   the full CMake tree (incremental; never carried)
#   build-h100/        only what the device needs, stripped, well under the 64 MiB a device call
#                      carries with the working tree:
#     bench                              Boost and yaml-cpp linked statically (BRICKBENCH_STATIC_DEPS)
#     plugins/scalar_ref.so, plugins/cuda_bricks.so   (cudart static: needs only libcuda.so.1)
#     tests/cuda_bricks_math_test, tests/cuda_bricks_plugin_test
#     BUILD_INFO.txt                     commit, date, sizes, dynamic dependencies
# The oracle models (tests/data/oracle) and configs travel with the working tree itself.
# Then, from the lead's session:  run(command="scripts/h100-run.sh core", carry=["build-h100"], ...)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$ROOT/build-h100-work
OUT=$ROOT/build-h100
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
JOBS=${JOBS:-$(nproc)}

mkdir -p "$WORK"
cmake -S "$ROOT" -B "$WORK" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBRICKBENCH_STATIC_DEPS=ON -DBRICKBENCH_WERROR=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" >"$WORK/cmake-configure.log" 2>&1 ||
  { tail -40 "$WORK/cmake-configure.log"; exit 1; }
ninja -C "$WORK" -j "$JOBS" bench scalar_ref cuda_bricks cuda_bricks_math_test cuda_bricks_plugin_test

rm -rf "$OUT"
mkdir -p "$OUT/plugins" "$OUT/tests"
cp "$WORK/bench" "$OUT/bench"
cp "$WORK/plugins/scalar_ref.so" "$WORK/plugins/cuda_bricks.so" "$OUT/plugins/"
cp "$WORK/tests/cuda_bricks/cuda_bricks_math_test" "$WORK/tests/cuda_bricks/cuda_bricks_plugin_test" "$OUT/tests/"
strip --strip-unneeded "$OUT/bench" "$OUT/tests/"* "$OUT/plugins/"*.so

# Nothing but the C/C++ runtime and the kernel's libraries may be needed at run time.
bad=0
for f in "$OUT/bench" "$OUT/plugins/"*.so "$OUT/tests/"*; do
  deps=$(readelf -d "$f" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  for d in $deps; do
    case $d in
      libc.so.6 | libm.so.6 | libstdc++.so.6 | libgcc_s.so.1 | ld-linux-x86-64.so.2 | libdl.so.2 | libpthread.so.0 | librt.so.1) ;;
      *) echo "h100-build: $f needs $d, which the H100 machine may lack" >&2; bad=1 ;;
    esac
  done
done
# The newest glibc / libstdc++ symbol versions the binaries ask for (the H100 has glibc 2.39, gcc 13).
max_glibc=$(objdump -T "$OUT/bench" "$OUT/plugins/"*.so "$OUT/tests/"* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
max_cxx=$(objdump -T "$OUT/bench" "$OUT/plugins/"*.so "$OUT/tests/"* 2>/dev/null | grep -o 'GLIBCXX_[0-9.]*' | sort -Vu | tail -1)

{
  echo "built:   $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) ($(. /etc/os-release && echo "$PRETTY_NAME"))"
  echo "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' + local changes')"
  echo "nvcc:    $("$NVCC" --version | tail -1)"
  echo "gcc:     $(c++ --version | head -1)"
  echo "needs:   $max_glibc, $max_cxx"
  echo "files:"
  (cd "$OUT" && find . -type f -printf '  %p %s bytes\n' | sort)
  echo "dynamic dependencies:"
  for f in "$OUT/bench" "$OUT/plugins/"*.so "$OUT/tests/"*; do
    echo "  ${f#$OUT/}: $(readelf -d "$f" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
  done
} >"$OUT/BUILD_INFO.txt"
cat "$OUT/BUILD_INFO.txt"
size_kib=$(du -sk "$OUT" | cut -f1)
echo "build-h100: ${size_kib} KiB"
if [ "$size_kib" -gt 30720 ]; then
  echo "h100-build: build-h100 is over 30 MiB; with the working tree it may exceed the 64 MiB a device call carries" >&2
  bad=1
fi
exit $bad
