"""The diagnosis behind the checks: from a function's outputs on probes to a named mistake.

The checks (cs231n/checks.py) call a student's function on small fixed problems,
the probes, and hand the outputs to diagnose_loss. It works in layers, each a
small step that raises CheckFailed when it recognises something:

1. a function still as it was given (loss 0 and a zero gradient);
2. relations between probes that hold for any correct loss: repeating every
   example keeps an average; regularization adds exactly reg * sum(W**2);
3. fingerprints: the outputs of the solution and of each known mistake on the
   same probes, stored as numbers in check_data.json;
4. when no fingerprint fits, the structure of the difference: a constant
   factor (and which quantity it matches: N, C, ln 10, ...), a sum or
   normalization over the wrong axis (probes that split the examples and
   leave the classes as they are), a gradient that disagrees
   with finite differences of the function's own loss, a wrong power of W in
   the regularization;
5. an honest fallback that says nothing structural fits and shows the
   smallest probe on which the outputs differ.

No step computes a softmax: the given code holds no reference loss or gradient,
only stored numbers and finite differences of the student's own loss.

The data file holds {"format": DATA_FORMAT, "sha256": content_hash(content),
"content": {"loss": {"probes": [...], "fingerprints": {probe name: {"correct"
or a mistake: {"loss": number, "dW": rows}}}}, "predict": {"probes": [...],
"fingerprints": {probe name: {"correct" or a mistake: labels}}}}}, where null
stands for "not finite". A probe may name a relation: "duplicates" (every
example of another probe twice), "adds_reg_to" (another probe with reg > 0),
"same_as" (another probe in another dtype), "splits" (another probe's examples
in two parts, the first example alone and the others). A data set with "hidden": true keeps its
numbers out of the messages.
"""
import copy
import hashlib
import json
import os
import warnings

import numpy as np

from . import contract
from .check_messages import (MISTAKES, REG_GRAD, CheckDataError, CheckFailed, describe,
                             fail, fail_plain, fmt, source_file, where)
from .gradient_check import eval_numerical_gradient

DATA_FORMAT = 1
DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_data.json")

# Relative and absolute tolerances when comparing with a fingerprint: loose
# enough for a correct function that computes in float32 internally, tight
# enough to tell the known mistakes apart (their outputs differ by far more).
RTOL, ATOL = 1e-5, 1e-6
# With float32 inputs the results carry about 7 significant digits.
RTOL_FLOAT32, ATOL_FLOAT32 = 1e-3, 1e-4
# Known factors are recognised to within this.
FACTOR_TOL = 1e-3


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
    __tracebackhide__ = True
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

def call_student(name, doing, fn, *args, arg_names=("W", "X", "y"), **kwargs):
    """fn(*args, **kwargs), with any exception turned into a clear CheckFailed.

    The input arrays are compared with copies afterwards: a function that
    changes them in place fails here. arg_names names the positional arguments.
    """
    __tracebackhide__ = True
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
            message = f"{name} is not implemented yet: fill in its TODO in {source_file(name)}"
            if name == "train":
                # The exception may come from a function train calls.
                message = ("train, or a function it calls, is not implemented yet: fill in "
                           f"the TODOs of train and sample_batch in {source_file(name)} and "
                           f"of softmax_loss_vectorized in {source_file('softmax_loss')}")
            raise CheckFailed(message, mistake="not_implemented", function=name) from None
        hint = ""
        if kind == "ValueError" and "broadcast" in str(e):
            hint = ("\nAn array of one value per example, shape (N,), met one of shape (N, C): "
                    "a sum or max over axis=1 keeps its axis with keepdims=True (or index it "
                    "with [:, None]).")
        raise CheckFailed(f"{name} raised {kind}: {e}\nwhile {doing}.{hint}\n"
                          f"Look at: {where(name)}.", mistake="raised", function=name) from None
    for n, a in arrays.items():
        if not np.array_equal(a, before[n], equal_nan=a.dtype.kind in "fc"):
            mistake = f"modifies_{n}" if f"modifies_{n}" in MISTAKES else None
            if mistake:
                fail(name, mistake, f"Seen while {doing}.")
            fail_plain(name, "modifies_input", f"it changes its input {n} in place.")
    return out


