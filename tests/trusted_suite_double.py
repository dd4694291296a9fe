"""Test double of instructor.checks.suite, for the tests of the trusted grade.

It has the suite's interface (TrustedData, load_trusted_data, Subject, Verdict,
AUTO_TESTS, grade_cell) and judges with the given checks of cs231n/checks.py
plus recomputed notebook-level accuracies, without hidden checks. The tests use
it only while the real suite is not in the package (tests/test_trusted.py).
"""
import ast
import dataclasses
from typing import Any, Callable

import numpy as np

from cs231n import checks


@dataclasses.dataclass
class TrustedData:
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load_trusted_data(data_dir):
    from cs231n.data_utils import get_CIFAR10_data
    d = get_CIFAR10_data(cifar10_dir=str(data_dir))
    return TrustedData(d["X_val"], d["y_val"], d["X_test"], d["y_test"])


@dataclasses.dataclass
class Subject:
    loss_naive: Callable
    loss_vectorized: Callable
    sample_batch: Callable
    make_classifier: Callable
    sources: dict
    results: Any
    data: TrustedData


@dataclasses.dataclass
class Verdict:
    grade_id: str
    passed: bool
    message: str


def _naive(s):
    checks.check_softmax_loss(s.loss_naive, "softmax_loss_naive")


def _vectorized(s):
    checks.check_softmax_loss(s.loss_vectorized, "softmax_loss_vectorized")


def _no_loops(s):
    tree = ast.parse(s.sources["cs231n/classifiers/softmax.py"])
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "softmax_loss_vectorized":
            if any(isinstance(n, (ast.For, ast.While, ast.comprehension)) for n in ast.walk(node)):
                raise AssertionError("softmax_loss_vectorized must not use Python loops")
            return
    raise AssertionError("softmax_loss_vectorized is not defined")


def _sgd(s):
    checks.check_sample_batch(s.sample_batch)
    checks.check_train(s.make_classifier)
    checks.check_predict(s.make_classifier)


def _accuracy(W, X, y):
    return float(np.mean(np.argmax(X @ W, axis=1) == y))


def _sweep(s):
    r = s.results
    assert r is not None and r.best_W is not None, "best_softmax.W was not found"
    assert r.results is not None and len(r.results) >= 4, "sweep at least a 2 x 2 grid"
    acc = _accuracy(r.best_W, s.data.X_val, s.data.y_val)
    assert acc > 0.35, f"best_softmax reaches {acc:.3f} on the validation set, not above 0.35"
    assert r.best_val is not None and abs(acc - r.best_val) < 1e-6, \
        "best_val is not the validation accuracy of best_softmax"


def _test_accuracy(s):
    r = s.results
    assert r is not None and r.best_W is not None, "best_softmax.W was not found"
    acc = _accuracy(r.best_W, s.data.X_test, s.data.y_test)
    assert acc > 0.33, f"test accuracy {acc:.3f} is not above 0.33"


AUTO_TESTS = {
    "test_naive_loss": [_naive],
    "test_naive_grad": [_naive],
    "test_vectorized": [_vectorized, _no_loops],
    "test_sgd": [_sgd],
    "test_sweep": [_sweep],
    "test_accuracy": [_test_accuracy],
}


def grade_cell(grade_id, subject):
    for check in AUTO_TESTS[grade_id]:
        try:
            check(subject)
        except BaseException as e:  # noqa: BLE001 - any failure is a failed verdict
            return Verdict(grade_id, False, f"{type(e).__name__}: {e}"[:500])
    return Verdict(grade_id, True, "")
