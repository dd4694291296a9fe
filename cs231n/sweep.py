"""Train a whole grid of softmax classifiers at once, for a hyperparameter sweep.

Training K = len(learning_rates) * len(regularization_strengths) classifiers one
after another repeats the same expensive work K times: every iteration reads a
(batch_size, D) minibatch and multiplies it by a thin (D, C) matrix, and that
product is limited by reading the minibatch, not by arithmetic. Here the
models share each minibatch: their weights are stacked into one matrix, so one
product with the minibatch (and one for the gradient) serves them all, and
BLAS gets products large enough to run near the processor's peak.

With several CPU cores the grid is split into one group of models per core,
each trained by its own thread with single-threaded BLAS, on the same
sequence of minibatches. The cores then share every part of a step, the
elementwise ones included, and no BLAS thread ever waits for another
(multithreaded BLAS on a busy machine stalls whenever one of its threads is
descheduled).

Every step is W <- W - lr * (X_b^T (P - Y) / B + 2 reg W), the update of
LinearClassifier.train, computed as W <- (1 - 2 lr reg) W - X_b^T ((P - Y) lr / B)
in place, without temporaries the size of W, and with the factor (1 - 2 lr reg)
kept aside as one number per model until it needs to be applied. The initial weights and the
minibatches are the ones Softmax(seed=seed).train draws, so a one-model grid
reproduces it.

Usage:
    results, best_val, best_softmax = sweep_hyperparameters(
        X_train, y_train, X_val, y_val, [1e-7, 5e-7], [2.5e4, 5e4])
"""
import queue
import threading
import time

import numpy as np

from .classifiers.linear_classifier import Softmax, _check_data
from .prefetch import usable_cpus

try:  # in requirements.txt; without it the sweep runs in one thread
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_info = threadpool_limits = None


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
    # The random numbers Softmax(seed).train uses: its initial weights (here
    # column block k*C:(k+1)*C for model k), then one index draw per iteration.
    W_init = (0.001 * rng.standard_normal((D, K * C))).astype(dtype)
    batches = [rng.integers(0, N, size=batch_size) for _ in range(num_iters)]

    workers = _num_workers(K)
    groups = [_Group(W_init, C, models, grid) for models in np.array_split(np.arange(K), workers)]
    del W_init
    start = time.perf_counter()
    progress = _Progress(num_iters, K, groups, start) if verbose else None
    sets = [(X_train, y_train), (X_val, y_val)]
    if workers == 1:
        groups[0].run(X_train, y_train, batches, sets, progress)
    else:
        with threadpool_limits(limits=1, user_api="blas"):
            _run_threads(groups, X_train, y_train, batches, sets, progress)

    train_acc = np.concatenate([g.accuracies[0] for g in groups])
    val_acc = np.concatenate([g.accuracies[1] for g in groups])
    alive = np.concatenate([g.finite() for g in groups])
    results = {}
    for k, key in enumerate(grid):
        results[key] = (float(train_acc[k]), float(val_acc[k])) if alive[k] else (np.nan, np.nan)
    if not alive.any():
        raise FloatingPointError("every model in the sweep diverged: lower the learning rates")
    best = int(np.argmax(np.where(alive, val_acc, -1.0)))
    best_softmax = Softmax(seed=seed)
    best_softmax.W = next(g.weights(best) for g in groups if best in g.models)
    if verbose:
        lr, reg = grid[best]
        print(f"sweep: best validation accuracy {val_acc[best]:.3f} at lr {lr:.2e}, "
              f"reg {reg:.2e} ({time.perf_counter() - start:.1f} s)")
    return results, float(val_acc[best]), best_softmax


