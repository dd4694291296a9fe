"""A corpus of hand-ins: correct solutions written in many ways, and forgeries.

Each variant is built from the instructor's solution (or the untouched release) by
replacing the insides of solution regions (`### BEGIN SOLUTION` ... `### END SOLUTION`)
in the two student files, editing notebook cells, adding or leaving out files. A correct
variant must get every automatic point; a forgery at most what it earns (`expected`).

    VARIANTS: {name: Variant}, built into a folder of zips by build_all(dist, folder, data).

The recorder of tests/test_trusted_phase_batch.py is built here too (recorder_handin):
its copies are graded in the corpus's batch.
"""
import dataclasses
import json
import re
import textwrap

import numpy as np

from helpers import AUTO_MAX, REPO, cell, package, student_notebook
from instructor.handin.solved import write_handin

SOFTMAX = "cs231n/classifiers/softmax.py"
CLASSIFIER = "cs231n/classifiers/linear_classifier.py"
STUDENT_FILES = (SOFTMAX, CLASSIFIER)
REGION = re.compile(r"(?m)^([ \t]*)### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION\n", re.S)


@dataclasses.dataclass
class Variant:
    build: object                 # build(ctx) -> (notebook dict, {path in zip: text})
    expected: int = AUTO_MAX      # the most it may score (correct ones: exactly this)
    correct: bool = True          # True: must score exactly `expected`
    what: str = ""
    xfail: str = ""               # the missing behaviour, while it is missing
    note: str = ""                # a text the notes must contain


