"""The trusted side of the boundary: start the worker, ask, validate every answer.

    client = WorkerClient(package_dir, launcher=jail_prefix, timeout=60)
    loss = client.function("pkg.module", "function")     # called like the function
    Model = client.object_class("pkg.module", "Model", state=("W",),
                                methods=("train", "predict"))
    m = Model(seed=0); m.train(X, y); m.W; m.predict(X)
    client.close()                                       # or use `with WorkerClient(...)`

It knows nothing of any assignment: the assignment's spec says which functions
and classes exist. The proxies follow the calling contract of a local call:
in-place changes that student code makes to array arguments are copied back
into the caller's arrays; a numpy Generator argument is advanced by the state
the worker reports; what the function returned comes back as the same kind of
value (a tuple or a list, a Python float or a numpy scalar, an array), so that
the checks judge it exactly as they judge a local call; an object that cannot
cross is an Opaque naming its type. An exception raised by student code is
raised here as a StudentError subclass that carries the student's type name
(type(e).__name__), message and short traceback, and that also derives from the
matching built-in class (NotImplementedError, ValueError, ...), so `except
NotImplementedError` works.

WorkerClient(package_dir, launcher=(), python=sys.executable, timeout=60,
             memory_bytes=4 GiB, cpu_seconds=None, log_path=None, env=None,
             preexec_fn=None, cwd=None, limits=protocol.MessageLimits(), budget=None,
             gate=None)
- launcher: argv prefix put before the worker's command (a bwrap command from
  jail.py); the worker and package paths must be visible at the same place inside.
- timeout: seconds of wall time per call; on a timeout or a crash the worker is
  killed (its whole process group) and the call raises WorkerTimeout or
  WorkerCrashed naming the function; the next call starts a fresh worker.
- memory_bytes, cpu_seconds: RLIMIT_AS and RLIMIT_CPU of the launched process
  (cpu_seconds over the worker's life); no core dumps.
- preexec_fn: run in the child before the launcher (jail.py's limits), after ours.
- budget: seconds of wall time for all calls together (None: no total); once
  spent, the running call and every later one raise BudgetSpent ("too slow").
- gate: (allowed modules, message) of the package gate (gate.py) the worker installs
  before it imports the package: the installed packages student code may import
  (None: any).
- log_path: where the worker keeps the first MiB of what student code prints; in
  a jail it must be a path the jail can write (its work folder, then collect it).
Errors: BoundaryError (base), WorkerTimeout (BudgetSpent), WorkerCrashed, InvalidAnswer (the
answer is not what was asked: e.g. dW not of W's shape), StudentError.
"""
import builtins
import functools
import json
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
GATE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate.py")
# What the sandbox must show of the grader for the worker to run.
WORKER_FILES = (WORKER_PATH, PROTOCOL_PATH, GATE_PATH)


class BoundaryError(RuntimeError):
    """Talking to the sandboxed worker failed (not an exception of student code)."""


class WorkerTimeout(BoundaryError):
    pass


class WorkerCrashed(BoundaryError):
    pass


class BudgetSpent(WorkerTimeout):
    """The hand-in's total time for calls into its code is used up: this call and every
    later one fail at once ("too slow"), which is a verdict, not a grader error."""


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


