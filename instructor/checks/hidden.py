"""The hidden checks: run only by the trusted grader, never shipped to students.

Each check takes a Subject (suite.py) and returns None, or raises CheckFailed
(cs231n.checks) whose message names the mistake without quoting this file or
the numbers of its problems. They reach the student's code only through the
Subject's callables (see cs231n/checks.py for the calling contract), so they
run the same on the real functions and on proxies into a sandboxed worker.

The loss checks run the given diagnosis on problems of their own: the same
kinds of probe as the shipped ones (moderate scores, every example twice,
regularization, scores near 1000, one shift for all rows, a correct class far
below the best, float32), drawn with other seeds and sizes, with the
fingerprints computed here by the instructor's solution and marked hidden so
that no number reaches a message.
"""
import ast
import copy
import functools
import json
import os
import secrets

import numpy as np

from cs231n import checks
from cs231n.checks import CheckFailed

from .common import accuracy_of, bar, notebook_value, reproduced_best_W, sample_batch_of

SOFTMAX_FILE = checks.SOFTMAX_FILE
# A fixed seed for the hidden problems (an instructor regrading exactly); unset, each
# grading run draws its own secret seed. A file of probe sets (a pool, see
# pool_files) is used where the solution is not at hand (the Gradescope zip).
SEED_VARIABLE = "HIDDEN_SEED"
POOL_VARIABLE = "HIDDEN_POOL"
# Where a grader built without the solution (the Gradescope zip) finds its pool; used
# only when the solution is absent, so it never stands in for a recomputation.
SHIPPED_POOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hidden_pool.json")


def hidden(check):
    """Mark a check as hidden: grade_cell keeps its failures' details from the student."""
    check.hidden = True
    return check


def _fail(function, mistake, text):
    """Raise CheckFailed with a message written to be shown as it is."""
    error = CheckFailed(f"{function}: {text}", mistake=mistake, function=function)
    error.shown_as_is = True
    raise error


def build_hidden_data(seed):
    """Probe sets and fingerprints of the hidden checks for one seed, from the
    instructor's solution; "seed" is kept in the data for the checks' own draws."""
    from . import fingerprints   # imports the solution: only where the solution is
    rng = np.random.default_rng(seed)
    data = fingerprints.build_check_data(
        fingerprints.loss_probes(seed=int(rng.integers(1 << 31)), N=int(rng.integers(6, 11)),
                                 D=int(rng.integers(12, 25)), C=int(rng.integers(3, 7)),
                                 reg=float(rng.choice([0.05, 0.1, 0.2, 0.4]))),
        fingerprints.predict_probes(seed=int(rng.integers(1 << 31)), N=int(rng.integers(7, 13))))
    for section in data["content"].values():
        for probe in section["probes"]:
            probe["about"] = "a further problem the grader does not show"
    data["hidden"] = True
    data["seed"] = int(rng.integers(1 << 31))
    return data


def hidden_pool(size=32):
    """`size` hidden probe sets, each from its own secret seed, as JSON text: a grader
    without the solution picks one at random per run (recording one run seldom helps)."""
    pool = [build_hidden_data(secrets.randbits(63)) for _ in range(size)]
    return json.dumps({"pool": pool}, sort_keys=True)


def pool_files(size=32):
    """{SHIPPED_POOL: a pool of `size` hidden probe sets}: what a grader shipped without
    the solution reads (the spec's hidden_pool)."""
    return {SHIPPED_POOL: hidden_pool(size)}


@functools.lru_cache(maxsize=None)
def _hidden_data():
    """This run's hidden problems: from $HIDDEN_SEED, else from a pool named by
    $HIDDEN_POOL, else from a secret seed drawn now (once per grading process)."""
    if os.environ.get(SEED_VARIABLE):
        return build_hidden_data(int(os.environ[SEED_VARIABLE]))
    pool_file = os.environ.get(POOL_VARIABLE)
    if not pool_file:
        try:
            return build_hidden_data(secrets.randbits(63))
        except ImportError:   # no solution here: only a shipped pool can serve
            pool_file = SHIPPED_POOL
    with open(pool_file, encoding="utf-8") as f:
        pool = json.load(f)["pool"]
    return secrets.choice(pool)


def hidden_data():
    """A fresh copy of this run's hidden probe data (the check functions may not change it)."""
    return copy.deepcopy(_hidden_data())


