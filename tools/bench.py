"""Benchmark the softmax assignment against its hardware floors and print one table.

    make bench                             # everything except scikit-learn (several minutes)
    python -m tools.bench                  # the same
    python -m tools.bench --sklearn        # also scikit-learn's LogisticRegression (minutes more)
    python -m tools.bench --quick          # small data, few repeats: a smoke test, seconds
    python -m tools.bench --only loss,sgd  # rows: loss naive sgd busy sweep load notebook grading
                                           #       dask sklearn
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
from cs231n import prefetch  # noqa: E402
from cs231n.classifiers import linear_classifier  # noqa: E402
from cs231n.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized  # noqa: E402
from cs231n.data_utils import dataset_dir, get_CIFAR10_data  # noqa: E402
from cs231n.sweep import sweep_hyperparameters  # noqa: E402

# The notebook's settings: one SGD run, and the hyperparameter grid of its sweep.
SGD_LR, SGD_REG = 1e-6, 1e3
LEARNING_RATES = [5e-7, 1e-6, 2e-6, 3e-6, 5e-6]
REGULARIZATIONS = [1e1, 1e2, 1e3, 3e3, 1e4]
ROWS = ["loss", "naive", "sgd", "busy", "sweep", "load", "notebook", "grading", "dask",
        "sklearn"]


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


def plain_train(X, y, learning_rate, reg, num_iters, batch_size=200, seed=0):
    """The plain way, kept here as a fixed reference: the original assignment's
    training loop, which samples, gathers, computes the loss and updates one after
    another in one thread, with BLAS at its default threads. It draws the same
    random numbers as Softmax(seed).train. Returns the weights."""
    rng = np.random.default_rng(seed)
    W = (0.001 * rng.standard_normal((X.shape[1], int(y.max()) + 1))).astype(X.dtype)
    for _ in range(num_iters):
        idx = rng.integers(0, X.shape[0], size=batch_size)
        _, grad = softmax_loss_vectorized(W, X[idx], y[idx], reg)
        W -= learning_rate * grad
    return W


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


def sgd_floor(X, iters, threads, batch_size=200):
    """iters times X_b @ W and X_b.T @ dS on a contiguous batch, with BLAS on threads."""
    Xb = np.ascontiguousarray(X[:batch_size])
    W = np.zeros((X.shape[1], 10), dtype=X.dtype)
    dS = np.ones((batch_size, 10), dtype=X.dtype)

    def run():
        with threadpool_limits(limits=threads, user_api="blas"):
            for _ in range(iters):
                Xb @ W
                Xb.T @ dS
    return run


def sgd_runs(X, y, iters):
    """The notebook's SGD run on (X, y): with Softmax.train as it is, and the plain way."""
    return (lambda: Softmax(seed=0).train(X, y, learning_rate=SGD_LR, reg=SGD_REG,
                                          num_iters=iters),
            lambda: plain_train(X, y, SGD_LR, SGD_REG, iters))


