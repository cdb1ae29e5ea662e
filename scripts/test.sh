#!/usr/bin/env bash
# Installs what the tests need, builds everything (warnings are errors), runs the product on the
# smoke config (every brick, graded and checked: --ci fails on a budget miss, a failed equivalence or
# an UNSTABLE cell), then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
scripts/install-deps.sh
BUILD_DIR=$build_dir scripts/build.sh -DBRICKBENCH_TESTS=ON -DBRICKBENCH_WERROR=ON
"$build_dir"/bench run configs/smoke.yaml --ci --quiet --out "$build_dir/smoke-result.json"
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 900
