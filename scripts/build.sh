#!/usr/bin/env bash
# Configures and builds brickbench into build/ (or $BUILD_DIR). Extra arguments go to cmake.
# The CUDA plugin is built when nvcc is found (PATH or /usr/local/cuda), skipped otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
# ccache, where installed, makes a rebuild of the same sources (another tree, a clean clone) cheap.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "${launcher[@]}" "$@"
cmake --build "$build_dir" -j "$(nproc)"
