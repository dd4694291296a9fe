"""Benchmark the softmax assignment against its hardware floors and print one table.

    make bench                             # everything except scikit-learn (several minutes)
    python -m tools.bench                  # the same
    python -m tools.bench --sklearn        # also scikit-learn's LogisticRegression (minutes more)
    python -m tools.bench --quick          # small data, few repeats: a smoke test, seconds
    python -m tools.bench --only loss,sgd  # rows: loss naive sgd sweep load notebook grading dask
                                           #       report validate sklearn tiers
    CIFAR10_DIR=/data/cifar-10-batches-py python -m tools.bench

The data is what cs231n.data_utils.get_CIFAR10_data loads ($CIFAR10_DIR, or
datasets/cifar-10-batches-py). Every time is the median of --repeats runs after
a warm-up run, and the two sides of every ratio are timed alternately in the
same run, so that a busy machine slows both alike. The table ends with the
machine (CPU, cores, NumPy and its BLAS) and the load average before and after.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from cs231n.classifiers import Softmax  # noqa: E402
from cs231n.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized  # noqa: E402
from cs231n.data_utils import dataset_dir, get_CIFAR10_data  # noqa: E402

NOTEBOOK = os.path.join(ROOT, "softmax.ipynb")
# The notebook's single SGD run (its "sgd_run" cell).
SGD_LR, SGD_REG = 1e-6, 1e3
ROWS = ["loss", "naive", "sgd", "sweep", "load", "notebook", "grading", "dask", "report",
        "validate", "sklearn", "tiers"]
# The grader's default memory limit for a student's kernel.
MEMORY_LIMIT = 4 * 2 ** 30


# --------------------------------------------------------------------------- timing

def measure(*fns, repeats=5, warmup=1, min_sample=0.05):
    """Median seconds per call of each function, timed alternately in the same run.

    Each function is called warmup times first. A sample times as many calls
    as it takes to last about min_sample seconds (so that millisecond
    functions are not lost in timer noise), and the functions take turns, in
    alternating order, for repeats samples each.
    """
    numbers = []
    for fn in fns:
        t = 0.0
        for _ in range(max(1, warmup)):
            t0 = time.perf_counter()
            fn()
            t = time.perf_counter() - t0
        numbers.append(max(1, int(min_sample / max(t, 1e-9))))
    samples = [[] for _ in fns]
    for r in range(repeats):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            t0 = time.perf_counter()
            for _ in range(numbers[i]):
                fns[i]()
            samples[i].append((time.perf_counter() - t0) / numbers[i])
    return [statistics.median(s) for s in samples]


def usable_cpus():
    """How many CPUs this process may run on (its affinity mask, where there is one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def blas_threads():
    """The number of threads NumPy's BLAS uses by default."""
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts, default=1)


def fmt_time(seconds):
    if seconds is None:
        return ""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


