"""A linear classifier trained with minibatch stochastic gradient descent.

Shapes: N examples, D input dimensions (bias column included), C classes.
"""
import contextlib

import numpy as np

from ..prefetch import prefetched
from .softmax import softmax_loss_vectorized

try:  # optional: lets train() run its small matrix products on one BLAS thread
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

# Matrix products of at most this many multiply-adds run on one BLAS thread in
# train(). A (200, 3073) minibatch times (3073, 10) weights is 6e6: a fraction
# of a millisecond, which a second thread shortens a little on an idle machine
# but stretches many times over whenever another process has that core, since
# BLAS then waits for its descheduled thread at every product.
_SMALL_PRODUCT = 2 ** 24


class LinearClassifier:
    """Scores are X @ W with W of shape (D, C); subclasses choose the loss."""

    def __init__(self, seed=None):
        """
        Inputs:
        - seed: integer seed for the weight initialization and the minibatch
          sampling. With a seed, each call to train() repeats exactly; with
          None, every call draws fresh randomness.
        """
        self.W = None
        self.seed = seed

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100,
              batch_size=200, verbose=False, *, warm_start=False):
        """
        Train this linear classifier using stochastic gradient descent.

        Inputs:
        - X: A numpy array of shape (N, D) containing training data; there are N
          training samples each of dimension D.
        - y: A numpy array of shape (N,) containing training labels; y[i] = c
          means that X[i] has label 0 <= c < C for C classes.
        - learning_rate: (float) learning rate for optimization.
        - reg: (float) regularization strength.
        - num_iters: (integer) number of steps to take when optimizing
        - batch_size: (integer) number of training examples to use at each step.
        - verbose: (boolean) If true, print progress during optimization.
        - warm_start: (boolean) If true and the classifier already has weights of
          the right shape, continue from them. By default every call starts
          from fresh small random weights, so that reusing one object for
          several settings (as in a hyperparameter sweep) never silently
          carries weights over from an earlier run.

        Returns:
        - loss_history: A list of num_iters floats, the loss at each iteration.
        """
        X, y = _check_data(X, y)
        dim = X.shape[1]
        if num_iters < 0 or batch_size < 1:
            raise ValueError(f"need num_iters >= 0 and batch_size >= 1, got "
                             f"{num_iters} and {batch_size}")
        # Classes are 0..C-1; the largest label tells us C.
        num_classes = int(y.max()) + 1
        rng = np.random.default_rng(self.seed)
        if not (warm_start and self.W is not None and self.W.shape == (dim, num_classes)):
            # Weights in the data's floating dtype: float32 data trains in float32.
            self.W = (0.001 * rng.standard_normal((dim, num_classes))).astype(X.dtype)

        loss_history = []
        # The next minibatch is drawn by another thread while this one computes
        # the current step (see cs231n/prefetch.py): gathering random rows from
        # memory then costs almost nothing. sample_batch is the only user of rng
        # from here on, so a seeded run still repeats exactly.
        batches = prefetched(lambda: self._checked_batch(X, y, batch_size, rng), num_iters)
        # BLAS on one thread for minibatch-sized products (see _SMALL_PRODUCT).
        with _blas_threads(_minibatch_blas_threads(batch_size, dim, num_classes)), \
                contextlib.closing(batches):
            for it, (X_batch, y_batch) in enumerate(batches):
                # evaluate loss and gradient
                loss, grad = self.loss(X_batch, y_batch, reg)
                loss_history.append(loss)

                # perform parameter update
                #########################################################################
                # TODO:                                                                 #
                # Update the weights using the gradient and the learning rate.          #
                #########################################################################
                ### BEGIN SOLUTION
                self.W -= learning_rate * grad
                ### END SOLUTION

                if verbose and it % 100 == 0:
                    print(f"iteration {it} / {num_iters}: loss {loss:f}")

        return loss_history

    def sample_batch(self, X, y, batch_size, rng):
        """
        Draw the minibatch for one step of stochastic gradient descent.

        Inputs:
        - X: A numpy array of shape (N, D) containing training data.
        - y: A numpy array of shape (N,) containing training labels.
        - batch_size: (integer) number of training examples to draw.
        - rng: a numpy.random.Generator. Take all randomness from it, so that a
          classifier with a seed repeats its training exactly.

        Returns a tuple of:
        - X_batch: A numpy array of shape (batch_size, D), examples from X.
        - y_batch: A numpy array of shape (batch_size,), their labels.
        """
        X_batch = None
        y_batch = None

        #########################################################################
        # TODO:                                                                 #
        # Sample batch_size elements from the training data and their           #
        # corresponding labels to use in this round of gradient descent.        #
        # Store the data in X_batch and their corresponding labels in           #
        # y_batch; after sampling X_batch should have shape (batch_size, D)     #
        # and y_batch should have shape (batch_size,)                           #
        #                                                                       #
        # Hint: Use rng.choice (or rng.integers) to generate indices. Sampling  #
        # with replacement is faster than sampling without replacement.         #
        #########################################################################
        ### BEGIN SOLUTION
        idx = rng.integers(0, X.shape[0], size=batch_size)
        X_batch = X[idx]
        y_batch = y[idx]
        ### END SOLUTION

        return X_batch, y_batch

    def _checked_batch(self, X, y, batch_size, rng):
        """sample_batch, with a clear error when what it returns cannot be a minibatch."""
        batch = self.sample_batch(X, y, batch_size, rng)
        if not (isinstance(batch, tuple) and len(batch) == 2):
            raise TypeError("sample_batch must return a tuple (X_batch, y_batch)")
        X_batch, y_batch = batch
        if X_batch is None or y_batch is None:
            raise TypeError("sample_batch returned None for X_batch or y_batch: "
                            "fill in its TODO in linear_classifier.py")
        if (np.ndim(X_batch) != 2 or np.shape(X_batch)[1] != X.shape[1]
                or np.shape(y_batch) != (np.shape(X_batch)[0],)):
            raise ValueError(f"sample_batch must return X_batch of shape (batch_size, "
                             f"{X.shape[1]}) and y_batch of shape (batch_size,); got "
                             f"{np.shape(X_batch)} and {np.shape(y_batch)}")
        return X_batch, y_batch

    def predict(self, X):
        """
        Use the trained weights of this linear classifier to predict labels for
        data points.

        Inputs:
        - X: A numpy array of shape (N, D) containing data; there are N
          examples each of dimension D.

        Returns:
        - y_pred: Predicted labels for the data in X. y_pred is a 1-dimensional
          array of length N, and each element is an integer giving the predicted
          class.
        """
        if self.W is None:
            raise RuntimeError("this classifier has no weights yet: call train() first")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.W.shape[0]:
            raise ValueError(f"expected X of shape (N, {self.W.shape[0]}), got {X.shape}")
        y_pred = np.zeros(X.shape[0], dtype=np.int64)
        ###########################################################################
        # TODO:                                                                   #
        # Implement this method. Store the predicted labels in y_pred.            #
        ###########################################################################
        ### BEGIN SOLUTION
        y_pred = np.argmax(X @ self.W, axis=1)
        ### END SOLUTION
        return y_pred

    def loss(self, X_batch, y_batch, reg):
        """
        Compute the loss function and its derivative.
        Subclasses will override this.

        Inputs:
        - X_batch: A numpy array of shape (N, D) containing a minibatch of N
          data points; each point has dimension D.
        - y_batch: A numpy array of shape (N,) containing labels for the minibatch.
        - reg: (float) regularization strength.

        Returns: A tuple containing:
        - loss as a single float
        - gradient with respect to self.W; an array of the same shape as W
        """
        raise NotImplementedError("subclasses of LinearClassifier define loss()")


class Softmax(LinearClassifier):
    """A subclass that uses the Softmax + Cross-entropy loss function."""

    def loss(self, X_batch, y_batch, reg):
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)


def _minibatch_blas_threads(batch_size, dim, num_classes):
    """BLAS threads for the products of one SGD step: 1 for small ones, else None
    (BLAS as configured), also None without threadpoolctl."""
    if threadpool_limits is None or batch_size * dim * num_classes > _SMALL_PRODUCT:
        return None
    return 1


def _blas_threads(threads):
    """A context in which BLAS uses at most `threads` threads (None: unchanged)."""
    if threads is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def _check_data(X, y):
    """Validate a training set and return it as arrays (no copy when possible)."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (N, D), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(f"X must hold floats (float32 or float64), got {X.dtype}; "
                        "preprocess it with get_CIFAR10_data or X.astype(np.float32)")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("the training set is empty")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError("labels y must be non-negative integers")
    return X, y
