"""Checks of your code that say which mistake you most likely made.

Each check calls your function on small fixed problems and compares what it
returns with what the correct function returns there, and with what each common
mistake would return. Those expected outputs ("fingerprints") are stored as
numbers in cs231n/check_data.json. Other checks need no stored numbers: adding
regularization must add exactly reg * sum(W**2) to the loss, repeating every
example must not change an average, and so on.

A check returns None when everything it tried was right, and otherwise raises
CheckFailed (an AssertionError) whose message names the likely mistake and the
place to look. Use them in the notebook like this:

    from cs231n.checks import (check_predict, check_sample_batch, check_softmax_loss,
                               check_train)
    check_softmax_loss(softmax_loss_naive, name="softmax_loss_naive")
    check_softmax_loss(softmax_loss_vectorized, name="softmax_loss_vectorized")
    check_sample_batch(Softmax().sample_batch)
    check_train(Softmax)
    check_predict(Softmax)

The checks:
- check_softmax_loss(loss_fn, name="softmax_loss_naive", data=None)
- check_sample_batch(sample_batch, name="sample_batch", N=12, D=3, batch_size=5, seed=0)
- check_train(make_classifier, seed=0)
- check_predict(make_classifier, data=None, seed=0)

They touch your code only through these calls, with numpy arrays, Python
floats and ints, and numpy Generators as arguments:
- loss_fn(W, X, y, reg) -> (loss, dW)
- sample_batch(X, y, batch_size, rng) -> (X_batch, y_batch)
- make_classifier(seed) -> a classifier clf, then clf.train(X, y,
  learning_rate=..., reg=..., num_iters=..., batch_size=..., verbose=False)
  -> list of losses, clf.W (read and assigned) and clf.predict(X) -> labels.
In the notebook make_classifier is simply Softmax (Softmax(seed) is a classifier).

For the grading tools: data= takes probe sets and fingerprints in the form
load_check_data() returns, so further checks can run the same diagnosis on
other problems; a data set with "hidden": true keeps its numbers out of the
messages. The loss diagnosis is also available in two steps:
run_loss_probes(loss_fn, name, data) -> results, then
diagnose_loss(results, data, name, numerical_gradient=None). CheckFailed has
the attributes mistake (a key of MISTAKES, or a short word such as
"not_implemented", "raised", "output" or "wrong") and function.

The data file holds {"format": DATA_FORMAT, "sha256": content_hash(content),
"content": {"loss": {"probes": [...], "fingerprints": {probe name: {"correct"
or a mistake: {"loss": number, "dW": rows}}}}, "predict": {"probes": [...],
"fingerprints": {probe name: {"correct" or a mistake: labels}}}}}, where null
stands for "not finite". It is generated, never edited: load_check_data()
refuses a file of another format or whose checksum does not match.
"""
import copy
import hashlib
import json
import os
import warnings

import numpy as np

from . import contract

DATA_FORMAT = 1
DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_data.json")

SOFTMAX_FILE = "cs231n/classifiers/softmax.py"
CLASSIFIER_FILE = "cs231n/classifiers/linear_classifier.py"

# Relative and absolute tolerances when comparing with a fingerprint: loose
# enough for a correct function that computes in float32 internally, tight
# enough to tell the known mistakes apart (their outputs differ by far more).
RTOL, ATOL = 1e-5, 1e-6
# With float32 inputs the results carry about 7 significant digits.
RTOL_FLOAT32, ATOL_FLOAT32 = 1e-3, 1e-4
# Known factors are recognised to within this.
FACTOR_TOL = 1e-3

REG_GRAD = ("the derivative of reg * sum(W**2) with respect to W is 2 * reg * W")