# ---------------------------------------------------------------- the loss's outputs

_fail_plain, _describe = fail_plain, describe   # the names the contract code uses


def _loss_output(name, out, W, doing):
    """Validate (loss, dW) by the task's contract (contract.py) and return it as
    (float, float64 array of W's shape)."""
    try:
        return contract.loss_and_gradient(out, W)
    except contract.ContractError as e:
        text = str(e)
        if text.startswith("it must return a tuple"):
            text += f", while {doing}."
        _fail_plain(name, "output", text)


loss_output = _loss_output   # public name for the grading tools


def run_loss_probes(loss_fn, name, data=None):
    """
    Call loss_fn on every loss probe of data.

    Returns: {probe name: (loss, dW)}, loss a float, dW a float64 array.
    Raises CheckFailed for an exception, a wrong return value or changed inputs.
    """
    __tracebackhide__ = True
    data = load_check_data() if data is None else data
    prints = data["content"]["loss"]["fingerprints"]
    results = {}
    for probe in data["content"]["loss"]["probes"]:
        W, X, y, reg = probe_arrays(probe)
        doing = f"computing the loss on a small problem ({probe['about']})"
        out = call_student(name, doing, loss_fn, W, X, y, reg)
        if isinstance(out, (tuple, list)) and len(out) == 2:
            right = prints.get(probe.get("same_as", probe["name"]), {}).get("correct", {})
            check_shape(name, out[1], W, right.get("dW"))
        results[probe["name"]] = _loss_output(name, out, W, doing)
    return results


def numerical_loss_gradient(loss_fn, name, W, X, y, reg, h=1e-5):
    """Centred differences of a student's own loss at W, (D, C) float64."""
    __tracebackhide__ = True
    W = np.array(W, dtype=np.float64)

    def loss_at(Wh):
        out = call_student(name, "computing finite differences of the loss", loss_fn,
                           Wh.copy(), X.copy(), y.copy(), reg)
        return _loss_output(name, out, Wh, "computing finite differences")[0]
    return eval_numerical_gradient(loss_at, W, h=h)


# ---------------------------------------------------------------- comparing numbers

def matches(value, fingerprint, rtol=RTOL, atol=ATOL):
    """Does a result (float or array) fit a fingerprint (number, nested list, or None
    for 'not finite')?"""
    finite = bool(np.all(np.isfinite(value)))
    if fingerprint is None:
        return not finite
    expected = np.asarray(fingerprint, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected))))
    return finite and np.shape(value) == expected.shape and bool(
        np.allclose(value, expected, rtol=rtol, atol=atol * scale))


