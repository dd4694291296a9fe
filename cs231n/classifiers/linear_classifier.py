"""A linear classifier trained with minibatch stochastic gradient descent.

Shapes: N examples, D input dimensions (bias column included), C classes.
"""
import numpy as np

from ..data_utils import check_minibatch, check_training_data
from .softmax import softmax_loss_vectorized


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
              batch_size=200, verbose=False):
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

        Every call starts from fresh small random weights, so reusing one object
        for several settings never carries weights over from an earlier run.

        Returns:
        - loss_history: A list of num_iters floats, the loss at each iteration.
        """
        X, y = check_training_data(X, y)
        if num_iters < 0 or batch_size < 1:
            raise ValueError(f"need num_iters >= 0 and batch_size >= 1, got "
                             f"{num_iters} and {batch_size}")
        dim = X.shape[1]
        num_classes = int(y.max()) + 1  # labels are 0 .. C-1
        # One generator for the initial weights and every minibatch: with a
        # seed, the whole run repeats exactly.
        rng = np.random.default_rng(self.seed)
        # Weights in the data's floating dtype: float32 data trains in float32.
        self.W = (0.001 * rng.standard_normal((dim, num_classes))).astype(X.dtype)

        # Run stochastic gradient descent to optimize W
        loss_history = []
        for it in range(num_iters):
            X_batch, y_batch = check_minibatch(self.sample_batch(X, y, batch_size, rng), dim)

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

