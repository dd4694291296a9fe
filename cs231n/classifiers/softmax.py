"""Softmax (multinomial logistic regression) loss and its gradient.

Shapes used throughout this file:
    N  number of examples in the minibatch
    D  input dimension (3073 for CIFAR-10 with the bias trick)
    C  number of classes (10 for CIFAR-10)

The loss of one example i with scores s = x_i W (a row of C numbers) is

    L_i = -log( exp(s[y_i]) / sum_j exp(s[j]) ) = log(sum_j exp(s[j])) - s[y_i]

and the total loss is the mean over the minibatch plus reg * sum(W**2).
"""
import numpy as np


def _check_inputs(W, X, y):
    """Raise a clear error when the shapes or labels cannot belong together."""
    if W.ndim != 2 or X.ndim != 2 or y.ndim != 1:
        raise ValueError(
            f"expected W (D, C), X (N, D), y (N,); got W {W.shape}, X {X.shape}, y {y.shape}")
    if X.shape[1] != W.shape[0]:
        raise ValueError(f"X has D={X.shape[1]} columns but W has D={W.shape[0]} rows")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has N={X.shape[0]} rows but y has {y.shape[0]} labels")
    if X.shape[0] == 0:
        raise ValueError("the minibatch is empty (N = 0)")
    if y.dtype.kind not in "iu":  # signed or unsigned integers
        raise TypeError(f"labels y must be integers, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= W.shape[1]:
        raise ValueError(f"labels must lie in [0, {W.shape[1]}), got range "
                         f"[{y.min()}, {y.max()}]")


def softmax_loss_naive(W, X, y, reg):
    """
    Softmax loss function, naive implementation (with loops).

    Inputs:
    - W: A numpy array of shape (D, C) containing weights.
    - X: A numpy array of shape (N, D) containing a minibatch of data.
    - y: A numpy array of shape (N,) containing training labels; y[i] = c means
      that X[i] has label c, where 0 <= c < C.
    - reg: (float) regularization strength.

    Returns a tuple of:
    - loss as a single float: mean cross-entropy + reg * sum(W * W)
    - gradient with respect to weights W; an array of the same shape as W

    The inputs are not modified.
    """
    _check_inputs(W, X, y)
    loss = 0.0
    dW = np.zeros_like(W)

    #############################################################################
    # TODO: Compute the softmax loss and its gradient using explicit loops.     #
    # Store the loss in loss and the gradient in dW. If you are not careful     #
    # here, it is easy to run into numeric instability: a score of 1000 makes   #
    # exp() overflow. Don't forget the regularization!                          #
    #############################################################################
    ### BEGIN SOLUTION
    num_train, num_classes = X.shape[0], W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)                      # (C,)
        # Shifting by the max leaves the probabilities unchanged and makes the
        # largest exponent exp(0) = 1, so the sum can neither overflow nor be 0.
        shifted = scores - np.max(scores)
        log_sum = np.log(np.sum(np.exp(shifted)))
        # -log p_y computed as log-sum-exp minus the score: finite even when
        # p_y itself underflows to 0.
        loss += log_sum - shifted[y[i]]
        for j in range(num_classes):
            p_j = np.exp(shifted[j] - log_sum)
            # dL_i/ds_j = p_j - 1[j == y_i], and ds_j/dW[:, j] = x_i.
            dW[:, j] += (p_j - (j == y[i])) * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    ### END SOLUTION

    return float(loss), dW


def softmax_loss_vectorized(W, X, y, reg):
    """
    Softmax loss function, vectorized version (no Python loops).

    Inputs and outputs are the same as softmax_loss_naive.
    """
    _check_inputs(W, X, y)
    loss = 0.0
    dW = np.zeros_like(W)

    #############################################################################
    # TODO: Compute the softmax loss and its gradient using no explicit loops.  #
    # Store the loss in loss and the gradient in dW. Keep it numerically        #
    # stable, and don't forget the regularization!                              #
    #############################################################################
    ### BEGIN SOLUTION
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W                                      # (N, C)
    scores -= scores.max(axis=1, keepdims=True)         # stability: each row's largest score is 0
    exp_scores = np.exp(scores)
    sum_exp = exp_scores.sum(axis=1, keepdims=True)     # (N, 1), each >= 1
    # Mean of L_i = log(sum_j exp(s_j)) - s_{y_i}; finite even where p_{y_i} underflows.
    # np.vdot(W, W) is sum(W * W) without a temporary array the size of W.
    loss = (np.log(sum_exp).sum() - scores[rows, y].sum()) / N + reg * np.vdot(W, W)
    # dL/dscores = (P - Y) / N, where Y is the one-hot label matrix.
    dscores = exp_scores / sum_exp                      # P, (N, C)
    dscores[rows, y] -= 1
    dscores /= N
    dW = X.T @ dscores                                  # (D, C)
    dW += 2 * reg * W
    ### END SOLUTION

    return float(loss), dW
