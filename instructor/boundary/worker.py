"""The untrusted side: imports a student's package and answers requests.

    python -m instructor.boundary.worker --package-dir DIR --fds R,W [--log FILE] [--gate JSON]
    python path/to/worker.py --package-dir DIR --fds R,W [--log FILE] [--gate JSON]

Runs inside the sandbox, as its own process. It reads requests from the inherited
file descriptor R and writes answers to W (protocol.py frames). Before any
student code is imported, its own stdout and stderr (fd 1 and 2) go to a log
capped at --max-log bytes (or /dev/null) and stdin to /dev/null, so nothing
student code prints can be mistaken for an answer. It depends on nothing but
numpy and its neighbour files protocol.py and gate.py, so the sandbox needs to
show only these three files of the grader. With --gate '{"allowed": [...],
"message": "..."}' it installs the package gate (gate.py) before any student
code is imported, as the kernel that ran the notebook had it. It knows nothing of any assignment: requests name
the module and the function, or the class and the method, to call.

Requests (meta["op"]):
- ping -> {"pid": int}
- call: meta["target"] is {"module": "pkg.mod", "name": "function"} or
  {"module": "pkg.mod", "class": "Class", "init_args": [values], "init": {keywords},
  "state": {attribute: argument}, "method": "name"} (an object is made, its state
  attributes set, then the method is called); meta["args"] a list and
  meta["kwargs"] an object of arguments, each {"array": name} (an array of the
  message), {"value": json} or {"rng": bit generator state} (a numpy Generator,
  see encode_rng_state).
  -> result {"value": encoded return value (encode_value), "state": {attribute:
  encoded value after the call}, "rng": {argument position or keyword: the
  generator's advanced state}}, arrays of the encoded values, and under
  "after:NAME" every array argument the call changed in place.
Answers are {"ok": true, "result": {...}} or {"ok": false, "error": {"type",
"bases", "message", "traceback", "where"}}: "where" is "student" for an exception
raised while student code ran (traceback lists only frames in the package
folder), "request" for a request the worker could not understand. Arguments named
in meta["readonly"] are given to student code as read-only arrays, as the
caller's own were. The package is found only in the package folder, never on
the import path.
"""
import argparse
import importlib
import json
import importlib.machinery
import importlib.util
import os
import sys
import threading
import traceback

import numpy as np


def _load_neighbour(name):
    """A file beside this one (protocol.py, gate.py), loaded by path: neither this
    folder nor the grader's package is ever put on the import path of the process
    that imports student code."""
    if __package__:
        return importlib.import_module(f".{name}", __package__)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_boundary_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


protocol = _load_neighbour("protocol")

MAX_MESSAGE = 2000        # characters of an exception message sent back
MAX_FRAMES = 12           # traceback lines sent back
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


def _text(value, what, limit=200):
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadRequest(f"{what} must be a short string")
    return value


class Worker:
    """Imports modules of the student's package on demand and calls what requests name."""

    def __init__(self, package_dir):
        self.package_dir = os.path.realpath(package_dir)
        self._registered = set()

    def module(self, dotted):
        """The module `dotted` of a package in the package folder (imported once)."""
        parts = _text(dotted, "module").split(".")
        if not all(p.isidentifier() for p in parts):
            raise BadRequest(f"not a module name: {dotted[:100]!r}")
        with student_code():
            if parts[0] not in self._registered:
                register_package(self.package_dir, parts[0])
                self._registered.add(parts[0])
            return importlib.import_module(dotted)

    def handle(self, meta, arrays):
        op = meta.get("op") if isinstance(meta, dict) else None
        if op == "ping":
            return {"pid": os.getpid()}, {}
        if op != "call":
            raise BadRequest(f"unknown operation {op!r}")
        readonly = meta.get("readonly", [])
        for name in readonly if isinstance(readonly, list) else []:
            if name in arrays:
                arrays[name].flags.writeable = False
        return self.call(meta, arrays)

    def _argument(self, spec, arrays, rngs, key):
        if not isinstance(spec, dict) or len(spec) != 1:
            raise BadRequest("an argument must be {array|value|rng: ...}")
        (kind, value), = spec.items()
        if kind == "value":
            return value
        if kind == "array":
            if value not in arrays:
                raise BadRequest(f"missing array {value!r}")
            return arrays[value]
        if kind == "rng":
            rngs[key] = make_generator(value)
            return rngs[key]
        raise BadRequest(f"unknown argument kind {kind!r}")

    def call(self, meta, arrays):
        """Call a function or a method named by meta["target"] with meta["args"] and
        meta["kwargs"]; answer with the encoded return value, the generators' new
        states, an object's state attributes and the array arguments changed in place."""
        target = meta.get("target")
        if not isinstance(target, dict):
            raise BadRequest("target must be an object")
        args, kwargs = meta.get("args", []), meta.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise BadRequest("args must be a list and kwargs an object")
        inputs = {k: v for k, v in arrays.items() if not k.startswith("state:")}
        before = {k: v.copy() for k, v in inputs.items()}
        rngs = {}
        pos = [self._argument(a, arrays, rngs, str(i)) for i, a in enumerate(args)]
        named = {_text(k, "keyword"): self._argument(a, arrays, rngs, k)
                 for k, a in kwargs.items()}
        module = self.module(target.get("module"))
        state = target.get("state", {})
        if not (isinstance(state, dict) and all(n.isidentifier() for n in state)):
            raise BadRequest("state must map attribute names to arguments")
        state = {n: self._argument(a, arrays, rngs, "state:" + n) for n, a in state.items()}
        obj = None
        with student_code():
            if "class" in target:
                cls = getattr(module, _text(target["class"], "class"))
                init, init_args = target.get("init", {}), target.get("init_args", [])
                if not isinstance(init, dict) or not isinstance(init_args, list):
                    raise BadRequest("init must be an object and init_args a list")
                obj = cls(*init_args, **init)
                for name, value in state.items():
                    setattr(obj, name, value)
                fn = getattr(obj, _text(target.get("method"), "method"))
            else:
                fn = getattr(module, _text(target.get("name"), "name"))
            value = fn(*pos, **named)
        out, result = {}, {}
        result["value"] = encode_value(value, out, "ret")
        if obj is not None:
            result["state"] = {}
            for name in state:
                with student_code():
                    attr = getattr(obj, name, None)
                result["state"][name] = encode_value(attr, out, "state:" + name)
        result["rng"] = {k: encode_rng_state(g.bit_generator.state) for k, g in rngs.items()}
        for name, a in inputs.items():
            if not _same_bytes(a, before[name]):
                out["after:" + name] = a
        return result, out


