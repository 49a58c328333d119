#!/usr/bin/env bash
# Builds the fuzz targets of tests/fuzz with clang, libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer into ./build-fuzz (or $TIDEMARK_FUZZ_BUILD_DIR) and runs each from its
# seed corpus.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 30 s; every target) explores, and
#       keeps the corpus it grows in build-fuzz/corpus for the next run;
#   scripts/fuzz.sh --ci [TARGET...]                    a fixed number of runs from a fixed random
#       seed and the seeds alone: the same inputs every time, about 20 s per target (CI runs this
#       from scripts/test.sh, so what passed once passes again).
# An input that crashes a target, trips a sanitizer, leaks, runs over 10 s or over 2 GiB is kept in
# build-fuzz/findings/ and the script exits 1; copy it into tests/fuzz/regressions/NAME/ with the fix
# so the replay test keeps it fixed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TIDEMARK_FUZZ_BUILD_DIR:-$root/build-fuzz}
ci=0
seconds=30
if [[ ${1:-} == --ci ]]; then
    ci=1
    shift
elif [[ ${1:-} =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
targets=("$@")
((${#targets[@]})) || targets=(pickle import spool recording budget cli)
# --ci: runs per target, about 20 s each on the project's 2-core machine.
declare -A ci_runs=([pickle]=6000 [import]=1500 [spool]=800 [recording]=2500 [budget]=20000 [cli]=15000)

"$root/scripts/setup.sh" clang libclang-rt-14-dev
generator=()
if [[ ! -f "$build/CMakeCache.txt" ]] && command -v ninja >/dev/null; then
    generator=(-G Ninja)
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTIDEMARK_FUZZ=ON \
    -DTIDEMARK_SANITIZE=address,undefined -DTIDEMARK_WITH_CUDA=OFF -DTIDEMARK_WITH_GUI=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p "$build/findings"
failed=()
for t in "${targets[@]}"; do
    corpus="$build/corpus/$t"
    limit=(-max_total_time="$seconds")
    if ((ci)); then
        corpus="$build/ci-corpus/$t"
        rm -rf "$corpus"
        limit=(-seed=1 -runs="${ci_runs[$t]:-2000}")
    fi
    mkdir -p "$corpus"
    # The seeds (files or directories, one per line) go into the working corpus, which grows with
    # every input that reaches new code and is kept between runs.
    while IFS= read -r seed; do
        [[ -n $seed ]] || continue
        if [[ -d $seed ]]; then find "$seed" -type f -exec cp -n -t "$corpus" {} +; else cp -n "$seed" "$corpus"; fi
    done < "$build/tests/fuzz/fuzz_$t.seeds"
    env_vars=()
    [[ -f $build/tests/fuzz/fuzz_$t.env ]] && mapfile -t env_vars < "$build/tests/fuzz/fuzz_$t.env"
    echo "fuzz: $t (${limit[*]}) from $(find "$corpus" -type f | wc -l) inputs"
    log="$build/findings/$t.log"
    if env "${env_vars[@]}" ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/tests/fuzz/fuzz_$t" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
        -max_len=262144 -close_fd_mask=1 -print_final_stats=1 -artifact_prefix="$build/findings/$t-" \
        "$corpus" >"$log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$log" | tail -2 | sed "s/^/fuzz: $t: /"
    else
        echo "fuzz: $t FAILED; the input and the report are in $build/findings/ ($log):"
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -5
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz: findings in ${failed[*]}"
    exit 1
fi
echo "fuzz: no findings in ${#targets[@]} targets"
