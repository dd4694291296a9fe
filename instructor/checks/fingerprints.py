"""Write the probe inputs and their fingerprints into the checks' data file.

    python -m instructor.checks.fingerprints cs231n/check_data.json
    python -m instructor.checks.fingerprints --check cs231n/check_data.json

A fingerprint is what a function returns on a fixed probe input: the
solution's and each known mistake's (instructor/checks/mistakes.py). The given
checks (cs231n/checks.py) compare a student's output with them, so the students
receive numbers, never the code that computes them. The file is generated:
regenerate it after changing the solution, the mistakes or the probes, never
edit it by hand. --check exits with status 1 when the file is not current.

Probe inputs are small multiples of 1/8, exact in float32 and in JSON, and
rounded fingerprints (FINGERPRINT_DIGITS significant digits) do not depend on
the last bit of a platform's exp.
"""
import argparse
import json
import os
import re
import sys

import numpy as np

from cs231n import checks
from cs231n.classifiers.softmax import softmax_loss_vectorized

from . import mistakes

FINGERPRINT_DIGITS = 10
# Below this a fingerprint entry is written as 0: such values are rounding noise
# of sums that cancel, and that noise differs between platforms.
NOISE_FLOOR = 1e-12


# The shipped probes, in eighths. Written out rather than drawn from a seeded
# generator, whose stream may change between numpy releases: the data file
# must come out the same with any numpy the requirements allow.
SHIPPED_LOSS_W8 = [[-5, 1, -7], [6, 0, -6], [-6, -2, -7], [1, 6, -1]]
SHIPPED_LOSS_X8 = [[13, 4, 14, -12], [-2, 14, 16, -10], [7, -3, -5, 12],
                   [-16, -10, -12, -9], [-11, 13, -9, 3]]
SHIPPED_PREDICT_W8 = [[4, 3, -2], [5, -5, -1], [8, -1, 6], [-3, 1, 7]]
SHIPPED_PREDICT_X8 = [[-3, 10, -13, -3], [-10, -11, -9, 1], [-16, -6, 6, 14],
                      [5, -8, 15, -6], [-11, -5, 11, -4], [10, 4, 2, -4]]


def _grid(rng, shape, low, high):
    """Random multiples of 1/8 in [low, high]."""
    return rng.integers(int(low * 8), int(high * 8) + 1, size=shape) / 8.0


def loss_probes(seed=None, N=5, D=4, C=3, reg=0.25):
    """
    The probe inputs of the loss checks, as a list of dicts (see cs231n/diagnosis.py).

    With seed None, W and X are the shipped ones (N, D, C = 5, 4, 3); with a
    seed they are drawn, of any size (for checks that are not shipped).

    - basic: moderate scores, reg = 0: the data part alone.
    - doubled: basic with every row twice: an average does not change.
    - basic_reg: basic with reg > 0: adds exactly reg * sum(W**2).
    - large: every score near 1000: exp overflows without a shift.
    - ragged: some rows near 1000, others near 0: one global shift underflows.
    - far_label: some correct classes score 1000 below the others: their
      probability underflows to 0, and -log(0) is inf.
    - basic_reg_float32: basic_reg in float32.
    - first_row, other_rows: basic's first example alone and the others, whose
      losses average to basic's: they tell whether a max, sum or normalization
      runs over each example's classes, over the examples or over everything.
    """
    if seed is None:
        W, X = np.array(SHIPPED_LOSS_W8) / 8.0, np.array(SHIPPED_LOSS_X8) / 8.0
        N, D, C = X.shape[0], X.shape[1], W.shape[1]
    else:
        rng = np.random.default_rng(seed)
        W = _grid(rng, (D, C), -1, 1)
        X = _grid(rng, (N, D), -2, 2)
    # Labels repeat and one class never occurs: subtracting 1 at the columns of all
    # labels (P[:, y] -= 1) then differs from subtracting it at every class.
    y = np.where(np.arange(N) % 3 == 1, C - 1, 0)       # [0, C-1, 0, 0, C-1, ...]
    W_big = W.copy()
    W_big[0] = 1000.0                     # the first input adds 1000 to every score
    X_big = X.copy()
    X_big[:, 0] = 1.0
    X_ragged = X.copy()
    X_ragged[:, 0] = [1.0 if i % 2 == 0 else 0.0 for i in range(N)]
    W_far = W.copy()
    W_far[0] = 0.0
    W_far[0, 1] = -1000.0                 # class 1 scores 1000 below the others
    y_far = y.copy()
    y_far[1::2] = 1
    def probe(name, W, X, y, reg, about, **kw):
        about = (f"W {W.shape}, X {X.shape}, y {y.shape}, reg = {reg}"
                 + (f"; {about}" if about else ""))
        return dict(name=name, W=W.tolist(), X=X.tolist(), y=[int(v) for v in y],
                    reg=reg, about=about, **kw)
    return [
        probe("basic", W, X, y, 0.0, "scores between -4 and 4"),
        probe("doubled", W, np.vstack([X, X]), np.concatenate([y, y]), 0.0,
              "the small problem with every example twice", duplicates="basic"),
        probe("basic_reg", W, X, y, reg, "the small problem with regularization",
              adds_reg_to="basic"),
        probe("large", W_big, X_big, y, 0.0, "every score near 1000"),
        probe("ragged", W_big, X_ragged, y, 0.0,
              "the scores of some rows near 1000, of the others near 0"),
        probe("far_label", W_far, X_big, y_far, 0.0,
              "some correct classes score 1000 below the best class"),
        probe("first_row", W, X[:1], y[:1], 0.0, "the first example of the small problem "
              "alone", splits="basic"),
        probe("other_rows", W, X[1:], y[1:], 0.0, "the other examples of the small problem",
              splits="basic"),
        probe("basic_reg_float32", W.astype(np.float32), X.astype(np.float32), y, reg,
              "float32 arrays, as the notebook's data", dtype="float32",
              same_as="basic_reg"),
    ]


