"""Checks of your code that say which mistake you most likely made.

Each check calls your function on small fixed problems and compares what it
returns with what the correct function returns there, and with what each common
mistake would return. Those expected outputs ("fingerprints") are stored as
numbers in cs231n/check_data.json. Other checks need no stored numbers: adding
regularization must add exactly reg * sum(W**2) to the loss, repeating every
example must not change an average, and so on. When nothing known fits, the
checks still say how your output differs: a constant factor, a sum over the
wrong axis, a gradient that is not the gradient of your own loss.

A check returns None when everything it tried was right, and otherwise raises
CheckFailed (an AssertionError) whose message names the likely mistake and the
place to look. Use them in the notebook like this:

    check_softmax_loss(softmax_loss_naive, name="softmax_loss_naive")
    check_sample_batch(Softmax().sample_batch)
    check_train(Softmax)
    check_predict(Softmax)

They touch your code only through these calls, with numpy arrays, Python
floats and ints, and numpy Generators as arguments:
- loss_fn(W, X, y, reg) -> (loss, dW)
- sample_batch(X, y, batch_size, rng) -> (X_batch, y_batch)
- make_classifier(seed) -> a classifier clf, then clf.train(X, y,
  learning_rate=..., reg=..., num_iters=..., batch_size=..., verbose=False)
  -> list of losses, clf.W (read and assigned) and clf.predict(X) -> labels.
In the notebook make_classifier is simply Softmax (Softmax(seed) is a classifier).

The messages live in cs231n/check_messages.py, the diagnosis in
cs231n/diagnosis.py. For the grading tools: data= takes probe sets and
fingerprints in the form load_check_data() returns; call_student,
loss_output, run_loss_probes and numerical_loss_gradient are the steps the
checks take, for further checks of the same kind.
"""
import numpy as np

from . import contract
from .check_messages import (CLASSIFIER_FILE, MISTAKES, SOFTMAX_FILE,  # noqa: F401
                             CheckDataError, CheckFailed)
from .check_messages import describe as _describe
from .check_messages import fail as _fail
from .check_messages import fail_plain as _fail_plain
from .check_messages import fmt as _fmt
from .diagnosis import (ATOL, DATA_FORMAT, RTOL, call_student, content_hash,  # noqa: F401
                        diagnose_loss, load_check_data, loss_output, numerical_loss_gradient,
                        probe_arrays, run_loss_probes)

_call = call_student

# Every function here is the checks' own machinery: a notebook's traceback skips
# it (IPython and pytest honour __tracebackhide__) and shows the diagnosis.


# ---------------------------------------------------------------- the loss

def check_softmax_loss(loss_fn, name="softmax_loss_naive", data=None,
                       parts=("loss", "gradient")):
    """
    Check a softmax loss function and name the likely mistake if it is wrong.

    Inputs:
    - loss_fn: function(W, X, y, reg) -> (loss, dW), such as softmax_loss_naive.
    - name: its name, used in the messages ("softmax_loss_vectorized").
    - data: probe sets and fingerprints (default: load_check_data()).
    - parts: ("loss",) or ("gradient",) judges only that output; both by default.

    Returns None if loss_fn passed; raises CheckFailed otherwise.
    """
    __tracebackhide__ = True
    data = load_check_data() if data is None else data
    results = run_loss_probes(loss_fn, name, data)
    diagnose_loss(results, data, name, parts=parts, numerical_gradient=lambda probe:
                  numerical_loss_gradient(loss_fn, name, *probe_arrays(probe)))


# ---------------------------------------------------------------- sample_batch

