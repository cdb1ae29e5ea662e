#!/usr/bin/env bash
# Installs brickbench's build dependencies from Debian 12's archive. Safe to run any number of
# times: it asks apt only for what is missing. Needs root (or sudo).
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config git ca-certificates ccache
      clang-format clang-tidy  # scripts/format-check.sh (test.sh), scripts/clang-tidy.sh
      libboost-dev libboost-program-options-dev libboost-filesystem-dev
      libyaml-cpp-dev rapidjson-dev libcurl4-openssl-dev libgtest-dev libgmock-dev
      chromium fonts-dejavu-core)  # headless Chromium: the HTML report test (tests/diff/html_report_test)
# bench report inlines Chart.js installed by `npm ci` at build time (tools/report-assets): node and npm
# from Debian, unless this machine already has them (e.g. NodeSource's nodejs, which bundles npm and
# conflicts with Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 2; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
