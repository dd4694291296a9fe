"""Numerical gradients by centred finite differences, to check analytic ones.

For a function f and a small step h, the centred difference

    (f(x + h e_i) - f(x - h e_i)) / (2 h)

has an error of order h**2, far smaller than the one-sided (f(x + h) - f(x)) / h.
"""
import numpy as np


def rel_error(x, y, floor=1e-8):
    """Elementwise |x - y| / max(|x| + |y|, floor); the floor keeps 0/0 at 0, not NaN."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.abs(x - y) / np.maximum(np.abs(x) + np.abs(y), floor)


def _centred_difference(f, x, ix, h):
    """(f(x + h e_ix) - f(x - h e_ix)) / 2h, leaving x[ix] exactly as it was."""
    old = x[ix]
    try:
        x[ix] = old + h
        fxph = float(f(x))
        x[ix] = old - h
        fxmh = float(f(x))
    finally:
        x[ix] = old
    return (fxph - fxmh) / (2 * h)


def eval_numerical_gradient(f, x, h=1e-5, verbose=False):
    """
    Numerical gradient of a scalar function at every entry of x.

    Inputs:
    - f: a function that takes one argument (an array shaped like x) and
      returns a float.
    - x: the point (numpy array of floats) at which to evaluate the gradient.
      It is perturbed in place while the function runs and restored exactly
      before it returns.
    - h: the finite-difference step.
    - verbose: if True, print each entry as it is computed.

    Returns:
    - grad: an array shaped like x, in float64.
    """
    if not np.issubdtype(np.asarray(x).dtype, np.floating):
        raise TypeError(f"x must be a float array, got {np.asarray(x).dtype}")
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        grad[ix] = _centred_difference(f, x, ix, h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=0, verbose=True):
    """
    Compare an analytic gradient with centred differences at a few random entries.

    Inputs:
    - f: a function of one argument (an array shaped like x) returning a float.
    - x: the point at which analytic_grad was computed; perturbed in place and
      restored before returning.
    - analytic_grad: array shaped like x.
    - num_checks: how many random entries to compare.
    - h: the finite-difference step.
    - seed: seed for choosing the entries, so a check can be repeated.
    - verbose: if True, print one line per entry.

    Returns:
    - rel_errors: array of shape (num_checks,) with the relative error at each
      checked entry (below about 1e-7 in float64 means the gradient is right).
    """
    analytic_grad = np.asarray(analytic_grad)
    if analytic_grad.shape != x.shape:
        raise ValueError(f"analytic_grad has shape {analytic_grad.shape}, x has {x.shape}")
    rng = np.random.default_rng(seed)
    rel_errors = np.empty(num_checks)
    for k in range(num_checks):
        ix = tuple(int(rng.integers(m)) for m in x.shape)
        grad_numerical = _centred_difference(f, x, ix, h)
        grad_analytic = float(analytic_grad[ix])
        rel_errors[k] = rel_error(grad_numerical, grad_analytic)
        if verbose:
            print(f"numerical: {grad_numerical:f} analytic: {grad_analytic:f}, "
                  f"relative error: {rel_errors[k]:e}")
    return rel_errors