def row_sgd(t, data, repeats, iters):
    """3: one SGD run against the floor of its own matrix products."""
    X, y = data["X_train"], data["y_train"]
    most = blas_threads()
    own = linear_classifier._minibatch_blas_threads(200, X.shape[1], 10) or most
    idx = np.random.default_rng(0).integers(0, X.shape[0], size=(iters, 200))

    def gather():
        for i in range(iters):
            X[idx[i]]
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype, copy=False)
        train, train_original = sgd_runs(Xd, y, iters)

        def train_inline():  # train() with its minibatches drawn in its own thread
            saved = prefetch.usable_cpus
            prefetch.usable_cpus = lambda: 1
            try:
                train()
            finally:
                prefetch.usable_cpus = saved
        fns = [train, sgd_floor(Xd, iters, own)]
        if most != own:
            fns += [sgd_floor(Xd, iters, most), train_original]
        if dtype == np.float32:
            fns += [train_inline, gather]
        times = measure(*fns, repeats=repeats, min_sample=0.0)
        name = np.dtype(dtype).name
        run, floor_own = times[0], times[1]
        what = f"SGD run, {iters} it x 200, {name}" + (" (loader's)" if dtype == np.float32 else "")
        t.add(f"3 {name}", what, fmt_time(run),
              f"its products ({own} BLAS thread) {fmt_time(floor_own)}", run / floor_own,
              "<= 1.30", run / floor_own <= 1.30)
        if most != own:
            t.add(f"3 {name} b", f"  same run, against the products on {most} threads", "",
                  fmt_time(times[2]), run / times[2], "(for honesty)")
            t.add(f"3 {name} c", f"  the plain loop (no prefetch, BLAS on {most} threads)",
                  fmt_time(times[3]), f"its products {fmt_time(times[2])}",
                  times[3] / times[2], "(for honesty)")
        if dtype == np.float32:
            t.add("3 inline", "  same run, minibatches drawn inline (no prefetch)",
                  fmt_time(times[-2]), f"its products {fmt_time(floor_own)}",
                  times[-2] / floor_own, "(for comparison)")
            t.add("3 gather", f"  random row gather X[idx] alone, {name}", fmt_time(times[-1]),
                  f"its products {fmt_time(floor_own)}", times[-1] / floor_own, "(fraction)")
        del Xd


def row_busy(t, data, repeats, iters):
    """3: one SGD run while another process keeps one core busy, BLAS threads as now
    against the plain loop (what a shared machine or a laptop's browser does to it)."""
    train, train_original = sgd_runs(data["X_train"], data["y_train"], iters)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        now, original = measure(train, train_original, repeats=max(2, repeats // 2),
                                min_sample=0.0)
    finally:
        hog.kill()
        hog.wait()
    t.add("3 busy", "  SGD run, float32, one core busy elsewhere", fmt_time(now),
          f"plain loop, BLAS on {blas_threads()} threads {fmt_time(original)}",
          original / now, "(speed-up)")


def plain_sequential_sweep(X, y, Xv, yv, iters, lrs, regs, plain=True):
    """A grid trained one point after another: with plain_train (the plain way),
    or with plain=False, a new Softmax per point (train() as it is now).
    Returns the best validation accuracy."""
    best_val = -1.0
    for lr in lrs:
        for reg in regs:
            with np.errstate(all="ignore"):
                if plain:
                    W = plain_train(X, y, lr, reg, iters)
                else:
                    clf = Softmax(seed=0)
                    clf.train(X, y, learning_rate=lr, reg=reg, num_iters=iters)
                    W = clf.W
                # the train accuracy is not needed here, but the sweep computes it too
                np.mean(np.argmax(X @ W, axis=1) == y)
                best_val = max(best_val, float(np.mean(np.argmax(Xv @ W, axis=1) == yv)))
    return best_val


def row_sweep(t, data, iters, lrs, regs):
    """4 and 8: the notebook's sweep against the sequential loop; its accuracy."""
    X, y, Xv, yv = data["X_train"], data["y_train"], data["X_val"], data["y_val"]
    found = {}

    def sweep():
        found["sweep"] = sweep_hyperparameters(X, y, Xv, yv, lrs, regs,
                                               num_iters=iters, verbose=False)
    X64, Xv64 = X.astype(np.float64), Xv.astype(np.float64)

    def plain64():  # the plain way: float64 data, the original training loop
        found["plain64"] = plain_sequential_sweep(X64, y, Xv64, yv, iters, lrs, regs)

    def plain32():  # the loader's float32 data and train() as it is now
        found["plain32"] = plain_sequential_sweep(X, y, Xv, yv, iters, lrs, regs, plain=False)
    # The sequential loops take minutes: one run each, between runs of the sweep.
    samples = {"sweep": [], "plain64": [], "plain32": []}
    sweep()                                                   # warm-up
    for fn, name in [(sweep, "sweep"), (plain64, "plain64"), (sweep, "sweep"),
                     (plain32, "plain32"), (sweep, "sweep")]:
        t0 = time.perf_counter()
        fn()
        samples[name].append(time.perf_counter() - t0)
    del X64, Xv64
    grid = f"{len(lrs)}x{len(regs)}"
    ts = statistics.median(samples["sweep"])
    _, best_val, best = found["sweep"]
    for name, label in [("plain64", "float64"), ("plain32", "float32")]:
        tp = statistics.median(samples[name])
        how = "the plain loop" if label == "float64" else "Softmax.train as now"
        t.add(f"4 {label}", f"sequential loop, {grid} x {iters} it, {label}, {how}",
              fmt_time(tp), f"sweep {fmt_time(ts)}", tp / ts,
              ">= 8 (speed-up)" if label == "float64" else "(for honesty)",
              tp / ts >= 8 if label == "float64" else None)
        t.add(f"4 {label} acc", "  its best validation accuracy", f"{found[name]:.3f}",
              f"sweep {best_val:.3f}", None, "within 0.03 (2 sd)",
              abs(found[name] - best_val) <= 0.03)
    test_acc = float(np.mean(best.predict(data["X_test"]) == data["y_test"]))
    t.add("8 sweep", f"sweep {grid}: best val / test accuracy", f"{best_val:.3f} / {test_acc:.3f}",
          f"time {fmt_time(ts)}")
    return best_val, test_acc, ts


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
          growth, "<= 1.20", growth <= 1.20)
    t.add("5 absolute", "  peak RSS of the process", f"{r['peak'] / MB:.0f} MB",
          f"after imports {r['base'] / MB:.0f} MB")


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
    cores = prefetch.usable_cpus()
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
        times = {}
        for name, folder, jobs in [("one", one, 1), ("many1", many, 1), ("manyN", many, cores)]:
            out = os.path.join(tmp, f"out-{name}")
            times[name], proc = _tool("autograde", folder, "--out", out, "--jobs", str(jobs),
                                      env=env)
            full = proc.returncode == 0 and _all_full_marks(os.path.join(out, "grades.csv"))
            if not full:
                t.add("7", f"make autograde ({name})", "FAILED",
                      (proc.stdout + proc.stderr).strip()[-200:])
                return
    t.add("7 one", "make autograde, 1 hand-in (full marks), wall", fmt_time(times["one"]))
    t.add("7 many", f"make autograde, {handins} hand-ins, --jobs {cores}",
          fmt_time(times["manyN"]), f"--jobs 1 {fmt_time(times['many1'])}",
          times["many1"] / times["manyN"], "(speed-up)")


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


