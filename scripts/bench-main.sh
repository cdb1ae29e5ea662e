#!/usr/bin/env bash
# The main job on whatever this machine has: installs dependencies, builds, lists the plugins
# found, and decodes a few tokens of a synthetic Qwen2.5-Coder-0.5B (synthesized and cached on
# first use under ~/.cache/brickbench) through the scalar reference.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh -DBRICKBENCH_TESTS=OFF
build/bench plugins
build/bench generate --synthetic qwen2.5-coder-0.5b --backend scalar_ref --tokens 3,17,42 --n 8