# Every mistake the checks can name: id -> explanation. The order is the
# order of preference when an output fits more than one.
MISTAKES = {
    # inputs
    "modifies_W": "it changes its input W in place. The caller still needs W: work on new "
                  "arrays (for example dW = np.zeros_like(W), never dW = W, and no W -= ... "
                  "or W *= ...).",
    "modifies_X": "it changes its input X in place. The caller reuses X for the next "
                  "minibatch: compute new arrays instead of X -= ..., X /= ... and the like.",
    "modifies_y": "it changes its input y in place. Read the labels, never write to them.",
    # averaging
    "loss_not_averaged": "the loss is summed over the minibatch, not averaged: with every "
                         "example twice it doubles. Divide the sum of the per-example losses "
                         "by N (before adding the regularization).",
    "grad_not_averaged": "the gradient is summed over the minibatch, not averaged: with every "
                         "example twice it doubles. The loss is a mean over the N examples, "
                         "so its gradient is divided by N too.",
    # regularization in the loss
    "reg_loss_missing": "the regularization is missing from the loss: add reg * sum(W**2).",
    "reg_loss_half": "the regularization term of the loss is half of what it should be: "
                     "it is reg * sum(W**2), with no factor 0.5.",
    "reg_loss_double": "the regularization term of the loss is twice what it should be: "
                       "it is reg * sum(W**2), with no factor 2.",
    "reg_loss_over_n": "the regularization term of the loss is divided by N: only the data "
                       "loss is averaged; add reg * sum(W**2) after dividing by N.",
    "reg_loss_sign": "the regularization term is subtracted from the loss: add "
                     "reg * sum(W**2).",
    # regularization in the gradient
    "reg_grad_missing": "the regularization part of the gradient is missing: " + REG_GRAD
                        + "; add it to dW.",
    "reg_grad_half": "the regularization part of the gradient is half of what it should be: "
                     + REG_GRAD + ".",
    "reg_grad_double": "the regularization part of the gradient is twice what it should be: "
                       + REG_GRAD + ".",
    "reg_grad_over_n": "the regularization part of the gradient is divided by N: "
                       + REG_GRAD + ", added after dividing the data part by N.",
    "reg_grad_sign": "the regularization part of the gradient has the wrong sign: "
                     + REG_GRAD + "; add it to dW.",
    # numerical stability
    "no_shift": "exp overflows for large scores (exp(1000) is inf, and inf / inf is nan). "
                "Subtract each row's largest score from that row before exp: the "
                "probabilities stay the same and the largest exponent becomes exp(0) = 1.",
    "global_shift": "the scores are shifted by one maximum over the whole minibatch instead "
                    "of each row's own: a row whose scores lie far below that maximum gets "
                    "exp(...) = 0 for every class, and log(0) or 0 / 0. Subtract each row's "
                    "own maximum (for arrays, max(axis=1, keepdims=True)).",
    # the data part of the gradient
    "grad_sign": "the gradient has the wrong sign: it points downhill. The gradient of the "
                 "loss with respect to score j of example i is p_j - 1[j == y_i] "
                 "(probability minus one-hot label), not the other way round.",
    "onehot_missing": "the gradient never subtracts the one-hot label: the gradient with "
                      "respect to score j of example i is p_j - 1[j == y_i], so 1 is "
                      "subtracted at the correct class of each example.",
    "onehot_all_classes": "the gradient subtracts 1 at every class, not only at the correct "
                          "one: the gradient with respect to score j of example i is "
                          "p_j - 1[j == y_i], so 1 is subtracted only where j == y_i.",
    "onehot_label_columns": "the gradient subtracts 1 in the wrong places: every example gets "
                            "1 subtracted at the labels of all examples (as P[:, y] -= 1 "
                            "does). Example i needs it only at its own label y_i: index the "
                            "rows and the labels together, P[np.arange(N), y] -= 1.",
    # the loss
    "no_log_prob": "the log is missing from the loss: the loss of one example is "
                   "-log(p_{y_i}), not -p_{y_i}.",
    "no_log_sum": "the log is missing from the loss: the loss of one example is "
                  "log(sum_j exp(s_j)) - s_{y_i}, with the log around the sum.",
    "loss_sign": "the loss has the wrong sign: it is -log(p_{y_i}), which is never "
                 "negative.",
    "log_of_probability": "the loss is inf when the correct class scores far below the best "
                          "one: its probability rounds to 0, and log(0) is -inf. Compute "
                          "-log(p_{y_i}) as log(sum_j exp(s_j)) - s_{y_i} on the shifted "
                          "scores, which is finite for any scores.",
}


