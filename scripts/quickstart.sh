#!/usr/bin/env bash
# The quick start: installs missing packages, builds only what it runs (the tidemark command, the
# capture libraries, the man pages and tidemark-train; the GUI with --gui), installs tidemark into
# a prefix (default ~/.local), profiles the bundled training workload and prints the report.
# The recording is left in ./quickstart.tmdb.
#
# usage: scripts/quickstart.sh [--gui] [--prefix DIR]
#   --gui         also build and install tidemark-gui (Qt 6), for `tidemark gui quickstart.tmdb`
#   --prefix DIR  where to install (default ~/.local: bin/tidemark, lib/tidemark/, share/man/)
# Environment: TIDEMARK_QUICK_BUILD_DIR (default ./build-quick), TIDEMARK_QUICK_DEVICE (default auto).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gui=OFF
prefix=${HOME:-/root}/.local
while (($#)); do
    case $1 in
    --gui) gui=ON ;;
    --prefix)
        prefix=${2:?--prefix needs a directory}
        shift
        ;;
    -h | --help)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "quickstart: unknown option $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
build=${TIDEMARK_QUICK_BUILD_DIR:-$root/build-quick}
step() { printf '\n== quickstart [%s] %s\n' "$1" "$2"; }
started=$SECONDS

step 1/5 "packages (scripts/setup.sh; nothing to do when they are installed)"
"$root/scripts/setup.sh"

step 2/5 "configuring $build (Release, no tests, GUI $gui)"
generator=()
if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
    generator=(-G Ninja)
fi
# -O2 without debug information for tidemark itself: a third less compile time than the tests' build;
# tidemark-train keeps -g (its file:line is what the report names).
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DTIDEMARK_BUILD_TESTS=OFF -DTIDEMARK_WITH_GUI="$gui" >"$build.configure.log" 2>&1 || {
    cat "$build.configure.log" >&2
    exit 1
}
rm -f "$build.configure.log"

targets=(tidemark tidemark_preload tidemark_manual tidemark-train)
[[ $gui == ON ]] && targets+=(tidemark-gui)
step 3/5 "building ${targets[*]} on $(nproc) cores (about 2 minutes on 2 cores; the tests are not built)"
# One line per finished step, "[done/total]", so a slow compile is visibly progressing.
if ! cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" 2>&1 |
    { grep --line-buffered -E '^\[[0-9]+/[0-9]+\]|^\[ *[0-9]+%\]|error|Error|FAILED' || true; }; then
    echo "quickstart: the build failed; to see all of it: cmake --build $build" >&2
    exit 1
fi

step 4/5 "installing into $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
tidemark="$prefix/bin/tidemark"

step 5/5 "profiling tidemark-train, then the report"
"$tidemark" record --force -o quickstart.tmdb -- "$build/bin/tidemark-train" --device "${TIDEMARK_QUICK_DEVICE:-auto}"
echo
"$tidemark" report quickstart.tmdb

echo
echo "quickstart: done in $((SECONDS - started)) s. The recording is ./quickstart.tmdb."
if [[ $(command -v tidemark || true) != "$tidemark" ]]; then
    echo "quickstart: to run tidemark by name (and find its man pages), put it on PATH:"
    echo "    export PATH=\"$prefix/bin:\$PATH\""
fi
echo "quickstart: next: tidemark report --full quickstart.tmdb; man tidemark-record;"
if [[ $gui == ON ]]; then
    echo "            tidemark gui quickstart.tmdb"
fi
echo "            tidemark record -o run.tmdb -- YOUR PROGRAM"
