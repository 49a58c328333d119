#!/usr/bin/env python3
"""Capture overhead, side by side in one run: the malloc-heavy benchmark bare, under heaptrack and
under `tidemark record` (stacks on), interleaved round by round so machine drift hits all three alike.

For each configuration (threads x flat/deep stacks) it reports medians of:
  - program seconds: the benchmark's own elapsed time (what the profiled program itself suffers),
  - program CPU: the allocating threads' CPU time (thread_cpu_s), steadier than elapsed time on a
    machine where other work competes for the cores,
  - whole seconds: the whole command until its output file is ready (tidemark: the recording in place
    with rows, symbols and series, its indexes coming with the first read;
    heaptrack: its compressed trace written),
  - bytes per event of the output file, and peak RSS of the largest process.

usage: bench/run_overhead.py [--build DIR] [--rounds N] [--steps N] [--markdown]
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CONFIGS = [(1, "flat"), (2, "flat"), (1, "deep"), (2, "deep")]


def run(cmd, cwd):
    """Runs cmd, returns (wall seconds, program seconds or None, events or None, peak RSS KiB, rc, cpu)."""
    t0 = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    m = re.search(r"events=(\d+) seconds=([0-9.]+)", proc.stdout)
    events = int(m.group(1)) if m else None
    seconds = float(m.group(2)) if m else None
    c = re.search(r"thread_cpu_s=([0-9.]+)", proc.stdout)
    cpu = float(c.group(1)) if c else None
    return wall, seconds, events, max(rss, before), proc.returncode, cpu


def newest(directory, prefix):
    files = [os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(prefix)]
    return max(files, key=os.path.getmtime) if files else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2_000_000)
    args = ap.parse_args()
    bench = os.path.abspath(os.path.join(args.build, "bin", "tidemark-malloc-bench"))
    tidemark = os.path.abspath(os.path.join(args.build, "bin", "tidemark"))
    for p in (bench, tidemark):
        if not os.path.exists(p):
            sys.exit(f"run_overhead: {p} not found; build first")
    work = tempfile.mkdtemp(prefix="tidemark-bench-")
    results = {}
    for rnd in range(args.rounds):
        for threads, mode in CONFIGS:
            key = (threads, mode)
            prog = [bench, str(threads), str(args.steps), mode]
            row = results.setdefault(key, {"bare": [], "tidemark": [], "heaptrack": []})
            # bare
            wall, secs, events, rss, rc, cpu = run(prog, work)
            row["bare"].append(dict(wall=wall, secs=secs, events=events, rss=rss, rc=rc, bytes=None, cpu=cpu))
            # tidemark
            # Each tool starts without its output of the last round: replacing an older file is the
            # file system's work (freeing its blocks), not the tool's; heaptrack's is removed below too.
            out = os.path.join(work, "t.tmdb")
            if os.path.exists(out):
                os.remove(out)
            wall, secs, events, rss, rc, cpu = run([tidemark, "record", "-o", out, "--"] + prog, work)
            size = os.path.getsize(out) if os.path.exists(out) else None
            row["tidemark"].append(dict(wall=wall, secs=secs, events=events, rss=rss, rc=rc, bytes=size, cpu=cpu))
            # heaptrack
            for f in os.listdir(work):
                if f.startswith("h."):
                    os.remove(os.path.join(work, f))
            wall, secs, events, rss, rc, cpu = run(["heaptrack", "-o", os.path.join(work, "h")] + prog, work)
            hfile = newest(work, "h.")
            size = os.path.getsize(hfile) if hfile else None
            row["heaptrack"].append(dict(wall=wall, secs=secs, events=events, rss=rss, rc=rc, bytes=size, cpu=cpu))
            print(f"round {rnd + 1}/{args.rounds} {threads}T {mode}: bare {row['bare'][-1]['secs']} s, "
                  f"tidemark {row['tidemark'][-1]['secs']} s / whole {row['tidemark'][-1]['wall']:.2f} s, "
                  f"heaptrack {row['heaptrack'][-1]['secs']} s / whole {row['heaptrack'][-1]['wall']:.2f} s",
                  file=sys.stderr)

    def med(xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else None

    def fmt(x, unit=""):
        return "-" if x is None else f"{x:.2f}{unit}"

    print(f"\nmalloc bench, {args.steps} steps per thread, {args.rounds} interleaved rounds, medians\n")
    print("| config | bare program s | tidemark program s (x bare) | heaptrack program s (x bare) "
          "| tidemark program CPU s (x bare) "
          "| tidemark whole s | heaptrack whole s | tidemark B/event | heaptrack B/event | failures |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (threads, mode), row in results.items():
        bare = med([r["secs"] for r in row["bare"]])
        cells = [f"{threads}T {mode}", fmt(bare)]
        for tool in ("tidemark", "heaptrack"):
            ratios = [r["secs"] / b["secs"] for r, b in zip(row[tool], row["bare"]) if r["secs"] and b["secs"]]
            cells.append(f"{fmt(med([r['secs'] for r in row[tool]]))} ({fmt(med(ratios), 'x')})")
        ratios = [r["cpu"] / b["cpu"] for r, b in zip(row["tidemark"], row["bare"]) if r["cpu"] and b["cpu"]]
        cells.append(f"{fmt(med([r['cpu'] for r in row['tidemark']]))} ({fmt(med(ratios), 'x')})")
        for tool in ("tidemark", "heaptrack"):
            ratios = [r["wall"] / b["wall"] for r, b in zip(row[tool], row["bare"]) if r["rc"] == 0]
            cells.append(f"{fmt(med([r['wall'] for r in row[tool] if r['rc'] == 0]))} ({fmt(med(ratios), 'x')})")
        for tool in ("tidemark", "heaptrack"):
            bpe = [r["bytes"] / r["events"] for r in row[tool] if r["bytes"] and r["events"]]
            cells.append(fmt(med(bpe)))
        fails = [f"{tool} rc={r['rc']}" for tool in ("tidemark", "heaptrack") for r in row[tool] if r["rc"] != 0]
        cells.append(", ".join(sorted(set(fails))) or "none")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
