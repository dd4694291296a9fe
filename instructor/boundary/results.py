"""Notebook-level results: saved as plain data in the student's kernel, judged outside.

After the notebook has run, the grader runs results_code(path) in the student's
kernel. It stores what the notebook left behind as numeric arrays in one `.npz`
(no pickle, no objects): whatever is missing or not numeric is recorded by name
with the reason, and nothing it does can fail the notebook. The trusted side then
calls load_results(path), which reads the file as hostile input (regular file
only, bounded sizes, every array through protocol.py's strict .npy decoder, no
np.load) and returns a NotebookResults with a value or None per field and the
reason for each None. The grader should recompute what it judges from these
numbers on its own data (e.g. the accuracy of best_W on its validation set): a
student's kernel can write any numbers it likes into this file.

Fields (notebook expression -> NotebookResults attribute, validation):
- best_val             -> best_val       float in [0, 1]
- test_accuracy        -> test_accuracy  float in [0, 1]
- loss_hist            -> loss_hist      (T,) float64, finite, T <= MAX_HISTORY
- softmax.W            -> softmax_W      (D, C) float, finite, D, C bounded
- best_softmax.W       -> best_W         (D, C) float, finite, D, C bounded
- y_test_pred          -> y_test_pred    (N,) integers
- results              -> results        dict {(lr, reg): (train_acc, val_acc)},
                                         accuracies in [0, 1], at most MAX_SETTINGS

API: results_code(path) -> str; load_results(path, w_shape=None, limits=...) ->
NotebookResults (never raises for bad content; .problems maps field -> reason).
"""
import dataclasses
import errno
import json
import os
import stat
import zipfile

import numpy as np

from . import protocol

MAX_FILE = 64 << 20
MAX_HISTORY = 1_000_000
MAX_SETTINGS = 1000
MAX_DIM = 100_000
FIELDS = ("best_val", "test_accuracy", "loss_hist", "softmax_W", "best_W", "y_test_pred",
          "results")

# Runs in the student's kernel: one function that leaves no names behind. It uses only
# numpy, converts every value to a plain numeric array and never raises.
_CODE = r'''
def __save_results(path):
    import json
    import numpy as np
    found, arrays, problems = globals(), {}, {}

    def lookup(key, name, attr=None):
        """The value, or None with the reason recorded under key."""
        what = f"{name}.{attr}" if attr else name
        if name not in found:
            problems[key] = f"{name} is not defined"
            return None
        value = found[name]
        if attr is not None:
            try:
                value = getattr(value, attr)
            except Exception as e:
                problems[key] = f"cannot read {what} ({type(e).__name__})"
                return None
        if value is None:
            problems[key] = f"{what} is None"
        return value

    for key, (name, attr) in {"best_val": ("best_val", None),
                              "test_accuracy": ("test_accuracy", None),
                              "loss_hist": ("loss_hist", None),
                              "softmax_W": ("softmax", "W"),
                              "best_W": ("best_softmax", "W"),
                              "y_test_pred": ("y_test_pred", None)}.items():
        value = lookup(key, name, attr)
        if value is None:
            continue
        try:
            a = np.asarray(value)
            if a.dtype.kind not in "biuf":
                a = np.asarray(value, dtype=np.float64)
            arrays[key] = np.ascontiguousarray(a)
        except Exception as e:
            problems[key] = f"{name} is not numeric ({type(e).__name__})"
    results = lookup("results", "results")
    if results is not None:
        try:
            items = sorted(dict(results).items())
            arrays["results_keys"] = np.asarray([k for k, _ in items], dtype=np.float64)
            arrays["results_values"] = np.asarray([v for _, v in items], dtype=np.float64)
        except Exception as e:
            problems["results"] = f"not a dict (lr, reg) -> (train, val) ({type(e).__name__})"
    meta = json.dumps({"problems": problems}).encode()
    arrays["__meta__"] = np.frombuffer(meta, dtype=np.uint8)
    try:
        np.savez(path, **arrays)
    except Exception as e:
        print(f"could not save the notebook's results: {type(e).__name__}")

try:
    __save_results(%r)
finally:
    del __save_results
'''


def results_code(path):
    """The code to run in the student's kernel after the notebook: it writes path."""
    if not str(path).endswith(".npz"):
        raise ValueError(f"results path must end in .npz, got {path!r}")
    return _CODE % str(path)


@dataclasses.dataclass
class NotebookResults:
    best_val: float = None
    test_accuracy: float = None
    loss_hist: np.ndarray = None
    softmax_W: np.ndarray = None
    best_W: np.ndarray = None
    y_test_pred: np.ndarray = None
    results: dict = None
    problems: dict = dataclasses.field(default_factory=dict)