class WorkerClient:
    def __init__(self, package_dir, launcher=(), python=sys.executable, timeout=60.0,
                 memory_bytes=4 << 30, cpu_seconds=None, log_path=None, env=None,
                 preexec_fn=None, cwd=None, limits=protocol.MessageLimits(), budget=None,
                 gate=None):
        self.budget = None if budget is None else float(budget)
        self._budget_end = None
        self.package_dir = os.path.abspath(package_dir)
        if not os.path.isdir(self.package_dir):
            raise FileNotFoundError(f"no package folder {self.package_dir}")
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
        self.gate = gate
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
        if self.gate:
            allowed, message = self.gate
            cmd += ["--gate", json.dumps({"allowed": sorted(allowed), "message": message})]
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
        if what == "timeout" and self._budget_end is not None \
                and time.monotonic() >= self._budget_end:
            raise BudgetSpent(f"{name}: too slow: the {self.budget:g} s allowed for all calls "
                              "into this hand-in's code are used up")
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
        now = time.monotonic()
        if self.budget is not None:
            if self._budget_end is None:
                self._budget_end = now + self.budget
            if now >= self._budget_end:
                self._kill()
                raise BudgetSpent(f"{name}: too slow: the {self.budget:g} s allowed for all "
                                  "calls into this hand-in's code are used up")
        self.start()
        deadline = now + self.timeout
        if self._budget_end is not None and self._budget_end < deadline:
            deadline = self._budget_end
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

    # ---- calling student code ---------------------------------------------------------------
    def invoke(self, label, target, args=(), kwargs=None):
        """Call target (see worker.py) with Python arguments; returns (decoded return value,
        {state attribute: decoded value}). Arrays are sent as arrays, Generators as their
        state (advanced here as the call advanced them), numbers and None as they are;
        in-place changes to array arguments are copied back into the caller's arrays."""
        arrays, readonly, gens, originals = {}, [], {}, {}

        def encode(value, key):
            if isinstance(value, np.random.Generator):
                gens[key] = value
                return {"rng": _encode_state(value.bit_generator.state)}
            if isinstance(value, np.ndarray):
                name = f"arg:{key}"
                arrays[name] = _number_array(value, key)
                originals[name] = value
                if not value.flags.writeable:
                    readonly.append(name)
                return {"array": name}
            if isinstance(value, (np.generic,)):
                value = value.item()
            if isinstance(value, np.random.RandomState):
                raise TypeError(f"{key} must be a numpy.random.Generator, got RandomState")
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise TypeError(f"argument {key} of type {type(value).__name__} cannot be "
                                "sent to the worker")
            return {"value": value}

        target = dict(target)
        if "state" in target:
            target["state"] = {k: encode(v, f"state:{k}") for k, v in target["state"].items()}
        meta = {"op": "call", "target": target,
                "args": [encode(v, str(i)) for i, v in enumerate(args)],
                "kwargs": {k: encode(v, k) for k, v in (kwargs or {}).items()},
                "readonly": readonly}
        result, out = self.call(label, meta, arrays)
        used = set()
        value = decode_value(label, result.get("value"), out, used)
        state = result.get("state") or {}
        if not isinstance(state, dict):
            raise InvalidAnswer(f"{label}: malformed state in the answer")
        state = {k: decode_value(label, v, out, used) for k, v in state.items()
                 if k in target.get("state", {})}
        rng = result.get("rng") or {}
        if not isinstance(rng, dict) or set(rng) - set(gens):
            raise InvalidAnswer(f"{label}: the answer reports unknown generators")
        for key, gen in gens.items():
            new_state = _decode_state(rng.get(key))
            old = gen.bit_generator.state
            if not (isinstance(new_state, dict)
                    and new_state.get("bit_generator") == old["bit_generator"]):
                raise InvalidAnswer(f"{label}: the answer's generator state is not a "
                                    f"{old['bit_generator']} state")
            try:
                gen.bit_generator.state = new_state
            except (TypeError, ValueError, KeyError) as e:
                raise InvalidAnswer(f"{label}: invalid generator state in the answer ({e})") \
                    from None
        changed = {k: v for k, v in out.items() if k.startswith("after:")}
        extra = set(out) - used - set(changed)
        if extra:
            raise InvalidAnswer(f"{label}: unexpected arrays in the answer: {sorted(extra)}")
        self._mirror(label, changed, originals)
        return value, state

    def function(self, module, name=None):
        """A proxy for the function module.name: called like it, run in the worker.
        function("pkg.mod:name") is the same as function("pkg.mod", "name")."""
        if name is None:
            module, _, name = module.partition(":")
        client = self
        target = {"module": module, "name": name}

        def proxy(*args, **kwargs):
            return client.invoke(name, target, args, kwargs)[0]

        proxy.__name__ = proxy.__qualname__ = name
        proxy.__doc__ = f"{module}.{name}, run in the sandboxed worker."
        return proxy

    def object_class(self, module, name, state=(), methods=()):
        """A proxy class for module.name: proxy(*init kwargs) gives an object whose
        methods run in the worker on a fresh object made with the same arguments and
        the proxy's state attributes (e.g. the weights W), which the call updates."""
        return functools.partial(ObjectProxy, self, module, name, tuple(state), tuple(methods))


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