def predict_probes(seed=None, N=6, D=4, C=3):
    """Probe inputs of the predict check: N, D and C all differ, no ties.
    With seed None the shipped ones, else drawn with that seed."""
    if seed is None:
        W, X = np.array(SHIPPED_PREDICT_W8) / 8.0, np.array(SHIPPED_PREDICT_X8) / 8.0
        return [dict(name="basic", W=W.tolist(), X=X.tolist())]
    rng = np.random.default_rng(seed)
    while True:
        W = _grid(rng, (D, C), -1, 1)
        X = _grid(rng, (N, D), -2, 2)
        if telling_predict_probe(W, X):
            return [dict(name="basic", W=W.tolist(), X=X.tolist())]


def telling_predict_probe(W, X):
    """Can a predict probe tell the mistakes apart? No near ties among the scores,
    every class predicted somewhere, N, D and C all different."""
    scores = X @ W
    best = np.argmax(scores, axis=1)
    return (len({X.shape[0], X.shape[1], W.shape[1]}) == 3
            and bool(np.all(np.diff(np.sort(scores, axis=1), axis=1) > 0.1))
            and len(set(best.tolist())) == W.shape[1])


def _round(x):
    x = float(x)
    if abs(x) < NOISE_FLOOR:
        return 0.0
    return float(f"{x:.{FINGERPRINT_DIGITS}g}")


def _loss_fingerprint(loss_fn, probe):
    W, X, y, reg = checks.probe_arrays(probe)
    with np.errstate(all="ignore"):
        loss, dW = loss_fn(W, X, y, reg)
    loss = float(loss)
    dW = np.asarray(dW, dtype=np.float64)
    return {"loss": _round(loss) if np.isfinite(loss) else None,
            "dW": [[_round(v) for v in row] for row in dW] if np.all(np.isfinite(dW)) else None}


def build_check_data(loss_probe_list=None, predict_probe_list=None):
    """
    The content of the data file for the given probe sets (default: the shipped ones).

    The hidden checks call this with their own probes to get data in the same
    form, then pass it to the same check functions (their data= argument).

    Returns: the dict that cs231n.checks.load_check_data returns.
    """
    loss_probe_list = loss_probes() if loss_probe_list is None else loss_probe_list
    predict_probe_list = predict_probes() if predict_probe_list is None else predict_probe_list
    loss_fp = {}
    for probe in loss_probe_list:
        if "same_as" in probe:
            continue
        loss_fp[probe["name"]] = {"correct": _loss_fingerprint(softmax_loss_vectorized, probe)}
        for mistake in mistakes.FINGERPRINTED_LOSS_MISTAKES:
            loss_fp[probe["name"]][mistake] = _loss_fingerprint(mistakes.LOSS_MISTAKES[mistake],
                                                                probe)
    predict_fp = {}
    for probe in predict_probe_list:
        W, X = np.array(probe["W"]), np.array(probe["X"])
        clf = mistakes.MistakeClassifier(0)
        clf.W = W
        predict_fp[probe["name"]] = {"correct": [int(v) for v in clf.predict(X)]}
        for mistake in mistakes.FINGERPRINTED_PREDICT_MISTAKES:
            labels = mistakes.PREDICT_MISTAKES[mistake](clf, X)
            predict_fp[probe["name"]][mistake] = [int(v) for v in labels]
    content = {
        "loss": {"probes": loss_probe_list, "fingerprints": loss_fp},
        "predict": {"probes": predict_probe_list, "fingerprints": predict_fp},
    }
    return {"format": checks.DATA_FORMAT,
            "generated_by": "python -m instructor.checks.fingerprints (do not edit by hand)",
            "sha256": checks.content_hash(content),
            "content": content}


def render(data):
    """The file's text: stable key order, each innermost list of numbers on one line."""
    text = json.dumps(data, indent=1, sort_keys=True)
    return re.sub(r"\[\s*([^\[\]{}\"]*?)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]"
                  if m.group(1).strip() else "[]", text) + "\n"


def write_fingerprints(path):
    """Compute the shipped probe set's fingerprints and write them to path."""
    text = render(build_check_data())
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def is_current(path):
    """True when the file at path is what write_fingerprints would write now."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read() == render(build_check_data())
    except OSError:
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m instructor.checks.fingerprints",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the data file, e.g. cs231n/check_data.json")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the file is not current")
    args = parser.parse_args(argv)
    if args.check:
        if is_current(args.out):
            print(f"{args.out} is current")
            return 0
        print(f"{args.out} is out of date: run python -m instructor.checks.fingerprints "
              f"{args.out}", file=sys.stderr)
        return 1
    write_fingerprints(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