# Where in the function each kind of mistake sits (by the start of its id).
LOOK_AT = {
    "modifies_": "every assignment into an input array (W -= ..., X /= ..., an alias such "
                 "as dW = W)",
    "loss_not_averaged": "where the loss is divided by N",
    "grad_not_averaged": "where dW is divided by N",
    "reg_loss": "the line that adds the regularization to the loss",
    "reg_grad": "the line that adds the regularization to dW",
    "no_shift": "the scores just before exp",
    "global_shift": "the scores just before exp",
    "grad_sign": "the gradient with respect to the scores",
    "onehot": "the gradient with respect to the scores",
    "no_log": "the loss of each example",
    "loss_sign": "the loss of each example",
    "log_of_probability": "the loss of each example",
    "sgd_": "the parameter update in train",
    "batch_": "the indices you draw and how you use them",
    "predict_": "the line that computes y_pred",
}


class CheckFailed(AssertionError):
    """A check found a mistake; the message says which one and where to look."""

    def __init__(self, message, mistake=None, function=None):
        super().__init__(message)
        self.mistake = mistake
        self.function = function


class CheckDataError(RuntimeError):
    """The checks' data file is missing, damaged, or from another version."""


# ---------------------------------------------------------------- the data file

def content_hash(content):
    """sha256 of the content in a canonical JSON form (keys sorted, no spaces)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_loaded = {}


def load_check_data(path=None):
    """
    Read and verify the probe inputs and fingerprints.

    Inputs:
    - path: the data file; by default check_data.json beside this module.

    Returns: a dict with "format", "sha256" and "content" (the probe sets).
    Raises CheckDataError with what to do when the file cannot be used.
    """
    path = DATA_FILE if path is None else path
    regenerate = ("Instructors: regenerate it with "
                  "python -m instructor.checks.fingerprints cs231n/check_data.json")
    try:
        key = (path, os.stat(path).st_mtime_ns)
        if key not in _loaded:
            with open(path, encoding="utf-8") as f:
                _loaded[key] = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckDataError(
            f"cannot read the checks' data file {path} ({e}). It comes with the assignment "
            f"next to cs231n/checks.py: restore it from your copy of the assignment. "
            f"{regenerate}.") from None
    data = copy.deepcopy(_loaded[key])   # callers may change their copy freely
    if not isinstance(data, dict) or data.get("format") != DATA_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise CheckDataError(
            f"the checks' data file {path} has format {found!r} but cs231n/checks.py needs "
            f"format {DATA_FORMAT}: the two files come from different versions of the "
            f"assignment; take both from the same one. {regenerate}.")
    if content_hash(data.get("content")) != data.get("sha256"):
        raise CheckDataError(
            f"the checks' data file {path} was changed or damaged (its checksum does not "
            f"match its content): restore it from your copy of the assignment. {regenerate}.")
    return data


def probe_arrays(probe):
    """(W, X, y, reg) of a loss probe, as fresh arrays (float64 unless it says float32)."""
    dtype = np.dtype(probe.get("dtype", "float64"))
    return (np.array(probe["W"], dtype=dtype), np.array(probe["X"], dtype=dtype),
            np.array(probe["y"], dtype=np.int64), float(probe["reg"]))


# ---------------------------------------------------------------- calling student code

def _where(name):
    """'name in file' for a function the checks know."""
    if name.startswith("softmax_loss"):
        return f"{name} in {SOFTMAX_FILE}"
    return f"LinearClassifier.{name} in {CLASSIFIER_FILE}"


def _file(name):
    return SOFTMAX_FILE if name.startswith("softmax_loss") else CLASSIFIER_FILE


def _fail(name, mistake, evidence=None, look=None):
    """Raise CheckFailed for a mistake of MISTAKES."""
    if look is None:
        look = _where(name)
        detail = [v for k, v in LOOK_AT.items() if mistake.startswith(k)]
        if detail:
            look = f"{look}, {detail[0]}"
    lines = [f"{name}: {MISTAKES[mistake]}", f"Look at: {look}."]
    if evidence:
        lines.append(evidence)
    raise CheckFailed("\n".join(lines), mistake=mistake, function=name)


def _fail_plain(name, mistake, text, evidence=None):
    """Raise CheckFailed with an explanation not in MISTAKES."""
    lines = [f"{name}: {text}", f"Look at: {_where(name)}."]
    if evidence:
        lines.append(evidence)
    raise CheckFailed("\n".join(lines), mistake=mistake, function=name)


def _call(name, doing, fn, *args, arg_names=("W", "X", "y"), **kwargs):
    """fn(*args, **kwargs), with any exception turned into a clear CheckFailed.

    The input arrays are compared with copies afterwards: a function that
    changes them in place fails here. arg_names names the positional arguments.
    """
    arrays = {n: a for n, a in zip(arg_names, args) if isinstance(a, np.ndarray)}
    arrays.update((n, a) for n, a in kwargs.items() if isinstance(a, np.ndarray))
    before = {n: a.copy() for n, a in arrays.items()}
    try:
        # A wrong answer may overflow: the message below explains it better
        # than a RuntimeWarning would.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(*args, **kwargs)
    except CheckFailed:
        raise
    except Exception as e:  # anything the student's code raises is reported, not hidden
        kind = type(e).__name__
        if isinstance(e, NotImplementedError) or kind == "NotImplementedError":
            message = f"{name} is not implemented yet: fill in its TODO in {_file(name)}"
            if name == "train":
                # The exception may come from a function train calls.
                message = ("train, or a function it calls, is not implemented yet: fill in "
                           f"the TODOs of train and sample_batch in {CLASSIFIER_FILE} and "
                           f"of softmax_loss_vectorized in {SOFTMAX_FILE}")
            raise CheckFailed(message, mistake="not_implemented", function=name) from None
        raise CheckFailed(f"{name} raised {kind}: {e}\nwhile {doing}.\n"
                          f"Look at: {_where(name)}.", mistake="raised",
                          function=name) from None
    for n, a in arrays.items():
        if not np.array_equal(a, before[n], equal_nan=a.dtype.kind in "fc"):
            mistake = f"modifies_{n}" if f"modifies_{n}" in MISTAKES else None
            if mistake:
                _fail(name, mistake, f"Seen while {doing}.")
            _fail_plain(name, "modifies_input", f"it changes its input {n} in place.")
    return out


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:200]


# ---------------------------------------------------------------- the loss

def _loss_output(name, out, W, doing):
    """Validate (loss, dW) by the task's contract (cs231n/contract.py) and return it as
    (float, float64 array of W's shape)."""
    try:
        return contract.loss_and_gradient(out, W)
    except contract.ContractError as e:
        text = str(e)
        if text.startswith("it must return a tuple"):
            text += f", while {doing}."
        _fail_plain(name, "output", text)


def run_loss_probes(loss_fn, name, data=None):
    """
    Call loss_fn on every loss probe of data.

    Returns: {probe name: (loss, dW)}, loss a float, dW a float64 array.
    Raises CheckFailed for an exception, a wrong return value or changed inputs.
    """
    data = load_check_data() if data is None else data
    results = {}
    for probe in data["content"]["loss"]["probes"]:
        W, X, y, reg = probe_arrays(probe)
        doing = f"computing the loss on a small problem ({probe['about']})"
        out = _call(name, doing, loss_fn, W, X, y, reg)
        results[probe["name"]] = _loss_output(name, out, W, doing)
    return results


def _numerical_gradient(loss_fn, name, probe, h=1e-5):
    """Centred differences of the student's own loss on a probe, (D, C) float64."""
    W, X, y, reg = probe_arrays(probe)
    grad = np.zeros(W.shape)
    for ix in np.ndindex(*W.shape):
        values = []
        for step in (h, -h):
            Wh = W.copy()
            Wh[ix] += step
            out = _call(name, "computing finite differences of the loss", loss_fn,
                        Wh, X.copy(), y.copy(), reg)
            values.append(_loss_output(name, out, Wh, "computing finite differences")[0])
        grad[ix] = (values[0] - values[1]) / (2 * h)
    return grad


def _matches(value, fingerprint, rtol=RTOL, atol=ATOL):
    """Does a result (float or array) fit a fingerprint (number, nested list, or None
    for 'not finite')?"""
    finite = bool(np.all(np.isfinite(value)))
    if fingerprint is None:
        return not finite
    expected = np.asarray(fingerprint, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected))))
    return finite and np.shape(value) == expected.shape and bool(
        np.allclose(value, expected, rtol=rtol, atol=atol * scale))