def _read_members(path, limits):
    """{name: ndarray} from a .npz that must be a small, plain zip of .npy files."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_FILE:
            raise ValueError(f"{info.st_size} bytes; at most {MAX_FILE}")
        try:
            archive = zipfile.ZipFile(f)
        except zipfile.BadZipFile:
            raise ValueError("not an .npz file") from None
        with archive:
            members = archive.infolist()
            if len(members) > 2 * len(FIELDS) + 2:
                raise ValueError(f"{len(members)} members in the archive")
            out = {}
            for m in members:
                name = m.filename[:-4] if m.filename.endswith(".npy") else None
                if name is None or not (name in FIELDS or name in ("results_keys",
                                                                    "results_values",
                                                                    "__meta__")):
                    raise ValueError(f"unexpected member {m.filename[:60]!r}")
                if m.file_size > min(limits.max_array_bytes, MAX_FILE):
                    raise ValueError(f"member {name} declares {m.file_size} bytes")
                with archive.open(m) as member:
                    raw = member.read(m.file_size + 1)
                if len(raw) != m.file_size:
                    raise ValueError(f"member {name} is not the size it declares")
                out[name] = protocol.decode_npy(raw, limits, f"{name}")
            return out


def _scalar(a, low=0.0, high=1.0):
    if a.size != 1 or a.dtype.kind not in "iuf":
        raise ValueError(f"expected one number, got shape {a.shape} of {a.dtype}")
    value = float(a.reshape(()))
    if not np.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{value} is not in [{low}, {high}]")
    return value


def _floats(a, ndim, max_dims):
    if a.ndim != ndim or a.dtype.kind not in "iuf":
        raise ValueError(f"expected a {ndim}-D float array, got shape {a.shape} of {a.dtype}")
    if any(n > m for n, m in zip(a.shape, max_dims)) or 0 in a.shape:
        raise ValueError(f"shape {a.shape} is empty or too large")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("holds NaN or infinity")
    return a


def load_results(path, w_shape=None, limits=protocol.Limits()):
    """Validated NotebookResults from the file results_code wrote (untrusted)."""
    res = NotebookResults()
    try:
        data = _read_members(path, limits)
    except FileNotFoundError:
        res.problems = {f: "the results file was not written" for f in FIELDS}
        return res
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, OSError) and e.errno == errno.ELOOP:
            e = "a symbolic link"
        res.problems = {f: f"the results file is unusable: {str(e)[:200]}" for f in FIELDS}
        return res
    problems = {}
    meta = data.pop("__meta__", None)
    if meta is not None and meta.dtype == np.uint8 and meta.ndim == 1 and meta.size < 65536:
        try:
            reported = json.loads(meta.tobytes().decode("utf-8")).get("problems", {})
            for key, why in reported.items() if isinstance(reported, dict) else ():
                problems[str(key)[:100]] = str(why)[:300]
        except (ValueError, AttributeError):
            pass

    def take(field, check):
        if field not in data:
            problems.setdefault(field, "missing")
            return None
        try:
            return check(data[field])
        except ValueError as e:
            problems[field] = str(e)[:300]
            return None

    def weights(a):
        a = _floats(a, 2, (MAX_DIM, MAX_DIM))
        if w_shape is not None and a.shape != tuple(w_shape):
            raise ValueError(f"shape {a.shape}, expected {tuple(w_shape)}")
        return a

    def labels(a):
        if a.ndim != 1 or a.dtype.kind not in "iu" or a.size > 10 * MAX_DIM:
            raise ValueError(f"expected (N,) integer labels, got shape {a.shape} of {a.dtype}")
        return a.astype(np.int64)

    res.best_val = take("best_val", _scalar)
    res.test_accuracy = take("test_accuracy", _scalar)
    res.loss_hist = take("loss_hist", lambda a: _floats(a, 1, (MAX_HISTORY,)))
    res.softmax_W = take("softmax_W", weights)
    res.best_W = take("best_W", weights)
    res.y_test_pred = take("y_test_pred", labels)
    if "results_keys" in data and "results_values" in data:
        try:
            keys = _floats(data["results_keys"], 2, (MAX_SETTINGS, 2))
            values = _floats(data["results_values"], 2, (MAX_SETTINGS, 2))
            if keys.shape != values.shape or keys.shape[1] != 2:
                raise ValueError(f"keys {keys.shape} and values {values.shape} do not pair up")
            if np.any(values < 0) or np.any(values > 1):
                raise ValueError("an accuracy is outside [0, 1]")
            res.results = {(float(k[0]), float(k[1])): (float(v[0]), float(v[1]))
                           for k, v in zip(keys, values)}
        except ValueError as e:
            problems["results"] = str(e)[:300]
    else:
        problems.setdefault("results", "missing")
    res.problems = problems
    return res
