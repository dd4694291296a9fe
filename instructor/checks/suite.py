"""The checks of every auto-graded cell, as the trusted grader runs them.

For each test cell of softmax.ipynb (by grade_id), AUTO_TESTS lists the checks
that decide its points: first the visible ones, the same given functions of
cs231n/checks.py that the notebook's test cell calls, then the hidden ones of
hidden.py. A check sees one hand-in as a Subject: the student's functions
(real ones, or proxies into a sandboxed worker, see instructor/boundary/), the
text of their files (read, never executed) and the numbers the notebook left
behind (best_softmax.W, best_val, results), which are judged by recomputing
them on the grader's own data (TrustedData), never by believing them.

    data = load_trusted_data(data_dir)            # once per batch
    subject = Subject(...)                        # once per hand-in
    verdicts = [grade_cell(g, subject) for g in AUTO_TESTS]

grade_cell never raises. Its message is what the student reads: the first
failing check's diagnosis. A hidden check's message never quotes hidden.py or
the numbers of its problems: only the named mistake, or a plain sentence.
"""
import dataclasses
import inspect

import numpy as np

from cs231n import checks, data_utils
from cs231n.checks import CheckFailed
from instructor.assignment import spec
from instructor.grade.verdicts import Subject, Verdict, grade_cell  # noqa: F401

from . import hidden
from .common import (accuracy_of, bar, need_data, notebook_value,  # noqa: F401
                     reproduced_best_W, sample_batch_of)

BOUNDARY_ERRORS = ("WorkerTimeout", "WorkerCrashed")


# ---------------------------------------------------------------- the grader's data

@dataclasses.dataclass
class TrustedData:
    """The training, validation and test sets, preprocessed exactly as the notebook's
    locked cells do (get_CIFAR10_data(cifar10_dir=...) with its defaults): float32,
    the mean training image subtracted, a bias column of ones. Shapes (N_val, 3073),
    (N_val,), (N_test, 3073), (N_test,), (N_train, 3073), (N_train,). The training
    set is for retraining the sweep's best setting with the student's own code."""
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_train: np.ndarray
    y_train: np.ndarray


