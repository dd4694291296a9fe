"""Mistakes outside the catalogue get a message naming their structure.

Each loss function below is written the way a student might write it, from
scratch, with one slip that is not among the known mistakes of
instructor/checks/mistakes.py: the checks have no fingerprint for it and must
name the factor, the axis, the power of W, the transposition or the
disagreement between loss and gradient from the outputs alone.
"""
import re

import numpy as np
import pytest

from cs231n import checks
from cs231n.checks import CheckFailed
from instructor.checks import fingerprints


def flat(err):
    return " ".join(str(err).split())


def failure(loss_fn, parts=("loss", "gradient"), data=None, name="softmax_loss_vectorized"):
    with pytest.raises(CheckFailed) as info:
        checks.check_softmax_loss(loss_fn, name=name, parts=parts, data=data)
    return info.value


# ---------------------------------------------------------------- students' functions

def mean_over_all_entries(W, X, y, reg):
    """The loss as a mean over the whole (N, C) array of one-hot log-probabilities."""
    N, C = X.shape[0], W.shape[1]
    scores = X @ W
    scores -= np.max(scores, axis=1, keepdims=True)
    log_probs = scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    onehot = np.zeros((N, C))
    onehot[np.arange(N), y] = 1
    loss = -np.mean(onehot * log_probs) + reg * np.sum(W * W)
    dscores = np.exp(log_probs) - onehot
    dW = X.T @ dscores / N + 2 * reg * W
    return loss, dW


def divided_by_classes(W, X, y, reg):
    """The sum of the examples' losses divided by the number of classes."""
    N, C = X.shape[0], W.shape[1]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(N):
        s = X[i] @ W
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        loss -= np.log(p[y[i]])
        p[y[i]] -= 1
        dW += np.outer(X[i], p)
    return loss / C + reg * np.sum(W * W), dW / N + 2 * reg * W


def sum_without_keepdims(W, X, y, reg):
    """The row sums without keepdims: (N, C) / (N,) does not broadcast."""
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1)
    loss = -np.log(probs[np.arange(N), y]).mean() + reg * np.sum(W * W)
    probs[np.arange(N), y] -= 1
    return loss, X.T @ probs / N + 2 * reg * W


def log10_loss(W, X, y, reg):
    """np.log10 where the natural log belongs."""
    N = X.shape[0]
    scores = X @ W
    scores = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1)[:, None]
    loss = np.mean(-np.log10(probs[np.arange(N), y])) + reg * np.sum(W ** 2)
    probs[np.arange(N), y] -= 1
    return loss, X.T @ probs / N + 2 * reg * W


def both_over_all_entries(W, X, y, reg):
    """Loss and gradient both averaged over the N * C entries: consistent, both wrong."""
    N, C = X.shape[0], W.shape[1]
    scores = X @ W
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    onehot = np.eye(C)[y]
    loss = np.sum(np.log(np.sum(np.exp(scores), axis=1)) - scores[np.arange(N), y]) / (N * C)
    dW = X.T @ (probs - onehot) / (N * C)
    return loss + reg * np.sum(W * W), dW + 2 * reg * W


def gradient_divided_twice(W, X, y, reg):
    """Naive loops that divide dW by N inside the loop and again at the end."""
    N, C = X.shape[0], W.shape[1]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(N):
        s = X[i] @ W
        s = s - np.max(s)
        p = np.exp(s) / np.sum(np.exp(s))
        loss += -s[y[i]] + np.log(np.sum(np.exp(s)))
        for j in range(C):
            dW[:, j] += (p[j] - (j == y[i])) * X[i] / N
    loss = loss / N + reg * np.sum(W * W)
    dW = dW / N + 2 * reg * W
    return loss, dW


def gradient_over_all_entries(W, X, y, reg):
    """dW divided by the number of entries of dscores (N * C), not by N."""
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).mean() + reg * np.sum(W * W)
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dW = X.T @ dscores / dscores.size + 2 * reg * W
    return loss, dW


def normalized_over_examples(W, X, y, reg):
    """The probabilities normalized down the columns (axis 0), loss and gradient alike."""
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    probs = e / e.sum(axis=0, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(N), y])) + reg * np.sum(W * W)
    probs[np.arange(N), y] -= 1
    return loss, X.T @ probs / N + 2 * reg * W


def normalized_over_everything(W, X, y, reg):
    """One sum over all scores of the minibatch in the denominator."""
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    probs = e / np.sum(e)
    loss = -np.mean(np.log(probs[np.arange(N), y])) + reg * np.sum(W * W)
    probs[np.arange(N), y] -= 1
    return loss, X.T @ probs / N + 2 * reg * W


