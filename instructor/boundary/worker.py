"""The untrusted side: imports a student's cs231n package and answers requests.

    python -m instructor.boundary.worker --package-dir DIR --fds R,W [--log FILE]
    python path/to/worker.py --package-dir DIR --fds R,W [--log FILE]

Runs inside the sandbox, as its own process. It reads requests from the inherited
file descriptor R and writes answers to W (protocol.py frames). Before any
student code is imported, its own stdout and stderr (fd 1 and 2) go to a log
capped at --max-log bytes (or /dev/null) and stdin to /dev/null, so nothing
student code prints can be mistaken for an answer. It depends on nothing but
numpy and protocol.py (its neighbour file), so the sandbox needs to show only
these two files of the grader.

Requests (meta["op"], scalar arguments in meta["args"], arrays by name):
- ping                                    -> {"pid": int}
- softmax_loss_naive / softmax_loss_vectorized:
      arrays W, X, y; args reg            -> args loss; arrays dW, and under
      "after:W", "after:X", "after:y" the argument arrays that the call changed
- sample_batch: arrays X, y; args batch_size, rng (a bit generator state, see
      encode_rng_state)                   -> arrays X_batch, y_batch (absent = None),
      args rng (the advanced state), after:X / after:y as above
- train: arrays X, y, W (optional); args seed, learning_rate, reg, num_iters,
      batch_size, verbose, warm_start (optional)
                                          -> arrays loss_history (float64), W,
                                             after:X / after:y
- predict: arrays X, W (optional)        -> arrays y_pred, after:X
Answers are {"ok": true, "result": {...}} or {"ok": false, "error": {"type",
"bases", "message", "traceback", "where"}}: "where" is "student" for an exception
raised while student code ran (traceback lists only frames in the package
folder), "request" for a request the worker could not understand. Arguments named
in meta["readonly"] are given to student code as read-only arrays, as the
caller's own were.
"""
import argparse
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
import traceback

import numpy as np


