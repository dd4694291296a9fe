"""The common wrong answers of the softmax assignment, as working code.

Each entry is what a student who made exactly one mistake would hand in. They
serve two purposes: fingerprints.py runs them on the probe inputs so that
cs231n/checks.py can recognise each mistake by its output, and the tests make
sure every mistake is named by the check that should catch it.

The ids are the keys of cs231n.checks.MISTAKES; each one's message lives in
cs231n/check_messages.py.
Shapes: N examples, D dimensions, C classes.
"""
import numpy as np

from cs231n.classifiers.linear_classifier import LinearClassifier
from cs231n.classifiers.softmax import softmax_loss_vectorized


def softmax_loss_variant(W, X, y, reg, *, shift="row", log=True, loss_sign=1.0,
                         average_loss=True, average_grad=True, grad_sign=1.0,
                         onehot="label", reg_loss=1.0, reg_grad=1.0,
                         reg_loss_over_n=False, reg_grad_over_n=False,
                         modify=None):
    """
    Softmax loss and gradient with one switch per known mistake.

    With the defaults it computes what the solution computes. Inputs and
    outputs are those of softmax_loss_vectorized; the keywords are:
    - shift: "row" (each row's own max), "global" (one max for all rows) or None.
    - log: "prob" gives -p_y and "sum" gives sum_j e^s_j - s_y (the log missing);
      "of_probability" gives -log(p_y), inf where p_y underflows to 0.
    - loss_sign: -1 gives mean(log p_y) instead of -mean(log p_y).
    - average_loss, average_grad: False sums over the minibatch instead.
    - grad_sign: -1 flips the data part of the gradient.
    - onehot: where 1 is subtracted from P: "label" (right), None (nowhere),
      "all" (every class), "columns" (P[:, y] -= 1, every row at every label).
    - reg_loss, reg_grad: factor on reg * sum(W**2) and on 2 * reg * W.
    - reg_loss_over_n, reg_grad_over_n: the regularization divided by N too.
    - modify: "W" or "X" changes that input in place.
    """
    N = X.shape[0]
    rows = np.arange(N)
    with np.errstate(all="ignore"):
        scores = X @ W                                        # (N, C)
        if shift == "row":
            scores = scores - scores.max(axis=1, keepdims=True)
        elif shift == "global":
            scores = scores - scores.max()
        exp_scores = np.exp(scores)
        sum_exp = exp_scores.sum(axis=1, keepdims=True)        # (N, 1)
        P = exp_scores / sum_exp
        if log is True:
            per_example = np.log(sum_exp[:, 0]) - scores[rows, y]
        elif log == "prob":
            per_example = -P[rows, y]
        elif log == "sum":
            per_example = sum_exp[:, 0] - scores[rows, y]
        elif log == "of_probability":
            per_example = -np.log(P[rows, y])
        else:
            raise ValueError(f"unknown log variant {log!r}")
        data_loss = loss_sign * per_example.sum()
        reg_term = reg_loss * reg * np.sum(W * W)
        if average_loss:
            loss = data_loss / N + (reg_term / N if reg_loss_over_n else reg_term)
        else:
            loss = data_loss + (reg_term / N if reg_loss_over_n else reg_term)

        dscores = P.copy()
        if onehot == "label":
            dscores[rows, y] -= 1
        elif onehot == "all":
            dscores -= 1
        elif onehot == "columns":
            dscores[:, y] -= 1
        elif onehot is not None:
            raise ValueError(f"unknown one-hot variant {onehot!r}")
        dW = grad_sign * (X.T @ dscores)
        if average_grad:
            dW = dW / N
        reg_grad_term = reg_grad * 2 * reg * W
        dW = dW + (reg_grad_term / N if reg_grad_over_n else reg_grad_term)
    if modify == "W":
        W *= 0.5          # as `dW = W; dW *= ...` would
    elif modify == "X":
        X -= X.mean(axis=0)   # as centring the data in place would
    return float(loss), dW.astype(W.dtype, copy=False)


def _variant(**switches):
    def loss_fn(W, X, y, reg):
        return softmax_loss_variant(W, X, y, reg, **switches)
    loss_fn.switches = switches
    return loss_fn


# The correct function: the solution itself.
CORRECT_LOSS = softmax_loss_vectorized

# id -> a loss function with exactly that mistake.
LOSS_MISTAKES = {
    "loss_not_averaged": _variant(average_loss=False),
    "grad_not_averaged": _variant(average_grad=False),
    "reg_loss_missing": _variant(reg_loss=0.0),
    "reg_loss_half": _variant(reg_loss=0.5),
    "reg_loss_double": _variant(reg_loss=2.0),
    "reg_loss_over_n": _variant(reg_loss_over_n=True),
    "reg_grad_missing": _variant(reg_grad=0.0),
    "reg_grad_half": _variant(reg_grad=0.5),
    "reg_grad_double": _variant(reg_grad=2.0),
    "reg_grad_over_n": _variant(reg_grad_over_n=True),
    "no_shift": _variant(shift=None),
    "global_shift": _variant(shift="global"),
    "grad_sign": _variant(grad_sign=-1.0),
    "onehot_missing": _variant(onehot=None),
    "onehot_all_classes": _variant(onehot="all"),
    "onehot_label_columns": _variant(onehot="columns"),
    "no_log_prob": _variant(log="prob"),
    "no_log_sum": _variant(log="sum"),
    "loss_sign": _variant(loss_sign=-1.0),
    "log_of_probability": _variant(log="of_probability"),
    "modifies_W": _variant(modify="W"),
    "modifies_X": _variant(modify="X"),
}