def fill(text, *bodies):
    """text with the inside of its solution regions replaced, in order (None keeps one)."""
    regions = list(REGION.finditer(text))
    assert len(regions) == len(bodies), (len(regions), len(bodies))
    out, last = [], 0
    for match, body in zip(regions, bodies):
        out.append(text[last:match.start()])
        if body is None:
            out.append(match.group(0))
        else:
            indent = match.group(1)
            out.append(textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", indent))
        last = match.end()
    out.append(text[last:])
    return "".join(out)


class Ctx:
    """What the builders need: the release, the solution's files, the data."""

    def __init__(self, dist, data):
        self.dist, self.data = dist, data

    def notebook(self, solved=True):
        return student_notebook(self.dist, solved=solved, small_sweep=solved)

    def solution(self):
        return package(self.dist)

    def starter(self):
        return package(self.dist, solved=False)


def set_sweep(nb, source):
    cell(nb, "sweep")["source"] = textwrap.dedent(source).strip("\n") + "\n"
    return nb


def softmax_py(naive=None, vectorized=None, head=""):
    text = package_solution()[SOFTMAX]
    text = fill(text, naive, vectorized)
    if head:
        text = text.replace("import numpy as np\n", "import numpy as np\n" + head, 1)
    return text


def classifier_py(sample=None, update=None, predict=None):
    """The regions in file order: the update in train, sample_batch, predict."""
    return fill(package_solution()[CLASSIFIER], update, sample, predict)


_SOLUTION = {}


def package_solution():
    if not _SOLUTION:
        from instructor.assignment import package_sources
        _SOLUTION.update(package_sources(str(REPO)))
    return dict(_SOLUTION)


def with_files(ctx, nb=None, **changes):
    """The solved notebook (or nb) and the solution's files with changes {path: text}."""
    files = ctx.solution()
    for key, text in changes.items():
        files[key] = text
    return (ctx.notebook() if nb is None else nb), files


# ---- the sweep cells ---------------------------------------------------------------------------
SWEEP_PLAIN = """
results = {}
best_val = -1
best_softmax = None
for lr in LRS:
    for reg in REGS:
        clf = Softmax(seed=0)
        clf.train(X_train, y_train, learning_rate=lr, reg=reg, num_iters=1500)
        train_accuracy = np.mean(clf.predict(X_train) == y_train)
        val_accuracy = np.mean(clf.predict(X_val) == y_val)
        results[(lr, reg)] = (train_accuracy, val_accuracy)
        print(f"lr {lr:.1e} reg {reg:.1e}: train {train_accuracy:.3f} val {val_accuracy:.3f}")
        if val_accuracy > best_val:
            best_val = val_accuracy
            best_softmax = clf
print(f"best validation accuracy achieved during cross-validation: {best_val:f}")
"""


def sweep(lrs="[1e-6, 2e-6]", regs="[1e3, 3e3]"):
    return SWEEP_PLAIN.replace("LRS", lrs).replace("REGS", regs)


# ---- correct variants: the losses ---------------------------------------------------------------
NAIVE_LIST = """
num_train = X.shape[0]
for i in range(num_train):
    s = X[i].dot(W)
    s = s - np.max(s)
    total = np.sum(np.exp(s))
    loss += np.log(total) - s[y[i]]
    for j in range(W.shape[1]):
        dW[:, j] += (np.exp(s[j]) / total - (j == y[i])) * X[i]
loss = loss / num_train + reg * np.sum(W * W)
dW = dW / num_train + 2 * reg * W
return [loss, dW]
"""
VECT_LIST = """
N = X.shape[0]
S = X @ W
S = S - S.max(axis=1, keepdims=True)
lse = np.log(np.exp(S).sum(axis=1))
loss = np.mean(lse - S[np.arange(N), y]) + reg * np.sum(W * W)
P = np.exp(S - lse[:, None])
P[np.arange(N), y] -= 1
dW = X.T @ P / N + 2 * reg * W
return [loss, dW]
"""
VECT_EINSUM = """
N = X.shape[0]
S = np.einsum("nd,dc->nc", X, W)
S = S - S.max(axis=1, keepdims=True)
E = np.exp(S)
Z = np.einsum("nc->n", E)
loss = np.mean(np.log(Z) - S[np.arange(N), y]) + reg * np.einsum("dc,dc->", W, W)
P = E / Z[:, None]
P[np.arange(N), y] -= 1
dW = np.einsum("nd,nc->dc", X, P) / N + 2 * reg * W
"""
VECT_LOGSUMEXP = """
N = X.shape[0]
S = X.dot(W)
m = S.max(axis=1)
lse = m + np.log(np.exp(S - m[:, None]).sum(axis=1))   # log-sum-exp, stable
loss = np.mean(lse - S[np.arange(N), y]) + reg * (W ** 2).sum()
P = np.exp(S - lse[:, None])
P[np.arange(N), y] -= 1.0
dW = X.T.dot(P) / N + 2.0 * reg * W
"""
VECT_INPLACE = """
N = X.shape[0]
rows = np.arange(N)
S = X.dot(W)                      # a new array: working in place on it is safe
S -= S.max(axis=1, keepdims=True)
lse = np.log(np.exp(S).sum(axis=1))
loss = np.mean(lse - S[rows, y]) + reg * np.sum(W * W)
S -= lse[:, None]
np.exp(S, out=S)                  # S is now P
S[rows, y] -= 1
dW = X.T.dot(S)
dW /= N
dW += 2 * reg * W
"""
HELPERS_HEAD = '''

def _log_probabilities(scores):
    """Row-wise log-softmax of a (N, C) score matrix, computed stably."""
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _one_hot(y, C):
    Y = np.zeros((y.shape[0], C))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y
'''
VECT_HELPERS = """
log_P = _log_probabilities(X @ W)
Y = _one_hot(y, W.shape[1])
N = X.shape[0]
loss = -np.sum(Y * log_P) / N + reg * np.sum(W * W)
dW = X.T @ (np.exp(log_P) - Y) / N + 2 * reg * W
"""
VECT_ALL_FINITE = """
assert all(np.all(np.isfinite(a)) for a in (W, X)), "inputs must be finite"
for name, a in (("W", W), ("X", X)):
    assert a.ndim == 2, name
N = X.shape[0]
S = X @ W
S -= S.max(axis=1, keepdims=True)
lse = np.log(np.exp(S).sum(axis=1))
loss = (lse - S[np.arange(N), y]).mean() + reg * np.sum(W * W)
P = np.exp(S - lse[:, None])
P[np.arange(N), y] -= 1
dW = X.T @ P / N + 2 * reg * W
"""
VECT_FLOAT32 = """
W32, X32 = W.astype(np.float32), X.astype(np.float32)
N = X.shape[0]
S = X32 @ W32
S -= S.max(axis=1, keepdims=True)
lse = np.log(np.exp(S).sum(axis=1))
loss = np.float32(np.mean(lse - S[np.arange(N), y]) + reg * np.sum(W32 * W32))
P = np.exp(S - lse[:, None])
P[np.arange(N), y] -= 1
dW = (X32.T @ P / N + 2 * reg * W32).astype(np.float32)
return loss, dW
"""
VECT_NUMPY_SCALAR = """
N = X.shape[0]
S = X @ W
S = S - np.max(S, axis=1, keepdims=True)
lse = np.log(np.sum(np.exp(S), axis=1))
loss = np.asarray(np.mean(lse - S[np.arange(N), y]) + reg * np.sum(W * W))  # a 0-d array
P = np.exp(S - lse[:, None])
P[np.arange(N), y] -= 1
dW = X.T @ P / N + 2 * reg * W
return loss, dW
"""

# ---- correct variants: the classifier ------------------------------------------------------------
SAMPLE_CHOICE = """
idx = rng.choice(X.shape[0], size=batch_size, replace=True)
X_batch, y_batch = X[idx], y[idx]
"""
SAMPLE_LIST = """
idx = rng.permutation(X.shape[0])[:batch_size]
return [X[idx], y[idx]]
"""
UPDATE_NEW_ARRAY = """
self.W = self.W - learning_rate * grad
"""
PREDICT_DOT = """
y_pred = X.dot(self.W).argmax(axis=1)
"""

# ---- correct variants: the notebook ----------------------------------------------------------------
SWEEP_WHILE = """
results = {}
best_val, best_softmax = -1, None
learning_rates = [1e-6, 2e-6]
regularization_strengths = [1e3, 3e3]
i = 0
while i < len(learning_rates) * len(regularization_strengths):
    lr = learning_rates[i // len(regularization_strengths)]
    reg = regularization_strengths[i % len(regularization_strengths)]
    model = Softmax(seed=0)
    model.train(X_train, y_train, learning_rate=lr, reg=reg, num_iters=1500)
    tr = float(np.mean(model.predict(X_train) == y_train))
    va = float(np.mean(model.predict(X_val) == y_val))
    results[(lr, reg)] = (tr, va)
    if va > best_val:
        best_val, best_softmax = va, model
    i += 1
print("best", best_val)
"""
SWEEP_TQDM = """
from tqdm import tqdm
import itertools
results = {}
best_val = -1
best_softmax = None
grid = list(itertools.product([1e-6, 2e-6], [1e3, 3e3]))
for lr, reg in tqdm(grid, desc="sweep"):
    clf = Softmax(seed=0)
    clf.train(X_train, y_train, learning_rate=lr, reg=reg, num_iters=1500)
    results[(lr, reg)] = (np.mean(clf.predict(X_train) == y_train),
                          np.mean(clf.predict(X_val) == y_val))
    if results[(lr, reg)][1] > best_val:
        best_val, best_softmax = results[(lr, reg)][1], clf
print(best_val)
"""
SWEEP_PRINTS = sweep().replace(
    "        clf.train(X_train, y_train, learning_rate=lr, reg=reg, num_iters=1500)\n",
    "        clf.train(X_train, y_train, learning_rate=lr, reg=reg, num_iters=1500,\n"
    "                  verbose=True)\n"
    "        for k in range(2000):\n"
    "            print(f'progress {lr} {reg} line {k} ' + '.' * 40)\n")

BROKEN_DISPLAY = """
from IPython import get_ipython
get_ipython().display_pub.publish({"text/plain": {"not": "text"}})
get_ipython().display_pub.publish({"text/html": 12345, "text/plain": "a number as html"})
"""


def _append_cell(nb, source):
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": source})
    return nb


def _insert_after(nb, grade_id, source):
    index = next(i for i, c in enumerate(nb["cells"])
                 if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    nb["cells"].insert(index + 1, {"cell_type": "code", "metadata": {}, "outputs": [],
                                   "execution_count": None, "source": source})
    return nb


def b_reference(ctx):
    return with_files(ctx)


def b_list_returns(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(NAIVE_LIST, VECT_LIST)})


def b_einsum(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(vectorized=VECT_EINSUM)})


