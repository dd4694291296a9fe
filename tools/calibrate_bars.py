"""Measure where the grader's accuracy bars should be: a table of sensible sweep settings.

    OPENBLAS_NUM_THREADS=1 python -m tools.calibrate_bars            # the full grid (minutes)
    OPENBLAS_NUM_THREADS=1 python -m tools.calibrate_bars --quick    # a 2x2 grid, a smoke test
    CIFAR10_DIR=/data/cifar-10-batches-py python -m tools.calibrate_bars --json table.json

Trains the instructor's Softmax exactly as the notebook's sweep does (seed 0, 1500
iterations, batch size 200, the data of get_CIFAR10_data) for every pair of a grid of
learning rates and regularization strengths around the solution's grid, and prints the
training, validation and test accuracy of each. Then it lists every 2x2 sweep of
neighbouring values of that grid (a student's "sweep of 4 sensible settings") with the
validation and test accuracy of its best pair: a bar is calibrated when every such sweep
inside the sensible range clears it.
"""
import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cs231n.classifiers import Softmax                  # noqa: E402  (the solution)
from cs231n.data_utils import get_CIFAR10_data         # noqa: E402

LEARNING_RATES = [1e-7, 2e-7, 3e-7, 5e-7, 1e-6, 2e-6, 3e-6]
REGULARIZATION = [1e2, 3e2, 1e3, 3e3, 1e4, 3e4]
# The solution's own grid (softmax.ipynb's sweep cell).
SOLUTION_LRS = [3e-7, 5e-7, 1e-6]
SOLUTION_REGS = [1e3, 3e3, 1e4]


def measure(data, lr, reg, num_iters=1500, batch_size=200, seed=0):
    clf = Softmax(seed=seed)
    start = time.perf_counter()
    clf.train(data["X_train"], data["y_train"], learning_rate=lr, reg=reg,
              num_iters=num_iters, batch_size=batch_size)
    seconds = time.perf_counter() - start
    acc = {part: float(np.mean(clf.predict(data[f"X_{part}"]) == data[f"y_{part}"]))
           for part in ("train", "val", "test")}
    return dict(lr=lr, reg=reg, seed=seed, seconds=round(seconds, 2), **acc)


def two_by_two(table, lrs, regs):
    """Every 2x2 sweep of neighbouring grid values: its best pair by validation accuracy."""
    by_key = {(row["lr"], row["reg"]): row for row in table}
    sweeps = []
    for i, j in itertools.product(range(len(lrs) - 1), range(len(regs) - 1)):
        rows = [by_key[(lr, reg)] for lr in lrs[i:i + 2] for reg in regs[j:j + 2]]
        best = max(rows, key=lambda r: r["val"])
        sweeps.append(dict(lrs=lrs[i:i + 2], regs=regs[j:j + 2], val=best["val"],
                           test=best["test"], worst_val=min(r["val"] for r in rows)))
    return sweeps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 2x2 grid only")
    parser.add_argument("--json", help="also write the table to this file")
    parser.add_argument("--seeds", type=int, default=0, metavar="K",
                        help="also train the solution's 3x3 grid with seeds 1..K (another "
                             "order of minibatches, as another correct sample_batch draws): "
                             "the spread a bar must leave room for")
    args = parser.parse_args(argv)
    lrs, regs = (LEARNING_RATES, REGULARIZATION) if not args.quick else ([5e-7, 1e-6],
                                                                         [1e3, 3e3])
    data = get_CIFAR10_data()
    print(f"train {data['X_train'].shape}, val {data['X_val'].shape}, "
          f"test {data['X_test'].shape}, dtype {data['X_train'].dtype}", flush=True)
    table = []
    for lr, reg in itertools.product(lrs, regs):
        row = measure(data, lr, reg)
        table.append(row)
        print(f"lr {lr:.0e}  reg {reg:.0e}  train {row['train']:.3f}  val {row['val']:.3f}  "
              f"test {row['test']:.3f}  ({row['seconds']:.1f} s)", flush=True)
    print("\nvalidation accuracy (rows: learning rate, columns: regularization)")
    print("lr \\ reg " + "".join(f"{reg:>8.0e}" for reg in regs))
    by_key = {(r["lr"], r["reg"]): r for r in table}
    for lr in lrs:
        print(f"{lr:<9.0e}" + "".join(f"{by_key[(lr, reg)]['val']:>8.3f}" for reg in regs))
    sweeps = two_by_two(table, lrs, regs)
    print("\n2x2 sweeps of neighbouring values: best val / its test (worst val in the sweep)")
    for s in sweeps:
        print(f"lr {s['lrs'][0]:.0e},{s['lrs'][1]:.0e}  reg {s['regs'][0]:.0e},"
              f"{s['regs'][1]:.0e}: {s['val']:.3f} / {s['test']:.3f}  ({s['worst_val']:.3f})")
    spread = []
    if args.seeds:
        print("\nthe solution's grid with other seeds: val / test per seed")
        for lr, reg in itertools.product(SOLUTION_LRS, SOLUTION_REGS):
            rows = [by_key[(lr, reg)]] if (lr, reg) in by_key else []
            rows += [measure(data, lr, reg, seed=s) for s in range(1, args.seeds + 1)]
            spread.extend(rows)
            print(f"lr {lr:.0e}  reg {reg:.0e}: " + "  ".join(
                f"{r['val']:.3f}/{r['test']:.3f}" for r in rows), flush=True)
        print("\nbest of each 2x2 sub-grid of the solution's grid, per seed: val / test")
        seeds = sorted({r["seed"] for r in spread})
        for lrs2 in itertools.combinations(SOLUTION_LRS, 2):
            for regs2 in itertools.combinations(SOLUTION_REGS, 2):
                cells = []
                for s in seeds:
                    rows = [r for r in spread if r["seed"] == s and r["lr"] in lrs2
                            and r["reg"] in regs2]
                    best = max(rows, key=lambda r: r["val"])
                    cells.append(f"{best['val']:.3f}/{best['test']:.3f}")
                print(f"lr {lrs2[0]:.0e},{lrs2[1]:.0e}  reg {regs2[0]:.0e},{regs2[1]:.0e}: "
                      + "  ".join(cells))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(dict(table=table, sweeps=sweeps, seeds=spread), f, indent=1)


if __name__ == "__main__":
    main()
