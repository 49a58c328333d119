#!/usr/bin/env python3
"""Writes the xgboost scenario into a directory: a seeded LibSVM training set (20000 rows, 20 of 100
features set per row) and the train.conf that Debian's `xgboost` CLI trains from. Run the
scenario with `cd DIR && xgboost train.conf`. Usage: make_xgboost.py DIR [ROWS]."""
import os
import random
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_xgboost.py DIR [ROWS]")
    out = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    with open(os.path.join(out, "train.libsvm"), "w") as f:
        for _ in range(rows):
            feats = sorted(rng.sample(range(100), 20))
            vals = {j: rng.uniform(-1.0, 1.0) for j in feats}
            score = sum(v for j, v in vals.items() if j < 10)
            label = 1 if score > 0 else 0
            f.write(str(label) + " " + " ".join("%d:%.4f" % (j, vals[j]) for j in feats) + "\n")
    with open(os.path.join(out, "train.conf"), "w") as f:
        f.write("booster = gbtree\nobjective = binary:logistic\neta = 0.3\nmax_depth = 6\n"
                "num_round = 30\nnthread = 2\ndata = \"train.libsvm\"\nsave_period = 0\n"
                "model_out = \"xgb.model\"\n")


if __name__ == "__main__":
    main()