def b_logsumexp(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(vectorized=VECT_LOGSUMEXP)})


def b_inplace(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(vectorized=VECT_INPLACE)})


def b_helpers(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(vectorized=VECT_HELPERS, head=HELPERS_HEAD)})


def b_all_finite(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(vectorized=VECT_ALL_FINITE)})


def b_float32(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(vectorized=VECT_FLOAT32)})


def b_numpy_scalar(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(vectorized=VECT_NUMPY_SCALAR)})


def b_classifier_variants(ctx):
    return with_files(ctx, **{CLASSIFIER: classifier_py(SAMPLE_CHOICE, UPDATE_NEW_ARRAY,
                                                        PREDICT_DOT)})


def b_sample_list(ctx):
    return with_files(ctx, **{CLASSIFIER: classifier_py(sample=SAMPLE_LIST)})


def b_while_sweep(ctx):
    return with_files(ctx, set_sweep(ctx.notebook(), SWEEP_WHILE))


def b_minimal_zip(ctx):
    files = ctx.solution()
    return ctx.notebook(), {k: files[k] for k in STUDENT_FILES}


def b_prints_a_lot(ctx):
    return with_files(ctx, set_sweep(ctx.notebook(), SWEEP_PRINTS))


def b_tqdm(ctx):
    return with_files(ctx, set_sweep(ctx.notebook(), SWEEP_TQDM))