def _rng(offset):
    """A generator for a hidden check's own problem, from this run's secret seed."""
    return np.random.default_rng([_hidden_data()["seed"], offset])


def _loss_probes(loss_fn, name, parts=("loss", "gradient")):
    checks.check_softmax_loss(loss_fn, name=name, data=hidden_data(), parts=parts)


# ---------------------------------------------------------------- the naive loss

@hidden
def naive_loss_hidden_problems(subject):
    """The naive loss on hidden problems: values, stability, float32, inputs untouched."""
    _loss_probes(subject.loss_naive, "softmax_loss_naive", parts=("loss",))


def _centred_differences(loss_fn, name, W, X, y, reg, h=1e-6):
    return checks.numerical_loss_gradient(loss_fn, name, W, X, y, reg, h=h)


def gradient_matches_differences(loss_fn, name, W, X, y, regs, rtol=1e-5, atol=1e-7):
    """dW of loss_fn against centred differences of its own loss, for each reg."""
    for reg in regs:
        out = checks.call_student(name, "computing the loss and its gradient", loss_fn,
                                  W.copy(), X.copy(), y.copy(), reg)
        _, dW = checks.loss_output(name, out, W, "computing the gradient")
        numeric = _centred_differences(loss_fn, name, W, X, y, reg)
        if not np.allclose(dW, numeric, rtol=rtol, atol=atol):
            where = "with" if reg else "without"
            _fail(name, "grad_vs_loss", f"its gradient dW disagrees with finite differences "
                  f"of its own loss {where} regularization: the analytic gradient is wrong.")


@hidden
def naive_grad_hidden_problem(subject):
    """The naive gradient on hidden problems, and against finite differences."""
    _loss_probes(subject.loss_naive, "softmax_loss_naive", parts=("gradient",))
    rng = _rng(1)
    W = rng.standard_normal((6, 3))
    X = rng.standard_normal((5, 6)) * 2
    y = rng.integers(0, 3, 5)
    gradient_matches_differences(subject.loss_naive, "softmax_loss_naive", W, X, y,
                                 (0.0, 0.3))


# ---------------------------------------------------------------- the vectorized loss

@hidden
def vectorized_hidden_problems(subject):
    """The vectorized loss on hidden problems: values, stability, float32, inputs untouched."""
    _loss_probes(subject.loss_vectorized, "softmax_loss_vectorized")


@hidden
def vectorized_has_no_loops(subject):
    """softmax_loss_vectorized runs no Python loop over the examples: read from the code
    it runs (its final binding and whatever that calls in the student's files), never
    timed (see loops.py)."""
    from . import loops
    name = "softmax_loss_vectorized"
    try:
        found = loops.find_loops(subject.sources, SOFTMAX_FILE, name)
    except loops.NotFound as error:
        _fail(name, "missing", str(error))
    if found:
        _fail(name, "loops", loops.describe(found, name))


# ---------------------------------------------------------------- SGD, sample_batch, predict

def _labels(function, out, n):
    labels = np.asarray(out) if out is not None else None
    if labels is None or labels.shape != (n,) or labels.dtype.kind not in "iu":
        _fail(function, "output", "it must return one integer label per example.")
    return labels


@hidden
def sgd_fits_an_easy_problem(subject):
    """A seeded run repeats exactly, lowers the loss and fits an easy problem."""
    rng = _rng(2)
    X = rng.standard_normal((300, 5))
    X[:, -1] = 1
    y = (X[:, 0] > 0).astype(np.int64) + 2 * (X[:, 1] > 0)
    settings = dict(learning_rate=0.5, reg=1e-4, num_iters=200, batch_size=50, verbose=False)
    clf = checks.call_student("train", "making a classifier", subject.make_classifier, 1)
    runs = []
    for _ in range(2):
        history = checks.call_student("train", "training on a problem the grader does not "
                                      "show", clf.train, X.copy(), y.copy(),
                                      arg_names=("X", "y"), **settings)
        try:
            history = np.asarray(history, dtype=np.float64)
        except (TypeError, ValueError):
            history = None
        if history is None or history.shape != (settings["num_iters"],):
            _fail("train", "output", "it must return one loss per iteration.")
        runs.append((history, np.array(clf.W, dtype=np.float64)))
    (h1, W1), (h2, W2) = runs
    if not (np.allclose(h1, h2, equal_nan=True) and np.allclose(W1, W2, equal_nan=True)):
        _fail("train", "sgd_unseeded", checks.MISTAKES["sgd_unseeded"])
    if not (np.all(np.isfinite(h1)) and h1[-1] < h1[0]):
        _fail("train", "sgd_no_descent", "the loss does not go down on an easy problem.")
    labels = _labels("predict", checks.call_student("predict", "predicting", clf.predict,
                                                    X.copy(), arg_names=("X",)), len(y))
    if np.mean(labels == y) <= 0.8:
        _fail("train", "sgd_no_fit", "training does not fit an easy problem: check the "
              "update and the learning rate it uses.")


