#!/usr/bin/env bash
# GPU self-test for users with an NVIDIA GPU: records `tidemark-train --device cuda` with
# `tidemark record` and checks that the GPU side was captured: device allocations (with stacks and
# NVTX phases), kernels, copies, the caching allocator's NVTX heaps and regions, and CUPTI coverage.
# The project has never run this on a GPU (docs/limitations.md); please report what it prints.
#
# usage: scripts/gpu-selftest.sh [BUILD_DIR] [-- extra tidemark-train options]
#   BUILD_DIR defaults to ./build. Exit 0 = all checks passed, 1 = a check failed,
#   2 = cannot run (no GPU, no CUDA build, missing tools).
#   GPU_SELFTEST_RECORDING=FILE checks an existing recording instead of making one.
set -uo pipefail

build="${1:-build}"
[[ $# -gt 0 ]] && shift
[[ "${1:-}" == "--" ]] && shift
tidemark="$build/bin/tidemark"
train="$build/bin/tidemark-train"

die() { echo "gpu-selftest: $*" >&2; exit 2; }
[[ -x "$tidemark" ]] || die "no $tidemark (build first: scripts/build.sh)"
[[ -x "$train" ]] || die "no $train"
[[ -f "$build/lib/tidemark/libtidemark_cupti.so" ]] || die "no libtidemark_cupti.so: this build has no CUPTI (CUDA toolkit not found at configure time)"
command -v sqlite3 >/dev/null || die "sqlite3 is needed (apt-get install sqlite3)"
if [[ -n "${GPU_SELFTEST_RECORDING:-}" ]]; then
    rec="$GPU_SELFTEST_RECORDING"
    work="$(dirname "$rec")"
    [[ -f "$rec" ]] || die "no recording $rec"
else
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi -L >/dev/null 2>&1 || die "nvidia-smi finds no GPU"
        nvidia-smi -L | sed 's/^/gpu-selftest: /'
    elif [[ ! -e /dev/nvidiactl ]]; then
        die "no NVIDIA GPU here (no nvidia-smi, no /dev/nvidiactl); this test needs one"
    else
        echo "gpu-selftest: nvidia-smi not found but /dev/nvidiactl exists; trying anyway"
    fi

    work="$(mktemp -d "${TMPDIR:-/tmp}/tidemark-gpu-selftest.XXXXXX")"
    rec="$work/gpu.tmdb"
    echo "gpu-selftest: recording into $rec"
    "$tidemark" record -o "$rec" -- "$train" --device cuda --steps 20 --truth "$work/truth.json" "$@" \
        > "$work/train.out" 2> "$work/train.err"
    status=$?
    if [[ $status -ne 0 ]]; then
        echo "gpu-selftest: tidemark record / tidemark-train exited with $status; its stderr:" >&2
        tail -20 "$work/train.err" >&2
        # tidemark-train exits 2 when it has no CUDA backend or no device: the test could not run.
        [[ $status -eq 2 ]] && exit 2
        exit 1
    fi
fi

failed=0
q() { sqlite3 -batch -noheader "$rec" "$1"; }
check() { # name, sql returning a number, minimum
    local value
    value="$(q "$2" 2>&1)"
    if [[ "$value" =~ ^[0-9]+$ ]] && (( value >= $3 )); then
        printf 'gpu-selftest: ok    %-52s %s\n' "$1" "$value"
    else
        printf 'gpu-selftest: FAIL  %-52s %s (want >= %s)\n' "$1" "$value" "$3"
        failed=1
    fi
}

device="FROM allocations a JOIN spaces s ON s.id = a.space_id WHERE s.kind = 'device'"
check "device allocations" "SELECT count(*) $device" 1
check "device allocations with a call stack" "SELECT count(*) $device AND a.callsite_id IS NOT NULL" 1
check "device allocations inside an NVTX range" "SELECT count(*) $device AND a.range_id IS NOT NULL" 1
check "device allocations seen by the runtime hooks (bit 1)" "SELECT count(*) $device AND (a.source_mask & 1) != 0" 1
check "device allocations seen by CUPTI callbacks (bit 2)" "SELECT count(*) $device AND (a.source_mask & 2) != 0" 1
check "device allocations seen by CUPTI MEMORY2 (bit 4)" "SELECT count(*) $device AND (a.source_mask & 4) != 0" 1
check "kernels" "SELECT count(*) FROM kernels" 1
check "kernels with a name" "SELECT count(*) FROM kernels WHERE name_id IS NOT NULL" 1
check "memcpys (host to device batches)" "SELECT count(*) FROM memcpys" 1
check "NVTX ranges" "SELECT count(*) FROM ranges" 20
check "NVTX heaps of the caching allocator" "SELECT count(*) FROM pool_heaps" 1
check "NVTX regions (tensors) inside heaps" "SELECT count(*) FROM allocations WHERE heap_id IS NOT NULL" 1
check "CUPTI subscribed (capture_stats cupti = 1)" "SELECT coalesce(max(value), 0) FROM capture_stats WHERE name = 'cupti'" 1
check "kernel times inside the run (same clock as host)" \
    "SELECT count(*) FROM kernels k, processes p WHERE k.start_ts_ns >= p.start_ts_ns AND (p.end_ts_ns IS NULL OR k.end_ts_ns <= p.end_ts_ns)" 1

echo "gpu-selftest: coverage recorded:"
q "SELECT '  ' || source || ' ' || name || ' = ' || coalesce(value, '') || '  ' || coalesce(detail, '') FROM capture_stats WHERE source IN ('cuda', 'cupti', 'nvtx') ORDER BY source, name"
echo "gpu-selftest: summary:"
"$tidemark" report "$rec" 2>&1 | sed 's/^/  /' | head -40

if [[ $failed -ne 0 ]]; then
    echo "gpu-selftest: some checks FAILED; the recording is kept in $work" >&2
    exit 1
fi
echo "gpu-selftest: all checks passed (recording in $work)"
exit 0
