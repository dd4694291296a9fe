"""The softmax loss: reference values, finite differences, stability, input checks."""
import ast
import glob
import os
import warnings

import numpy as np
import pytest

from cs231n.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized

LOSSES = [softmax_loss_naive, softmax_loss_vectorized]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_problem(seed, N=12, D=7, C=5, dtype=np.float64, scale=1.0):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((D, C)) * scale).astype(dtype)
    X = rng.standard_normal((N, D)).astype(dtype)
    y = rng.integers(0, C, size=N)
    return W, X, y


def reference_loss(W, X, y, reg):
    """The textbook formula, -mean(log p_y), for moderate scores only."""
    W, X = W.astype(np.float64), X.astype(np.float64)
    e = np.exp(X @ W)
    p = e / e.sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(y)), y])) + reg * np.sum(W * W)


def numeric_grad(f, W, h=1e-6):
    g = np.zeros_like(W)
    for ix in np.ndindex(*W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[ix] += h
        Wm[ix] -= h
        g[ix] = (f(Wp) - f(Wm)) / (2 * h)
    return g


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize("reg", [0.0, 0.1, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_matches_reference(loss_fn, reg, seed):
    W, X, y = make_problem(seed)
    loss, _ = loss_fn(W, X, y, reg)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, reference_loss(W, X, y, reg), rtol=1e-12)


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize("reg", [0.0, 0.5])
@pytest.mark.parametrize("shape", [(1, 1, 2), (5, 3, 4), (9, 6, 10)])
def test_gradient_matches_finite_differences(loss_fn, reg, shape):
    N, D, C = shape
    W, X, y = make_problem(N * D * C, N, D, C)
    _, dW = loss_fn(W, X, y, reg)
    num = numeric_grad(lambda w: loss_fn(w, X, y, reg)[0], W)
    np.testing.assert_allclose(dW, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_regularization_gradient_is_2_reg_W(loss_fn):
    W, X, y = make_problem(5)
    _, d0 = loss_fn(W, X, y, 0.0)
    _, d1 = loss_fn(W, X, y, 0.7)
    np.testing.assert_allclose(d1 - d0, 2 * 0.7 * W, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 3, 2), (40, 25, 10), (200, 3073, 10)])
def test_naive_equals_vectorized(dtype, shape):
    N, D, C = shape
    W, X, y = make_problem(7, N, D, C, dtype=dtype, scale=0.01)
    ln, gn = softmax_loss_naive(W, X, y, 0.25)
    lv, gv = softmax_loss_vectorized(W, X, y, 0.25)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(lv, ln, rtol=tol)
    np.testing.assert_allclose(gv, gn, rtol=tol * 10, atol=tol * 1e-2)
    assert gv.shape == W.shape and gn.shape == W.shape
    assert gv.dtype == dtype and gn.dtype == dtype


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_scores(loss_fn, dtype):
    # Row 0: the correct class has the top score 1000 (loss ~ 0).
    # Row 1: the correct class is 1000 below the top (loss 1000 + log 2, not inf).
    X = np.eye(2, dtype=dtype)
    W = np.array([[1000.0, 0.0, 0.0], [0.0, -1000.0, 0.0]], dtype=dtype)
    y = np.array([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no overflow warning either
        loss, dW = loss_fn(W, X, y, 0.0)
    assert np.isfinite(loss) and np.all(np.isfinite(dW))
    np.testing.assert_allclose(loss, (1000 + np.log(2)) / 2, rtol=1e-6)
    # Gradient w.r.t. the scores of row 1 is p - onehot = [0.5, -1, 0.5] / N.
    np.testing.assert_allclose(dW[1], [0.25, -0.5, 0.25], atol=1e-6)


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_inputs_not_modified(loss_fn):
    W, X, y = make_problem(3)
    copies = W.copy(), X.copy(), y.copy()
    loss_fn(W, X, y, 0.3)
    for a, b in zip((W, X, y), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_small_random_weights_give_log_C(loss_fn):
    W, X, y = make_problem(11, N=50, D=20, C=10, scale=1e-6)
    loss, _ = loss_fn(W, X, y, 0.0)
    np.testing.assert_allclose(loss, np.log(10), rtol=1e-4)


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize("bad, error, message", [
    (dict(X=np.zeros((3, 4))), ValueError, "columns"),
    (dict(y=np.array([0, 1])), ValueError, "labels"),
    (dict(y=np.array([0, 1, 5])), ValueError, r"\[0, 5\)"),
    (dict(y=np.array([0, -1, 2])), ValueError, r"\[0, 5\)"),
    (dict(y=np.array([0.0, 1.0, 2.0])), TypeError, "integers"),
    (dict(W=np.zeros(5)), ValueError, "expected W"),
])
def test_bad_inputs_raise_clear_errors(loss_fn, bad, error, message):
    args = dict(W=np.zeros((3, 5)), X=np.zeros((3, 3)), y=np.array([0, 1, 2]))
    args.update(bad)
    with pytest.raises(error, match=message):
        loss_fn(args["W"], args["X"], args["y"], 0.1)


GIVEN_FILES = sorted(
    os.path.relpath(path, ROOT)
    for path in glob.glob(os.path.join(ROOT, "cs231n", "**", "*.py"), recursive=True)
    if os.path.relpath(path, ROOT).replace(os.sep, "/") not in {
        "cs231n/classifiers/softmax.py", "cs231n/classifiers/linear_classifier.py"})
SOFTMAX_NAMES = {"exp", "expm1", "exp2", "logsumexp", "softmax", "log_softmax", "logaddexp"}


@pytest.mark.parametrize("path", GIVEN_FILES)
def test_no_given_file_computes_a_softmax(path):
    """Students receive these files: none may compute what they are asked to write."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    called = {node.func.attr if isinstance(node.func, ast.Attribute) else
              getattr(node.func, "id", None)
              for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not called & SOFTMAX_NAMES, f"{path} calls {sorted(called & SOFTMAX_NAMES)}"
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"threading", "ctypes", "threadpoolctl", "concurrent"}, path