def load_trusted_data(data_dir=None):
    """
    The grader's own training, validation and test sets, read from the data set folder.

    The notebook calls data_utils.get_CIFAR10_data(cifar10_dir=...) with its default
    sizes. This runs the same steps of data_utils (the same batch reader, the same
    exact integer mean of the training images, the same _fill for conversion,
    centring and bias column) without the dev set: the result is identical element
    for element (tested). The training set (49,000 rows, about 600 MB in float32) is
    what the sweep's best setting is retrained on, with the student's own code. Call
    it once per batch of hand-ins (the grader keeps it as a plain .npz).

    Inputs:
    - data_dir: the cifar-10-batches-py folder; None means $CIFAR10_DIR or datasets/
      (data_utils.dataset_dir).

    Returns: a TrustedData. Raises data_utils.DatasetError if the files are missing
    or damaged, ValueError if they hold too few images.
    """
    root = data_utils.dataset_dir(data_dir)
    data_utils._check_folder(root)
    train = data_utils._read_batches(root, data_utils.TRAIN_FILES)
    n_train_all = sum(labels.shape[0] for _, labels in train)
    # get_CIFAR10_data's default sizes.
    full = n_train_all >= 50000
    num_validation = 1000 if full else max(1, n_train_all // 50)
    num_training = min(49000, n_train_all - num_validation)
    if num_training < 1:
        raise ValueError(f"the training files of {root} hold only {n_train_all} images")
    D = 3072
    dtype = np.dtype(np.float32)
    sums = data_utils._to_hwc(data_utils._pixel_sums(train, num_training)).reshape(D)
    mean = (sums / num_training).astype(dtype)
    # The validation rows follow the training rows.
    X_train = np.empty((num_training, D + 1), dtype=dtype)
    y_train = np.empty(num_training, dtype=np.int64)
    X_val = np.empty((num_validation, D + 1), dtype=dtype)
    y_val = np.empty(num_validation, dtype=np.int64)
    data_utils._fill(train, [(X_train, y_train), (X_val, y_val)], mean)
    del train
    test = data_utils._read_batches(root, [data_utils.TEST_FILE])
    n_test_all = test[0][1].shape[0]
    num_test = 1000 if n_test_all >= 10000 else max(1, n_test_all // 10)
    X_test = np.empty((num_test, D + 1), dtype=dtype)
    y_test = np.empty(num_test, dtype=np.int64)
    data_utils._fill(test, [(X_test, y_test)], mean)
    return TrustedData(X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test,
                       X_train=X_train, y_train=y_train)


# ---------------------------------------------------------------- one hand-in

def subject_from_functions(loss_naive=None, loss_vectorized=None, make_classifier=None,
                           sample_batch=None, sources=None, results=None, data=None):
    """
    A Subject of functions in this process (tests, and self checks such as `make run`).

    Inputs (each None means the instructor's own cs231n):
    - loss_naive, loss_vectorized: function(W, X, y, reg) -> (loss, dW).
    - make_classifier: function(seed) -> classifier (e.g. the Softmax class).
    - sample_batch: function(X, y, batch_size, rng); default make_classifier(0)'s.
    - sources: {relative path: text}; default the files that define the functions.
    - results: a NotebookResults, or a dict of the notebook's variables (best_val,
      best_softmax, results, test_accuracy, ...) turned into one.
    - data: a TrustedData (needed by the sweep and accuracy cells).
    """
    from cs231n.classifiers import Softmax
    from cs231n.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized
    loss_naive = softmax_loss_naive if loss_naive is None else loss_naive
    loss_vectorized = softmax_loss_vectorized if loss_vectorized is None else loss_vectorized
    make_classifier = Softmax if make_classifier is None else make_classifier
    if sample_batch is None:
        def sample_batch(X, y, batch_size, rng):
            return make_classifier(0).sample_batch(X, y, batch_size, rng)
    if sources is None:
        sources = {}
        for rel, obj in ((checks.SOFTMAX_FILE, loss_vectorized),
                         (checks.CLASSIFIER_FILE, make_classifier)):
            try:
                with open(inspect.getsourcefile(obj), encoding="utf-8") as f:
                    sources[rel] = f.read()
            except (TypeError, OSError):
                pass
    if isinstance(results, dict):
        results = results_from_namespace(results)
    return Subject({"loss_naive": loss_naive, "loss_vectorized": loss_vectorized,
                    "sample_batch": sample_batch, "make_classifier": make_classifier},
                   sources=sources, results=results, data=data)


def results_from_namespace(namespace):
    """A NotebookResults from a notebook's variables, in this process (no file)."""
    from instructor.boundary.results import from_namespace
    return from_namespace(namespace, spec().values)


# ---------------------------------------------------------------- notebook-level values

# ---------------------------------------------------------------- the visible checks

def naive_loss(subject):
    """test_naive_loss: check_softmax_loss on the loss of softmax_loss_naive."""
    checks.check_softmax_loss(subject.loss_naive, name="softmax_loss_naive", parts=("loss",))


def naive_grad(subject):
    """test_naive_grad: check_softmax_loss on the gradient of softmax_loss_naive, which
    must also agree with finite differences of its own loss (the notebook's gradient
    check, recomputed)."""
    checks.check_softmax_loss(subject.loss_naive, name="softmax_loss_naive",
                              parts=("gradient",))
    probe = {p["name"]: p for p in checks.load_check_data()["content"]["loss"]["probes"]}
    W, X, y, reg = checks.probe_arrays(probe["basic_reg"])
    hidden.gradient_matches_differences(subject.loss_naive, "softmax_loss_naive",
                                        W, X, y, (0.0, reg))


def vectorized_loss(subject):
    """test_vectorized: check_softmax_loss on softmax_loss_vectorized."""
    checks.check_softmax_loss(subject.loss_vectorized, name="softmax_loss_vectorized")


def sgd_sample_batch(subject):
    """test_sgd: check_sample_batch."""
    checks.check_sample_batch(sample_batch_of(subject))


def sgd_train(subject):
    """test_sgd: check_train."""
    checks.check_train(subject.make_classifier)


def sgd_predict(subject):
    """test_sgd: check_predict."""
    checks.check_predict(subject.make_classifier)


def sweep_visible(subject):
    """test_sweep: a grid of at least 2 x 2 settings, and best_softmax.W's validation
    accuracy, recomputed here, above the notebook's visible bar."""
    data = need_data(subject)
    settings = notebook_value(subject, "results", "results")
    if len(settings) < bar("test_sweep", "min_settings"):
        raise CheckFailed(f"sweep: results holds {len(settings)} setting(s); sweep at least "
                          "a 2 x 2 grid.", mistake="sweep_small", function="sweep")
    best_W = notebook_value(subject, "best_W", "best_softmax.W")
    accuracy = accuracy_of(best_W, data.X_val, data.y_val, "best_softmax.W")
    visible_bar = bar("test_sweep", "visible_sweep_bar")
    if not accuracy > visible_bar:
        raise CheckFailed(f"sweep: the validation accuracy of best_softmax is {accuracy:.3f}, "
                          f"not above {visible_bar}.", mistake="sweep_bar",
                          function="sweep")


def test_accuracy_visible(subject):
    """test_accuracy: best_softmax.W's test accuracy, recomputed here, above the bar; the
    weights reproduced by the student's own training; no test accuracy far above the
    validation accuracy (flagged for the instructor, no points)."""
    data = need_data(subject)
    best_W = notebook_value(subject, "best_W", "best_softmax.W")
    accuracy = accuracy_of(best_W, data.X_test, data.y_test, "best_softmax.W")
    test_bar = bar("test_accuracy", "test_bar")
    if not accuracy > test_bar:
        raise CheckFailed(f"test accuracy: best_softmax reaches {accuracy:.3f} on the test "
                          f"set, not above {test_bar}.", mistake="test_bar",
                          function="test accuracy")
    reproduced_best_W(subject)
    validation = accuracy_of(best_W, data.X_val, data.y_val, "best_softmax.W")
    margin = bar("test_accuracy", "max_test_over_val")
    if accuracy > validation + margin and len(data.y_val) >= bar("test_sweep",
                                                                  "plausible_min_rows"):
        raise CheckFailed(f"test accuracy: best_softmax reaches {accuracy:.3f} on the test "
                          f"set, far above its validation accuracy {validation:.3f}: a model "
                          "chosen on validation data does not do that; this cell is left to "
                          "the instructor to review.", mistake="implausible",
                          function="test accuracy")


# grade_id -> checks, visible first, then hidden (in the notebook's order), from the spec.
AUTO_TESTS = spec().auto_tests()
load_trusted_data.returns = TrustedData
