"""Train a whole grid of softmax classifiers at once, for a hyperparameter sweep.

Training K = len(learning_rates) * len(regularization_strengths) classifiers one
after another repeats the same expensive work K times: every iteration reads a
(batch_size, D) minibatch and multiplies it by a thin (D, C) matrix, and that
product is limited by reading the minibatch, not by arithmetic. Here all K
weight matrices sit side by side in one (D, K*C) matrix and share each
minibatch, so one product X_batch @ W_all (and one X_batch.T @ dscores) serves
every model: the minibatch is read twice per iteration instead of 2K times,
and BLAS gets one large product that keeps all cores busy.

Each model's softmax is still taken over its own C columns: the (B, K*C)
scores are viewed as (B, K, C) and normalized along the last axis.

Usage:
    results, best_val, best_softmax = sweep_hyperparameters(
        X_train, y_train, X_val, y_val, [1e-7, 5e-7], [2.5e4, 5e4])
"""
import time

import numpy as np

from .classifiers.linear_classifier import Softmax, _check_data


def sweep_hyperparameters(X_train, y_train, X_val, y_val, learning_rates,
                          regularization_strengths, num_iters=1500, batch_size=200,
                          seed=0, verbose=True):
    """
    Train one softmax classifier per (learning rate, regularization) pair with
    minibatch SGD, all on the same sequence of minibatches, and evaluate them.

    Inputs:
    - X_train: (N, D) training data; y_train: (N,) labels in [0, C).
    - X_val: (N_val, D) validation data; y_val: (N_val,) labels.
    - learning_rates, regularization_strengths: sequences of floats.
    - num_iters, batch_size: as for LinearClassifier.train.
    - seed: seed for the initial weights and the minibatches.
    - verbose: print progress about every 10% of the iterations.

    Returns a tuple of:
    - results: dict mapping (learning_rate, reg) to (train_accuracy, val_accuracy).
      A model whose weights diverged (became inf or nan) gets (nan, nan).
    - best_val: the highest validation accuracy.
    - best_softmax: a Softmax classifier holding the weights that reached it.
    """
    X_train, y_train = _check_data(X_train, y_train)
    X_val, y_val = _check_data(X_val, y_val)
    if X_val.shape[1] != X_train.shape[1]:
        raise ValueError(f"X_val has {X_val.shape[1]} columns, X_train {X_train.shape[1]}")
    grid = [(float(lr), float(reg)) for lr in learning_rates for reg in regularization_strengths]
    if not grid:
        raise ValueError("the grid is empty: give at least one learning rate and one reg")
    if num_iters < 0 or batch_size < 1:
        raise ValueError(f"need num_iters >= 0 and batch_size >= 1, got {num_iters}, {batch_size}")

    N, D = X_train.shape
    C = int(max(y_train.max(), y_val.max())) + 1
    K = len(grid)
    dtype = X_train.dtype
    rng = np.random.default_rng(seed)
    # Column block k*C:(k+1)*C of W_all is model k's (D, C) weight matrix.
    W_all = (0.001 * rng.standard_normal((D, K * C))).astype(dtype)
    lr_cols = np.repeat(np.array([lr for lr, _ in grid], dtype=dtype), C)     # (K*C,)
    reg_cols = np.repeat(np.array([reg for _, reg in grid], dtype=dtype), C)  # (K*C,)
    alive = np.ones(K, dtype=bool)
    rows = np.arange(batch_size)
    report_every = max(1, num_iters // 10)
    start = time.perf_counter()

    # A too-large learning rate makes a model's weights blow up; its overflow
    # warnings are expected, so they are silenced and the model is reported as
    # diverged at the end.
    with np.errstate(over="ignore", invalid="ignore"):
        for it in range(num_iters):
            idx = rng.integers(0, N, size=batch_size)
            X_batch, y_batch = X_train[idx], y_train[idx]
            scores = (X_batch @ W_all).reshape(batch_size, K, C)       # (B, K, C)
            scores -= scores.max(axis=2, keepdims=True)
            probs = np.exp(scores, out=scores)
            probs /= probs.sum(axis=2, keepdims=True)
            probs[rows, :, y_batch] -= 1                               # P - Y
            grad = X_batch.T @ probs.reshape(batch_size, K * C)        # (D, K*C)
            grad *= 1.0 / batch_size
            grad += 2 * reg_cols * W_all
            W_all -= lr_cols * grad
            if verbose and ((it + 1) % report_every == 0 or it + 1 == num_iters):
                alive = _finite_blocks(W_all, K, C)
                print(f"sweep: iteration {it + 1} / {num_iters}, {K} models "
                      f"({int(alive.sum())} finite), {time.perf_counter() - start:.1f} s")

    train_acc = _accuracies(X_train, y_train, W_all, K, C)
    val_acc = _accuracies(X_val, y_val, W_all, K, C)
    alive = _finite_blocks(W_all, K, C)
    results = {}
    for k, key in enumerate(grid):
        results[key] = (float(train_acc[k]), float(val_acc[k])) if alive[k] else (np.nan, np.nan)
    if not alive.any():
        raise FloatingPointError("every model in the sweep diverged: lower the learning rates")
    best = int(np.argmax(np.where(alive, val_acc, -1.0)))
    best_softmax = Softmax(seed=seed)
    best_softmax.W = W_all[:, best * C:(best + 1) * C].copy()
    if verbose:
        lr, reg = grid[best]
        print(f"sweep: best validation accuracy {val_acc[best]:.3f} at lr {lr:.2e}, "
              f"reg {reg:.2e} ({time.perf_counter() - start:.1f} s)")
    return results, float(val_acc[best]), best_softmax


def _finite_blocks(W_all, K, C):
    """(K,) bool: which models' weights are all finite."""
    return np.isfinite(W_all.reshape(W_all.shape[0], K, C)).all(axis=(0, 2))


def _accuracies(X, y, W_all, K, C, chunk=8192):
    """(K,) accuracy of every model on (X, y), in row chunks to bound memory."""
    correct = np.zeros(K, dtype=np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        for s in range(0, X.shape[0], chunk):
            scores = (X[s:s + chunk] @ W_all).reshape(-1, K, C)    # (n, K, C)
            correct += (scores.argmax(axis=2) == y[s:s + chunk, None]).sum(axis=0)
    return correct / X.shape[0]
