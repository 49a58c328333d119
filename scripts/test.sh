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
# The fuzz targets with a fixed seed and number of runs (about 8 minutes with their clang build): an
# input that crashes a reader fails CI, and the same inputs run every time.
"$root/scripts/fuzz.sh" --ci
