"""Helpers the visible and the hidden checks share: the notebook's values as the
grader read them, accuracies recomputed on the grader's own data, the bars of
the spec. Neither checks module imports the other."""
import numpy as np

from cs231n.checks import CheckFailed
from instructor.assignment import spec


def bar(grade_id, name):
    """A bar of a graded cell, from the assignment's spec (one source)."""
    return spec().bar(grade_id, name)


def notebook_value(subject, field, expr):
    """A field of subject.results, or CheckFailed saying why it is missing."""
    results = subject.results
    if results is None:
        raise CheckFailed(f"{expr}: the notebook's values could not be read: run the "
                          "notebook from top to bottom without errors.", mistake="missing",
                          function=expr)
    value = getattr(results, field, None)
    if value is None:
        reason = (getattr(results, "problems", None) or {}).get(field, "it is not set")
        raise CheckFailed(f"{expr} is needed here, but {reason}: fill in the cells above "
                          "and run the notebook from top to bottom.", mistake="missing",
                          function=expr)
    return value


def accuracy_of(W, X, y, what):
    """The accuracy of the labels argmax(X W) against y, computed here."""
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != X.shape[1] or W.shape[1] <= int(np.max(y)):
        raise CheckFailed(f"{what} has shape {W.shape}; it should be (D, C) = "
                          f"({X.shape[1]}, {int(np.max(y)) + 1}).", mistake="output",
                          function=what)
    # In X's dtype, as the notebook's predict computes it.
    with np.errstate(all="ignore"):
        scores = X @ W.astype(X.dtype, copy=False)
    return float(np.mean(np.argmax(scores, axis=1) == y))


def need_data(subject):
    if subject.data is None:
        raise CheckFailed("the grader has no validation and test data to check against.",
                          mistake="setup", function="grader")
    return subject.data


def sample_batch_of(subject):
    """The hand-in's sample_batch: its own routine if it has one, else the method of a
    classifier made with seed 0 (as the notebook calls Softmax().sample_batch)."""
    routines = subject.routines
    if "sample_batch" in routines:
        return routines["sample_batch"]

    def sample_batch(X, y, batch_size, rng):
        return subject.make_classifier(0).sample_batch(X, y, batch_size, rng)
    return sample_batch
