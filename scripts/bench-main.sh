#!/usr/bin/env bash
# The main job on whatever this machine has: installs dependencies, builds (the CUDA plugin too when
# nvcc is present), lists the plugins found, and runs `bench run configs/qwen1.5b.yaml` on every
# backend that can run here (missing ones are skipped with the reason). The synthetic model is
# synthesized on first use and cached under ~/.cache/brickbench. Extra arguments go to `bench run`
# (e.g. --ci, --format md, --out FILE.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DBRICKBENCH_TESTS=OFF
build/bench plugins
build/bench run configs/qwen1.5b.yaml "$@"
