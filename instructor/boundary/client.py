"""The trusted side of the boundary: start the worker, ask, validate every answer.

    client = WorkerClient(package_dir, launcher=jail_prefix, timeout=60)
    loss_fn = client.function("softmax_loss_naive")    # (W, X, y, reg) -> (float, ndarray)
    X_batch, y_batch = client.sample_batch(X, y, 200, rng)
    clf = client.make_classifier(seed=0)               # .train(...), .W, .predict(X)
    client.close()                                     # or use `with WorkerClient(...)`

The proxies follow the calling contract of the checks exactly: in-place changes
that student code makes to array arguments are copied back into the caller's
arrays; sample_batch advances the caller's Generator by the state the worker
reports; an exception raised by student code is raised here as a StudentError
subclass that carries the student's type name (type(e).__name__), message and
short traceback, and that also derives from the matching built-in class
(NotImplementedError, ValueError, ...), so `except NotImplementedError` works.

WorkerClient(package_dir, launcher=(), python=sys.executable, timeout=60,
             memory_bytes=4 GiB, cpu_seconds=None, log_path=None, env=None,
             preexec_fn=None, cwd=None, limits=protocol.Limits())
- launcher: argv prefix put before the worker's command (a bwrap command from
  jail.py); the worker and package paths must be visible at the same place inside.
- timeout: seconds of wall time per call; on a timeout or a crash the worker is
  killed (its whole process group) and the call raises WorkerTimeout or
  WorkerCrashed naming the function; the next call starts a fresh worker.
- memory_bytes, cpu_seconds: RLIMIT_AS and RLIMIT_CPU of the launched process
  (cpu_seconds over the worker's life); no core dumps.
- preexec_fn: run in the child before the launcher (jail.py's limits), after ours.
- log_path: where the worker keeps the first MiB of what student code prints; in
  a jail it must be a path the jail can write (its work folder, then collect it).
Errors: BoundaryError (base), WorkerTimeout, WorkerCrashed, InvalidAnswer (the
answer is not what was asked: e.g. dW not of W's shape), StudentError.
"""
import builtins
import os
import resource
import select
import signal
import subprocess
import sys
import time

import numpy as np

from . import protocol

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
PROTOCOL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "protocol.py")
LOSS_FUNCTIONS = ("softmax_loss_naive", "softmax_loss_vectorized")


class BoundaryError(RuntimeError):
    """Talking to the sandboxed worker failed (not an exception of student code)."""


class WorkerTimeout(BoundaryError):
    pass


class WorkerCrashed(BoundaryError):
    pass


class InvalidAnswer(BoundaryError):
    pass


class StudentError(Exception):
    """An exception raised by student code, rebuilt from data: type_name, message,
    student_traceback (list of 'file:line in function: code')."""

    def __init__(self, type_name, message, student_traceback=()):
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.student_traceback = list(student_traceback)

    def __str__(self):
        return self.message


_CLASSES = {}


def student_exception(error):
    """The exception to raise for the worker's error answer (validated first)."""
    if not isinstance(error, dict):
        raise InvalidAnswer("malformed error answer")
    name = error.get("type")
    message = error.get("message")
    lines = error.get("traceback", [])
    bases = error.get("bases", [])
    if not (isinstance(name, str) and isinstance(message, str) and isinstance(lines, list)
            and isinstance(bases, list) and all(isinstance(s, str) for s in lines + bases)):
        raise InvalidAnswer("malformed error answer")
    if not name.isidentifier() or len(name) > 100:
        name = "StudentError"
    # The first built-in class in the student's exception's lineage that can be
    # rebuilt with a message alone; never BaseException-only ones (SystemExit,
    # KeyboardInterrupt), which would stop the grader itself.
    candidates = [getattr(builtins, b, None) for b in bases[:20]]
    candidates = [c for c in candidates if isinstance(c, type) and issubclass(c, Exception)
                  and c is not Exception] + [None]
    message, lines = message[:4000], [s[:300] for s in lines[:20]]
    for base in candidates:
        key = (name, base)
        try:
            if key not in _CLASSES:
                parents = (StudentError,) if base is None else (StudentError, base)
                cls = type(name, parents, {"__init__": StudentError.__init__,
                                           "__str__": StudentError.__str__})
                cls.__module__ = "student"
                _CLASSES[key] = cls
            return _CLASSES[key](name, message, lines)
        except TypeError:  # a base that needs other arguments (UnicodeDecodeError, ...)
            _CLASSES.pop(key, None)
    raise AssertionError("unreachable: StudentError alone always builds")