def _load_protocol():
    """protocol.py, the file beside this one, loaded by path: neither this folder nor
    the grader's package is ever put on the import path of the process that imports
    student code."""
    if __package__:
        return importlib.import_module(".protocol", __package__)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol.py")
    spec = importlib.util.spec_from_file_location("_boundary_protocol", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


protocol = _load_protocol()

MAX_MESSAGE = 2000        # characters of an exception message sent back
MAX_FRAMES = 12           # traceback lines sent back
LOSS_OPS = ("softmax_loss_naive", "softmax_loss_vectorized")
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class BadRequest(Exception):
    """A request this worker does not understand (not the student's fault)."""


# ---- random generator state as plain data --------------------------------------------------
def encode_rng_state(state):
    """bit_generator.state (may hold uint arrays) -> JSON-safe data."""
    if isinstance(state, dict):
        return {k: encode_rng_state(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return {"__ndarray__": state.tolist(), "dtype": state.dtype.str}
    if isinstance(state, (np.integer,)):
        return int(state)
    return state


def decode_rng_state(data):
    if isinstance(data, dict):
        if set(data) == {"__ndarray__", "dtype"}:
            dtype = np.dtype(data["dtype"])
            if dtype.kind not in "iu":
                raise BadRequest(f"rng state array of dtype {dtype}")
            return np.array(data["__ndarray__"], dtype=dtype)
        return {k: decode_rng_state(v) for k, v in data.items()}
    return data


def make_generator(state):
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in BIT_GENERATORS:
        raise BadRequest(f"unsupported bit generator {name!r}")
    bit_gen = getattr(np.random, name)()
    bit_gen.state = decode_rng_state(state)
    return np.random.Generator(bit_gen)


# ---- the worker ----------------------------------------------------------------------------
PACKAGE = "cs231n"


def register_package(package_dir, name):
    """Make `import name` (and its submodules) find package_dir/name and nothing else,
    without touching sys.path: the package is put into sys.modules from its folder."""
    folder = os.path.join(package_dir, name)
    if not os.path.isdir(folder):
        raise ModuleNotFoundError(f"No module named {name!r} (no folder {name}/ in the hand-in)",
                                  name=name)
    init = os.path.join(folder, "__init__.py")
    if os.path.isfile(init):
        spec = importlib.util.spec_from_file_location(name, init,
                                                      submodule_search_locations=[folder])
    else:  # a folder without __init__.py: a namespace package, as Python would make it
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [folder]
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


class Worker:
    def __init__(self, package_dir):
        self.package_dir = os.path.realpath(package_dir)
        self._modules = None

    def modules(self):
        """(softmax module, classifiers package), imported on first use so that an
        import error is reported as the answer to a request."""
        if self._modules is None:
            with student_code():
                register_package(self.package_dir, PACKAGE)
                softmax = importlib.import_module("cs231n.classifiers.softmax")
                classifiers = importlib.import_module("cs231n.classifiers")
            self._modules = (softmax, classifiers)
        return self._modules

    def handle(self, meta, arrays):
        op = meta.get("op") if isinstance(meta, dict) else None
        args = meta.get("args", {}) if isinstance(meta, dict) else {}
        if not isinstance(args, dict):
            raise BadRequest("args must be an object")
        readonly = meta.get("readonly", [])
        for name in readonly if isinstance(readonly, list) else []:
            if name in arrays:
                arrays[name].flags.writeable = False
        if op == "ping":
            return {"pid": os.getpid()}, {}
        if op in LOSS_OPS:
            return self.loss(op, args, arrays)
        if op == "sample_batch":
            return self.sample_batch(args, arrays)
        if op == "train":
            return self.train(args, arrays)
        if op == "predict":
            return self.predict(arrays)
        raise BadRequest(f"unknown operation {op!r}")

    @staticmethod
    def _need(arrays, *names):
        missing = [n for n in names if n not in arrays]
        if missing:
            raise BadRequest(f"missing arrays: {', '.join(missing)}")
        return [arrays[n] for n in names]

    @staticmethod
    def _changed(before, arrays, names):
        """The arguments that student code modified in place, to mirror them back."""
        out = {}
        for name in names:
            if not _same_bytes(arrays[name], before[name]):
                out["after:" + name] = arrays[name]
        return out

    def loss(self, op, args, arrays):
        W, X, y = self._need(arrays, "W", "X", "y")
        before = {n: arrays[n].copy() for n in ("W", "X", "y")}
        module = self.modules()[0]
        with student_code():
            result = getattr(module, op)(W, X, y, args.get("reg"))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise StudentResult(f"{op} must return a tuple (loss, dW), got {_describe(result)}")
        loss, dW = result
        out = self._changed(before, arrays, ("W", "X", "y"))
        dW = _as_array(dW, f"{op} returned dW")
        if dW is not None:
            out["dW"] = dW
        return {"loss": _as_number(loss, f"{op} returned loss")}, out

    def sample_batch(self, args, arrays):
        X, y = self._need(arrays, "X", "y")
        before = {n: arrays[n].copy() for n in ("X", "y")}
        rng = make_generator(args.get("rng"))
        classifiers = self.modules()[1]
        with student_code():
            result = classifiers.Softmax().sample_batch(X, y, args.get("batch_size"), rng)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise StudentResult(f"sample_batch must return a tuple (X_batch, y_batch), "
                                f"got {_describe(result)}")
        out = self._changed(before, arrays, ("X", "y"))
        for name, value in zip(("X_batch", "y_batch"), result):
            value = _as_array(value, f"sample_batch returned {name}")
            if value is not None:
                out[name] = value
        return {"rng": encode_rng_state(rng.bit_generator.state)}, out

    def train(self, args, arrays):
        X, y = self._need(arrays, "X", "y")
        before = {n: arrays[n].copy() for n in ("X", "y")}
        classifiers = self.modules()[1]
        with student_code():
            clf = classifiers.Softmax(seed=args.get("seed"))
        if "W" in arrays:
            clf.W = arrays["W"]
        kwargs = {k: args[k] for k in ("learning_rate", "reg", "num_iters", "batch_size",
                                       "verbose") if k in args}
        if "warm_start" in args:
            kwargs["warm_start"] = args["warm_start"]
        with student_code():
            history = clf.train(X, y, **kwargs)
        out = self._changed(before, arrays, ("X", "y"))
        if history is not None:
            try:
                out["loss_history"] = np.asarray([float(v) for v in history], dtype=np.float64)
            except (TypeError, ValueError):
                raise StudentResult("train must return a list of floats, got "
                                    f"{_describe(history)}") from None
        W = _as_array(clf.W, "train left W as")
        if W is not None:
            out["W"] = W
        return {"history_is_none": history is None}, out

    def predict(self, arrays):
        (X,) = self._need(arrays, "X")
        before = {"X": X.copy()}
        classifiers = self.modules()[1]
        with student_code():
            clf = classifiers.Softmax()
            clf.W = arrays.get("W")
            y_pred = clf.predict(X)
        out = self._changed(before, arrays, ("X",))
        y_pred = _as_array(y_pred, "predict returned")
        if y_pred is not None:
            out["y_pred"] = y_pred
        return {}, out


def _same_bytes(a, b):
    """Bit for bit equal (so 0.0 -> -0.0 and NaN payloads count as changes)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    try:
        return np.array_equal(a.reshape(-1).view(np.uint8), b.reshape(-1).view(np.uint8))
    except ValueError:  # not contiguous any more
        return a.tobytes() == b.tobytes()


class StudentResult(Exception):
    """What student code returned cannot be sent back (an object, a string, ...)."""


class StudentRaised(Exception):
    """Wraps an exception raised while student code ran."""

    def __init__(self, exc):
        super().__init__()
        self.exc = exc


class student_code:
    """Exceptions raised inside are the student's: error_answer shows their frames."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None:   # anything, SystemExit and KeyboardInterrupt included
            raise StudentRaised(exc) from exc
        return False


def _describe(value):
    return f"an object of type {type(value).__name__}"


def _as_number(value, what):
    """A Python float (the proxy returns float(loss), as the contract says)."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        value = value.item()
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise StudentResult(f"{what} {_describe(value)}, not a number")


def _as_array(value, what):
    if value is None:
        return None
    try:
        a = np.asarray(value)
    except Exception:
        raise StudentResult(f"{what} {_describe(value)}, not an array") from None
    if a.dtype.kind not in protocol.ALLOWED_KINDS or a.dtype.hasobject:
        raise StudentResult(f"{what} an array of dtype {a.dtype}, not numbers")
    return a


def _safe_str(exc):
    try:
        text = str(exc)
    except Exception:
        text = "<the message could not be read>"
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + f"... [{len(text) - MAX_MESSAGE} more characters]"
    return text


def error_answer(exc, package_dir):
    """The answer for an exception: its name, message and the student's frames only."""
    where = "student"
    if isinstance(exc, StudentRaised):
        exc = exc.exc
    elif not isinstance(exc, StudentResult):
        where = "request"   # raised by the worker itself: a bad request or an import
    if isinstance(exc, StudentResult):
        kind, bases = "TypeError", ["TypeError"]
    else:
        kind = type(exc).__name__
        # The built-in classes it derives from, so the client can rebuild one that
        # `except NotImplementedError` (or ValueError, ...) still catches.
        bases = [c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"]
    lines = []
    root = package_dir.rstrip(os.sep) + os.sep
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.realpath(frame.filename)
        if path.startswith(root):
            code = (frame.line or "").strip()[:200]
            lines.append(f"{os.path.relpath(path, package_dir)}:{frame.lineno} in "
                         f"{frame.name}: {code}")
    if lines:
        where = "student"   # e.g. an import of the student's package that failed
    return {"ok": False, "error": {"type": kind[:100], "bases": bases,
                                   "message": _safe_str(exc), "traceback": lines[-MAX_FRAMES:],
                                   "where": where}}


# ---- process set-up ------------------------------------------------------------------------
def _capped_log(path, max_bytes):
    """A pipe whose reader thread keeps the first max_bytes of what is written to it."""
    read_fd, write_fd = os.pipe()

    def drain():
        kept = 0
        with open(read_fd, "rb", buffering=0) as src, open(path, "ab") as dst:
            while True:
                chunk = src.read(65536)
                if not chunk:
                    return
                if kept < max_bytes:
                    dst.write(chunk[:max_bytes - kept])
                    dst.flush()
                    kept += len(chunk)
    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    return write_fd, thread


def isolate_stdio(log_path=None, max_log=1 << 20):
    """fd 0 from /dev/null; fd 1 and 2 to the capped log (or /dev/null). Returns
    the log's reader thread (or None), for finish_log()."""
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    target, thread = _capped_log(log_path, max_log) if log_path else (null, None)
    os.dup2(target, 1)
    os.dup2(target, 2)
    if target != null:
        os.close(target)
    os.close(null)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    return thread


def finish_log(thread, wait=2.0):
    """Close our ends of the log pipe and let the reader write what is left (unless
    student code kept a copy of the pipe open: then give up after `wait` s)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    if thread is not None:
        thread.join(wait)


def serve(read_fd, write_fd, package_dir, limits=protocol.Limits()):
    """Answer requests until the other side closes the stream."""
    # Our own copies of the protocol stream, as file objects that student code is not
    # handed; it could still find them, but then it only forges its own answers.
    rfile = os.fdopen(read_fd, "rb", buffering=0)
    wfile = os.fdopen(write_fd, "wb", buffering=0)

    def read_exact(n):
        chunks, got = [], 0
        while got < n:
            chunk = rfile.read(min(n - got, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    worker = Worker(package_dir)
    while True:
        try:
            meta, arrays = protocol.read_message(read_exact, limits)
        except protocol.Closed:
            return
        try:
            result, out = worker.handle(meta, arrays)
            frame = protocol.encode({"ok": True, "result": result}, out, limits)
        except BaseException as e:  # noqa: BLE001 - student code may raise anything
            frame = protocol.encode(error_answer(e, worker.package_dir))
        wfile.write(frame)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-dir", required=True,
                        help="folder that holds the student's cs231n package")
    parser.add_argument("--fds", required=True, help="R,W: request and answer descriptors")
    parser.add_argument("--log", help="file for what student code prints (default: dropped)")
    parser.add_argument("--max-log", type=int, default=1 << 20, help="bytes of log kept")
    args = parser.parse_args(argv)
    read_fd, write_fd = (int(x) for x in args.fds.split(","))
    log_thread = isolate_stdio(args.log, args.max_log)
    package_dir = os.path.realpath(args.package_dir)
    # Student modules come from the package folder only (register_package), never from
    # ours: the worker runs with `python -I`, so its own folder is not on the path.
    serve(read_fd, write_fd, package_dir)
    finish_log(log_thread)
    # Threads student code left running must not keep the worker alive.
    os._exit(0)


if __name__ == "__main__":
    main()