def _all_full_marks(csv_path):
    """Whether every row of grades.csv was graded with total == max."""
    import csv
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    return bool(rows) and all(r["status"] == "graded" and float(r["total"]) == float(r["max"])
                              for r in rows)


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
    usable = prefetch.usable_cpus()
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
        wanted -= {"notebook", "sklearn", "busy", "grading", "dask"}
    repeats = args.repeats or (2 if args.quick else 5)
    iters = 10 if args.quick else 1500

    print(f"softmax benchmark{' (quick)' if args.quick else ''}: {dataset_dir()}", flush=True)
    before = load_average()
    data = None
    if wanted & {"loss", "naive", "sgd", "busy", "sweep", "sklearn"}:
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
    if "busy" in wanted:
        row_busy(t, data, repeats, iters)
    if "sweep" in wanted:
        if args.quick:
            sweep_result = row_sweep(t, data, iters, LEARNING_RATES[1:3], REGULARIZATIONS[2:4])
        else:
            sweep_result = row_sweep(t, data, iters, LEARNING_RATES, REGULARIZATIONS)
    if "load" in wanted:
        row_load(t, 1 if args.quick else 3)
    if "notebook" in wanted:
        row_notebook(t)
    if "grading" in wanted:
        row_grading(t)
    if "dask" in wanted:
        row_dask(t)
    if "sklearn" in wanted:
        row_sklearn(t, data, sweep_result)

    print()
    print(t.render())
    print()
    for line in machine() + [f"before: {before}", f"after:  {load_average()}"]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