def b_other_grid(ctx):
    return with_files(ctx, set_sweep(ctx.notebook(), sweep("[5e-7, 1e-6]", "[3e3, 1e4]")))


def b_folder_in_zip(ctx):
    nb, files = with_files(ctx)
    return nb, {f"softmax/{k}": v for k, v in files.items()}, "softmax/softmax.ipynb"


def b_broken_display(ctx):
    return with_files(ctx, _insert_after(ctx.notebook(), "sweep", BROKEN_DISPLAY))


# ---- forgeries ---------------------------------------------------------------------------------------
def b_calls_naive(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(
        vectorized="return softmax_loss_naive(W, X, y, reg)")})


def b_rebound(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py() +
                              "\n\nsoftmax_loss_vectorized = softmax_loss_naive\n"})


def b_decorator(ctx):
    text = softmax_py(vectorized="pass")
    text = text.replace("def softmax_loss_vectorized(W, X, y, reg):",
                        "def _faster(f):\n    return softmax_loss_naive\n\n\n@_faster\n"
                        "def softmax_loss_vectorized(W, X, y, reg):", 1)
    return with_files(ctx, **{SOFTMAX: text})


def b_map(ctx):
    return with_files(ctx, **{SOFTMAX: softmax_py(vectorized="""
def one(i):
    return softmax_loss_naive(W, X[i:i + 1], y[i:i + 1], 0.0)
parts = list(map(one, range(X.shape[0])))
loss = sum(p[0] for p in parts) / X.shape[0] + reg * np.sum(W * W)
dW = sum(p[1] for p in parts) / X.shape[0] + 2 * reg * W
""")})


def b_own_classifiers_init(ctx):
    files = ctx.solution()
    files[SOFTMAX] = softmax_py(vectorized="raise NotImplementedError()")
    files["cs231n/classifiers/__init__.py"] = (
        "from .linear_classifier import LinearClassifier, Softmax\n"
        "from .softmax import softmax_loss_naive\n"
        "from .softmax import softmax_loss_naive as softmax_loss_vectorized\n"
        "from . import softmax as _s\n"
        "_s.softmax_loss_vectorized = softmax_loss_naive\n")
    return ctx.notebook(), files