def check_sample_batch(sample_batch, name="sample_batch", N=12, D=3, batch_size=5, seed=0):
    """
    Check a minibatch sampler and name the likely mistake if it is wrong.

    Inputs:
    - sample_batch: function(X, y, batch_size, rng) -> (X_batch, y_batch).
    - name: its name, used in the messages.
    - N, D, batch_size, seed: the size of the probe problem and the seed of the
      generators passed as rng.

    Returns None if sample_batch passed; raises CheckFailed otherwise.
    """
    __tracebackhide__ = True
    # Row i of X starts with i, so every returned row tells where it came from;
    # its label (3 i + 1) mod 4 differs from those of neighbouring rows.
    X = np.zeros((N, D))
    X[:, 0] = np.arange(N)
    X[:, 1:] = -0.5 * np.arange(N)[:, None] + 0.25 * np.arange(1, D)
    y = (3 * np.arange(N) + 1) % 4

    def draw(rng):
        __tracebackhide__ = True
        doing = (f"drawing {batch_size} examples from X of shape {X.shape} and y of shape "
                 f"{y.shape}")
        out = _call(name, doing, sample_batch, X.copy(), y.copy(), batch_size, rng,
                    arg_names=("X", "y"))
        try:   # any sequence of two, as the contract says
            X_batch, y_batch = contract.pair(out, "(X_batch, y_batch)")
        except contract.ContractError as e:
            _fail_plain(name, "output", f"{e}.")
        if X_batch is None and y_batch is None:
            raise CheckFailed(f"{name} is not implemented yet: fill in its TODO in "
                              f"{CLASSIFIER_FILE} (it returns None, None).",
                              mistake="not_implemented", function=name)
        X_batch, y_batch = np.asarray(X_batch), np.asarray(y_batch)
        if X_batch.shape != (batch_size, D):
            if X_batch.shape == (D, batch_size):
                _fail(name, "batch_transposed", f"X_batch has shape {X_batch.shape}.")
            if X_batch.shape == (N, batch_size):
                _fail(name, "batch_columns", f"X_batch has shape {X_batch.shape}.")
            _fail_plain(name, "output", f"X_batch must have shape (batch_size, D) = "
                        f"{(batch_size, D)}; it has shape {X_batch.shape}.")
        if y_batch.shape != (batch_size,):
            _fail_plain(name, "output", f"y_batch must have shape (batch_size,) = "
                        f"{(batch_size,)}; it has shape {y_batch.shape}.")
        if y_batch.dtype.kind not in "iu":
            _fail_plain(name, "output", f"y_batch must hold integer labels, like y; it "
                        f"holds {y_batch.dtype}.")
        idx = X_batch[:, 0].astype(np.int64)
        if not (np.all(idx == X_batch[:, 0]) and np.all((idx >= 0) & (idx < N))
                and np.array_equal(X[np.clip(idx, 0, N - 1)], X_batch)):
            _fail_plain(name, "output", "the rows of X_batch are not rows of X: each "
                        "example of the minibatch is one whole row X[i].")
        wrong = np.flatnonzero(y_batch != y[idx])
        if wrong.size:
            k = wrong[0]
            _fail(name, "batch_labels", f"Row {k} of X_batch is X[{idx[k]}], whose label is "
                  f"y[{idx[k]}] = {y[idx[k]]}, but y_batch[{k}] = {y_batch[k]}.")
        return idx

    first = draw(np.random.default_rng(seed))
    again = draw(np.random.default_rng(seed))
    if not np.array_equal(first, again):
        _fail(name, "batch_ignores_rng", f"Two generators seeded with {seed} gave the rows "
              f"{first.tolist()} and {again.tolist()}.")
    rng = np.random.default_rng(seed + 1)
    draws = [draw(rng) for _ in range(3)]
    if all(np.array_equal(d, first) for d in draws):
        _fail(name, "batch_not_random", f"Four calls all gave the rows {first.tolist()}.")


# ---------------------------------------------------------------- train

def _train(make_classifier, X, y, seed, **kwargs):
    """make_classifier(seed).train(X, y, ...) -> (classifier, loss history as floats)."""
    __tracebackhide__ = True
    doing = (f"training on X of shape {X.shape} with "
             + ", ".join(f"{k}={v}" for k, v in kwargs.items()))
    clf = _call("train", "making a classifier", make_classifier, seed)
    history = _call("train", doing, clf.train, X.copy(), y.copy(), arg_names=("X", "y"),
                    verbose=False, **kwargs)
    try:
        history = contract.loss_history(history, kwargs["num_iters"])
    except contract.ContractError as e:
        _fail_plain("train", "output", str(e))
    W = np.asarray(clf.W)
    C = int(np.max(y)) + 1
    if W.shape != (X.shape[1], C):
        _fail_plain("train", "output", f"after training, W must have shape (D, C) = "
                    f"{(X.shape[1], C)}; it has shape {W.shape}.")
    return clf, history


