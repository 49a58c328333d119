#!/usr/bin/env bash
# Installs missing packages, builds tidemark, profiles the bundled training workload and prints
# the report. The recording is left in ./quickstart.tmdb for `tidemark gui` and friends.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build=${TIDEMARK_BUILD_DIR:-$root/build}
"$build/bin/tidemark" record -o quickstart.tmdb -- "$build/bin/tidemark-train" --device auto
"$build/bin/tidemark" report quickstart.tmdb