def factor(actual, expected):
    """(c, residual): the least-squares c with actual ~ c * expected, and how far off
    relative to expected; (None, None) when that means nothing."""
    actual = np.asarray(actual, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    norm = float(expected @ expected)
    if norm == 0 or actual.shape != expected.shape or not np.all(np.isfinite(actual)):
        return None, None
    c = float(actual @ expected) / norm
    return c, float(np.linalg.norm(actual - c * expected)) / np.sqrt(norm)


def _known_factor(c, N, prefix):
    """The mistake id for a factor c on a term that should have factor 1, or None."""
    for value, suffix in ((0.0, "missing"), (0.5, "half"), (2.0, "double"),
                          (1.0 / N, "over_n"), (-1.0, "sign")):
        if abs(c - value) < FACTOR_TOL:
            return f"{prefix}_{suffix}"
    return None


def sizes(probe):
    """(N, D, C) of a loss probe."""
    return len(probe["y"]), len(probe["W"]), len(probe["W"][0])


# ---------------------------------------------------------------- the diagnosis

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
    __tracebackhide__ = True
    d = Diagnosis(results, data, name, numerical_gradient, parts)
    d.untouched()
    d.averaging()
    d.regularization()
    d.fingerprints()
    d.precision()


class Diagnosis:
    """One function's outputs on one probe set, and the steps that judge them."""

    def __init__(self, results, data, name, numerical_gradient, parts):
        section = data["content"]["loss"]
        self.results, self.name = results, name
        self.probes = section["probes"]
        self.by_name = {p["name"]: p for p in self.probes}
        self.prints = section["fingerprints"]
        self.hidden = bool(data.get("hidden"))
        self.numerical_gradient = numerical_gradient
        self.passed = []                  # (probe name, (loss, dW)) judged right so far
        self.check_loss, self.check_grad = "loss" in parts, "gradient" in parts
        self._numeric = {}

    def seen(self, probe, text):
        """Evidence from a probe, or None for a hidden probe set."""
        return None if self.hidden else f"Seen on a small problem ({probe['about']}): {text}"

    def correct(self, probe_name, key):
        return self.prints[probe_name]["correct"][key]

    def numeric(self, probe):
        """Finite differences of the student's own loss on a probe (cached), or None."""
        if self.numerical_gradient is None:
            return None
        if probe["name"] not in self._numeric:
            self._numeric[probe["name"]] = self.numerical_gradient(probe)
        return self._numeric[probe["name"]]

    # -- step 1: untouched
    def untouched(self):
        """An untouched function returns its initial values."""
        __tracebackhide__ = True
        loss0, dW0 = self.results[self.probes[0]["name"]]
        if loss0 == 0.0 and not np.any(dW0):
            fail_plain(self.name, "not_implemented", "it returns loss 0 and a zero gradient, "
                       "as before its TODO is filled in: compute loss and dW in its TODO in "
                       f"{source_file(self.name)}.")

    # -- step 2: relations that need no fingerprint
    def averaging(self):
        """Every example twice must give the same loss and gradient."""
        __tracebackhide__ = True
        for probe in self.probes:
            base = probe.get("duplicates")
            if base is None:
                continue
            (loss, dW), (base_loss, base_dW) = self.results[probe["name"]], self.results[base]
            if (self.check_loss and np.isfinite(loss) and np.isfinite(base_loss)
                    and base_loss != 0 and abs(loss / base_loss - 2.0) < FACTOR_TOL):
                self._common_factor("loss", skip="N")     # divided, but by C or D?
                fail(self.name, "loss_not_averaged", self.seen(
                    probe, f"loss {loss:.6g} with every example twice, {base_loss:.6g} "
                           "without."))
            c, residual = factor(dW, base_dW)
            if (self.check_grad and c is not None and residual < FACTOR_TOL
                    and abs(c - 2.0) < FACTOR_TOL):
                self._common_factor("dW", skip="N")
                fail(self.name, "grad_not_averaged", self.seen(
                    probe, "dW with every example twice is 2 times dW without."))

    def regularization(self):
        """reg > 0 must add exactly reg * sum(W**2) to the loss and 2 * reg * W to dW."""
        __tracebackhide__ = True
        for probe in self.probes:
            base = probe.get("adds_reg_to")
            if base is None:
                continue
            W, _, _, reg = probe_arrays(probe)
            (loss, dW), (base_loss, base_dW) = self.results[probe["name"]], self.results[base]
            if self.check_loss and np.isfinite(loss) and np.isfinite(base_loss):
                self._reg_loss(probe, W, reg, loss - base_loss)
            if self.check_grad:
                self._reg_grad(probe, W, reg, dW - base_dW)

    def _reg_loss(self, probe, W, reg, added):
        __tracebackhide__ = True
        right = reg * float(np.sum(W * W))
        c = added / right
        if abs(c - 1.0) <= FACTOR_TOL:
            return
        evidence = self.seen(probe, f"the loss grows by {added:.6g} from reg = 0 to "
                                    f"reg = {reg}, and reg * sum(W**2) is {right:.6g}.")
        mistake = _known_factor(c, sizes(probe)[0], "reg_loss")
        if mistake:
            fail(self.name, mistake, evidence)
        for term, value in REG_LOSS_TERMS:
            if abs(added - reg * value(W)) <= FACTOR_TOL * max(abs(added), 1e-12):
                fail_plain(self.name, "reg_loss_power",
                           f"the regularization term of the loss is {term}; it should be "
                           "reg * sum(W**2), the sum of the squares of the weights.",
                           evidence, look=self._look("the line that adds the regularization "
                                                     "to the loss"))
        fail_plain(self.name, "reg_loss_factor",
                   f"the regularization term of the loss is {c:.4g} times "
                   f"reg * sum(W**2); it should be exactly reg * sum(W**2).", evidence)

    def _reg_grad(self, probe, W, reg, added):
        __tracebackhide__ = True
        c, residual = factor(added, 2 * reg * W)
        if c is None:
            return
        evidence = self.seen(probe, f"dW(reg = {reg}) - dW(reg = 0) is {c:.4g} times "
                                    "2 * reg * W.")
        look = self._look("the line that adds the regularization to dW")
        if residual > FACTOR_TOL * max(1.0, abs(c)):
            for term, value in REG_GRAD_TERMS:
                k, off = factor(added, reg * value(W))
                if k is not None and off < FACTOR_TOL and abs(k - 1.0) < FACTOR_TOL:
                    fail_plain(self.name, "reg_grad_power",
                               f"the regularization part of the gradient is {term}: "
                               f"{REG_GRAD}.", evidence, look=look)
            fail_plain(self.name, "reg_grad_shape",
                       "the regularization part of the gradient is not a multiple "
                       f"of W: {REG_GRAD}, element by element.",
                       None if self.hidden else f"Seen on a small problem ({probe['about']}).",
                       look=look)
        if abs(c - 1.0) > FACTOR_TOL:
            mistake = _known_factor(c, sizes(probe)[0], "reg_grad")
            if mistake:
                fail(self.name, mistake, evidence)
            fail_plain(self.name, "reg_grad_factor",
                       f"the regularization part of the gradient is {c:.4g} times what it "
                       f"should be: {REG_GRAD}.", evidence, look=look)

    def _look(self, place):
        return f"{where(self.name)}, {place}"

    # -- step 3: fingerprints
    def fingerprints(self):
        """Each result against the correct one and each known mistake's. A mistake is
        named only if it also explains every result seen right so far; when none
        fits, the structural steps look at the difference."""
        __tracebackhide__ = True
        for probe in self.probes:
            prints = self.prints.get(probe["name"])
            if prints is None:
                continue
            loss, dW = self.results[probe["name"]]
            if self.check_loss and not matches(loss, prints["correct"]["loss"]):
                self._known(probe, "loss", loss, lambda m: self._explains(m))
                self.loss_structure(probe)
            if self.check_grad and not matches(dW, prints["correct"]["dW"]):
                upto = (probe["name"], loss) if self.check_loss else None
                self._known(probe, "dW", dW, lambda m: self._explains(m, upto))
                self.gradient_structure(probe)
            self.passed.append((probe["name"], (loss, dW)))

    def _known(self, probe, key, value, explains):
        __tracebackhide__ = True
        prints = self.prints[probe["name"]]
        for mistake in MISTAKES:
            if mistake in prints and matches(value, prints[mistake][key]) and explains(mistake):
                fail(self.name, mistake, self.seen(probe, f"loss {value:.10g}, which is what "
                                                          "this mistake gives." if key == "loss"
                                                   else "dW is what this mistake gives."))

    def _explains(self, mistake, upto_loss=None):
        fits = all(mistake in self.prints[q]
                   and (not self.check_loss or matches(ql, self.prints[q][mistake]["loss"]))
                   and (not self.check_grad or matches(qd, self.prints[q][mistake]["dW"]))
                   for q, (ql, qd) in self.passed)
        if upto_loss is not None:
            probe_name, value = upto_loss
            fits = fits and matches(value, self.prints[probe_name][mistake]["loss"])
        return fits

    # -- step 4: structure
    def loss_structure(self, probe):
        """The loss differs from the right one and from every known mistake's."""
        __tracebackhide__ = True
        loss = self.results[probe["name"]][0]
        if not np.isfinite(loss):
            fail_plain(self.name, "not_finite", f"the loss is {loss} (not a finite number). "
                       "Look for exp overflowing or log(0).", self.seen(probe, f"loss {loss}."))
        self._common_factor("loss")
        self._axes("loss")
        self._right_gradient_wrong_loss(probe)
        self._fallback("loss")

    def gradient_structure(self, probe):
        """dW differs from the right one and from every known mistake's."""
        __tracebackhide__ = True
        dW = self.results[probe["name"]][1]
        if not np.all(np.isfinite(dW)):
            fail_plain(self.name, "not_finite", "the gradient dW contains inf or nan. Look "
                       "for exp overflowing or a division by 0.",
                       self.seen(probe, f"dW =\n{fmt(dW)}"))
        consistent = self._own_loss_gradient(probe)
        self._common_factor("dW", consistent)
        self._axes("dW", consistent)
        if consistent:
            fail_plain(self.name, "grad_of_wrong_loss", "dW is wrong, but it is the exact "
                       "gradient of your own loss (finite differences of your loss agree "
                       "with it): the loss is wrong in the same way. Run the check of the "
                       "loss and fix what it names; the gradient follows the same steps.",
                       self.seen(probe, f"your dW =\n{fmt(dW)}"))
        self._disagrees_with_own_loss(probe)
        self._fallback("dW")

    def _value(self, probe, key):
        loss, dW = self.results[probe["name"]]
        return loss if key == "loss" else dW

    def _ratio(self, probe, key):
        """c with the result = c * the right one on a probe (reg = 0), or None."""
        right = self.correct(probe["name"], key)
        if right is None:
            return None
        value = self._value(probe, key)
        if key == "loss":
            return value / right if np.isfinite(value) and right != 0 else None
        c, residual = factor(value, right)
        return c if c is not None and residual < FACTOR_TOL * max(1.0, abs(c)) else None

    def _common_factor(self, key, consistent=False, skip=None):
        """The result is c times the right one on every data-only probe, where c is
        one of FACTORS of that probe's N, C and D (but not the one named skip)."""
        __tracebackhide__ = True
        ratios = []
        for p in self.probes:
            if (p["name"] not in self.prints or p["reg"] != 0
                    or self.correct(p["name"], key) is None
                    or not np.all(np.isfinite(self._value(p, key)))):
                continue
            c = self._ratio(p, key)
            if c is None:
                return                      # not a multiple of the right answer here
            ratios.append((p, c))
        if len(ratios) < 3 or len({sizes(p)[0] for p, _ in ratios}) < 2:
            return
        what = "the loss" if key == "loss" else "the gradient dW"
        for label, value, meaning, place in FACTORS:
            if label == skip or not all(
                    abs(c - value(*sizes(p))) <= FACTOR_TOL * abs(value(*sizes(p)))
                    for p, c in ratios):
                continue
            p, c = ratios[0]
            N, D, C = sizes(p)
            sizes_seen = "" if self.hidden else (
                f" (a factor {c:.6g} with N = {N} examples, C = {C} classes, D = {D} features)")
            also = (" dW is the exact gradient of your loss, so the loss has the same factor."
                    if consistent else "")
            fail_plain(self.name, "factor",
                       f"{what} is {label} times the right one on every problem tried"
                       f"{sizes_seen}: {meaning}.{also}",
                       self.seen(p, f"{'loss' if key == 'loss' else 'dW'} {c:.6g} times "
                                    "the right one."),
                       look=self._look(place if key == "loss" else place.replace("the loss", "dW")))

    def _axes(self, key, consistent=False):
        """The loss of a minibatch is the mean of its examples' losses, and so is dW.
        If not, the first example alone tells over which axis something runs: with
        one example, a normalization over the examples (axis 0) makes every
        probability 1, and one over the whole minibatch is the right one."""
        __tracebackhide__ = True
        parts = [p for p in self.probes if "splits" in p]
        if len(parts) != 2 or len(parts[0]["y"]) != 1:
            return
        whole = self.by_name[parts[0]["splits"]]
        n = [len(p["y"]) for p in parts]
        values = [self._value(p, key) for p in parts]
        mean = (n[0] * values[0] + n[1] * values[1]) / sum(n)
        value = self._value(whole, key)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(value))) or matches(
                value, np.asarray(mean).tolist(), rtol=1e-6, atol=1e-8):
            return
        what = "loss" if key == "loss" else "gradient dW"
        seen = (f"your {what} on a minibatch is not the mean of its values on the first "
                "example alone and on the others" if self.hidden else
                f"your {what} on {sum(n)} examples is not the mean of its values on the "
                f"first example alone and on the {n[1]} others")
        one, C = parts[0], sizes(parts[0])[2]
        alone = self._value(one, key)
        if key == "loss":
            columns = alone == 0 and self.correct(one["name"], "loss") != 0
        else:      # the rows of P sum to 1 + (dW @ 1) . x / (x . x) when dW = x^T (P - Y)
            x = np.asarray(one["X"][0], dtype=np.float64)
            columns = abs(1 + float(alone.sum(axis=1) @ x) / float(x @ x) - C) < FACTOR_TOL
        if columns:
            text = (f"{seen}, and on one example alone it is what a probability of 1 for "
                    "every class gives: the softmax is normalized over the examples (axis 0, "
                    "down each column of the (N, C) scores) instead of over the classes of "
                    "each example. Take the sum (and the max) over axis=1, with "
                    "keepdims=True.")
        elif matches(alone, self.correct(one["name"], key)):
            text = (f"{seen}, though on one example alone it is right: something runs over "
                    "the whole minibatch (all N * C scores, no axis) that belongs to each "
                    "example's own row, such as the sum that normalizes the probabilities. "
                    "Take it over axis=1, with keepdims=True.")
        else:
            text = (f"{seen}: something couples the examples. Each example's loss depends "
                    "on its own row of scores only (axis=1); only the final mean runs over "
                    "the examples (axis 0).")
        also = (" dW is the exact gradient of your loss, so the loss has the same mistake."
                if consistent else "")
        fail_plain(self.name, "axis", text + also,
                   None if self.hidden or key != "loss" else self.seen(
                       whole, f"loss {value:.6g} for all; {values[0]:.6g} for the first "
                              f"example, {values[1]:.6g} for the others."),
                   look=self._look("each sum, max and mean, and its axis"))

    def _own_loss_gradient(self, probe):
        """Does dW agree with finite differences of the student's own loss?"""
        numeric = self.numeric(probe)
        return numeric is not None and matches(self._value(probe, "dW"), numeric.tolist(),
                                               rtol=1e-4, atol=1e-5)

    def _right_gradient_wrong_loss(self, probe):
        """A wrong loss whose dW is nevertheless right: dW matches finite differences
        of the right loss, not of the student's."""
        __tracebackhide__ = True
        dW = self._value(probe, "dW")
        if not matches(dW, self.correct(probe["name"], "dW")) or self._own_loss_gradient(probe):
            return
        if self.numeric(probe) is None:
            return
        fail_plain(self.name, "loss_vs_grad",
                   "the loss is wrong, but dW is right: dW is the gradient of the right loss, "
                   "and finite differences of your loss disagree with it. The mistake is in "
                   "a step only the loss uses: the log, the correct class's score, the mean, "
                   "or how the regularization is added.",
                   self.seen(probe, f"loss {self._value(probe, 'loss'):.10g}, correct "
                                    f"{self.correct(probe['name'], 'loss'):.10g}."),
                   look=self._look("the lines that compute the loss from the scores"))

    def _disagrees_with_own_loss(self, probe):
        """dW is not the gradient of the student's own (right) loss."""
        __tracebackhide__ = True
        numeric = self.numeric(probe)
        if numeric is None or self._own_loss_gradient(probe):
            return
        dW = self._value(probe, "dW")
        ix = np.unravel_index(np.argmax(np.abs(dW - numeric)), dW.shape)
        c, residual = factor(dW, numeric)
        scaled = ""
        if c is not None and residual < FACTOR_TOL * max(1.0, abs(c)):
            scaled = f" Your dW is {c:.4g} times those finite differences."
        most = "" if self.hidden else (f", most at W[{ix[0]}, {ix[1]}] ({dW[ix]:.6g} in dW, "
                                       f"{numeric[ix]:.6g} by finite differences)")
        fail_plain(self.name, "grad_vs_loss",
                   "dW is not the gradient of your loss: finite differences of your loss "
                   f"disagree with it{most}.{scaled} Check the gradient "
                   "with respect to score j of example i, p_j - 1[j == y_i], and that "
                   "dW[:, j] collects it times x_i.",
                   None if self.hidden else self.seen(
                       probe, f"your dW =\n{fmt(dW)}\ncorrect dW =\n"
                              f"{fmt(self.correct(probe['name'], 'dW'))}"))

    # -- step 5: the honest fallback
    def _fallback(self, key):
        """Nothing recognised: say so, and show the smallest probe where it differs."""
        __tracebackhide__ = True
        what = "the loss" if key == "loss" else "the gradient dW"
        wrong = [p for p in self.probes if p["name"] in self.prints
                 and not matches(self._value(p, key), self.correct(p["name"], key))]
        probe = min(wrong, key=lambda p: (len(p["y"]) * len(p["W"]), p["reg"]))
        text = (f"{what} is wrong, and not in a way these checks recognise: it is not a "
                "known mistake, not a constant factor, not a sum over the wrong axis.")
        if key == "loss":
            text += (" The loss of one example is -log(p_{y_i}), the probability of its "
                     "correct class; the loss is their mean plus reg * sum(W**2).")
        evidence = None
        if not self.hidden:
            W, X, y, reg = probe_arrays(probe)
            mine, right = self._value(probe, key), self.correct(probe["name"], key)
            shown = (f"loss {mine:.10g}, correct {right:.10g}" if key == "loss" else
                     f"your dW =\n{fmt(mine)}\ncorrect dW =\n{fmt(right)}")
            evidence = (f"The smallest problem where it differs: W =\n{fmt(W)}\nX =\n"
                        f"{fmt(X)}\ny = {y.tolist()}, reg = {reg}\n{shown}")
        fail_plain(self.name, "wrong", text, evidence)

    # -- the float32 probes
    def precision(self):
        """Probes that repeat another in another dtype: the same answer, within precision."""
        __tracebackhide__ = True
        for probe in self.probes:
            if "same_as" not in probe:
                continue
            loss, dW = self.results[probe["name"]]
            for what, value, key, judged in (("loss", loss, "loss", self.check_loss),
                                             ("gradient dW", dW, "dW", self.check_grad)):
                if judged and not matches(value, self.correct(probe["same_as"], key),
                                          RTOL_FLOAT32, ATOL_FLOAT32):
                    fail_plain(self.name, "dtype", f"with {probe.get('dtype')} inputs the "
                               f"{what} is wrong, though it is right with float64 inputs. "
                               "Look for arrays of another dtype (integers?) or a fixed dtype "
                               "where the inputs' dtype belongs.",
                               self.seen(probe, f"{what} {fmt(value)}"))