def check_train(make_classifier, seed=0):
    """
    Check LinearClassifier.train and name the likely mistake if it is wrong.

    Inputs:
    - make_classifier: function(seed) -> a classifier, such as Softmax.
    - seed: the seed passed to make_classifier.

    Returns None if training works; raises CheckFailed otherwise.
    """
    __tracebackhide__ = True
    # Every example the same: every minibatch gives the same loss function, so
    # the losses of successive steps compare the weights, not the batches.
    X_same = np.tile([[1.0, 0.5, -0.5]], (8, 1))
    y_same = np.ones(8, dtype=np.int64)
    settings = dict(reg=0.0, num_iters=6, batch_size=4)
    lr = 0.05
    _, history = _train(make_classifier, X_same, y_same, seed, learning_rate=lr, **settings)
    if not np.all(np.isfinite(history)):
        _fail_plain("train", "not_finite", f"the loss became {history[-1]} during training.")
    steps = np.diff(history)
    evidence = f"Losses on an easy problem with learning_rate={lr}: {_fmt(history)}."
    if np.all(np.abs(steps) <= 1e-12 * max(1.0, abs(history[0]))):
        _fail("train", "sgd_no_update", evidence)
    if np.all(steps > 0):
        _fail("train", "sgd_climbs", evidence)
    if not np.all(steps < 0):
        _fail_plain("train", "wrong", "the loss does not go down steadily with a small "
                    "learning rate: each step moves W by -learning_rate times the gradient.",
                    evidence)
    _, half = _train(make_classifier, X_same, y_same, seed, learning_rate=lr / 2, **settings)
    if np.allclose(half, history, rtol=1e-12, atol=0):
        _fail("train", "sgd_ignores_learning_rate",
              f"Losses with learning_rate={lr} and {lr / 2}: {_fmt(history)} both times.")
    ratio = (history[1] - history[0]) / (half[1] - half[0])
    if not 1.5 < ratio < 2.5:
        _fail_plain("train", "wrong", "the first step does not scale with the learning "
                    "rate: halving learning_rate should about halve the first change of "
                    "the loss.", f"It changed it by a factor {1 / ratio:.3g}.")

    # Different examples: two runs with the same seed must repeat exactly.
    X_easy = np.zeros((24, 3))
    X_easy[:, 0] = np.arange(24) % 5 - 2.0
    X_easy[:, 1] = np.arange(24) % 3 - 1.0
    X_easy[:, 2] = 1.0
    y_easy = (X_easy[:, 0] > 0).astype(np.int64) + 2 * (X_easy[:, 1] > 0)
    runs = [_train(make_classifier, X_easy, y_easy, seed + 1, learning_rate=0.1, reg=1e-3,
                   num_iters=5, batch_size=6) for _ in range(2)]
    if not (np.array_equal(runs[0][1], runs[1][1])
            and np.array_equal(np.asarray(runs[0][0].W), np.asarray(runs[1][0].W))):
        _fail("train", "sgd_unseeded", f"Losses of the two runs: {_fmt(runs[0][1])} and "
              f"{_fmt(runs[1][1])}.", look=f"train and sample_batch in {CLASSIFIER_FILE}")


# ---------------------------------------------------------------- predict

def check_predict(make_classifier, data=None, seed=0):
    """
    Check LinearClassifier.predict and name the likely mistake if it is wrong.

    Inputs:
    - make_classifier: function(seed) -> a classifier, such as Softmax; its W
      is set to fixed weights before predict is called.
    - data: probe sets and fingerprints (default: load_check_data()).
    - seed: the seed passed to make_classifier.

    Returns None if predict passed; raises CheckFailed otherwise.
    """
    __tracebackhide__ = True
    data = load_check_data() if data is None else data
    hidden = bool(data.get("hidden"))
    section = data["content"]["predict"]
    for probe in section["probes"]:
        W, X = np.array(probe["W"]), np.array(probe["X"])
        N, C = X.shape[0], W.shape[1]
        clf = _call("predict", "making a classifier", make_classifier, seed)
        clf.W = W.copy()
        doing = f"predicting labels for X of shape {X.shape} with W of shape {W.shape}"
        out = _call("predict", doing, clf.predict, X.copy(), arg_names=("X",))
        if not np.array_equal(np.asarray(clf.W), W):
            _fail_plain("predict", "modifies_W", "it changes the weights self.W: predicting "
                        "only reads them.")
        if out is None:
            _fail_plain("predict", "output", "it returns None: return y_pred, one label per "
                        "example.")
        labels = np.asarray(out)
        shape_seen = f"For X of shape {X.shape} and W of shape {W.shape} it returned shape " \
                     f"{labels.shape}; expected ({N},)."
        if labels.shape != (N,):
            if labels.shape == (C,):
                _fail("predict", "predict_wrong_axis", shape_seen)
            if labels.shape == ():
                _fail("predict", "predict_no_axis", shape_seen)
            if labels.shape == (N, C):
                _fail("predict", "predict_scores", shape_seen)
            _fail_plain("predict", "output", "it must return one label per example, an "
                        "array of shape (N,).", shape_seen)
        if labels.dtype.kind not in "iu":
            if labels.dtype.kind == "f":
                _fail("predict", "predict_float_labels", f"It returned dtype {labels.dtype}.")
            _fail_plain("predict", "output", f"labels must be integers; it returned dtype "
                        f"{labels.dtype}.")
        prints = section["fingerprints"][probe["name"]]
        if not np.array_equal(labels, prints["correct"]):
            for mistake in MISTAKES:
                if mistake in prints and np.array_equal(labels, prints[mistake]):
                    _fail("predict", mistake, None if hidden else
                          f"Labels {labels.tolist()} on a small problem.")
            _fail_plain("predict", "wrong", "some labels are wrong: the label of example i "
                        "is the class with the highest score in row i of X @ W (use self.W).",
                        None if hidden else f"Labels {labels.tolist()}, correct "
                        f"{list(prints['correct'])}.")