@hidden
def predict_picks_the_top_score(subject):
    """predict returns, per example, the class with the highest score."""
    checks.check_predict(subject.make_classifier, data=hidden_data(), seed=1)
    rng = _rng(3)
    W = rng.standard_normal((5, 4))
    X = rng.standard_normal((7, 5))
    clf = checks.call_student("predict", "making a classifier", subject.make_classifier, 1)
    clf.W = W.copy()
    labels = _labels("predict", checks.call_student("predict", "predicting", clf.predict,
                                                    X.copy(), arg_names=("X",)), len(X))
    if not np.array_equal(labels, np.argmax(X @ W, axis=1)):
        _fail("predict", "wrong", "some labels are not the class with the highest score.")


@hidden
def sample_batch_keeps_rows_and_uses_rng(subject):
    """sample_batch keeps each row with its label and takes its randomness from rng."""
    order = _rng(4).permutation(30)
    X = np.arange(60.0).reshape(30, 2)[order]
    y = np.arange(30)[order]
    draws = []
    for _ in range(2):
        out = checks.call_student("sample_batch", "drawing a minibatch", sample_batch_of(subject),
                                  X.copy(), y.copy(), 9, _rng(5), arg_names=("X", "y"))
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            _fail("sample_batch", "output", "it must return a tuple (X_batch, y_batch).")
        X_batch, y_batch = (np.asarray(a) if a is not None else np.zeros(0) for a in out)
        if X_batch.shape != (9, 2) or y_batch.shape != (9,) or y_batch.dtype.kind not in "iu":
            _fail("sample_batch", "output", "X_batch must have shape (batch_size, D) and "
                  "y_batch shape (batch_size,), with integer labels.")
        draws.append((X_batch, y_batch))
    (X1, y1), (_, y2) = draws
    rows = np.argsort(order)[np.clip(y1, 0, 29)]   # where each label's row is in X
    if not (np.all((y1 >= 0) & (y1 < 30)) and np.array_equal(X1, X[rows])):
        _fail("sample_batch", "batch_labels", checks.MISTAKES["batch_labels"])
    if not np.array_equal(y1, y2):
        _fail("sample_batch", "batch_ignores_rng", checks.MISTAKES["batch_ignores_rng"])


# ---------------------------------------------------------------- the sweep

@hidden
def sweep_reaches_the_bar(subject):
    """best_W's validation accuracy, recomputed here, reaches the bar and is best_val."""
    best_W = notebook_value(subject, "best_W", "best_softmax.W")
    accuracy = accuracy_of(best_W, subject.data.X_val, subject.data.y_val, "best_softmax.W")
    reproduced_best_W(subject)
    implausible = bar("test_sweep", "max_plausible_val")
    if accuracy > implausible and len(subject.data.y_val) >= bar("test_sweep",
                                                                  "plausible_min_rows"):
        _fail("sweep", "implausible", f"the best classifier's validation accuracy, "
              f"{accuracy:.3f}, is beyond what a linear classifier reaches on this data "
              f"(at most about {implausible}): this cell is left to the instructor to review.")
    if accuracy < bar("test_sweep", "sweep_bar"):
        _fail("sweep", "sweep_bar", f"the best classifier's validation accuracy, "
              f"{accuracy:.3f}, is not high enough for full marks: widen or refine the "
              "grid of learning rates and regularization strengths.")
    best_val = notebook_value(subject, "best_val", "best_val")
    if not abs(float(best_val) - accuracy) <= 1e-6:
        _fail("sweep", "best_val", f"best_val ({float(best_val):.4f}) is not the validation "
              f"accuracy of best_softmax ({accuracy:.4f}): keep the classifier that reached "
              "best_val.")
