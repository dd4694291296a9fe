"""Grade a batch on an existing Dask cluster (`autograde --scheduler tcp://HOST:PORT`).

    client (this process)                       each Dask worker
    ---------------------                       ----------------
    the bundle as a zip, scattered once   --->  unpacked once per worker into its
                                                local folder, keyed by the fingerprint
    a task per hand-in: the Job (its bytes) --> grade_one(job, bundle on this worker)
    the Result, written into OUT           <--- (the same function as a local batch)

A worker is a `dask worker ADDRESS` started in a copy of this project (same
version of the grader) with the instructor requirements and the assignment's
data set where its spec finds it. It receives only what the
grading of a hand-in needs: the release notebook, the starter files and the
gradebook of the assignment (never the solutions), and the hand-ins.

Workers that die: a task whose worker is lost (kill -9, a lost machine) is
rescheduled by Dask on another worker; grading a hand-in has no side effect
outside its own folder, so doing it again is safe. The grading process and the
kernel it starts die with the worker (PR_SET_PDEATHSIG in grade/one.py and
sandbox/kernel_launcher.py, bwrap --die-with-parent). Dask gives up on a task
after its worker died `distributed.scheduler.allowed-failures` times (3): the
hand-in then gets status grader-error, and the next run grades it again.

Broken workers: before the batch, every worker checks its environment (the data
set, nbgrader and the kernel's packages, the same grader code as the client,
bubblewrap if asked for). A worker that fails gets no hand-in, and the reason
is printed with its address. A worker that joins later and fails the same check
when its first task runs raises WorkerSetupError, naming itself; the hand-in
goes to another worker, or, if no good worker is left, gets status
grader-error with that message (never a 0 for the student).
"""
import concurrent.futures
import dataclasses
import hashlib
import io
import os
import socket
import sys
import threading
import zipfile

from instructor.assignment import ASSIGNMENT_ID, INSTRUCTOR_DIR, REPO_ROOT
from instructor.assignment import spec as assignment_spec
from instructor.grade.bundle import SetupError

CONNECT_TIMEOUT = 15   # seconds to reach the scheduler
WORKER_TIMEOUT = 60    # seconds to wait for a first worker


class WorkerSetupError(RuntimeError):
    """A worker cannot grade: its data set, its environment or its grader code."""

    def __init__(self, worker, why):
        super().__init__(worker, why)
        self.worker, self.why = worker, why

    def __str__(self):
        return f"worker {self.worker}: {self.why}"