class Table:
    """Rows of (id, what, measured, reference, ratio, target, met), printed aligned."""

    HEAD = ("#", "measurement", "measured", "reference (same run)", "ratio", "target", "met")

    def __init__(self):
        self.rows = []

    def add(self, id, what, measured="", reference="", ratio=None, target="", met=None):
        ratio_text = "" if ratio is None else f"{ratio:.2f}"
        met_text = "" if met is None else ("yes" if met else "NO")
        self.rows.append((id, what, measured, reference, ratio_text, target, met_text))
        print("  " + " | ".join(str(c) for c in self.rows[-1] if c), flush=True)

    def render(self):
        cells = [self.HEAD] + self.rows
        widths = [max(len(str(r[i])) for r in cells) for i in range(len(self.HEAD))]
        line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
        out = [line(self.HEAD), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        return "\n".join(out)


# --------------------------------------------------------------------------- rows

def row_loss(t, data, repeats):
    """1: vectorized loss+grad against its two matrix products, on the same arrays."""
    rng = np.random.default_rng(0)
    for name, X, y in [("train", data["X_train"], data["y_train"]),
                       ("dev", data["X_dev"], data["y_dev"])]:
        for dtype in (np.float64, np.float32):
            Xd = X.astype(dtype, copy=False)
            N, D = Xd.shape
            W = (0.001 * rng.standard_normal((D, 10))).astype(dtype)
            dS = rng.standard_normal((N, 10)).astype(dtype)
            loss, floor = measure(lambda: softmax_loss_vectorized(W, Xd, y, 1e3),
                                  lambda: (Xd @ W, Xd.T @ dS), repeats=repeats)
            t.add(f"1 {name} {np.dtype(dtype).name}",
                  f"loss+grad, N={N} {np.dtype(dtype).name}", fmt_time(loss),
                  f"X@W + X.T@dS {fmt_time(floor)}", loss / floor, "<= 1.10",
                  loss / floor <= 1.10)
            del Xd


def row_naive(t, data, repeats):
    """2: naive (loops) against vectorized loss, on the dev set in float64."""
    X = data["X_dev"].astype(np.float64)
    y = data["y_dev"]
    W = 0.0001 * np.random.default_rng(0).standard_normal((X.shape[1], 10))
    naive, vec = measure(lambda: softmax_loss_naive(W, X, y, 5e-6),
                         lambda: softmax_loss_vectorized(W, X, y, 5e-6),
                         repeats=max(3, repeats // 2), min_sample=0.0)
    t.add("2", f"naive loss, dev N={X.shape[0]} float64", fmt_time(naive),
          f"vectorized {fmt_time(vec)}", naive / vec, ">= 15 (speed-up)", naive / vec >= 15)


def sgd_products(X, iters, batch_size=200):
    """iters times X_b @ W and X_b.T @ dS on one contiguous minibatch: the matrix
    products of an SGD run, with BLAS on its default threads."""
    Xb = np.ascontiguousarray(X[:batch_size])
    W = np.zeros((X.shape[1], 10), dtype=X.dtype)
    dS = np.ones((batch_size, 10), dtype=X.dtype)

    def run():
        for _ in range(iters):
            Xb @ W
            Xb.T @ dS
    return run


def row_sgd(t, data, repeats, iters):
    """3: the notebook's SGD run (Softmax.train, the plain loop) against its own
    matrix products. Reported, no target: the rest is the minibatch gather and the
    loss's elementwise work, which the plain loop does not hide."""
    X, y = data["X_train"], data["y_train"]
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype, copy=False)

        def train():
            Softmax(seed=0).train(Xd, y, learning_rate=SGD_LR, reg=SGD_REG, num_iters=iters)
        run, products = measure(train, sgd_products(Xd, iters), repeats=repeats,
                                min_sample=0.0)
        name = np.dtype(dtype).name
        what = f"SGD run, {iters} it x 200, {name}" + (" (loader's)" if dtype == np.float32 else "")
        t.add(f"3 {name}", what, fmt_time(run),
              f"its products ({blas_threads()} BLAS threads) {fmt_time(products)}",
              run / products, "(reported)")
        del Xd


def solution_sweep_source(iters=None):
    """The source of the notebook's sweep cell, solution included; with iters, its
    1500 SGD iterations per setting replaced by iters."""
    import nbformat
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "sweep")
    source = cell.source
    if iters is not None:
        source = source.replace("num_iters=1500", f"num_iters={iters}")
    return source


def run_sweep_cell(source, data):
    """Execute the sweep cell's source on data; (seconds, results, best_val, best_softmax)."""
    import contextlib
    import io
    ns = {"np": np, "time": time, "Softmax": Softmax}
    ns.update({k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")})
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):   # its one line per setting
        exec(compile(source, "softmax.ipynb:sweep", "exec"), ns)
    return time.perf_counter() - t0, ns["results"], float(ns["best_val"]), ns["best_softmax"]


def row_sweep(t, data, iters):
    """4: the solution's sweep cell, run as the notebook runs it (one Softmax after
    another, the plain loop), once with BLAS on one thread (as `make run` and the
    grader run it) and once on its default threads: wall time, best validation and
    test accuracy."""
    source = solution_sweep_source(iters)
    runs = {}
    for threads in (1, blas_threads()):
        if threads in runs:
            continue
        with threadpool_limits(limits=threads, user_api="blas"):
            runs[threads] = run_sweep_cell(source, data)
    seconds, results, best_val, best = runs[1]
    lrs = sorted({lr for lr, _ in results})
    regs = sorted({reg for _, reg in results})
    grid = f"{len(lrs)}x{len(regs)}"
    for threads, (secs, *_) in runs.items():
        t.add(f"4 time {threads}", f"solution's plain sweep, {grid} x {iters} it, float32, "
              f"{threads} BLAS thread{'s' if threads > 1 else ''}", fmt_time(secs),
              f"{secs / len(results):.2f} s per setting")
    test_acc = float(np.mean(best.predict(data["X_test"]) == data["y_test"]))
    t.add("4 acc", f"  sweep {grid}: best val / test accuracy", f"{best_val:.3f} / {test_acc:.3f}",
          "", None, "val >= 0.37", best_val >= 0.37)
    return best_val, test_acc, seconds


LOADER_PROBE = r"""
import json, resource, sys, time
import numpy as np
from cs231n.data_utils import get_CIFAR10_data


def peak_rss():
    # VmHWM: this process's peak. (ru_maxrss would include the parent's peak,
    # which Linux carries over into a child it forks.)
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        unit = 1 if sys.platform == "darwin" else 1024     # ru_maxrss: bytes on macOS, else KiB
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit


base = peak_rss()
t0 = time.perf_counter()
data = get_CIFAR10_data()
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "base": base, "peak": peak_rss(),
                  "arrays": sum(v.nbytes for v in data.values())}))
"""


def row_load(t, repeats):
    """5: loading and preprocessing, each run in a fresh process."""
    runs = []
    for _ in range(max(1, repeats)):
        out = subprocess.run([sys.executable, "-c", LOADER_PROBE], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    MB = 2 ** 20
    secs = statistics.median(r["seconds"] for r in runs)
    r = runs[0]
    growth = (r["peak"] - r["base"]) / r["arrays"]
    t.add("5 time", "get_CIFAR10_data(), fresh process", fmt_time(secs))
    t.add("5 memory", "  peak RSS above imports / final arrays",
          f"{(r['peak'] - r['base']) / MB:.0f} MB", f"arrays {r['arrays'] / MB:.0f} MB",
          growth, "(reported)")
    t.add("5 absolute", "  peak RSS of the process", f"{r['peak'] / MB:.0f} MB",
          f"grader's memory limit {MEMORY_LIMIT / MB:.0f} MB", r["peak"] / MEMORY_LIMIT,
          "< 0.50", r["peak"] < MEMORY_LIMIT / 2)


def row_notebook(t):
    """6: softmax.ipynb executed headless on the data set, with its sections."""
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, CIFAR10_DIR=dataset_dir(), MPLBACKEND="Agg")
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_notebook.py"),
                               os.path.join(ROOT, "softmax.ipynb"), "--out", out],
                              capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        t.add("6", "softmax.ipynb headless", "FAILED", proc.stderr.strip().splitlines()[-1:])
        return
    sections = re.findall(r"^\s*([0-9.]+) s  (.+)$", proc.stdout, flags=re.M)
    total = next(float(s) for s, title in sections if title.startswith("total"))
    t.add("6", "softmax.ipynb headless, whole (kernel start incl.)", fmt_time(total), "",
          None, "< 60 s", total < 60)
    for seconds, title in sections:
        if not title.startswith("total"):
            t.add("6 .", f"  {title}", f"{float(seconds):.1f} s")


def _tool(*args, **kw):
    """Run `python -m instructor COMMAND ...`; (seconds, CompletedProcess)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "instructor", *args], cwd=ROOT,
                          capture_output=True, text=True, **kw)
    return time.perf_counter() - t0, proc


def row_grading(t, handins=4):
    """7: make release, then make autograde on hand-ins of the solution: one alone,
    and `handins` of them with one worker and with one per core."""
    env = dict(os.environ, CIFAR10_DIR=dataset_dir())
    cores = usable_cpus()
    with tempfile.TemporaryDirectory(prefix="softmax-bench-") as tmp:
        dist = os.path.join(tmp, "dist")
        seconds, proc = _tool("release", "--out", dist)
        if proc.returncode != 0:
            t.add("7", "make release", "FAILED", proc.stderr.strip().splitlines()[-1:])
            return
        t.add("7 release", "make release (nbgrader generate_assignment, leak scan)",
              fmt_time(seconds))
        solved = os.path.join(tmp, "solved.zip")
        _, proc = _tool("solved-handin", dist, solved)
        if proc.returncode != 0:
            t.add("7", "solved hand-in", "FAILED", proc.stderr.strip()[-200:])
            return
        one, many = os.path.join(tmp, "one"), os.path.join(tmp, "many")
        for folder, n in [(one, 1), (many, handins)]:
            os.makedirs(folder)
            for i in range(n):  # the same answers under different student ids
                shutil.copy(solved, os.path.join(folder, f"softmax_student{i}.zip"))
        # The same notebook run headless, as a command too, right before grading it.
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_notebook.py"),
                               os.path.join(ROOT, "softmax.ipynb"), "--out",
                               os.path.join(tmp, "run")], capture_output=True, text=True, env=env)
        headless = time.perf_counter() - t0 if proc.returncode == 0 else None
        times, outputs = {}, {}
        for name, folder, jobs in [("one", one, 1), ("many1", many, 1), ("manyN", many, cores)]:
            out = os.path.join(tmp, f"out-{name}")
            times[name], proc = _tool("autograde", folder, "--out", out, "--jobs", str(jobs),
                                      env=env)
            full = proc.returncode == 0 and _all_full_marks(os.path.join(out, "grades.csv"))
            if not full:
                t.add("7", f"make autograde ({name})", "FAILED",
                      (proc.stdout + proc.stderr).strip()[-200:])
                return
            outputs[name] = proc.stdout
            if name == "one":
                with open(os.path.join(out, "logs", "student0.log"), encoding="utf-8") as f:
                    phases = f.read().rsplit("==== time per phase\n", 1)[-1].strip()
    t.add("7 one", "make autograde, 1 hand-in (full marks), wall", fmt_time(times["one"]),
          f"headless {fmt_time(headless)}" if headless else "headless FAILED",
          times["one"] / headless if headless else None, "<= 1.25",
          times["one"] / headless <= 1.25 if headless else None)
    prepared = re.search(r"assignment prepared in ([0-9.]+) s", outputs["one"])
    t.add("7 .", "  assignment bundle (template, font cache)",
          f"{float(prepared.group(1)):.1f} s" if prepared else "?")
    # The grader's own account of the hand-in's time (its log: "name 1.2 s, ...").
    for name, seconds in re.findall(r"([a-z: ]+) ([0-9.]+) s(?:, |$)", phases):
        t.add("7 .", f"  {name}", f"{float(seconds):.1f} s")
    t.add("7 many", f"make autograde, {handins} hand-ins, --jobs {cores}",
          fmt_time(times["manyN"]), f"--jobs 1 {fmt_time(times['many1'])}",
          times["many1"] / times["manyN"], "(speed-up)")


def row_tiers(t, handins=2, rounds=2):
    """12: make autograde of the same hand-ins of the solution with each isolation tier
    that runs here (--sandbox namespaces, uid, none), alternately, `rounds` times each;
    the median wall time of each against the namespaces tier's."""
    from instructor.sandbox.box import probe
    env = dict(os.environ, CIFAR10_DIR=dataset_dir())
    tiers = [tier for tier in ("namespaces", "uid") if probe(tier)[0]] + ["none"]
    if "namespaces" not in tiers:
        t.add("12", "grading per isolation tier", "SKIPPED", "the namespaces tier cannot run here")
        return
    with tempfile.TemporaryDirectory(prefix="softmax-bench-") as tmp:
        dist = os.path.join(tmp, "dist")
        _, proc = _tool("release", "--out", dist)
        solved = os.path.join(tmp, "solved.zip")
        if proc.returncode == 0:
            _, proc = _tool("solved-handin", dist, solved)
        if proc.returncode != 0:
            t.add("12", "grading per isolation tier", "FAILED", proc.stderr.strip()[-200:])
            return
        subs = os.path.join(tmp, "subs")
        os.makedirs(subs)
        for i in range(handins):
            shutil.copy(solved, os.path.join(subs, f"softmax_student{i}.zip"))
        times = {tier: [] for tier in tiers}
        for r in range(rounds):
            for tier in tiers:
                out = os.path.join(tmp, f"out-{tier}-{r}")
                seconds, proc = _tool("autograde", subs, "--out", out, "--jobs", "1",
                                      "--sandbox", tier, env=env)
                if proc.returncode != 0 or not _all_full_marks(os.path.join(out, "grades.csv")):
                    t.add("12", f"make autograde --sandbox {tier}", "FAILED",
                          (proc.stdout + proc.stderr).strip()[-200:])
                    return
                times[tier].append(seconds)
    base = statistics.median(times["namespaces"])
    for tier in tiers:
        median = statistics.median(times[tier])
        t.add("12 " + tier, f"make autograde --sandbox {tier}, {handins} hand-ins, --jobs 1",
              fmt_time(median), f"namespaces {fmt_time(base)}", median / base, "(vs namespaces)")


def _start_dask_cluster(folder, workers, env):
    """A scheduler and `workers` one-thread workers on this machine, started as an
    instructor starts them (`dask scheduler`, `dask worker ADDRESS`). Returns (address,
    processes)."""
    from distributed import Client
    info = os.path.join(folder, "scheduler.json")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--scheduler-file",
                               info, "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
                              cwd=folder, env=dict(env, PYTHONPATH=ROOT), **quiet)]
    deadline = time.monotonic() + 120
    while not (os.path.exists(info) and os.path.getsize(info)):
        if time.monotonic() > deadline or procs[0].poll() is not None:
            raise RuntimeError("the Dask scheduler did not start")
        time.sleep(0.2)
    with open(info) as f:
        address = json.load(f)["address"]
    for i in range(workers):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
             "--local-directory", os.path.join(folder, f"worker{i}"), "--host", "127.0.0.1"],
            cwd=folder, env=dict(env, PYTHONPATH=ROOT), **quiet))
    with Client(address, timeout=60) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def row_dask(t, handins=4, workers=2, rounds=2):
    """9: `handins` solved hand-ins graded on a local Dask cluster (`workers` workers of
    one thread each) against the local pool with --jobs `workers`, `rounds` times each,
    alternately: the same grades.csv every time, and the mean wall times (cluster start
    not counted, as for a cluster that is already running)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        t.add("9", "autograde on a Dask cluster", "skipped (distributed not installed)")
        return
    env = dict(os.environ, CIFAR10_DIR=dataset_dir())
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="softmax-bench-dask-") as tmp:
        dist, solved, subs = (os.path.join(tmp, n) for n in ("dist", "solved.zip", "subs"))
        for args in (("release", "--out", dist), ("solved-handin", dist, solved)):
            _, proc = _tool(*args)
            if proc.returncode != 0:
                t.add("9", f"dask: {args[0]}", "FAILED", proc.stderr.strip()[-200:])
                return
        os.makedirs(subs)
        for i in range(handins):
            shutil.copy(solved, os.path.join(subs, f"softmax_student{i}.zip"))
        address, procs = _start_dask_cluster(tmp, workers, env)
        samples, grades = {"local": [], "dask": []}, {}
        flags = {"local": ["--jobs", str(workers)], "dask": ["--scheduler", address]}
        try:
            # Alternately, so that the machine's other work slows both sides alike.
            for i, name in enumerate(["local", "dask", "dask", "local"][:2 * rounds]):
                out = os.path.join(tmp, f"out-{name}-{i}")
                seconds, proc = _tool("autograde", subs, "--out", out, *flags[name], env=env)
                if proc.returncode != 0 or not _all_full_marks(os.path.join(out, "grades.csv")):
                    t.add("9", f"autograde ({name})", "FAILED",
                          (proc.stdout + proc.stderr).strip()[-200:])
                    return
                samples[name].append(seconds)
                with open(os.path.join(out, "grades.csv")) as f:
                    grades.setdefault(name, set()).add(f.read())
        finally:
            for p in procs[::-1]:
                p.terminate()
            for p in procs[::-1]:
                p.wait()
    times = {name: statistics.mean(v) for name, v in samples.items()}
    ratio = times["dask"] / times["local"]
    same = len(grades["dask"] | grades["local"]) == 1
    t.add("9 dask", f"autograde, {handins} hand-ins, Dask: {workers} workers x 1 thread"
          f"{f', mean of {rounds}' if rounds > 1 else ''}",
          fmt_time(times["dask"]), f"--jobs {workers} {fmt_time(times['local'])}", ratio,
          "<= 1.15", ratio <= 1.15)
    t.add("9 same", "  grades.csv of the two runs", "identical" if same else "DIFFERENT", "",
          None, "identical", same)
    t.add("9 rate", "  hand-ins per hour per worker (1 thread, cores / workers)",
          f"{3600 * handins / times['dask'] / workers:.0f}")


def _cpu_hogs(n):
    """n processes that each keep a core busy (another program on a shared machine)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                             stdin=subprocess.DEVNULL) for _ in range(n)]


