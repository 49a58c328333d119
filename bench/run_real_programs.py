#!/usr/bin/env python3
"""Real, distribution-built programs side by side: the bare program, the program under the capture
library alone (LD_PRELOAD, what the program feels), `tidemark record` whole (program, collector,
symbols) with each stack walker, and heaptrack (record, then heaptrack_print), interleaved round by
round; medians of wall seconds, and the recording sizes.

Scenarios (bench/scenarios/): Debian's xgboost CLI training on a generated LibSVM set, and a
PyTorch MLP training run (python3-torch, /usr/bin/python3). scripts/setup-real-programs.sh
installs both.

usage: bench/run_real_programs.py [--build DIR] [--rounds N] [--only xgboost|torch] [--no-libunwind]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd, cwd, env=None):
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"run_real_programs: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    return time.monotonic() - t0


def program_seconds(recording):
    """The program's own run under record (start to exit, the recording's duration_ns)."""
    import sqlite3
    with sqlite3.connect(recording) as db:
        return int(db.execute("SELECT value FROM meta WHERE key = 'duration_ns'").fetchone()[0]) / 1e9


def size_of(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def scenario(name, work):
    if name == "xgboost":
        subprocess.run([sys.executable, os.path.join(HERE, "scenarios", "make_xgboost.py"), work], check=True)
        return ["/usr/bin/xgboost", "train.conf"]
    return ["/usr/bin/python3", os.path.join(HERE, "scenarios", "torch_mlp.py")]


def one_round(build, work, program, walkers):
    tidemark = os.path.join(build, "bin", "tidemark")
    preload = os.path.join(build, "lib", "tidemark", "libtidemark.so")
    t, sizes = {}, {}
    t["bare"] = timed(program, work)
    spool = os.path.join(work, "spool")
    shutil.rmtree(spool, ignore_errors=True)
    os.mkdir(spool)
    env = dict(os.environ, LD_PRELOAD=preload, TIDEMARK_SPOOL_DIR=spool)
    t["capture only (cfi)"] = timed(program, work, env)
    sizes["spool (cfi)"] = sum(size_of(os.path.join(spool, f)) for f in os.listdir(spool))
    shutil.rmtree(spool)
    if program[0].endswith("python3"):
        # What Python frames and the PyTorch hook (lib/tidemark/python on PYTHONPATH, as record
        # sets it) each add to the capture alone.
        for key, extra in (("capture only, no Python frames", {"TIDEMARK_PYTHON": "0"}),
                           ("capture only + PyTorch hook", {"PYTHONPATH": os.path.join(build, "lib", "tidemark", "python")})):
            os.mkdir(spool)
            t[key] = timed(program, work, dict(env, **extra))
            shutil.rmtree(spool)
    for walker in walkers:
        rec = os.path.join(work, f"run-{walker}.tmdb")
        if os.path.exists(rec):
            os.remove(rec)
        t[f"tidemark record ({walker})"] = timed([tidemark, "record", "--unwind", walker, "-o", rec, "--"] + program, work)
        if walker == walkers[0] and program[0].endswith("python3"):
            t[f"tidemark record ({walker}), program only"] = program_seconds(rec)
        sizes[f"recording ({walker})"] = size_of(rec)
    ht = os.path.join(work, "ht")
    for f in os.listdir(work):
        if f.startswith("ht."):
            os.remove(os.path.join(work, f))
    t["heaptrack record"] = timed(["heaptrack", "-o", ht] + program, work)
    data = [f for f in os.listdir(work) if f.startswith("ht.")][0]
    sizes["heaptrack data"] = size_of(os.path.join(work, data))
    t["heaptrack_print"] = timed(["heaptrack_print", "-f", os.path.join(work, data)], work)
    t["heaptrack whole"] = t["heaptrack record"] + t["heaptrack_print"]
    rep = os.path.join(work, f"run-{walkers[0]}.tmdb")
    t["tidemark report"] = timed([tidemark, "report", rep], work)
    return t, sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["xgboost", "torch"])
    ap.add_argument("--no-libunwind", action="store_true")
    a = ap.parse_args()
    walkers = ["cfi", "fp"] + ([] if a.no_libunwind else ["libunwind"])
    for name in ["xgboost", "torch"]:
        if a.only and a.only != name:
            continue
        work = tempfile.mkdtemp(prefix=f"tidemark-bench-{name}-")
        program = scenario(name, work)
        if not os.path.exists(program[0]):
            print(f"{name}: {program[0]} missing (scripts/setup-real-programs.sh); skipped")
            continue
        rounds = [one_round(a.build, work, program, walkers) for _ in range(a.rounds)]
        print(f"\n## {name}: {' '.join(os.path.basename(p) for p in program)} ({a.rounds} rounds, medians)\n")
        print("| what | wall s | × bare |")
        print("| --- | --- | --- |")
        bare = statistics.median(r[0]["bare"] for r in rounds)
        for key in rounds[0][0]:
            m = statistics.median(r[0][key] for r in rounds)
            print(f"| {key} | {m:.2f} | {m / bare:.2f} |")
        print("\n| file | MB |")
        print("| --- | --- |")
        for key in rounds[0][1]:
            print(f"| {key} | {statistics.median(r[1][key] for r in rounds) / 1e6:.1f} |")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
