#!/usr/bin/env python3
"""From program start to a printed report, side by side: `tidemark record` then `tidemark report`
(the first report builds the recording's indexes, the second finds them), against heaptrack then
heaptrack_print, on the malloc-heavy benchmark, interleaved round by round.

It complements run_overhead.py (which times the profiled program and the recorder alone): here the
recorder's deferred work (tidemark's indexes, heaptrack's whole analysis) is counted too.

usage: bench/run_end_to_end.py [--build DIR] [--rounds N] [--steps N]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CONFIGS = [(1, "flat"), (2, "flat"), (1, "deep"), (2, "deep")]


def timed(cmd, cwd):
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"run_end_to_end: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return time.monotonic() - t0


def one_round(build, work, threads, mode, steps):
    bench = [os.path.join(build, "bin", "tidemark-malloc-bench"), str(threads), str(steps), mode]
    tidemark = os.path.join(build, "bin", "tidemark")
    rec = os.path.join(work, "run.tmdb")
    for f in os.listdir(work):
        os.remove(os.path.join(work, f))
    t = {}
    t["record"] = timed([tidemark, "record", "-o", rec, "--"] + bench, work)
    t["report1"] = timed([tidemark, "report", rec], work)
    t["report2"] = timed([tidemark, "report", rec], work)
    t["heaptrack"] = timed(["heaptrack", "-o", os.path.join(work, "ht")] + bench, work)
    trace = [os.path.join(work, f) for f in os.listdir(work) if f.startswith("ht")][0]
    t["print"] = timed(["heaptrack_print", trace], work)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1_000_000)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    for tool in ("heaptrack", "heaptrack_print"):
        if not shutil.which(tool):
            sys.exit(f"run_end_to_end: {tool} not found (scripts/setup.sh installs it)")
    work = tempfile.mkdtemp(prefix="tidemark-e2e-")
    results = {c: [] for c in CONFIGS}
    try:
        for r in range(args.rounds):
            for threads, mode in CONFIGS:
                t = one_round(build, work, threads, mode, args.steps)
                results[(threads, mode)].append(t)
                print(f"round {r + 1}/{args.rounds} {threads}T {mode}: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()),
                      file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmalloc bench, {args.steps} steps per thread, {args.rounds} interleaved rounds, medians (wall seconds)\n")
    print("| config | tidemark record | first report | record + first report | later report | heaptrack | heaptrack_print | heaptrack + print |")
    print("|---|---|---|---|---|---|---|---|")
    for threads, mode in CONFIGS:
        runs = results[(threads, mode)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        both = statistics.median(r["record"] + r["report1"] for r in runs)
        ht = statistics.median(r["heaptrack"] + r["print"] for r in runs)
        print(f"| {threads}T {mode} | {med['record']:.2f} | {med['report1']:.2f} | {both:.2f} | {med['report2']:.2f} "
              f"| {med['heaptrack']:.2f} | {med['print']:.2f} | {ht:.2f} |")


if __name__ == "__main__":
    main()