MAX_ITEMS = 12       # items of a tuple or list sent one by one, and arrays in one value
MAX_DEPTH = 3        # nesting of tuples and lists sent
MAX_TEXT = 200       # characters of a returned string


def _numeric_array(value):
    """value as a plain numeric ndarray, or None."""
    try:
        a = np.asarray(value)
    except Exception:
        return None
    if a.dtype.kind not in protocol.ALLOWED_KINDS or a.dtype.hasobject:
        return None
    return a


def encode_value(value, arrays, name, depth=0):
    """Whatever student code returned, as JSON-safe data plus arrays in `arrays`: numbers,
    None, short strings, numpy scalars and arrays, tuples and lists of these. Anything
    else is described by its type name only; the trusted side judges the result."""
    if value is None:
        return {"t": "none"}
    if type(value) is bool:
        return {"t": "bool", "v": value}
    if type(value) is int:
        if abs(value) < 1 << 62:
            return {"t": "int", "v": value}
        return {"t": "float", "v": float(value)}
    if type(value) is float:
        return {"t": "float", "v": value}
    if type(value) is str:
        return {"t": "str", "v": value[:MAX_TEXT]}
    if isinstance(value, (np.generic, np.ndarray)) and len(arrays) < MAX_ITEMS:
        a = _numeric_array(value)
        if a is not None:
            arrays[name] = a if a.flags.c_contiguous else a.copy(order="C")
            return {"t": "scalar" if isinstance(value, np.generic) else "array", "a": name}
    if type(value) in (tuple, list):
        kind = type(value).__name__
        if len(value) <= MAX_ITEMS and depth < MAX_DEPTH:
            items = [encode_value(v, arrays, f"{name}.{i}", depth + 1)
                     for i, v in enumerate(value)]
            if sum(1 for i in items if i["t"] in ("scalar", "array")) <= MAX_ITEMS:
                return {"t": kind, "items": items}
        a = _numeric_array(value)   # a long sequence of numbers, sent as one array
        if a is not None and a.ndim >= 1 and len(arrays) < MAX_ITEMS:
            arrays[name] = np.ascontiguousarray(a)
            return {"t": kind, "packed": name}
    return {"t": "object", "type": type(value).__name__[:100]}


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
        if exc is not None and not isinstance(exc, (StudentRaised, BadRequest)):
            # anything, SystemExit and KeyboardInterrupt included
            raise StudentRaised(exc) from exc
        return False


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


def serve(read_fd, write_fd, package_dir, limits=protocol.MessageLimits()):
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
                        help="folder that holds the student's package")
    parser.add_argument("--fds", required=True, help="R,W: request and answer descriptors")
    parser.add_argument("--log", help="file for what student code prints (default: dropped)")
    parser.add_argument("--max-log", type=int, default=1 << 20, help="bytes of log kept")
    parser.add_argument("--gate", help='JSON {"allowed": [modules], "message": text}: the '
                                       "installed packages student code may import")
    args = parser.parse_args(argv)
    read_fd, write_fd = (int(x) for x in args.fds.split(","))
    log_thread = isolate_stdio(args.log, args.max_log)
    package_dir = os.path.realpath(args.package_dir)
    if args.gate:
        gate = json.loads(args.gate)
        _load_neighbour("gate").install(gate["allowed"], gate["message"])
    # Student modules come from the package folder only (register_package), never from
    # ours: the worker runs with `python -I`, so its own folder is not on the path.
    serve(read_fd, write_fd, package_dir)
    finish_log(log_thread)
    # Threads student code left running must not keep the worker alive.
    os._exit(0)


if __name__ == "__main__":
    main()
