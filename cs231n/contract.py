"""What each graded function must return: the rules the notebook's checks and the
grader both apply, so that a result accepted here is accepted in grading too.

Each rule takes what your function returned and either gives it back in one
standard form or raises ContractError (a TypeError) saying what is wrong.

- loss_and_gradient(out, W): out is any sequence of two items (a tuple
  (loss, dW), a list [loss, dW], ...). loss is one number: a Python float or
  int, a numpy scalar (float32 or float64), or an array holding exactly one
  number. dW is a float array (float32 or float64) of the shape of W.
  Returns (loss as a Python float, dW as a float64 array).
- minibatch(out, batch_size, D): any sequence of two items (X_batch, y_batch):
  X_batch of shape (batch_size, D), y_batch of shape (batch_size,) with integer
  labels. Returns the two as arrays.
- loss_history(out, num_iters): a list (or any sequence or array) of num_iters
  numbers. Returns a float64 array.
- labels(out, n): n integer labels, one per example. Returns an int64 array.
- accuracy(value): one number between 0 and 1 (a float, a numpy scalar or a
  one-element array). Returns a Python float.

A loss computed in float32 is compared with the exact value within
FLOAT32_RTOL (relative), one computed in float64 within FLOAT64_RTOL.
None of the graded functions may change the arrays they are given.
"""
import numpy as np

FLOAT64_RTOL = 1e-7
FLOAT32_RTOL = 1e-4


class ContractError(TypeError):
    """A result that does not have the form the task asks for."""


def describe(value):
    """A short description of a value, for messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    try:
        text = repr(value)
    except Exception:  # a student's object whose repr raises
        text = "?"
    return f"{type(value).__name__} {text}"[:200]


def pair(out, what):
    """The two items of a sequence of length 2 (a tuple, a list, ...)."""
    if isinstance(out, (str, bytes, dict, set)) or isinstance(out, np.ndarray) and out.ndim != 1:
        raise ContractError(f"it must return a tuple {what} (or a list of the two); it "
                            f"returned {describe(out)}")
    try:
        items = list(out)
    except TypeError:
        raise ContractError(f"it must return a tuple {what} (or a list of the two); it returned "
                            f"{describe(out)}") from None
    if len(items) != 2:
        raise ContractError(f"it must return a tuple {what} (or a list of the two); it "
                            f"returned {len(items)} value{'' if len(items) == 1 else 's'}")
    return items


def number(value, what):
    """One number: a Python number, a numpy scalar or a one-element array."""
    if isinstance(value, (bool, np.bool_)):
        raise ContractError(f"{what} must be a number; it is {describe(value)}")
    try:
        arr = np.asarray(value)
    except Exception:
        raise ContractError(f"{what} must be a number; it is {describe(value)}") from None
    if arr.dtype.kind not in "iuf" or arr.size != 1:
        hint = " Average the per-example losses into one number." if arr.ndim == 1 else ""
        raise ContractError(f"{what} must be a single number (a float); it is "
                            f"{describe(value)}.{hint}")
    return float(arr.reshape(()))


def loss_and_gradient(out, W):
    """(loss, dW) of a loss function, as (float, float64 array of W's shape)."""
    loss, dW = pair(out, "(loss, dW)")
    if loss is None or dW is None:
        raise ContractError(f"it returned None for the "
                            f"{'loss' if loss is None else 'gradient dW'}: set it in its TODO.")
    loss = number(loss, "the loss")
    try:
        dW_arr = np.asarray(dW)
    except Exception:
        raise ContractError(f"dW must be an array; it is {describe(dW)}") from None
    if dW_arr.shape != np.shape(W):
        hint = (" (transposed?)" if dW_arr.shape == np.shape(W)[::-1]
                and np.shape(W) != np.shape(W)[::-1] else "")
        raise ContractError(f"dW must have the shape of W, {np.shape(W)}; it has shape "
                            f"{dW_arr.shape}{hint}.")
    if dW_arr.dtype.kind != "f":
        raise ContractError(f"dW must hold floats; it holds {dW_arr.dtype}. Start from "
                            "dW = np.zeros_like(W) or build it from float arrays.")
    return loss, dW_arr.astype(np.float64)


def minibatch(out, batch_size, D):
    """(X_batch, y_batch) of sample_batch, as arrays of the asked shapes."""
    X_batch, y_batch = pair(out, "(X_batch, y_batch)")
    X_batch, y_batch = np.asarray(X_batch), np.asarray(y_batch)
    if X_batch.shape != (batch_size, D):
        raise ContractError(f"X_batch must have shape (batch_size, D) = {(batch_size, D)}; "
                            f"it has shape {X_batch.shape}.")
    if y_batch.shape != (batch_size,):
        raise ContractError(f"y_batch must have shape (batch_size,) = {(batch_size,)}; it "
                            f"has shape {y_batch.shape}.")
    if y_batch.dtype.kind not in "iu":
        raise ContractError(f"y_batch must hold integer labels, like y; it holds "
                            f"{y_batch.dtype}.")
    return X_batch, y_batch


def loss_history(out, num_iters):
    """The losses train returns, one per iteration, as a float64 array."""
    if out is None:
        raise ContractError("it returns None: it must return loss_history, the list of "
                            "losses of all iterations.")
    history = np.asarray(out, dtype=object)
    if history.shape != (num_iters,):
        count = history.shape[0] if history.ndim else 0
        raise ContractError(f"it must return one loss per iteration ({num_iters}); it "
                            f"returned {count} values (shape {history.shape}).")
    try:
        return history.astype(np.float64)
    except (TypeError, ValueError):
        raise ContractError("the loss history must hold numbers, one float per "
                            "iteration.") from None


def labels(out, n):
    """n integer labels, as an int64 array."""
    arr = np.asarray(out) if out is not None else None
    if arr is None or arr.shape != (n,) or arr.dtype.kind not in "iu":
        got = describe(out)
        raise ContractError(f"it must return one integer label per example ({n}); it "
                            f"returned {got}.")
    return arr.astype(np.int64)


def accuracy(value):
    """An accuracy: one number in [0, 1]."""
    value = number(value, "an accuracy")
    if not 0.0 <= value <= 1.0:
        raise ContractError(f"an accuracy is between 0 and 1; this one is {value}")
    return value


def loss_tolerance(dtype):
    """The relative tolerance of a loss computed in dtype."""
    return FLOAT32_RTOL if np.dtype(dtype) == np.float32 else FLOAT64_RTOL