class Opaque:
    """Something student code returned that cannot cross the boundary (its type name only)."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name} object>"


def decode_value(label, enc, arrays, used, depth=0):
    """The Python value the worker encoded (worker.encode_value), rebuilt from data."""
    if not isinstance(enc, dict) or depth > 4:
        raise InvalidAnswer(f"{label}: malformed value in the answer")
    kind = enc.get("t")
    if kind == "none":
        return None
    if kind in ("bool", "int", "float", "str"):
        value = enc.get("v")
        want = {"bool": bool, "int": int, "float": (int, float), "str": str}[kind]
        if not isinstance(value, want) or (kind != "bool" and isinstance(value, bool)):
            raise InvalidAnswer(f"{label}: malformed {kind} in the answer")
        return float(value) if kind == "float" else value
    if kind in ("scalar", "array"):
        name = enc.get("a")
        if name not in arrays or name in used:
            raise InvalidAnswer(f"{label}: the answer names a missing array")
        used.add(name)
        a = arrays[name]
        if kind == "scalar":
            if a.ndim != 0:
                raise InvalidAnswer(f"{label}: a scalar in the answer is not 0-d")
            return a[()]
        return a
    if kind in ("tuple", "list"):
        make = tuple if kind == "tuple" else list
        if "packed" in enc:
            name = enc["packed"]
            if name not in arrays or name in used or arrays[name].ndim < 1:
                raise InvalidAnswer(f"{label}: the answer names a missing array")
            used.add(name)
            return make(arrays[name].tolist())
        items = enc.get("items")
        if not isinstance(items, list):
            raise InvalidAnswer(f"{label}: malformed sequence in the answer")
        return make(decode_value(label, i, arrays, used, depth + 1) for i in items)
    if kind == "object":
        return Opaque(str(enc.get("type", "?"))[:100])
    raise InvalidAnswer(f"{label}: unknown value kind in the answer")


class ObjectProxy:
    """Looks like an object of a student's class; every method runs in the sandboxed
    worker. State attributes are plain attributes on this side: read them, assign them."""

    def __init__(self, client, module, name, state, methods, *args, **kwargs):
        d = self.__dict__
        d["_client"], d["_module"], d["_name"] = client, module, name
        d["_state"], d["_methods"] = state, methods
        plain = {}
        for k, v in [*enumerate(args), *kwargs.items()]:
            v = v.item() if isinstance(v, np.generic) else v
            if v is not None and not isinstance(v, (bool, int, float, str)):
                raise TypeError(f"{name}(...): argument {k} must be a number, a string or None")
            plain[k] = v
        d["_init_args"] = [plain[i] for i in range(len(args))]
        d["_init"] = {k: plain[k] for k in kwargs}
        for attr in state:
            d[attr] = None

    def __getattr__(self, attr):
        if attr.startswith("_") or attr not in self._methods:
            raise AttributeError(f"{self._name!r} proxy has no attribute {attr!r}")

        def method(*args, **kwargs):
            target = {"module": self._module, "class": self._name, "init": self._init,
                      "init_args": self._init_args,
                      "state": {k: self.__dict__[k] for k in self._state}, "method": attr}
            value, state = self._client.invoke(f"{self._name}.{attr}", target, args, kwargs)
            self.__dict__.update(state)
            return value

        method.__name__ = attr
        return method
