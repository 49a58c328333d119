#!/usr/bin/env bash
# Installs missing packages, builds everything and runs every test (what CI runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/setup-real-programs.sh"
"$root/scripts/build.sh"
build=${TIDEMARK_BUILD_DIR:-$root/build}
cd "$build"
QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j "$(nproc)" --timeout 600
