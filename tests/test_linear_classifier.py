"""SGD training and prediction of the linear classifier."""
import ast
import inspect

import numpy as np
import pytest

from cs231n.classifiers import LinearClassifier, Softmax


def blobs(seed=0, N=300, D=6, C=3, dtype=np.float64):
    """C well-separated Gaussian blobs with a bias column."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, size=N)
    centres = rng.standard_normal((C, D - 1)) * 3
    X = np.hstack([centres[y] + rng.standard_normal((N, D - 1)), np.ones((N, 1))])
    return X.astype(dtype), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_lowers_the_loss_and_fits(dtype):
    X, y = blobs(dtype=dtype)
    clf = Softmax(seed=0)
    hist = clf.train(X, y, learning_rate=0.1, reg=1e-4, num_iters=300, batch_size=32)
    assert len(hist) == 300 and all(isinstance(v, float) for v in hist)
    assert np.mean(hist[-20:]) < 0.5 * np.mean(hist[:5])
    assert np.mean(clf.predict(X) == y) > 0.9
    assert clf.W.dtype == dtype and clf.W.shape == (6, 3)


@pytest.mark.parametrize("seed", [0, 42])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seeded_runs_repeat_exactly_and_each_call_starts_fresh(seed, dtype):
    X, y = blobs(1, dtype=dtype)
    settings = dict(learning_rate=0.05, num_iters=50, batch_size=16)
    clf = Softmax(seed=seed)
    h1 = clf.train(X, y, **settings)
    W1 = clf.W.copy()
    h2 = clf.train(X, y, **settings)                 # same object, reused
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(W1, clf.W)
    np.testing.assert_array_equal(Softmax(seed=seed).train(X, y, **settings), h1)
    assert not np.array_equal(Softmax(seed=seed + 1).train(X, y, **settings), h1)


def test_train_is_the_plain_loop_of_sample_batch_loss_and_update():
    """train() draws the initial weights, then one minibatch per step through
    sample_batch, from one generator, and takes plain SGD steps: replayed here."""
    X, y = blobs(9)
    lr, reg, iters, B = 0.05, 1e-3, 20, 16
    clf = Softmax(seed=5)
    hist = clf.train(X, y, learning_rate=lr, reg=reg, num_iters=iters, batch_size=B)
    rng = np.random.default_rng(5)
    ref = Softmax()
    ref.W = 0.001 * rng.standard_normal((X.shape[1], 3))
    expected = []
    for _ in range(iters):
        X_batch, y_batch = ref.sample_batch(X, y, B, rng)
        loss, grad = ref.loss(X_batch, y_batch, reg)
        expected.append(loss)
        ref.W = ref.W - lr * grad
    np.testing.assert_allclose(hist, expected, rtol=1e-12)
    np.testing.assert_allclose(clf.W, ref.W, rtol=1e-12, atol=1e-15)


def test_the_student_file_has_no_threads_or_blas_control():
    from cs231n.classifiers import linear_classifier
    tree = ast.parse(inspect.getsource(linear_classifier))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    assert modules == {"numpy"}, f"linear_classifier.py imports {sorted(modules)}"


def test_unseeded_runs_differ():
    X, y = blobs(3)
    a = Softmax().train(X, y, num_iters=5)
    b = Softmax().train(X, y, num_iters=5)
    assert not np.array_equal(a, b)


def test_batch_larger_than_data_samples_with_replacement():
    X, y = blobs(4, N=10)
    hist = Softmax(seed=0).train(X, y, num_iters=3, batch_size=64)
    assert len(hist) == 3


@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_sample_batch_draws_rows_with_their_labels(batch_size):
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20)
    X0, y0 = X.copy(), y.copy()
    X_batch, y_batch = Softmax().sample_batch(X, y, batch_size, np.random.default_rng(0))
    assert X_batch.shape == (batch_size, 2) and y_batch.shape == (batch_size,)
    np.testing.assert_array_equal(X_batch, X[y_batch])       # row i of X has label i
    again = Softmax().sample_batch(X, y, batch_size, np.random.default_rng(0))
    np.testing.assert_array_equal(again[1], y_batch)         # all randomness from rng
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


class BrokenSampler(Softmax):
    def __init__(self, batch):
        super().__init__(seed=0)
        self.batch = batch

    def sample_batch(self, X, y, batch_size, rng):
        if isinstance(self.batch, BaseException):
            raise self.batch
        return self.batch


@pytest.mark.parametrize("batch, error, match", [
    ((None, None), TypeError, "fill in its TODO"),
    (np.zeros((4, 6)), TypeError, "sample_batch: it must return a tuple"),
    ((np.zeros((4, 6)),), TypeError, r"returned 1 value\b"),
    ((np.zeros((4, 5)), np.zeros(4, dtype=int)), ValueError, r"\(batch_size, 6\)"),
    ((np.zeros((4, 6)), np.zeros(3, dtype=int)), ValueError, "y_batch"),
    (NotImplementedError("sample here"), NotImplementedError, "sample here"),
])
def test_a_broken_sample_batch_fails_clearly(batch, error, match):
    X, y = blobs(8)
    clf = BrokenSampler(batch)
    with pytest.raises(error, match=match):
        clf.train(X, y, num_iters=3, batch_size=4)


@pytest.mark.parametrize("as_pair", [tuple, list])
def test_a_minibatch_as_any_pair_trains(as_pair):
    """The contract: sample_batch may return (X_batch, y_batch) or [X_batch, y_batch]."""
    X, y = blobs(8)
    clf = BrokenSampler(as_pair((X[:4].copy(), y[:4].copy())))
    history = clf.train(X, y, num_iters=3, batch_size=4)
    assert len(history) == 3 and np.all(np.isfinite(history))


def test_predict_is_argmax_of_scores():
    X, y = blobs(5)
    clf = Softmax(seed=0)
    clf.train(X, y, learning_rate=0.1, num_iters=20)
    pred = clf.predict(X)
    assert pred.shape == (X.shape[0],) and np.issubdtype(pred.dtype, np.integer)
    np.testing.assert_array_equal(pred, np.argmax(X @ clf.W, axis=1))


def test_inputs_not_modified():
    X, y = blobs(6)
    X0, y0 = X.copy(), y.copy()
    clf = Softmax(seed=0)
    clf.train(X, y, num_iters=10)
    clf.predict(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_clear_errors():
    X, y = blobs(7)
    with pytest.raises(RuntimeError, match="train"):
        Softmax().predict(X)
    with pytest.raises(ValueError, match="shape"):
        Softmax().train(X, y[:-1])
    with pytest.raises(TypeError, match="float"):
        Softmax().train(X.astype(np.uint8), y)
    with pytest.raises(ValueError, match="batch_size"):
        Softmax().train(X, y, batch_size=0)
    clf = Softmax(seed=0)
    clf.train(X, y, num_iters=1)
    with pytest.raises(ValueError, match="shape"):
        clf.predict(X[:, :3])
    with pytest.raises(NotImplementedError):
        LinearClassifier().train(X, y, num_iters=1)
