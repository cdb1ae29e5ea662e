#!/usr/bin/env bash
# Installs what the tests need, builds everything (warnings are errors) and runs the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh -DBRICKBENCH_TESTS=ON -DBRICKBENCH_WERROR=ON
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 900