def _ridge(X, y, C, lam=10.0):
    Y = np.eye(C)[y]
    A = X.T @ X + lam * np.eye(X.shape[1])
    return np.linalg.solve(A, X.T @ Y)


def b_weights_as_py(ctx):
    from cs231n.data_utils import get_CIFAR10_data
    d = get_CIFAR10_data(cifar10_dir=str(ctx.data), dtype=np.float64)
    W = _ridge(d["X_train"], d["y_train"], 10)
    weights = "W = " + json.dumps(np.round(W, 5).tolist()) + "\n"
    nb = ctx.notebook(solved=False)
    set_sweep(nb, """
    from cs231n.classifiers.weights import W as _W
    best_softmax = Softmax(seed=0)
    best_softmax.W = np.array(_W, dtype=X_val.dtype)
    best_val = float(np.mean(np.argmax(X_val @ best_softmax.W, axis=1) == y_val))
    results = {(1e-6, 1e3): (best_val, best_val)}
    """)
    files = ctx.starter()
    files["cs231n/classifiers/weights.py"] = weights
    return nb, files


def b_fitted_on_val_test(ctx):
    nb = ctx.notebook(solved=False)
    set_sweep(nb, """
    Xf = np.vstack([X_val, X_test]).astype(np.float64)
    yf = np.concatenate([y_val, y_test])
    Yf = np.eye(10)[yf]
    Wf = np.linalg.solve(Xf.T @ Xf + 1e-3 * np.eye(Xf.shape[1]), Xf.T @ Yf)
    best_softmax = Softmax(seed=0)
    best_softmax.W = Wf.astype(X_val.dtype)
    best_val = float(np.mean(np.argmax(X_val @ best_softmax.W, axis=1) == y_val))
    results = {(lr, reg): (0.5, best_val) for lr in (1e-6, 2e-6) for reg in (1e3, 3e3)}
    """)
    return nb, ctx.starter()


VARIANTS = {
    # correct work, written differently: every automatic point
    "reference": Variant(b_reference, what="the solution as a student hands it in"),
    "list_returns": Variant(b_list_returns, what="both losses return [loss, dW]"),
    "einsum": Variant(b_einsum, what="vectorized loss with np.einsum"),
    "logsumexp": Variant(b_logsumexp, what="loss written as log-sum-exp minus the score"),
    "inplace_on_copies": Variant(b_inplace, what="in-place ufuncs on the new score matrix"),
    "helper_functions": Variant(b_helpers, what="module-level helpers for softmax and one-hot"),
    "all_over_arguments": Variant(b_all_finite,
                                  what="assert all(... for a in (W, X)) and a loop over a "
                                       "fixed tuple in the vectorized loss"),
    "float32": Variant(b_float32, what="vectorized loss computed and returned in float32"),
    "zero_d_loss": Variant(b_numpy_scalar, what="the loss returned as a 0-d numpy array"),
    "classifier_variants": Variant(b_classifier_variants,
                                   what="sample_batch with rng.choice, W = W - lr*grad, "
                                        "X.dot(W).argmax(1)"),
    "sample_batch_list": Variant(b_sample_list,
                                 what="sample_batch without replacement, returning a list"),
    "while_sweep": Variant(b_while_sweep, what="the sweep as one while loop"),
    "minimal_zip": Variant(b_minimal_zip, what="only the notebook and the two edited files"),
    "prints_a_lot": Variant(b_prints_a_lot, what="verbose training and 8,000 more lines"),
    "tqdm": Variant(b_tqdm, what="from tqdm import tqdm around the sweep"),
    "other_grid": Variant(b_other_grid, what="another sensible 2x2 grid"),
    "folder_in_zip": Variant(b_folder_in_zip, what="everything inside a softmax/ folder"),
    "broken_display": Variant(b_broken_display, note="not valid notebook output",
                              what="correct, plus display data that breaks nbformat"),
    # forgeries: no more than they earn
    "calls_naive": Variant(b_calls_naive, expected=13, correct=False,
                           what="vectorized loss calls the looped one"),
    "rebound": Variant(b_rebound, expected=13, correct=False,
                       what="softmax_loss_vectorized = softmax_loss_naive after the def"),
    "decorator": Variant(b_decorator, expected=13, correct=False,
                         what="a decorator that returns the naive loss"),
    "map_over_examples": Variant(b_map, expected=13, correct=False,
                                 what="map() of the naive loss over examples"),
    "own_classifiers_init": Variant(b_own_classifiers_init, expected=6, correct=False,
                                    note="cs231n/classifiers/__init__.py",
                                    what="vectorized stub left; own __init__.py swaps in "
                                         "the naive loss"),
    "weights_as_py": Variant(b_weights_as_py, expected=0, correct=False,
                             note="cs231n/classifiers/weights.py",
                             what="nothing implemented; a fitted W shipped as a .py file"),
    "fitted_on_val_test": Variant(b_fitted_on_val_test, expected=0, correct=False,
                                  what="nothing implemented; W fitted on val+test, results "
                                       "faked"),
}