# Mistakes that a fingerprint on the probe inputs recognises (the others are
# found by structural probes that need no fingerprint: in-place changes).
FINGERPRINTED_LOSS_MISTAKES = [m for m in LOSS_MISTAKES if not m.startswith("modifies_")]


# ---------------------------------------------------------------- predict

def _predict_argmax_axis0(clf, X):
    return np.argmax(X @ clf.W, axis=0)


def _predict_argmin(clf, X):
    return np.argmin(X @ clf.W, axis=1)


def _predict_scores(clf, X):
    return X @ clf.W


def _predict_float_labels(clf, X):
    return np.argmax(X @ clf.W, axis=1).astype(np.float64)


def _predict_no_axis(clf, X):
    return np.argmax(X @ clf.W)


def correct_predict(clf, X):
    """What the solution's predict computes (used for the fingerprint)."""
    return np.argmax(X @ clf.W, axis=1)


PREDICT_MISTAKES = {
    "predict_wrong_axis": _predict_argmax_axis0,
    "predict_argmin": _predict_argmin,
    "predict_scores": _predict_scores,
    "predict_float_labels": _predict_float_labels,
    "predict_no_axis": _predict_no_axis,
}
# Mistakes recognised by the predicted labels themselves (the others by shape or dtype).
FINGERPRINTED_PREDICT_MISTAKES = ["predict_argmin"]


# ---------------------------------------------------------------- sample_batch

def _sample_unrelated_labels(X, y, batch_size, rng):
    idx = rng.integers(0, X.shape[0], size=batch_size)
    idy = rng.integers(0, X.shape[0], size=batch_size)   # a second draw for the labels
    return X[idx], y[idy]


def _sample_first_labels(X, y, batch_size, rng):
    idx = rng.integers(0, X.shape[0], size=batch_size)
    return X[idx], y[:batch_size]


def _sample_first_rows(X, y, batch_size, rng):
    return X[:batch_size], y[:batch_size]


def _sample_global_random(X, y, batch_size, rng):
    idx = np.random.randint(0, X.shape[0], size=batch_size)   # ignores rng
    return X[idx], y[idx]


def _sample_transposed(X, y, batch_size, rng):
    idx = rng.integers(0, X.shape[0], size=batch_size)
    return X[idx].T, y[idx]


def _sample_columns(X, y, batch_size, rng):
    idx = rng.integers(0, X.shape[1], size=batch_size)
    return X[:, idx], y[idx]


def _sample_stub(X, y, batch_size, rng):
    return None, None


SAMPLE_BATCH_MISTAKES = {
    "batch_labels_unrelated": _sample_unrelated_labels,
    "batch_labels_first": _sample_first_labels,
    "batch_not_random": _sample_first_rows,
    "batch_ignores_rng": _sample_global_random,
    "batch_transposed": _sample_transposed,
    "batch_columns": _sample_columns,
    "batch_returns_none": _sample_stub,
}


# ---------------------------------------------------------------- train

class MistakeClassifier(LinearClassifier):
    """
    A softmax classifier whose train() update or sample_batch() has a mistake.

    Inputs:
    - seed: as for LinearClassifier.
    - update: "descend" (right), "climb" (W += lr * grad), "none" (W unchanged)
      or "no_lr" (W -= grad, the learning rate ignored).
    - sample: a sample_batch function (X, y, batch_size, rng), or None for the
      solution's.
    """

    def __init__(self, seed=None, update="descend", sample=None):
        super().__init__(seed)
        self.update = update
        self.sample = sample

    def loss(self, X_batch, y_batch, reg):
        return softmax_loss_vectorized(self.W, X_batch, y_batch, reg)

    def sample_batch(self, X, y, batch_size, rng):
        if self.sample is not None:
            return self.sample(X, y, batch_size, rng)
        return super().sample_batch(X, y, batch_size, rng)

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100,
              batch_size=200, verbose=False):
        # A plain loop (no prefetching): what matters here is the update.
        rng = np.random.default_rng(self.seed)
        num_classes = int(np.max(y)) + 1
        self.W = (0.001 * rng.standard_normal((X.shape[1], num_classes))).astype(X.dtype)
        history = []
        for _ in range(num_iters):
            X_batch, y_batch = self.sample_batch(X, y, batch_size, rng)
            loss, grad = self.loss(X_batch, y_batch, reg)
            history.append(loss)
            if self.update == "descend":
                self.W -= learning_rate * grad
            elif self.update == "climb":
                self.W += learning_rate * grad
            elif self.update == "no_lr":
                self.W -= grad
            elif self.update != "none":
                raise ValueError(f"unknown update {self.update!r}")
        return history


def _maker(**kwargs):
    return lambda seed: MistakeClassifier(seed, **kwargs)


TRAIN_MISTAKES = {
    "sgd_climbs": _maker(update="climb"),
    "sgd_no_update": _maker(update="none"),
    "sgd_ignores_learning_rate": _maker(update="no_lr"),
    "sgd_unseeded": _maker(sample=_sample_global_random),
}


class _PredictVariant(LinearClassifier):
    def __init__(self, seed=None, predict=None):
        super().__init__(seed)
        self._predict = predict

    def predict(self, X):
        return self._predict(self, X)


PREDICT_MAKERS = {name: (lambda fn: lambda seed: _PredictVariant(seed, fn))(fn)
                  for name, fn in PREDICT_MISTAKES.items()}