def _right_data_part(W, X, y):
    """Only for the regularization variants below: a correct unregularized part,
    written out the way the stable version of the exercise asks for."""
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    probs = e / e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(e.sum(axis=1)) - scores[np.arange(N), y])
    probs[np.arange(N), y] -= 1
    return loss, X.T @ probs / N


def l1_penalty(W, X, y, reg):
    loss, dW = _right_data_part(W, X, y)
    return loss + reg * np.sum(np.abs(W)), dW + 2 * reg * W


def norm_not_squared(W, X, y, reg):
    loss, dW = _right_data_part(W, X, y)
    return loss + reg * np.linalg.norm(W), dW + 2 * reg * W


def l1_gradient(W, X, y, reg):
    loss, dW = _right_data_part(W, X, y)
    return loss + reg * np.sum(W * W), dW + reg * np.sign(W)


def cubed_gradient(W, X, y, reg):
    loss, dW = _right_data_part(W, X, y)
    return loss + reg * np.sum(W * W), dW + 4 * reg * W ** 3


def transposed_gradient(W, X, y, reg):
    """dscores.T @ X: the right numbers in a (C, D) array."""
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).mean() + reg * np.sum(W * W)
    probs[np.arange(N), y] -= 1
    return loss, probs.T @ X / N + 2 * reg * W.T


def flattened_gradient(W, X, y, reg):
    """dW built as a flat vector of D * C numbers."""
    loss, dW = _right_data_part(W, X, y)
    return loss + reg * np.sum(W * W), (dW + 2 * reg * W).flatten()


def unshifted_correct_score(W, X, y, reg):
    """The log-sum over the shifted scores, but the correct class's score unshifted."""
    N = X.shape[0]
    raw = X @ W
    scores = raw - raw.max(axis=1, keepdims=True)
    sums = np.exp(scores).sum(axis=1)
    loss = np.mean(np.log(sums) - raw[np.arange(N), y]) + reg * np.sum(W * W)
    probs = np.exp(scores) / sums[:, None]
    probs[np.arange(N), y] -= 1
    return loss, X.T @ probs / N + 2 * reg * W


def squared_loss(W, X, y, reg):
    """Something no structure explains: each example's loss squared."""
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    per_example = np.log(np.exp(scores).sum(axis=1)) - scores[np.arange(N), y]
    dscores = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    dscores[np.arange(N), y] -= 1
    dW = X.T @ (2 * per_example[:, None] * dscores) / N
    return np.mean(per_example ** 2) + reg * np.sum(W * W), dW + 2 * reg * W


def halved_correct_class_gradient(W, X, y, reg):
    """Loss right; dW subtracts only 0.5 at the correct class."""
    loss, _ = _right_data_part(W, X, y)
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    probs[np.arange(N), y] -= 0.5
    return loss + reg * np.sum(W * W), X.T @ probs / N + 2 * reg * W


# ---------------------------------------------------------------- the messages

CASES = [
    # (function, parts, mistake, phrases the message must contain)
    (mean_over_all_entries, ("loss",), "factor", ["loss is 1/C times", "C = 3 classes",
                                                  "divided by C"]),
    (divided_by_classes, ("loss",), "factor", ["loss is N/C times", "divided by C",
                                               "instead of N"]),
    (log10_loss, ("loss",), "factor", ["1/ln 10 times", "log10", "np.log"]),
    (gradient_divided_twice, ("gradient",), "factor", ["dW is 1/N times",
                                                       "divided by N twice"]),
    (gradient_over_all_entries, ("gradient",), "factor", ["dW is 1/C times",
                                                          "where dW is averaged"]),
    (normalized_over_examples, ("loss",), "axis", ["over the examples (axis 0", "axis=1"]),
    (normalized_over_examples, ("gradient",), "axis", ["over the examples (axis 0"]),
    (both_over_all_entries, ("gradient",), "factor", ["dW is 1/C times",
                                                      "exact gradient of your loss"]),
    (normalized_over_everything, ("loss",), "axis", ["whole minibatch", "no axis",
                                                     "axis=1"]),
    (l1_penalty, ("loss",), "reg_loss_power", ["reg * sum(|W|)", "power 1 instead of 2"]),
    (norm_not_squared, ("loss",), "reg_loss_power", ["norm of W", "not squared"]),
    (l1_gradient, ("gradient",), "reg_grad_power", ["reg * sign(W)", "2 * reg * W"]),
    (cubed_gradient, ("gradient",), "reg_grad_power", ["4 * reg * W**3", "power 4"]),
    (transposed_gradient, ("gradient",), "transposed", ["(D, C) = (4, 3)", "shape (3, 4)",
                                                        "right gradient, transposed"]),
    (flattened_gradient, ("gradient",), "reshaped", ["right number of entries",
                                                     "(D, C) = (4, 3)", "shape (12,)"]),
    (squared_loss, ("gradient",), "grad_of_wrong_loss", ["exact gradient of your own loss",
                                                         "the loss is wrong"]),
    (unshifted_correct_score, ("loss",), "loss_vs_grad", ["the loss is wrong, but dW is "
                                                          "right", "finite differences"]),
    (halved_correct_class_gradient, ("gradient",), "grad_vs_loss",
     ["not the gradient of your loss", "finite differences"]),
    (sum_without_keepdims, ("loss",), "raised", ["ValueError", "keepdims=True",
                                                 "shape (N,)"]),
    (squared_loss, ("loss",), "wrong", ["not in a way these checks recognise",
                                        "smallest problem", "y = [0]"]),
]