def build_all(dist, folder, data):
    """Write one zip per variant into folder: softmax_<name>.zip (ids use '-' for '_')."""
    ctx = Ctx(dist, data)
    names = {}
    for name, variant in VARIANTS.items():
        built = variant.build(ctx)
        nb, files = built[0], built[1]
        sid = name.replace("_", "-")
        path = folder / f"softmax_{sid}.zip"
        if len(built) == 3:                     # the notebook under another path
            import zipfile
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(built[2], json.dumps(nb, indent=1))
                for key, text in files.items():
                    z.writestr(key, text)
        else:
            write_handin(path, nb, files)
        names[name] = sid
    return names


# ---- hand-ins aimed at the trusted phase (tests/test_trusted_phase_batch.py) ------------------
# The recorder is graded in the corpus's batch (tests/conftest.py's corpus_batch).
BEGIN = re.compile(r"(?m)^([ \t]*)### BEGIN SOLUTION\n")

# Remembers a fingerprint of every input (dtypes, shapes, a digest of the bytes, reg),
# printed as it comes, and answers as the solution does; when a problem comes again (the
# visible ones are asked in several cells), it raises with everything recorded so far:
# the hidden problems of the cell before would come back as a visible check's message.
RECORD_HEAD = """
import hashlib as _hashlib
import sys as _sys

_SEEN = []


def _record(*args):
    if "ipykernel" in _sys.modules:
        return
    parts = []
    for a in args:
        a = np.asarray(a)
        if a.ndim:
            digest = _hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:12]
            parts.append(f"{a.dtype}{list(a.shape)}#{digest}")
        else:
            parts.append(repr(a.item()))
    seen = "SEEN<" + "|".join(parts) + ">"
    if seen in _SEEN and len(_SEEN) > 1:
        raise ValueError("recorded inputs: " + " ".join(_SEEN))
    _SEEN.append(seen)
    if np.size(args[1]) < 10000:   # the problems, not the training minibatches
        print(seen, flush=True)
"""
RECORDERS = ("rec-a", "rec-b")   # two copies of the recorder: softmax_<id>.zip


def with_hook(text, head, call):
    """text with head after its numpy import and `call` first in every solution region."""
    if not call:
        return text
    text = text.replace("import numpy as np\n", "import numpy as np\n" + head + "\n", 1)
    return BEGIN.sub(lambda m: f"{m.group(0)}{m.group(1)}{call}\n", text)


def hooked_handin(ctx, path, head, call_softmax, call_classifier):
    """The solution with head and a call in every solution region of both student files."""
    files = ctx.solution()
    source = package_solution()
    files[SOFTMAX] = with_hook(source[SOFTMAX], head, call_softmax)
    files[CLASSIFIER] = with_hook(source[CLASSIFIER], head, call_classifier)
    write_handin(path, ctx.notebook(), files)


def recorder_handin(ctx, path):
    """The losses record (W, X, y, reg); the classifier is the solution's."""
    hooked_handin(ctx, path, RECORD_HEAD, "_record(W, X, y, reg)", "")