def code_fingerprint(root=INSTRUCTOR_DIR):
    """A hash of the grader's code (the .py files of the instructor package)."""
    h = hashlib.sha256()
    for folder, dirs, names in sorted(os.walk(root)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                h.update(os.path.relpath(path, root).replace(os.sep, "/").encode() + b"\0")
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.hexdigest()


def pack_bundle(bundle):
    """The part of the bundle a worker needs, as the bytes of a zip: the assignment's
    gradebook and its release folder (no solutions: those stay with the client)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(os.path.join(bundle.template, "gradebook.db"), "template/gradebook.db")
        folders = [(os.path.join(bundle.template, "release", ASSIGNMENT_ID),
                    f"template/release/{ASSIGNMENT_ID}")]
        if bundle.mpl_cache and os.path.isdir(bundle.mpl_cache):
            # matplotlib's font cache, so that no worker spends seconds building its own
            folders.append((bundle.mpl_cache, "matplotlib"))
        for top, name_in_zip in folders:
            for folder, dirs, names in sorted(os.walk(top)):
                dirs.sort()
                for name in sorted(names):
                    path = os.path.join(folder, name)
                    rel = os.path.relpath(path, top).replace(os.sep, "/")
                    z.write(path, f"{name_in_zip}/{rel}")
    return buf.getvalue()


# ---- the worker's side -------------------------------------------------------------------
_checked = {}                 # (code, sandbox) -> None, or why this worker cannot grade
_bundles = {}                 # fingerprint -> the Bundle unpacked on this worker
_worker_lock = threading.Lock()


def _this_worker():
    """(address, local folder) of the Dask worker running this; outside one, this host."""
    try:
        from distributed import get_worker
        worker = get_worker()
        return worker.address, worker.local_directory
    except (ImportError, ValueError):
        import tempfile
        return socket.gethostname(), tempfile.gettempdir()


def environment_problem(code, sandbox):
    """Why this machine cannot grade (a sentence), or None. code: the client's
    code_fingerprint(); sandbox: the tier the batch grades with."""
    from instructor.sandbox.box import ALIASES
    import importlib.util
    missing = []
    # Found, not imported: importing them would cost the worker seconds of CPU; the
    # grading process imports them, and a package that is there but broken makes
    # its hand-in a grader-error.
    for module in ("nbgrader", "nbclient", "nbconvert", "ipykernel", "numpy", "matplotlib"):
        try:
            if importlib.util.find_spec(module) is None:
                missing.append(module)
        except (ImportError, ValueError) as e:
            missing.append(f"{module} ({type(e).__name__}: {e})")
    if missing:
        return (f"the environment lacks {', '.join(missing)}: install the instructor "
                f"requirements (make setup) for {sys.executable}")
    if code != code_fingerprint():
        return (f"it runs another version of the grader ({REPO_ROOT}) than the client: "
                "start the worker in a copy of the same version of the project")
    _, problem = assignment_spec().locate_dataset()
    if problem:
        return f"{problem} (before `dask worker`)"
    if sandbox != "none":
        from instructor.sandbox.box import HOW_TO, probe
        tier = ALIASES.get(sandbox, sandbox)
        ok, why = probe(tier)
        if not ok:
            return (f"the sandbox tier {tier} cannot run there ({why}): {HOW_TO.get(tier, '')}; "
                    "or grade bare with --sandbox none")
    return None


def check_worker(code, sandbox):
    """For Client.run: (None or the problem, this machine's host name, usable CPUs)."""
    try:
        problem = environment_problem(code, sandbox)
    except Exception as e:  # whatever is broken there, say what
        problem = f"its environment check failed: {type(e).__name__}: {e}"
    return problem, socket.gethostname(), len(os.sched_getaffinity(0))


def _worker_bundle(bundle, packed, cache):
    """The bundle on this worker: the zip unpacked once into cache/<fingerprint>."""
    from instructor.grade.bundle import matplotlib_cache
    with _worker_lock:
        if bundle.fingerprint in _bundles:
            return _bundles[bundle.fingerprint]
        root = os.path.join(cache, bundle.fingerprint[:16])
        if not os.path.isdir(root):
            with zipfile.ZipFile(io.BytesIO(packed)) as z:
                z.extractall(root + ".tmp")
            os.replace(root + ".tmp", root)
        data_dir, _ = assignment_spec().locate_dataset()
        if data_dir is None:    # the notebook reads no data: an empty folder of the worker's
            data_dir = os.path.join(root, "no-data")
            os.makedirs(data_dir, exist_ok=True)
        local = dataclasses.replace(
            bundle, template=os.path.join(root, "template"),
            data_dir=data_dir, work=os.path.join(root, "handins"),
            mpl_cache=matplotlib_cache(root),   # made here only if the client sent none
            # What the kernel must not see (with bubblewrap): this worker's folder
            # (other hand-ins) and the project with the solutions.
            hide=[os.path.abspath(cache), REPO_ROOT])
        os.makedirs(local.work, exist_ok=True)
        _bundles[bundle.fingerprint] = local
        return local


def grade_on_worker(fn, job, bundle, packed, code, sandbox, threads):
    """The task of one hand-in: fn(job, the bundle on this worker) -> Result.

    sandbox: the batch's tier (environment_problem made sure it works here) or
    "none"; threads: {worker address: BLAS threads for its kernels}."""
    address, local_dir = _this_worker()
    key = (code, sandbox)
    if key not in _checked:
        _checked[key] = environment_problem(code, sandbox)
    if _checked[key]:
        raise WorkerSetupError(address, _checked[key])
    local = _worker_bundle(bundle, packed, os.path.join(
        local_dir, f"{assignment_spec().assignment_id}-grading"))
    options = dataclasses.replace(job.options, sandbox=sandbox,
                                  threads=threads.get(address) or 1)
    return fn(dataclasses.replace(job, options=options), local)


# ---- the client's side ----------------------------------------------------------------------
class DaskExecutor(concurrent.futures.Executor):
    """A concurrent.futures executor whose submit(fn, job, bundle) runs fn on a Dask
    worker, with the bundle made for that worker (see the module docstring)."""

    def __init__(self, address, bundle, sandbox="auto"):
        try:
            from distributed import Client
        except ImportError:
            raise SetupError("--scheduler needs the `distributed` package: make setup "
                             "(or pip install -r requirements-dev.txt)") from None
        self.address, self.sandbox = address, sandbox
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise SetupError(f"cannot reach the Dask scheduler at {address}: {e}") from None
        try:
            self._start(bundle)
        except BaseException:
            self.client.close()
            raise

    def _start(self, bundle):
        try:
            self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:
            raise SetupError(f"no Dask worker joined the scheduler at {self.address} within "
                             f"{WORKER_TIMEOUT} s: start some with `dask worker {self.address}`"
                             ) from None
        self.code = code_fingerprint()
        checks = self.client.run(check_worker, self.code, self.sandbox, on_error="return")
        self.bad, self.problems, cpus = set(), [], {}
        for address, answer in sorted(checks.items()):
            if isinstance(answer, BaseException):
                why = (f"cannot run the grader ({type(answer).__name__}: {answer}); install "
                       "the project into the worker's Python (make setup, or pip install -e "
                       "PROJECT), or start `dask worker` with PYTHONPATH set to the project's "
                       "folder")
            else:
                why, host, cpus[address] = answer
            if why:
                self.bad.add(address)
                self.problems.append(str(WorkerSetupError(address, why)))
        if not cpus or len(self.bad) == len(checks):
            raise SetupError("no Dask worker can grade:\n  " + "\n  ".join(self.problems))
        for problem in self.problems:
            print(f"warning: {problem}; it gets no hand-in", file=sys.stderr, flush=True)
        # The scheduler unpickles each task, so it must import this package as well.
        try:
            good = [a for a in cpus if a not in self.bad]
            self.client.submit(code_fingerprint, pure=False, workers=good).result(
                timeout=WORKER_TIMEOUT)
        except Exception as e:
            raise SetupError(
                f"the Dask scheduler at {self.address} cannot run the grader's tasks "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}): install "
                "the project into the scheduler's Python (make setup, or pip install -e "
                "PROJECT), or start `dask scheduler` with PYTHONPATH set to the project's "
                "folder") from None
        # Kernels get the CPUs of their machine shared out among the worker threads on it.
        workers = _workers(self.client)
        per_host = {}
        for address, info in workers.items():
            per_host[info["host"]] = per_host.get(info["host"], 0) + info["nthreads"]
        self.threads = {a: max(1, cpus[a] // max(1, per_host[info["host"]]))
                        for a, info in workers.items() if a in cpus}
        self.slots = sum(info["nthreads"] for a, info in workers.items() if a not in self.bad)
        self.good = len(checks) - len(self.bad)
        # The bundle travels once: to every worker now, and from them to workers joining later.
        self.packed = self.client.scatter(pack_bundle(bundle), broadcast=True, hash=True)
        self._lock = threading.Lock()
        self._live = {}          # dask future -> (concurrent future, fn, job, bundle, attempt)

    @property
    def description(self):
        return (f"on the Dask cluster at {self.address}: {self.good} worker(s), "
                f"{self.slots} at a time")

    def submit(self, fn, job, bundle):
        cf = concurrent.futures.Future()
        cf.set_running_or_notify_cancel()
        self._send(cf, fn, job, bundle, 0)
        return cf

    def _send(self, cf, fn, job, bundle, attempt):
        workers = None
        if self.bad:   # keep hand-ins away from workers known to be broken
            known = _workers(self.client)
            workers = [a for a in known if a not in self.bad]
            if not workers:
                cf.set_exception(SetupError("no Dask worker can grade:\n  "
                                            + "\n  ".join(self.problems)))
                return
        # A fixed key per hand-in content: grading it is idempotent, and a task that
        # another run already started is shared rather than done twice.
        key = f"grade-{job.student_id}-{job.sha256[:16]}-{bundle.fingerprint[:8]}-{attempt}"
        future = self.client.submit(grade_on_worker, fn, job, bundle, self.packed, self.code,
                                    self.sandbox, self.threads, key=key, workers=workers,
                                    retries=1)
        with self._lock:
            self._live[future] = (cf, fn, job, bundle, attempt)
        future.add_done_callback(self._done)

    def _done(self, future):
        with self._lock:
            cf, fn, job, bundle, attempt = self._live.pop(future)
        if cf.cancelled():
            return
        try:
            cf.set_result(future.result())
        except WorkerSetupError as e:
            with self._lock:
                if e.worker not in self.bad:
                    self.bad.add(e.worker)
                    self.problems.append(str(e))
                    print(f"warning: {e}; it gets no more hand-ins", file=sys.stderr, flush=True)
            if attempt < 10:
                self._send(cf, fn, job, bundle, attempt + 1)
            else:
                cf.set_exception(e)
        except BaseException as e:  # KilledWorker, CancelledError, ...
            cf.set_exception(RuntimeError(f"{type(e).__name__}: {e}"))

    def shutdown(self, wait=True, *, cancel_futures=False):
        if cancel_futures:
            with self._lock:
                live = list(self._live)
            if live:
                self.client.cancel(live)
                # A cancelled task still runs on its worker: stop its grading process.
                from instructor.grade.one import kill_workers
                self.client.run(kill_workers, on_error="ignore")
            return
        if wait:
            self.client.close()


def _workers(client):
    """{address: info} of every worker (recent versions list only a few by default)."""
    import inspect
    if "n_workers" in inspect.signature(client.scheduler_info).parameters:
        return client.scheduler_info(n_workers=-1)["workers"]
    return client.scheduler_info()["workers"]
