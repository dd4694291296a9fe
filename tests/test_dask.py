"""Grading on a real Dask cluster (`autograde --scheduler`, or DASK_SCHEDULER_ADDRESS).

A scheduler and worker processes run here as an instructor starts them by hand
(tests/dask_cluster.py). Two hand-ins, the solution and a known bug, are graded
once locally (--jobs 2, in the small class of tests/conftest.py, shared with the class
report's tests) and once on the cluster, where a worker without the data
set is present from the start and a good worker is killed (SIGKILL) in the
middle of a hand-in. The cluster's grades must equal the local ones, every
hand-in graded, and nothing the killed worker started may keep running.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("distributed")

from dask_cluster import LocalDaskCluster  # noqa: E402
from helpers import (AUTO_MAX, REPO, TESTS, gradebook_grades, read_grades,  # noqa: E402
                     run_autograde, scores)

from instructor.grade.dask_engine import (WorkerSetupError, code_fingerprint,  # noqa: E402
                                          grade_on_worker)
from instructor.grade.job import Bundle, Job  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

BUG_LOSES = "test_vectorized"      # the regularization gradient off by 2x


@pytest.fixture(scope="module")
def submissions(tmp_path_factory, small_class):
    """Copies of the small class's sol and bug zips (tests/conftest.py), without its
    roster and its third hand-in."""
    subs = tmp_path_factory.mktemp("dask-handins")
    for sid in ("sol", "bug"):
        shutil.copy2(small_class[0] / f"softmax_{sid}.zip", subs)
    return subs


@pytest.fixture(scope="module")
def local_grades(small_class):
    """The rows of the same two zips graded locally (--jobs 2) in the small class's batch."""
    grades = read_grades(small_class[1])
    return {sid: grades[sid] for sid in ("sol", "bug")}


def _children(pid):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return found


def _descendants(pid):
    todo, found = [pid], []
    while todo:
        for child in _children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, submissions, synthetic_cifar):
    """The batch on a cluster of two good workers and one without the data set;
    a good worker is killed while its kernel runs a hand-in."""
    folder = tmp_path_factory.mktemp("dask-cluster")
    cluster = LocalDaskCluster(folder / "cluster")
    try:
        workers = {name: cluster.add_worker(name, synthetic_cifar) for name in ("good1", "good2")}
        cluster.add_worker("nodata", folder / "no-such-folder")
        cluster.wait_for_workers(3)
        out = folder / "out"
        env = dict(os.environ, DASK_SCHEDULER_ADDRESS=cluster.address)
        env.pop("CIFAR10_DIR", None)  # the client needs no data set
        batch = subprocess.Popen([sys.executable, "-m", "instructor", "autograde",
                                  str(submissions), "--out", str(out)],
                                 cwd=REPO, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        # Wait until a good worker's hand-in has a kernel running, then kill that worker.
        deadline, victim, doomed = time.monotonic() + 600, None, []
        while victim is None:
            assert batch.poll() is None and time.monotonic() < deadline, batch.communicate()
            for name, proc in workers.items():
                tree = _descendants(proc.pid)
                if any("ipykernel_launcher" in _cmdline(p) for p in tree):
                    victim, doomed = name, tree
                    break
            time.sleep(0.5)
        assert any("instructor.grade.one" in _cmdline(p) for p in doomed)
        time.sleep(2)   # well inside the hand-in
        cluster.kill(victim)
        stdout, stderr = batch.communicate(timeout=1200)
        # What the killed worker started dies with it (no timing verdict: a generous wait).
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in doomed) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = [(p, _cmdline(p)) for p in doomed if _alive(p)]
        before = read_grades(out)
        # The same command again, on what is left of the cluster (--scheduler this time).
        rerun = run_autograde(submissions, out, "--scheduler", cluster.address)
        yield dict(out=out, returncode=batch.returncode, stdout=stdout, stderr=stderr,
                   victim=victim, leftovers=leftovers, before=before, rerun=rerun)
    finally:
        cluster.close()


def test_cluster_grades_equal_the_local_batch(cluster_run, local_grades):
    r = cluster_run
    assert r["returncode"] == 0, r["stdout"] + r["stderr"]
    assert "on the Dask cluster at" in r["stdout"]
    grades = read_grades(r["out"])
    assert sorted(grades) == sorted(local_grades) == ["bug", "sol"]
    for sid in grades:
        assert grades[sid]["status"] == "graded", grades[sid]
        assert grades[sid] == local_grades[sid]
    assert float(grades["sol"]["total"]) == AUTO_MAX
    assert scores(grades["bug"]) == {t: (0.0 if t == BUG_LOSES else float(p))
                                     for t, p in TESTS.items()}