def row_validate(t):
    """11: a student's `nbgrader validate` of the solved release, run in its folder (the
    release's settings, as the Validate button reads them), against `make run`'s notebook
    (tools/run_notebook.py), both once while one CPU hog per core runs: the machine a
    shared JupyterHub server is."""
    import zipfile
    env = dict(os.environ, CIFAR10_DIR=dataset_dir(), MPLBACKEND="Agg",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                "OMP_NUM_THREADS", "JUPYTER_CONFIG_PATH"):
        env.pop(var, None)     # a student's shell: the settings decide
    with tempfile.TemporaryDirectory(prefix="softmax-bench-validate-") as tmp:
        dist, solved = os.path.join(tmp, "dist"), os.path.join(tmp, "solved.zip")
        for args in (("release", "--out", dist), ("solved-handin", dist, solved)):
            _, proc = _tool(*args)
            if proc.returncode != 0:
                t.add("11", f"validate: {args[0]}", "FAILED", proc.stderr.strip()[-200:])
                return
        folder = os.path.join(dist, "softmax")
        with zipfile.ZipFile(solved) as z:
            z.extractall(folder)
        env["JUPYTER_CONFIG_DIR"] = os.path.join(tmp, "no-user-config")
        hogs = _cpu_hogs(usable_cpus())
        try:
            t0 = time.perf_counter()
            run = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_notebook.py"),
                                  os.path.join(ROOT, "softmax.ipynb"), "--out",
                                  os.path.join(tmp, "run")], capture_output=True, text=True,
                                 env=env)
            headless = time.perf_counter() - t0
            t0 = time.perf_counter()
            val = subprocess.run([sys.executable, "-m", "nbgrader", "validate", "softmax.ipynb"],
                                 cwd=folder, capture_output=True, text=True, env=env)
            validate = time.perf_counter() - t0
        finally:
            for h in hogs:
                h.kill()
            for h in hogs:
                h.wait()
    if run.returncode != 0:
        t.add("11", "make run's notebook under a CPU hog", "FAILED",
              run.stderr.strip().splitlines()[-1:])
        return
    if "Success! Your notebook passes all the tests." not in val.stdout:
        t.add("11", "nbgrader validate, solved release", "FAILED", val.stdout.strip()[-200:])
        return
    ratio = validate / headless
    t.add("11 validate", f"nbgrader validate, solved release, {usable_cpus()} CPU hogs",
          fmt_time(validate), f"make run's notebook {fmt_time(headless)}", ratio, "<= 2",
          ratio <= 2)
    tcp = "without encryption" in val.stderr + run.stderr
    t.add("11 warn", "  \"Kernel is running over TCP without encryption\" printed",
          "yes" if tcp else "no", "", None, "no", not tcp)