@pytest.mark.parametrize("loss_fn, parts, mistake, phrases", CASES,
                         ids=[f"{c[0].__name__}-{c[1][0]}" for c in CASES])
def test_an_unknown_mistake_is_named_by_its_structure(loss_fn, parts, mistake, phrases):
    err = failure(loss_fn, parts)
    text = flat(err)
    assert err.mistake == mistake, str(err)
    assert text.startswith("softmax_loss_vectorized") and "Look at: " in text
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in:\n{err}"


@pytest.mark.parametrize("loss_fn", [mean_over_all_entries, l1_penalty, log10_loss,
                                     unshifted_correct_score, norm_not_squared])
def test_the_structural_layer_leaves_the_other_output_alone(loss_fn):
    """A mistake only in the loss fails the loss check, not the gradient's."""
    checks.check_softmax_loss(loss_fn, name="softmax_loss_vectorized", parts=("gradient",))
    failure(loss_fn, ("loss",))


@pytest.mark.parametrize("loss_fn", [gradient_divided_twice, l1_gradient, transposed_gradient,
                                     halved_correct_class_gradient])
def test_a_mistake_only_in_the_gradient_passes_the_loss_check(loss_fn):
    checks.check_softmax_loss(loss_fn, name="softmax_loss_vectorized", parts=("loss",)) \
        if loss_fn is not transposed_gradient else None
    failure(loss_fn, ("gradient",))


@pytest.mark.parametrize("seed, N, D, C", [(3, 6, 5, 4), (8, 7, 3, 5)])
def test_factors_and_axes_are_named_on_other_probe_sets_without_numbers(seed, N, D, C):
    probes = fingerprints.loss_probes(seed=seed, N=N, D=D, C=C, reg=0.5)
    data = fingerprints.build_check_data(probes, fingerprints.predict_probes(seed=1))
    data["hidden"] = True
    for loss_fn, parts, mistake, phrase in [
            (mean_over_all_entries, ("loss",), "factor", "1/C times"),
            (gradient_divided_twice, ("gradient",), "factor", "1/N times"),
            (normalized_over_examples, ("loss",), "axis", "axis 0"),
            (normalized_over_everything, ("gradient",), "axis", "whole minibatch"),
            (squared_loss, ("loss",), "wrong", "not in a way"),
            (squared_loss, ("gradient",), "grad_of_wrong_loss", "exact gradient"),
            (halved_correct_class_gradient, ("gradient",), "grad_vs_loss", "finite diff")]:
        err = failure(loss_fn, parts, data=data)
        assert err.mistake == mistake and phrase in flat(err), str(err)
        assert "Seen on" not in str(err) and "smallest problem" not in str(err)
        # Nothing of the hidden problems: no sizes, no numbers.
        assert not re.search(rf"N = {N}|C = {C}|D = {D}|on {N} examples|\d\.\d", str(err)), err


@pytest.mark.parametrize("name", ["softmax_loss_naive", "softmax_loss_vectorized"])
def test_the_solution_passes_every_structural_probe(name):
    from cs231n.classifiers import softmax
    checks.check_softmax_loss(getattr(softmax, name), name=name)


def test_a_wrapped_diagnosis_fits_a_terminal_and_comes_first():
    err = failure(normalized_over_examples, ("loss",))
    lines = err._render_traceback_()
    assert "axis 0" in " ".join(lines[:4])
    assert max(len(line) for line in lines[1:]) <= 80
    assert " ".join(" ".join(lines).split()).count("the softmax is normalized") == 1
    assert not any("checks.py\", line" in line or "diagnosis.py" in line for line in lines)
