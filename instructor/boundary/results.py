"""Notebook-level results: saved as plain data in the student's kernel, judged outside.

After the notebook has run, the grader runs results_code(path, values) in the
student's kernel. It stores what the notebook left behind as numeric arrays in
one `.npz` (no pickle, no objects): whatever is missing or not numeric is
recorded by name with the reason, and nothing it does can fail the notebook.
The trusted side then calls load_results(path, values), which reads the file as
hostile input (regular file only, bounded sizes, every array through
protocol.py's strict .npy decoder, no np.load) and returns a NotebookResults
with a value or None per key and the reason for each None. The grader should
recompute what it judges from these numbers on its own data: a student's kernel
can write any numbers it likes into this file.

Which values, and how each is validated, comes from the assignment's spec: a
list of NotebookValue (key, variable, optional attribute, kind). The kinds:
- fraction  float in [0, 1]
- history   (T,) float64, finite, T <= MAX_HISTORY
- weights   (D, C) float, finite, D, C bounded (and of w_shape when given)
- labels    (N,) integers
- pairs     dict {(a, b): (c, d)} of numbers, c and d in [0, 1], at most MAX_SETTINGS

API: results_code(path, values) -> str; load_results(path, values, w_shape=None,
limits=...) -> NotebookResults (never raises for bad content; .problems maps
key -> reason); from_namespace(namespace, values) -> NotebookResults (in this
process, for tests and self checks).
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

# Runs in the student's kernel: one function that leaves no names behind. It uses only
# numpy, converts every value to a plain numeric array and never raises.
_CODE = r'''
def __save_results(path, table):
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

    for key, name, attr, kind in table:
        value = lookup(key, name, attr)
        if value is None:
            continue
        if kind == "pairs":
            try:
                items = sorted(dict(value).items())
                arrays[key + "__keys"] = np.asarray([k for k, _ in items], dtype=np.float64)
                arrays[key + "__values"] = np.asarray([v for _, v in items], dtype=np.float64)
            except Exception as e:
                problems[key] = f"not a dict of pairs of numbers ({type(e).__name__})"
            continue
        try:
            a = np.asarray(value)
            if a.dtype.kind not in "biuf":
                a = np.asarray(value, dtype=np.float64)
            arrays[key] = np.ascontiguousarray(a)
        except Exception as e:
            problems[key] = f"{name} is not numeric ({type(e).__name__})"
    meta = json.dumps({"problems": problems}).encode()
    arrays["__meta__"] = np.frombuffer(meta, dtype=np.uint8)
    try:
        np.savez(path, **arrays)
    except Exception as e:
        print(f"could not save the notebook's results: {type(e).__name__}")

try:
    __save_results(%r, %r)
finally:
    del __save_results
'''


def _table(values):
    return [(v.key, v.variable, v.attribute, v.kind) for v in values]


def _spec_values(values):
    if values is None:
        from instructor.assignment import spec
        values = spec().values
    return values


def results_code(path, values=None):
    """The code to run in the student's kernel after the notebook: it writes path.
    values: the NotebookValues to save (default: the assignment spec's)."""
    values = _spec_values(values)
    if not str(path).endswith(".npz"):
        raise ValueError(f"results path must end in .npz, got {path!r}")
    table = _table(values)
    for key, name, attr, _ in table:   # only plain names reach the kernel's code
        if not (key.isidentifier() and name.isidentifier()
                and (attr is None or attr.isidentifier())):
            raise ValueError(f"notebook value {key!r}: names must be identifiers")
    return _CODE % (str(path), table)


class NotebookResults:
    """The notebook's values by key (None when missing or invalid) and .problems, the
    reason for each missing one."""

    def __init__(self, problems=None, **values):
        self.__dict__.update(values)
        self.problems = dict(problems or {})

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        return None

    def __repr__(self):
        keys = sorted(k for k in self.__dict__ if k != "problems")
        return f"NotebookResults({', '.join(keys)}; problems: {sorted(self.problems)})"


def _read_members(path, limits, keys):
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
            allowed = set(keys) | {k + "__keys" for k in keys} | {k + "__values" for k in keys}
            allowed.add("__meta__")
            if len(members) > len(allowed):
                raise ValueError(f"{len(members)} members in the archive")
            out = {}
            for m in members:
                name = m.filename[:-4] if m.filename.endswith(".npy") else None
                if name is None or name not in allowed:
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


def load_results(path, values=None, w_shape=None, limits=protocol.MessageLimits()):
    """Validated NotebookResults from the file results_code wrote (untrusted)."""
    values = _spec_values(values)
    keys = [v.key for v in values]
    res = NotebookResults()
    try:
        data = _read_members(path, limits, keys)
    except FileNotFoundError:
        res.problems = {k: "the results file was not written" for k in keys}
        return res
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, OSError) and e.errno == errno.ELOOP:
            e = "a symbolic link"
        res.problems = {k: f"the results file is unusable: {str(e)[:200]}" for k in keys}
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
    for v in values:
        try:
            if v.kind == "pairs":
                if v.key + "__keys" not in data or v.key + "__values" not in data:
                    problems.setdefault(v.key, "missing")
                    continue
                value = _pairs(data[v.key + "__keys"], data[v.key + "__values"])
            elif v.key not in data:
                problems.setdefault(v.key, "missing")
                continue
            else:
                value = validate(v.kind, data[v.key], w_shape)
        except ValueError as e:
            problems[v.key] = str(e)[:300]
            continue
        setattr(res, v.key, value)
    res.problems = problems
    return res