def _number_array(a, what):
    a = np.asarray(a)
    if a.dtype.kind not in protocol.ALLOWED_KINDS or a.dtype.hasobject:
        raise TypeError(f"{what} must be a numeric array, got dtype {a.dtype}")
    return a


def _scalar(value, what):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    if value is not None and not isinstance(value, (int, float, bool)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    return value


class WorkerClient:
    def __init__(self, package_dir, launcher=(), python=sys.executable, timeout=60.0,
                 memory_bytes=4 << 30, cpu_seconds=None, log_path=None, env=None,
                 preexec_fn=None, cwd=None, limits=protocol.Limits()):
        self.package_dir = os.path.abspath(package_dir)
        if not os.path.isdir(os.path.join(self.package_dir, "cs231n")):
            raise FileNotFoundError(f"no cs231n package in {self.package_dir}")
        self.launcher = list(launcher)
        self.python = python
        self.timeout = float(timeout)
        self.memory_bytes = memory_bytes
        self.cpu_seconds = cpu_seconds
        self.log_path = log_path
        self.env = env
        self.preexec_fn = preexec_fn
        self.cwd = cwd or self.package_dir
        self.limits = limits
        self.proc = None
        self.restarts = 0

    # ---- process ----------------------------------------------------------------------------
    def _limits_in_child(self):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        if self.cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds + 1))
        if self.preexec_fn:
            self.preexec_fn()

    def start(self):
        if self.proc is not None:
            return
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        cmd = [*self.launcher, self.python, "-I", "-B", WORKER_PATH,
               "--package-dir", self.package_dir, "--fds", f"{req_r},{ans_w}"]
        if self.log_path:
            cmd += ["--log", os.path.abspath(self.log_path)]
        env = self.env if self.env is not None else {
            "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=(req_r, ans_w), close_fds=True, env=env,
                cwd=self.cwd, start_new_session=True, preexec_fn=self._limits_in_child)
        except BaseException:
            os.close(req_w)
            os.close(ans_r)
            raise
        finally:
            os.close(req_r)
            os.close(ans_w)
        self._req, self._ans = req_w, ans_r
        os.set_blocking(self._req, False)
        os.set_blocking(self._ans, False)

    def _kill(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for fd in (self._req, self._ans):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.kill()
        proc.wait()

    def close(self):
        """Stop the worker: close its request stream (it exits), then make sure."""
        proc = self.proc
        if proc is None:
            return
        try:
            os.close(self._req)
            self._req = -1
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- one call ---------------------------------------------------------------------------
    def _fail(self, name, what):
        status = None
        if what != "timeout" and self.proc is not None:
            try:  # the answer stream closed: the process is exiting, collect its status
                status = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        self.restarts += 1
        if what == "timeout":
            raise WorkerTimeout(f"{name} did not finish within {self.timeout:g} s: the worker "
                                "was stopped (a fresh one serves the next call)")
        if status == -signal.SIGXCPU:
            why = f"it used up its CPU time limit of {self.cpu_seconds} s"
        else:
            why = f"os._exit, a crash, or the memory limit of {self.memory_bytes >> 20} MB"
        detail = f" (exit status {status})" if status is not None else ""
        raise WorkerCrashed(f"{name}: the worker died{detail}: {why}")

    def call(self, name, meta, arrays):
        """Send one request; return (result dict, arrays) or raise (see module doc)."""
        self.start()
        deadline = time.monotonic() + self.timeout
        frame = protocol.encode(meta, arrays, self.limits)
        view, sent = memoryview(frame), 0
        while sent < len(view):
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(name, "timeout")
            _, writable, _ = select.select([], [self._req], [], left)
            if writable:
                try:
                    sent += os.write(self._req, view[sent:sent + (1 << 20)])
                except BrokenPipeError:
                    self._fail(name, "crash")

        def read_exact(n):
            chunks, got = [], 0
            while got < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail(name, "timeout")
                readable, _, _ = select.select([self._ans], [], [], left)
                if not readable:
                    continue
                chunk = os.read(self._ans, min(n - got, 1 << 20))
                if not chunk:
                    if got == 0 and n == 12:
                        self._fail(name, "crash")
                    break
                chunks.append(chunk)
                got += len(chunk)
            return b"".join(chunks)

        try:
            answer, out = protocol.read_message(read_exact, self.limits)
        except protocol.ProtocolError as e:
            self._kill()
            self.restarts += 1
            raise InvalidAnswer(f"{name}: the worker's answer is malformed ({e})") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            raise InvalidAnswer(f"{name}: the worker's answer is malformed")
        if not answer["ok"]:
            error = answer.get("error")
            if isinstance(error, dict) and error.get("where") == "request":
                raise BoundaryError(f"{name}: the worker rejected the request: "
                                    f"{error.get('type')}: {str(error.get('message'))[:500]}")
            raise student_exception(error)
        result = answer.get("result")
        if not isinstance(result, dict):
            raise InvalidAnswer(f"{name}: the worker's answer has no result")
        return result, out

    # ---- validation helpers -----------------------------------------------------------------
    @staticmethod
    def _mirror(name, out, args):
        """Copy in-place changes reported by the worker into the caller's arrays."""
        for key, new in out.items():
            if not key.startswith("after:"):
                continue
            arg = key[len("after:"):]
            if arg not in args:
                raise InvalidAnswer(f"{name}: the answer reports a change to unknown {arg!r}")
            target = args[arg]
            if new.shape != target.shape or new.dtype != target.dtype:
                raise InvalidAnswer(f"{name} changed the shape or dtype of {arg} in place "
                                    f"({target.shape} {target.dtype} -> {new.shape} {new.dtype})")
            np.copyto(target, new)

    @staticmethod
    def _only(name, out, allowed):
        extra = [k for k in out if k not in allowed and not k.startswith("after:")]
        if extra:
            raise InvalidAnswer(f"{name}: unexpected arrays in the answer: {extra}")

    @staticmethod
    def _readonly(**arrays):
        return [k for k, a in arrays.items() if not a.flags.writeable]

    # ---- the contract -----------------------------------------------------------------------
    def function(self, name):
        """A proxy for softmax_loss_naive or softmax_loss_vectorized."""
        if name not in LOSS_FUNCTIONS:
            raise ValueError(f"no proxy for {name!r}; choose one of {LOSS_FUNCTIONS}")
        client = self

        def loss_fn(W, X, y, reg):
            W, X, y = (_number_array(a, n) for a, n in ((W, "W"), (X, "X"), (y, "y")))
            args = {"W": W, "X": X, "y": y}
            result, out = client.call(name, {"op": name, "args": {"reg": _scalar(reg, "reg")},
                                             "readonly": client._readonly(**args)}, args)
            client._only(name, out, {"dW"})
            loss = result.get("loss")
            if isinstance(loss, bool) or not isinstance(loss, (int, float)):
                raise InvalidAnswer(f"{name}: the loss in the answer is not a number")
            dW = out.get("dW")
            if dW is not None and dW.shape != W.shape:
                raise InvalidAnswer(f"{name} returned dW of shape {dW.shape}, but W has "
                                    f"shape {W.shape}")
            client._mirror(name, out, args)
            return float(loss), dW

        loss_fn.__name__ = loss_fn.__qualname__ = name
        loss_fn.__doc__ = f"{name}(W, X, y, reg) -> (loss, dW), run in the sandboxed worker."
        return loss_fn

    def sample_batch(self, X, y, batch_size, rng):
        """Proxy for LinearClassifier.sample_batch; advances rng like the real call."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        X, y = _number_array(X, "X"), _number_array(y, "y")
        state = rng.bit_generator.state
        args = {"X": X, "y": y}
        meta = {"op": "sample_batch", "readonly": self._readonly(**args),
                "args": {"batch_size": _scalar(batch_size, "batch_size"),
                         "rng": _encode_state(state)}}
        result, out = self.call("sample_batch", meta, args)
        self._only("sample_batch", out, {"X_batch", "y_batch"})
        new_state = _decode_state(result.get("rng"))
        if not (isinstance(new_state, dict) and new_state.get("bit_generator")
                == state["bit_generator"]):
            raise InvalidAnswer("sample_batch: the answer's generator state is not "
                                f"a {state['bit_generator']} state")
        X_batch, y_batch = out.get("X_batch"), out.get("y_batch")
        n = meta["args"]["batch_size"]
        for got, want, what in ((X_batch, (n, *X.shape[1:]), "X_batch"),
                                (y_batch, (n,), "y_batch")):
            if got is not None and got.shape != want:
                raise InvalidAnswer(f"sample_batch returned {what} of shape {got.shape}; "
                                    f"asked for {want}")
        try:
            rng.bit_generator.state = new_state
        except (TypeError, ValueError, KeyError) as e:
            raise InvalidAnswer(f"sample_batch: invalid generator state in the answer ({e})") \
                from None
        self._mirror("sample_batch", out, args)
        return X_batch, y_batch

    def make_classifier(self, seed=None):
        """A proxy for Softmax(seed): .train(...), .W, .predict(X)."""
        return ClassifierProxy(self, seed)


def _encode_state(state):
    if isinstance(state, dict):
        return {k: _encode_state(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return {"__ndarray__": state.tolist(), "dtype": state.dtype.str}
    if isinstance(state, np.integer):
        return int(state)
    return state


def _decode_state(data):
    if isinstance(data, dict):
        if set(data) == {"__ndarray__", "dtype"}:
            try:
                dtype = np.dtype(data["dtype"])
                if dtype.kind not in "iu":
                    raise TypeError(dtype)
                return np.array(data["__ndarray__"], dtype=dtype)
            except (TypeError, ValueError, OverflowError):
                raise InvalidAnswer("invalid array in a generator state") from None
        return {k: _decode_state(v) for k, v in data.items()}
    return data


class ClassifierProxy:
    """Looks like a Softmax classifier; every method runs in the sandboxed worker.
    W is a plain attribute on this side: read it, assign it."""

    def __init__(self, client, seed=None):
        self._client = client
        self.seed = seed
        self.W = None

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200,
              verbose=False, **kwargs):
        unknown = set(kwargs) - {"warm_start"}
        if unknown:
            raise TypeError(f"train() got unexpected keyword arguments {sorted(unknown)}")
        X, y = _number_array(X, "X"), _number_array(y, "y")
        arrays = {"X": X, "y": y}
        if self.W is not None:
            arrays["W"] = _number_array(self.W, "W")
        args = {"seed": _scalar(self.seed, "seed"),
                "learning_rate": _scalar(learning_rate, "learning_rate"),
                "reg": _scalar(reg, "reg"), "num_iters": _scalar(num_iters, "num_iters"),
                "batch_size": _scalar(batch_size, "batch_size"), "verbose": bool(verbose)}
        if "warm_start" in kwargs:
            args["warm_start"] = bool(kwargs["warm_start"])
        data = {"X": X, "y": y}
        result, out = self._client.call("train", {"op": "train", "args": args,
                                                  "readonly": self._client._readonly(**data)},
                                        arrays)
        self._client._only("train", out, {"loss_history", "W"})
        history, W = out.get("loss_history"), out.get("W")
        if history is not None and (history.ndim != 1 or history.dtype != np.float64):
            raise InvalidAnswer("train: the loss history in the answer is not a float list")
        if history is None and result.get("history_is_none") is not True:
            raise InvalidAnswer("train: the answer has no loss history")
        if W is not None and (W.ndim != 2 or W.shape[0] != np.shape(X)[1]):
            raise InvalidAnswer(f"train left W of shape {W.shape} for X of shape {X.shape}")
        self._client._mirror("train", {k: v for k, v in out.items() if k != "after:W"}, data)
        self.W = W
        return None if history is None else [float(v) for v in history]

    def predict(self, X):
        X = _number_array(X, "X")
        arrays = {"X": X}
        if self.W is not None:
            arrays["W"] = _number_array(self.W, "W")
        result, out = self._client.call("predict", {"op": "predict",
                                                    "readonly": self._client._readonly(X=X)},
                                        arrays)
        self._client._only("predict", out, {"y_pred"})
        self._client._mirror("predict", out, {"X": X})
        y_pred = out.get("y_pred")
        if y_pred is not None and y_pred.shape != (X.shape[0],):
            raise InvalidAnswer(f"predict returned shape {y_pred.shape} for {X.shape[0]} "
                                "examples")
        return y_pred