def check_shape(name, dW, W, correct=None):
    """A dW of the wrong shape: transposed or reshaped, with both shapes; None if fine.
    correct, the right gradient's rows if known, tells a transposed right answer."""
    __tracebackhide__ = True
    dW = np.asarray(dW)
    if dW.shape == W.shape or dW.dtype.kind not in "iuf":
        return
    expected = f"dW must have the shape of W, (D, C) = {W.shape}; it has shape {dW.shape}"
    if dW.shape == W.T.shape:
        right = correct is not None and matches(dW.T, correct)
        fail_plain(name, "transposed",
                   f"dW is transposed: {expected}, (C, D). "
                   + ("Its values are the right gradient, transposed. " if right else "")
                   + "dW[:, j] collects the gradient of score j over the examples, "
                     "X.T @ dscores of shape (D, C); dscores.T @ X gives (C, D).",
                   look=f"{name} in {source_file(name)}, the line that builds dW")
    if dW.size == W.size:
        fail_plain(name, "reshaped",
                   f"dW has the right number of entries but the wrong shape: {expected}. "
                   "Build it as an array of W's shape (np.zeros_like(W)) rather than "
                   "reshaping or flattening.",
                   look=f"{name} in {source_file(name)}, where dW is created and returned")


# What a wrong regularization term often is: (how to say it, value / reg).
REG_LOSS_TERMS = [
    ("reg * sum(|W|), the absolute values: an L1 penalty, power 1 instead of 2",
     lambda W: float(np.sum(np.abs(W)))),
    ("reg * sum(W), the weights themselves: power 1 instead of 2",
     lambda W: float(np.sum(W))),
    ("reg * sqrt(sum(W**2)), the norm of W (np.linalg.norm) not squared",
     lambda W: float(np.sqrt(np.sum(W * W)))),
    ("reg * sum(W)**2, the square of the sum instead of the sum of the squares",
     lambda W: float(np.sum(W)) ** 2),
    ("reg * sum(W**4): power 4 instead of 2", lambda W: float(np.sum(W ** 4))),
]
REG_GRAD_TERMS = [
    ("reg * sign(W), the derivative of reg * sum(|W|) (power 1)", np.sign),
    ("reg, added to every entry: the derivative of reg * sum(W) (power 1)", np.ones_like),
    ("reg * W**2, the square instead of the derivative", lambda W: W * W),
    ("4 * reg * W**3, the derivative of reg * sum(W**4) (power 4)", lambda W: 4 * W ** 3),
    ("reg * W / norm(W), the derivative of the norm not squared",
     lambda W: W / np.sqrt(np.sum(W * W))),
]

