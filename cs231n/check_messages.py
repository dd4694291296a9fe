"""The messages of the checks: every mistake they can name, and how a message reads.

A message names the function, the likely mistake and the place to look, then
what was seen:

    softmax_loss_naive: the regularization part of the gradient is missing: ...
    Look at: softmax_loss_naive in cs231n/classifiers/softmax.py, the line that
      adds the regularization to dW.
    Seen on a small problem (...): ...

In a notebook a failing check shows this message first, every line wrapped at
WIDTH columns so that a terminal (nbgrader validate cuts lines at 90
characters) shows all of it, and none of the checks' own code (see
CheckFailed._render_traceback_). str() of the error is the unwrapped text.
"""
import textwrap

import numpy as np

SOFTMAX_FILE = "cs231n/classifiers/softmax.py"
CLASSIFIER_FILE = "cs231n/classifiers/linear_classifier.py"

# The longest line of a message; nbgrader validate indents by 4 and cuts at 90.
WIDTH = 78

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
    """A check found a mistake; the message says which one and where to look.

    Attributes: mistake (a key of MISTAKES, or a short word such as
    "not_implemented", "raised", "output" or "wrong") and function.
    """

    def __init__(self, message, mistake=None, function=None):
        super().__init__(message)
        self.mistake = mistake
        self.function = function

    def _render_traceback_(self):
        """What IPython shows for this error: the diagnosis, not the checks' code.

        The frames of the checks tell a student nothing (their own code was
        called from there); the message says what was wrong and where to look.
        """
        kind = type(self).__name__
        lines = wrap(f"{kind}: {self}").split("\n")
        lines[0] = f"\x1b[0;31m{kind}\x1b[0m" + lines[0][len(kind):]
        return lines + ["", "(Found by a check in cs231n/checks.py, which called your code on",
                        "small problems. Fix the place named above, then run this cell again.)"]


class CheckDataError(RuntimeError):
    """The checks' data file is missing, damaged, or from another version."""


def wrap(text, width=WIDTH):
    """text with every line longer than width broken at spaces; a continued line
    is indented by two spaces. Lines without spaces (numbers) are kept whole."""
    out = []
    for line in str(text).split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip(" "))]
        out.extend(textwrap.wrap(line, width, initial_indent="", subsequent_indent=indent + "  ",
                                 break_long_words=False, break_on_hyphens=False) or [line])
    return "\n".join(out)


def fmt(x):
    """An array or number as compact text that fits the message width."""
    return np.array2string(np.asarray(x), precision=6, suppress_small=True,
                           separator=", ", max_line_width=WIDTH - 4)


def describe(value):
    """A short description of any value a student's function returned."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:200]


def source_file(name):
    """The file that holds a student function the checks know."""
    return SOFTMAX_FILE if name.startswith("softmax_loss") else CLASSIFIER_FILE


def where(name):
    """'name in file' for a function the checks know."""
    if name.startswith("softmax_loss"):
        return f"{name} in {SOFTMAX_FILE}"
    return f"LinearClassifier.{name} in {CLASSIFIER_FILE}"


def fail(name, mistake, evidence=None, look=None):
    """Raise CheckFailed for a mistake of MISTAKES."""
    __tracebackhide__ = True
    if look is None:
        look = where(name)
        detail = [v for k, v in LOOK_AT.items() if mistake.startswith(k)]
        if detail:
            look = f"{look}, {detail[0]}"
    lines = [f"{name}: {MISTAKES[mistake]}", f"Look at: {look}."]
    if evidence:
        lines.append(evidence)
    raise CheckFailed("\n".join(lines), mistake=mistake, function=name)


def fail_plain(name, mistake, text, evidence=None, look=None):
    """Raise CheckFailed with an explanation not in MISTAKES."""
    __tracebackhide__ = True
    lines = [f"{name}: {text}", f"Look at: {look or where(name)}."]
    if evidence:
        lines.append(evidence)
    raise CheckFailed("\n".join(lines), mistake=mistake, function=name)