def test_cluster_run_writes_gradebook_feedback_and_results(cluster_run):
    out = cluster_run["out"]
    grades = read_grades(out)
    for sid in grades:
        auto = {name: score for name, (score, _) in gradebook_grades(out, sid).items()
                if name in TESTS}
        assert auto == scores(grades[sid])
        assert (out / "feedback" / sid / "softmax.html").stat().st_size > 1000
        assert (out / "autograded" / sid / "softmax" / "softmax.ipynb").is_file()
        assert json.loads((out / "results" / f"{sid}.json").read_text())["status"] == "graded"


def test_killed_worker_leaves_nothing_running(cluster_run):
    assert cluster_run["leftovers"] == []


def test_worker_without_data_set_is_named_and_gets_no_handin(cluster_run):
    err = cluster_run["stderr"]
    line = next((ln for ln in err.splitlines() if "CIFAR-10 not found" in ln), "")
    assert "no-such-folder" in line and "worker tcp://127.0.0.1:" in line, err
    assert "get_datasets.sh" in line


def test_rerun_on_the_cluster_grades_nothing_again(cluster_run):
    proc = cluster_run["rerun"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 to grade, 2 already graded" in proc.stdout
    assert read_grades(cluster_run["out"]) == cluster_run["before"]


def test_only_broken_workers_stop_the_batch_with_their_names(tmp_path, submissions):
    cluster = LocalDaskCluster(tmp_path / "cluster")
    try:
        cluster.add_worker("empty", tmp_path / "no-data-here")
        cluster.wait_for_workers(1)
        out = tmp_path / "out"
        proc = run_autograde(submissions, out, "--scheduler", cluster.address)
    finally:
        cluster.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no Dask worker can grade" in proc.stderr
    assert f"worker {cluster.address.rsplit(':', 1)[0]}:" in proc.stderr
    assert "no-data-here" in proc.stderr and "CIFAR-10 not found" in proc.stderr
    assert not list((out / "results").glob("*.json"))   # nobody got a 0


def test_scheduler_that_cannot_import_the_grader_is_a_clear_error(tmp_path, submissions,
                                                                  synthetic_cifar):
    from dask_cluster import installed_grader
    if installed_grader():
        pytest.skip("a grader is installed in this Python (make setup): any scheduler "
                    "started with it imports one")
    cluster = LocalDaskCluster(tmp_path / "cluster", scheduler_imports_grader=False)
    try:
        cluster.add_worker("w", synthetic_cifar)
        cluster.wait_for_workers(1)
        proc = run_autograde(submissions, tmp_path / "out", "--scheduler", cluster.address)
    finally:
        cluster.close()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot run the grader's tasks" in proc.stderr and "PYTHONPATH" in proc.stderr
    assert not list((tmp_path / "out" / "results").glob("*.json"))


def test_unreachable_scheduler_is_a_clear_error(tmp_path, submissions):
    proc = run_autograde(submissions, tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert proc.returncode == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr


# ---- the worker's checks, in this process ------------------------------------------------
def _never(job, bundle):
    raise AssertionError("a hand-in was graded on a broken worker")


@pytest.mark.parametrize("breakage, phrase", [
    ("data", "CIFAR-10 not found"),
    ("nbgrader", "lacks nbgrader"),
    ("code", "another version of the grader"),
])
def test_broken_worker_raises_an_error_naming_it(breakage, phrase, monkeypatch, tmp_path,
                                                 synthetic_cifar):
    import socket
    from instructor.grade import dask_engine
    monkeypatch.setattr(dask_engine, "_checked", {})
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "none" if breakage == "data"
                                          else synthetic_cifar))
    if breakage == "nbgrader":
        monkeypatch.setitem(sys.modules, "nbgrader", None)   # import nbgrader fails
    code = "0" * 64 if breakage == "code" else code_fingerprint()
    job = Job("s", "s.zip", b"", "0" * 64, 0.0)
    bundle = Bundle(template="", fingerprint="f" * 64, student_files=[], cells=[],
                    data_dir="", work="")
    with pytest.raises(WorkerSetupError) as e:
        grade_on_worker(_never, job, bundle, b"", code, "none", {})
    assert phrase in str(e.value)
    assert str(e.value).startswith(f"worker {socket.gethostname()}: ")