def _weights(a, w_shape=None):
    a = _floats(a, 2, (MAX_DIM, MAX_DIM))
    if w_shape is not None and a.shape != tuple(w_shape):
        raise ValueError(f"shape {a.shape}, expected {tuple(w_shape)}")
    return a


def _labels(a):
    if a.ndim != 1 or a.dtype.kind not in "iu" or a.size > 10 * MAX_DIM:
        raise ValueError(f"expected (N,) integer labels, got shape {a.shape} of {a.dtype}")
    return a.astype(np.int64)


def _pairs(keys, values):
    keys = _floats(keys, 2, (MAX_SETTINGS, 2))
    values = _floats(values, 2, (MAX_SETTINGS, 2))
    if keys.shape != values.shape or keys.shape[1] != 2:
        raise ValueError(f"keys {keys.shape} and values {values.shape} do not pair up")
    if np.any(values < 0) or np.any(values > 1):
        raise ValueError("an accuracy is outside [0, 1]")
    return {(float(k[0]), float(k[1])): (float(v[0]), float(v[1])) for k, v in zip(keys, values)}


def validate(kind, a, w_shape=None):
    """One saved array checked as its kind says; raises ValueError."""
    if kind == "fraction":
        return _scalar(a)
    if kind == "history":
        return _floats(a, 1, (MAX_HISTORY,))
    if kind == "weights":
        return _weights(a, w_shape)
    if kind == "labels":
        return _labels(a)
    raise ValueError(f"unknown kind {kind!r}")


def from_namespace(namespace, values):
    """A NotebookResults from a notebook's variables, in this process (no file):
    numbers as floats, arrays as arrays, pairs as a dict of float pairs."""
    res, problems = NotebookResults(), {}
    for v in values:
        value = namespace.get(v.variable)
        if value is not None and v.attribute is not None:
            value = getattr(value, v.attribute, None)
        if value is None:
            problems[v.key] = f"{v.expression} is not set"
            continue
        try:
            if v.kind == "pairs":
                value = {tuple(map(float, k)): tuple(map(float, x)) for k, x in value.items()}
            elif v.kind == "fraction":
                value = float(value)
            else:
                value = np.asarray(value)
        except (ValueError, TypeError, AttributeError) as e:
            problems[v.key] = str(e)[:300]
            continue
        setattr(res, v.key, value)
    res.problems = problems
    return res