class _Group:
    """k models of the grid, trained together on shared minibatches by one thread.

    The weights are stored transposed, V[c, j, :] = column c of model j, so
    that every step works on long contiguous rows: the scores come out as
    (C, k, B), and each model's softmax over its C classes is a reduction over
    the first axis, which NumPy runs as elementwise operations on (k, B) slices.
    """

    def __init__(self, W_init, C, models, grid):
        D, k = W_init.shape[0], len(models)
        self.models = [int(m) for m in models]                  # their indices in the grid
        self.lr = np.array([grid[m][0] for m in models])
        reg = np.array([grid[m][1] for m in models])
        self.decay = (1.0 - 2.0 * self.lr * reg).astype(W_init.dtype)
        self.V = np.empty((C, k, D), dtype=W_init.dtype)
        for j, m in enumerate(self.models):
            self.V[:, j, :] = W_init[:, m * C:(m + 1) * C].T
        self.accuracies = []   # per data set given to run(): (k,) accuracies
        self.done = 0          # iterations finished, read by the progress reporter
        self.stop = False      # set by the main thread to abandon the run
        self.error = None
        # With several groups, one of them gathers each minibatch and passes it on.
        self.inbox = None      # where this group receives its minibatches, if it does
        self.outboxes = []     # where it passes on those it gathers

    def weights(self, model):
        """(D, C): the weights of the grid's model number `model` (a copy)."""
        return np.ascontiguousarray(self.V[:, self.models.index(model), :].T)

    def finite(self):
        """(k,) bool: which of the models have only finite weights."""
        return np.isfinite(self.V).all(axis=(0, 2))

    def run(self, X, y, batches, sets, progress=None):
        """Train on the minibatches X[idx], then measure the accuracy on each (X, y) of sets."""
        # A too-large learning rate makes a model's weights blow up; its overflow
        # warnings are expected, so they are silenced (in this thread: NumPy's
        # error state is per thread) and the model is reported as diverged.
        with np.errstate(over="ignore", invalid="ignore"):
            self._train(X, y, batches, progress)
            self.accuracies = [self._accuracy(Xs, ys) for Xs, ys in sets]

    def _train(self, X, y, batches, progress):
        if not batches:
            return
        C, k, D = self.V.shape
        V = self.V.reshape(C * k, D)            # a view: row c*k + j is (model j, class c)
        B = batches[0].shape[0]
        dtype = V.dtype
        scale = (self.lr / B).astype(dtype)                     # lr / B, (k,)
        S = np.empty((C * k, B), dtype=dtype)                   # scores, then (P - Y) lr / B
        S3 = S.reshape(C, k, B)
        m = np.empty((k, B), dtype=dtype)
        G = np.empty((C * k, D), dtype=dtype)
        rows = np.arange(B)
        # Weight decay, applied lazily: model j's weights are c[j] times its rows
        # of V. Multiplying c by the decay each step replaces a pass over V (the
        # size of all the weights) with k multiplications, and the gradient step
        # is divided by the new c instead. V is rescaled, and c reset to 1,
        # before any c gets small. Decays near 0 (lr * reg near 1/2, a diverging
        # model) would make c vanish, so a group with one of those applies its
        # decay to V at every step instead.
        lazy = bool(np.all(np.abs(self.decay) >= 0.5))
        decay_rows = None if lazy else np.tile(self.decay, C)[:, None]  # per row of V
        c = np.ones(k, dtype=dtype)
        for it, idx in enumerate(batches):
            batch = self._minibatch(X, y, idx)
            if batch is None:                                    # abandoned
                break
            X_batch, y_batch = batch
            np.matmul(V, X_batch.T, out=S)
            if lazy:
                S3 *= c[:, None]                                 # the true scores
            np.max(S3, axis=0, out=m)                            # each model's top score
            S3 -= m                                              # stability shift
            np.exp(S, out=S)
            np.sum(S3, axis=0, out=m)
            if lazy:
                c_next = c * self.decay
                if np.abs(c_next).min() < 1e-6:
                    self.V *= c[None, :, None]                   # V holds the true weights
                    c_next = self.decay.copy()
                step = scale / c_next
            else:
                V *= decay_rows                                  # lr * regularization
                c_next, step = c, scale
            np.divide(step[:, None], m, out=m)
            S3 *= m                                              # P lr / B (/ c_next)
            S3[y_batch, :, rows] -= step                         # (P - Y) lr / B (/ c_next)
            np.matmul(S, X_batch, out=G)                         # lr * data gradient
            V -= G
            c = c_next
            self.done = it + 1
            if progress is not None:
                progress.maybe_report()
        if lazy:
            self.V *= c[None, :, None]

    def _minibatch(self, X, y, idx):
        """(X[idx], y[idx]), gathered here or received from the group that gathers it;
        None once the run is abandoned."""
        while self.inbox is not None:
            try:
                return self.inbox.get(timeout=0.1)
            except queue.Empty:
                if self.stop:
                    return None
        if self.stop:
            return None
        batch = X[idx], y[idx]
        for box in self.outboxes:
            while True:
                try:
                    box.put(batch, timeout=0.1)
                    break
                except queue.Full:
                    if self.stop:
                        return None
        return batch

    def _accuracy(self, X, y, chunk=4096):
        """(k,) accuracy of each model on (X, y), in row chunks to bound memory."""
        C, k, D = self.V.shape
        V = self.V.reshape(C * k, D)
        correct = np.zeros(k, dtype=np.int64)
        for s in range(0, X.shape[0], chunk):
            scores = (V @ X[s:s + chunk].T).reshape(C, k, -1)   # (C, k, n)
            correct += (scores.argmax(axis=0) == y[None, s:s + chunk]).sum(axis=1)
        return correct / X.shape[0]


class _Progress:
    """Prints a line about every 10% of the iterations (counting the slowest group)."""

    def __init__(self, num_iters, K, groups, start):
        self.num_iters, self.K, self.groups, self.start = num_iters, K, groups, start
        self.every = max(1, num_iters // 10)
        self.reported = 0

    def maybe_report(self):
        done = min(g.done for g in self.groups)
        mark = done if done == self.num_iters else done - done % self.every
        if mark > self.reported:
            self.reported = mark
            finite = sum(int(g.finite().sum()) for g in self.groups)
            print(f"sweep: iteration {mark} / {self.num_iters}, {self.K} models "
                  f"({finite} finite), {time.perf_counter() - self.start:.1f} s", flush=True)


def _run_threads(groups, X, y, batches, sets, progress):
    """Run each group in its own thread; report progress from this one.

    The last group (it has the fewest models) gathers each minibatch once and
    passes it on to the others, so that they spend no time gathering and all
    threads have about the same work.
    """
    for g in groups[:-1]:
        g.inbox = queue.Queue(maxsize=2)
        groups[-1].outboxes.append(g.inbox)

    def run(group):
        try:
            group.run(X, y, batches, sets)
        except BaseException as e:  # re-raised in the calling thread
            group.error = e

    threads = [threading.Thread(target=run, args=(g,), name=f"sweep-{i}", daemon=True)
               for i, g in enumerate(groups)]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            threads[0].join(timeout=0.05)
            if any(g.error is not None for g in groups):
                break
            if progress is not None:
                progress.maybe_report()
    finally:  # also on an error or KeyboardInterrupt: stop the workers before returning
        for g in groups:
            g.stop = True
        for t in threads:
            t.join()
    for g in groups:
        if g.error is not None:
            raise g.error


def _num_workers(K):
    """Threads for the sweep: one per core this process may use, at most one per
    model, and no more than the BLAS library is allowed threads (so that a
    limit such as OPENBLAS_NUM_THREADS=1 is respected)."""
    if threadpool_limits is None:
        return 1
    cores = usable_cpus()
    blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(1, min(K, cores, max(blas, default=1)))