def _all_full_marks(csv_path):
    """Whether every row of grades.csv was graded with total == max."""
    import csv
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return bool(rows) and all(r["status"] == "graded" and float(r["total"]) == float(r["max"])
                              for r in rows)


def synthetic_graded_out(folder, n, seed=0, copies=5):
    """A graded OUT folder of n made-up hand-ins for the class report (no grading): each
    student's softmax.py is the solution with its names changed and a block of code of
    its own; `copies` of them are handed in twice (renamed); random tests fail with
    random named mistakes. Returns the folder."""
    import random
    from cs231n.checks import MISTAKES
    from instructor.markers import strip_solutions
    rng = random.Random(seed)
    rel = "cs231n/classifiers/softmax.py"
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        source = f.read()
    solved = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n", "", source)
    src = os.path.join(folder, "source", "softmax")
    os.makedirs(os.path.join(src, "cs231n", "classifiers"))
    shutil.copy(os.path.join(ROOT, rel), os.path.join(src, rel))
    shutil.copy(NOTEBOOK, os.path.join(src, "softmax.ipynb"))
    for d in ("results", "feedback"):
        os.makedirs(os.path.join(folder, d))
    cells = [("test_naive_loss", 3), ("test_naive_grad", 3), ("test_vectorized", 4),
             ("test_sgd", 3), ("test_sweep", 3), ("test_accuracy", 1)]
    names = sorted(MISTAKES)
    code = {}
    for i in range(n):
        sid = f"s{i:04d}"
        if i % (n // max(copies, 1) or 1) == 1 and i > 0 and len(code) > 0 and copies:
            text = code[f"s{i - 1:04d}"].replace("num_train", "how_many")
        else:
            extra = "".join(f"    v{j} = np.sum(X[:, {rng.randrange(99)}] * {rng.randrange(1000)}) "
                            f"+ {rng.random():.6f} * reg\n" for j in range(30))
            text = solved.replace("    return float(loss), dW",
                                  extra + "    return float(loss), dW", 1)
            text = text.replace("scores", rng.choice(["scores", "s", "logits", "z"]))
        code[sid] = text
        path = os.path.join(folder, "autograded", sid, "softmax", rel)
        os.makedirs(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        tests = []
        for name, points in cells:
            wrong = rng.random() < 0.2
            mistake = rng.choice(names)
            tests.append({"name": name, "max": points, "points": 0 if wrong else points,
                          "status": "failed" if wrong else "passed",
                          "message": f"softmax_loss_naive: {MISTAKES[mistake]}\nLook at: it."
                          if wrong else ""})
        with open(os.path.join(folder, "results", f"{sid}.json"), "w", encoding="utf-8") as f:
            json.dump({"student_id": sid, "handin_name": f"{sid}.zip", "status": "graded",
                       "tests": tests, "notes": [], "seconds": 10 + rng.random() * 20}, f)
    strip_solutions(source)   # the starter must build
    return folder


def row_report(t, handins=500, small=50):
    """10: the class report (python -m instructor report OUT) of `handins` made-up graded
    hand-ins against ten times that of `small` (linear work would make the ratio 1)."""
    from instructor.report.build import build_report
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        # A warm-up report first: imports and matplotlib's first figure are not the report's.
        build_report(synthetic_graded_out(os.path.join(tmp, "warm-up"), 5, seed=1))
        for n in (small, handins):
            out = synthetic_graded_out(os.path.join(tmp, f"out{n}"), n, seed=n)
            start = time.perf_counter()
            facts = build_report(out)
            times[n] = time.perf_counter() - start
            print(f"    report of {n}: {times[n]:.2f} s, {len(facts['similarity']['pairs'])} "
                  "similar pair(s)", flush=True)
    ratio = times[handins] / (times[small] * handins / small)
    t.add(10, f"class report, {handins} hand-ins", fmt_time(times[handins]),
          f"{handins // small} x {small} hand-ins: {fmt_time(times[small] * handins / small)}",
          ratio, "< 30 s", times[handins] < 30)


def row_sklearn(t, data, sweep_result):
    """8: scikit-learn's multinomial LogisticRegression (lbfgs, run to convergence), its C
    chosen on the validation set. C = 1 / (2 reg N) in the notation of the notebook, so
    C = 1e-7 .. 1e-6 is reg = 100 .. 10 on 49,000 images."""
    from sklearn.linear_model import LogisticRegression
    X, y = data["X_train"][:, :-1], data["y_train"]      # sklearn fits its own intercept
    Xv, yv = data["X_val"][:, :-1], data["y_val"]
    fits = []
    for C in [1e-7, 3e-7, 1e-6]:
        t0 = time.perf_counter()
        clf = LogisticRegression(C=C, solver="lbfgs", max_iter=3000).fit(X, y)
        fits.append((float(np.mean(clf.predict(Xv) == yv)), C, clf, time.perf_counter() - t0))
    val, C, clf, seconds = max(fits, key=lambda f: f[0])
    total = sum(f[3] for f in fits)
    n_iter = int(np.max(clf.n_iter_))
    test = float(np.mean(clf.predict(data["X_test"][:, :-1]) == data["y_test"]))
    s_val, s_test, s_time = sweep_result if sweep_result else (None, None, None)
    t.add("8 sklearn", f"LogisticRegression lbfgs, best C={C:g}: val / test",
          f"{val:.3f} / {test:.3f}",
          f"sweep {s_val:.3f} / {s_test:.3f}" if sweep_result else "")
    t.add("8 sklearn t", f"  its time: best C ({n_iter} it{', converged' if n_iter < 3000 else ''})"
          f" / all {len(fits)} C", f"{fmt_time(seconds)} / {fmt_time(total)}",
          f"sweep {fmt_time(s_time)}" if sweep_result else "",
          total / s_time if sweep_result else None, "(time / sweep's)")


# --------------------------------------------------------------------------- machine

def machine():
    """Lines describing the CPU, NumPy and its BLAS."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = usable_cpus()
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    blas = [p for p in blas if "numpy" in p.get("filepath", "")] or blas
    lines = [f"CPU: {model}, {os.cpu_count()} logical cores ({usable} usable)",
             f"Python {platform.python_version()}, NumPy {np.__version__}"]
    for p in blas[:1]:
        lines.append(f"BLAS: {p.get('internal_api')} {p.get('version')} "
                     f"({p.get('architecture', '?')}), {p.get('num_threads')} threads")
    if os.environ.get("OPENBLAS_CORETYPE"):
        lines.append(f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}")
    return lines


def load_average():
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


# --------------------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small data and few repeats: checks that everything runs")
    ap.add_argument("--sklearn", action="store_true",
                    help="add scikit-learn's LogisticRegression (takes minutes)")
    ap.add_argument("--only", default="", help=f"comma-separated rows among {','.join(ROWS)}")
    ap.add_argument("--repeats", type=int, default=None, help="samples per median (default 5)")
    args = ap.parse_args(argv)
    wanted = set(filter(None, args.only.split(","))) or set(ROWS) - {"sklearn"}
    if args.sklearn:
        wanted.add("sklearn")
    unknown = wanted - set(ROWS)
    if unknown:
        ap.error(f"unknown rows: {', '.join(sorted(unknown))}")
    if args.quick:
        wanted -= {"notebook", "sklearn", "grading", "dask", "validate", "tiers"}
    repeats = args.repeats or (2 if args.quick else 5)
    iters = 10 if args.quick else 1500

    print(f"softmax benchmark{' (quick)' if args.quick else ''}: {dataset_dir()}", flush=True)
    before = load_average()
    data = None
    if wanted & {"loss", "naive", "sgd", "sweep", "sklearn"}:
        data = get_CIFAR10_data()
        if args.quick:   # a small slice of whatever data set is there
            data["X_train"], data["y_train"] = data["X_train"][:2000], data["y_train"][:2000]
    t = Table()
    sweep_result = None
    if "loss" in wanted:
        row_loss(t, data, repeats)
    if "naive" in wanted:
        row_naive(t, data, repeats)
    if "sgd" in wanted:
        row_sgd(t, data, repeats, iters)
    if "sweep" in wanted:
        sweep_result = row_sweep(t, data, iters)
    if "load" in wanted:
        row_load(t, 1 if args.quick else 3)
    if "notebook" in wanted:
        row_notebook(t)
    if "grading" in wanted:
        row_grading(t)
    if "dask" in wanted:
        row_dask(t)
    if "report" in wanted:
        row_report(t, 100 if args.quick else 500, 10 if args.quick else 50)
    if "validate" in wanted:
        row_validate(t)
    if "sklearn" in wanted:
        row_sklearn(t, data, sweep_result)
    if "tiers" in wanted:
        row_tiers(t)

    print()
    print(t.render())
    print()
    for line in machine() + [f"before: {before}", f"after:  {load_average()}"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
