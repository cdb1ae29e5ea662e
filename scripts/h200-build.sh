#!/usr/bin/env bash
# Builds HERE (a development machine, no GPU needed) what scripts/h200-run.sh runs on the H200:
# scripts/h100-build.sh's carry-sized static build (bench, scalar_ref.so, cuda_bricks.so, the two
# cuda_bricks test binaries), plus tests/cuda_bricks/bandwidth_probe.cu (read / copy kernels against
# cudaMemcpy D2D), into build-h100/ of this checkout.
#   H200_SRC=DIR   build from another checkout of this repository (a clean worktree of HEAD, say,
#                  when others' work in progress in this one does not build); cuda_bricks'
#                  own paths (plugins/cuda_bricks, tests/cuda_bricks, scripts/h*-*.sh) are first
#                  copied there from this checkout, so what is built is HEAD + the local cuda_bricks edits.
# Then: run(command="scripts/h200-run.sh STEPS...", carry=[".peer"]) (h200-run.sh's header); .peer/ must
# be git-ignored (.git/info/exclude) and hold build-h100.txz (made here) and llamacpp.txz
# (../shared/peer/get_llamacpp.sh, then models benches gguf-py conversion tests examples scripts
# removed, tar cJf: ~4 MB).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${H200_SRC:-$ROOT}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
if [ "$SRC" != "$ROOT" ]; then
  for p in plugins/cuda_bricks tests/cuda_bricks; do
    rm -rf "${SRC:?}/$p"
    cp -a "$ROOT/$p" "$SRC/$p"
  done
  cp "$ROOT"/scripts/h100-*.sh "$ROOT"/scripts/h200-*.sh "$SRC/scripts/"
fi
"$SRC/scripts/h100-build.sh"
"$NVCC" -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -lineinfo -o "$SRC/build-h100/tests/cuda_bricks_bandwidth_probe" \
  "$SRC/tests/cuda_bricks/bandwidth_probe.cu"
strip --strip-unneeded "$SRC/build-h100/tests/cuda_bricks_bandwidth_probe"
if [ "$SRC" != "$ROOT" ]; then
  rm -rf "$ROOT/build-h100"
  cp -a "$SRC/build-h100" "$ROOT/build-h100"
fi
du -sh "$ROOT/build-h100"
# The working tree (~45 MB), build-h100 (~19 MB) and llama.cpp's source (~4 MB) pass the 64 MiB a
# device call carries; build-h100 xz-packed (~3 MB) into .peer/ (git-ignored) does not.
mkdir -p "$ROOT/.peer"
tar cJf "$ROOT/.peer/build-h100.txz" -C "$ROOT" build-h100
ls -la "$ROOT/.peer"