def _factor(actual, expected):
    """(c, residual): the least-squares c with actual ~ c * expected, and how far off."""
    actual = np.asarray(actual, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    norm = float(expected @ expected)
    if norm == 0 or not np.all(np.isfinite(actual)):
        return None, None
    c = float(actual @ expected) / norm
    return c, float(np.linalg.norm(actual - c * expected)) / np.sqrt(norm)


def _known_factor(c, N, prefix):
    """The mistake id for a factor c on a term that should have factor 1, or None."""
    for factor, suffix in ((0.0, "missing"), (0.5, "half"), (2.0, "double"),
                           (1.0 / N, "over_n"), (-1.0, "sign")):
        if abs(c - factor) < FACTOR_TOL:
            return f"{prefix}_{suffix}"
    return None


def _fmt(x):
    return np.array2string(np.asarray(x), precision=6, suppress_small=True,
                           separator=", ", max_line_width=100)


def diagnose_loss(results, data, name, numerical_gradient=None, parts=("loss", "gradient")):
    """
    Name the most likely mistake behind a loss function's outputs on the probes.

    Inputs:
    - results: {probe name: (loss, dW)} from run_loss_probes.
    - data: the probe sets and fingerprints (load_check_data()).
    - name: the function's name, for the messages.
    - numerical_gradient: optional function(probe) -> finite differences of the
      same loss function on that probe, used when no known mistake fits.
    - parts: what to judge, "loss", "gradient" or both, so that a test of the loss
      does not also fail for a mistake that only the gradient has.

    Returns None when every result is right; raises CheckFailed otherwise.
    """
    section = data["content"]["loss"]
    probes = section["probes"]
    fingerprints = section["fingerprints"]
    hidden = bool(data.get("hidden"))
    check_loss, check_grad = "loss" in parts, "gradient" in parts

    def seen(probe, text):
        return None if hidden else f"Seen on a small problem ({probe['about']}): {text}"

    # An untouched function that returns its initial values.
    first = probes[0]
    loss0, dW0 = results[first["name"]]
    if loss0 == 0.0 and not np.any(dW0):
        _fail_plain(name, "not_implemented", "it returns loss 0 and a zero gradient, as "
                    f"before its TODO is filled in: compute loss and dW in its TODO in "
                    f"{_file(name)}.")

    # Structural probes: they need no fingerprint and hold whatever else is wrong.
    for probe in probes:
        loss, dW = results[probe["name"]]
        base = probe.get("duplicates")
        if base is not None:
            base_loss, base_dW = results[base]
            if check_loss and np.isfinite(loss) and np.isfinite(base_loss) and base_loss != 0:
                if abs(loss / base_loss - 2.0) < FACTOR_TOL:
                    _fail(name, "loss_not_averaged", seen(
                        probe, f"loss {loss:.6g} with every example twice, "
                               f"{base_loss:.6g} without."))
            c, residual = _factor(dW, base_dW)
            if (check_grad and c is not None and residual < FACTOR_TOL
                    and abs(c - 2.0) < FACTOR_TOL):
                _fail(name, "grad_not_averaged", seen(
                    probe, "dW with every example twice is 2 times dW without."))
        base = probe.get("adds_reg_to")
        if base is not None:
            W, _, _, reg = probe_arrays(probe)
            N = len(probe["y"])
            base_loss, base_dW = results[base]
            reg_loss = reg * float(np.sum(W * W))
            if check_loss and np.isfinite(loss) and np.isfinite(base_loss):
                c = (loss - base_loss) / reg_loss
                if abs(c - 1.0) > FACTOR_TOL:
                    mistake = _known_factor(c, N, "reg_loss")
                    evidence = seen(probe, f"the loss grows by {loss - base_loss:.6g} "
                                           f"from reg = 0 to reg = {reg}, and "
                                           f"reg * sum(W**2) is {reg_loss:.6g}.")
                    if mistake:
                        _fail(name, mistake, evidence)
                    _fail_plain(name, "reg_loss_factor",
                                f"the regularization term of the loss is {c:.4g} times "
                                f"reg * sum(W**2); it should be exactly reg * sum(W**2).",
                                evidence)
            c, residual = _factor(dW - base_dW, 2 * reg * W)
            if check_grad and c is not None:
                evidence = seen(probe, f"dW(reg = {reg}) - dW(reg = 0) is "
                                       f"{c:.4g} times 2 * reg * W.")
                if residual > FACTOR_TOL * max(1.0, abs(c)):
                    _fail_plain(name, "reg_grad_shape",
                                "the regularization part of the gradient is not a multiple "
                                f"of W: {REG_GRAD}, element by element.",
                                None if hidden else
                                f"Seen on a small problem ({probe['about']}).")
                if abs(c - 1.0) > FACTOR_TOL:
                    mistake = _known_factor(c, N, "reg_grad")
                    if mistake:
                        _fail(name, mistake, evidence)
                    _fail_plain(name, "reg_grad_factor",
                                f"the regularization part of the gradient is {c:.4g} times "
                                f"what it should be: {REG_GRAD}.", evidence)

    # Fingerprints: the result against the correct one and each known mistake's.
    # A mistake is named only if it also explains every result seen right so far.
    passed = []

    def explains(mistake, upto_loss=None):
        fits = all(mistake in fingerprints[q]
                   and (not check_loss or _matches(ql, fingerprints[q][mistake]["loss"]))
                   and (not check_grad or _matches(qd, fingerprints[q][mistake]["dW"]))
                   for q, (ql, qd) in passed)
        if upto_loss is not None:
            probe_name, value = upto_loss
            fits = fits and _matches(value, fingerprints[probe_name][mistake]["loss"])
        return fits

    for probe in probes:
        prints = fingerprints.get(probe["name"])
        if prints is None:
            continue
        loss, dW = results[probe["name"]]
        correct = prints["correct"]
        if check_loss and not _matches(loss, correct["loss"]):
            for mistake in MISTAKES:
                if (mistake in prints and _matches(loss, prints[mistake]["loss"])
                        and explains(mistake)):
                    _fail(name, mistake, seen(probe, f"loss {loss:.10g}, which is what "
                                                     "this mistake gives."))
            if not np.isfinite(loss):
                _fail_plain(name, "not_finite", f"the loss is {loss} (not a finite number). "
                            "Look for exp overflowing or log(0).",
                            seen(probe, f"loss {loss}."))
            _fail_plain(name, "wrong", "the loss is wrong, and not in a way we recognise. "
                        "The loss of one example is -log(p_{y_i}), the probability of its "
                        "correct class; the loss is their mean plus reg * sum(W**2).",
                        seen(probe, f"loss {loss:.10g}, correct {correct['loss']:.10g}."))
        if check_grad and not _matches(dW, correct["dW"]):
            for mistake in MISTAKES:
                if (mistake in prints and _matches(dW, prints[mistake]["dW"])
                        and explains(mistake, (probe["name"], loss) if check_loss else None)):
                    _fail(name, mistake, seen(probe, "dW is what this mistake gives."))
            if not np.all(np.isfinite(dW)):
                _fail_plain(name, "not_finite", "the gradient dW contains inf or nan. Look "
                            "for exp overflowing or a division by 0.",
                            seen(probe, f"dW =\n{_fmt(dW)}"))
            evidence = None if hidden else seen(probe, f"your dW =\n{_fmt(dW)}\n"
                                                       f"correct dW =\n{_fmt(correct['dW'])}")
            if numerical_gradient is not None:
                numeric = numerical_gradient(probe)
                if not _matches(dW, numeric, rtol=1e-4, atol=1e-5):
                    ix = np.unravel_index(np.argmax(np.abs(dW - numeric)), dW.shape)
                    _fail_plain(name, "grad_vs_loss",
                                "dW is not the gradient of your loss: finite differences "
                                f"of your loss disagree with it, most at W[{ix[0]}, "
                                f"{ix[1]}] ({dW[ix]:.6g} in dW, {numeric[ix]:.6g} by finite "
                                "differences). Check the gradient with respect to score j "
                                "of example i, p_j - 1[j == y_i], and that dW[:, j] "
                                "collects it times x_i.", evidence)
            _fail_plain(name, "wrong", "the gradient dW is wrong, and not in a way we "
                        "recognise.", evidence)
        passed.append((probe["name"], (loss, dW)))

    # Probes that repeat another in another dtype: the same answer, within precision.
    for probe in probes:
        if "same_as" not in probe:
            continue
        loss, dW = results[probe["name"]]
        correct = fingerprints[probe["same_as"]]["correct"]
        for what, value, expected in (("loss", loss, correct["loss"]),
                                      ("gradient dW", dW, correct["dW"])):
            if not (check_loss if what == "loss" else check_grad):
                continue
            if not _matches(value, expected, RTOL_FLOAT32, ATOL_FLOAT32):
                _fail_plain(name, "dtype", f"with {probe.get('dtype')} inputs the {what} is "
                            "wrong, though it is right with float64 inputs. Look for "
                            "arrays of another dtype (integers?) or a fixed dtype where "
                            "the inputs' dtype belongs.",
                            seen(probe, f"{what} {_fmt(value)}"))


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
    data = load_check_data() if data is None else data
    results = run_loss_probes(loss_fn, name, data)
    diagnose_loss(results, data, name, parts=parts,
                  numerical_gradient=lambda probe: _numerical_gradient(loss_fn, name, probe))


# ---------------------------------------------------------------- sample_batch

MISTAKES.update({
    "batch_labels": "the labels in y_batch do not belong to the rows in X_batch. Draw the "
                    "indices once and take both the rows and the labels with them "
                    "(X[idx] and y[idx]).",
    "batch_transposed": "X_batch is transposed: it should have one row per example, shape "
                        "(batch_size, D).",
    "batch_columns": "X_batch holds columns of X, not rows: take examples, X[idx], not "
                     "X[:, idx].",
    "batch_not_random": "it returns the same examples every time: draw random indices "
                        "with rng (rng.choice or rng.integers) at each call.",
    "batch_ignores_rng": "it does not take its randomness from rng: the same generator "
                         "state gives different batches. Use rng.choice or rng.integers, "
                         "not np.random, so that a seeded training run repeats exactly.",
})


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
    # Row i of X starts with i, so every returned row tells where it came from;
    # its label (3 i + 1) mod 4 differs from those of neighbouring rows.
    X = np.zeros((N, D))
    X[:, 0] = np.arange(N)
    X[:, 1:] = -0.5 * np.arange(N)[:, None] + 0.25 * np.arange(1, D)
    y = (3 * np.arange(N) + 1) % 4

    def draw(rng):
        doing = (f"drawing {batch_size} examples from X of shape {X.shape} and y of shape "
                 f"{y.shape}")
        out = _call(name, doing, sample_batch, X.copy(), y.copy(), batch_size, rng,
                    arg_names=("X", "y"))
        try:
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

MISTAKES.update({
    "sgd_climbs": "the loss goes up at every step of training: the update moves W along "
                  "the gradient, uphill. Subtract learning_rate times the gradient from W. "
                  "(If train already does, the gradient from the loss has the wrong sign: "
                  "run check_softmax_loss on softmax_loss_vectorized.)",
    "sgd_no_update": "the loss never changes during training: W is never updated. Each step "
                     "moves W against the gradient by learning_rate times the gradient.",
    "sgd_ignores_learning_rate": "training is the same with two different learning rates: "
                                 "the update ignores learning_rate. The step is "
                                 "learning_rate times the gradient.",
    "sgd_unseeded": "two classifiers made with the same seed trained differently: some "
                    "randomness does not come from the seeded generator. train passes "
                    "its rng to sample_batch, which must draw from it (not from np.random); "
                    "check_sample_batch finds more.",
})


def _train(make_classifier, X, y, seed, **kwargs):
    """make_classifier(seed).train(X, y, ...) -> (classifier, loss history as floats)."""
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

MISTAKES.update({
    "predict_wrong_axis": "it returns one label per class instead of one per example: the "
                          "argmax runs over the examples (axis 0). Take it over the classes "
                          "of each example, axis=1 of the (N, C) scores.",
    "predict_no_axis": "it returns a single number: np.argmax without an axis gives one "
                       "index into all the scores. Take the argmax over the classes of each "
                       "example, axis=1 of the (N, C) scores.",
    "predict_scores": "it returns the (N, C) scores, not labels: the label of an example is "
                      "the class with the highest score.",
    "predict_float_labels": "it returns labels as floats: labels are integers (np.argmax "
                            "gives them).",
    "predict_argmin": "it predicts the class with the lowest score: the prediction is the "
                      "class with the highest score.",
})


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
