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


def reproduced_best_W(subject):
    """best_softmax.W, once shown to be what the student's own classifier trains with
    the best setting of results (the notebook's seed, iterations and batch size, on the
    grader's training set): weights from anywhere else (shipped in the hand-in, fitted
    by other code) earn nothing. Raises CheckFailed (shown as it is) otherwise; the
    answer is kept on the subject, so the retraining runs once per hand-in."""
    from cs231n import checks
    cached = subject.__dict__.get("_reproduced")
    if cached is not None:
        if isinstance(cached, CheckFailed):
            raise cached
        return cached
    try:
        value = _reproduce(subject, checks)
    except CheckFailed as e:
        subject.__dict__["_reproduced"] = e
        raise
    subject.__dict__["_reproduced"] = value
    return value


def _reproduce(subject, checks):
    data = need_data(subject)
    best_W = np.asarray(notebook_value(subject, "best_W", "best_softmax.W"), dtype=np.float64)
    settings = notebook_value(subject, "results", "results")
    if not settings:
        raise _shown("sweep", "results is empty: fill it with the accuracies of your grid.")
    top = max(v[1] for v in settings.values())
    candidates = [k for k, v in settings.items() if v[1] == top][:3]
    rtol = bar("test_sweep", "retrain_rtol")
    for lr, reg in candidates:
        clf = checks.call_student("train", "making a classifier", subject.make_classifier,
                           int(bar("test_sweep", "retrain_seed")))
        checks.call_student("train", "retraining the best setting of results on the training set",
                     clf.train, data.X_train, data.y_train, arg_names=("X", "y"),
                     learning_rate=lr, reg=reg, num_iters=int(bar("test_sweep", "retrain_iters")),
                     batch_size=int(bar("test_sweep", "retrain_batch")), verbose=False)
        W = np.asarray(clf.W, dtype=np.float64) if clf.W is not None else None
        if (W is not None and W.shape == best_W.shape and np.all(np.isfinite(W))
                and np.linalg.norm(W - best_W) <= rtol * max(np.linalg.norm(best_W), 1e-12)):
            return best_W
    raise _shown("sweep", "best_softmax.W is not what your Softmax(seed=0) learns when trained "
                 "with the best setting of results on the training set (1500 iterations): "
                 "keep the classifier of the best setting, trained as the sweep cell says, "
                 "and record every setting's accuracies in results.")


def _shown(function, text):
    error = CheckFailed(f"{function}: {text}", mistake="not_reproduced", function=function)
    error.shown_as_is = True
    return error