_LN10, _LN2 = 2.302585092994046, 0.6931471805599453    # ln 10 and ln 2
# Constant factors between a result and the right one: (name, value from N, D, C,
# what it suggests, where to look).
FACTORS = [
    ("N", lambda N, D, C: N, "the sum over the N examples is not divided by N",
     "where the loss is divided by N"),
    ("1/N", lambda N, D, C: 1 / N, "it is divided by N twice (or by N**2)",
     "where the loss is divided by N"),
    ("1/N**2", lambda N, D, C: 1 / N ** 2, "it is divided by N three times",
     "where the loss is divided by N"),
    ("N/C", lambda N, D, C: N / C, "it is divided by C, the number of classes, instead of "
     "N, the number of examples", "where the loss is divided by N"),
    ("1/C", lambda N, D, C: 1 / C, "it is divided by C, the number of classes, as well as "
     "by N (a mean over the (N, C) array divides by N * C)", "where the loss is averaged"),
    ("C", lambda N, D, C: C, "it is multiplied by C, the number of classes",
     "where the loss is summed"),
    ("N*C", lambda N, D, C: N * C, "it is summed over the N examples and times C, with no "
     "division by N", "where the loss is divided by N"),
    ("N/D", lambda N, D, C: N / D, "it is divided by D, the number of features, instead of "
     "N, the number of examples", "where the loss is divided by N"),
    ("1/D", lambda N, D, C: 1 / D, "it is divided by D, the number of features, as well "
     "as by N", "where the loss is averaged"),
    ("2", lambda N, D, C: 2.0, "a factor 2 too many", "every factor 2 or 0.5"),
    ("1/2", lambda N, D, C: 0.5, "a factor 1/2 too many (0.5, or a division by 2)",
     "every factor 2 or 0.5"),
    ("1/ln 10", lambda N, D, C: 1 / _LN10, "log10 is used where the natural log belongs: "
     "log10(x) = ln(x) / ln 10; use np.log", "the log in the loss of each example"),
    ("1/ln 2", lambda N, D, C: 1 / _LN2, "log2 is used where the natural log belongs: "
     "log2(x) = ln(x) / ln 2; use np.log", "the log in the loss of each example"),
    ("ln 10", lambda N, D, C: _LN10, "a factor ln 10 = 2.3026 too many (a conversion "
     "between log10 and the natural log?)", "the log in the loss of each example"),
    ("-1", lambda N, D, C: -1.0, "the sign is flipped", "the sign of the loss"),
    ("-N", lambda N, D, C: -float(N), "the sign is flipped and the sum over the N examples "
     "is not divided by N", "where the loss is divided by N"),
    ("-1/N", lambda N, D, C: -1 / N, "the sign is flipped and it is divided by N twice",
     "where the loss is divided by N"),
]
