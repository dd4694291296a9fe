"""Hostile and broken hand-ins, graded in one batch through the real pipeline.

Each hand-in below breaks one thing (a few break several that do not interact);
the test asserts the score of every test cell, the line in grades.csv and that
no other grade is touched. The batch runs with small limits (30 s per cell and per
call of the trusted checks, 3 GB of memory, 1 MB zips): the hand-ins that hang spin
until a limit stops them, so the limits set the batch's time. The solved hand-ins use
a small hyperparameter grid (no cell of theirs needs more than a few seconds).

Expected points per test cell, in the order of TESTS:
naive_loss 3, naive_grad 3, vectorized 4, sgd 3, sweep 3, accuracy 1.
"""
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from instructor.boundary.jail import bwrap_available
from instructor.sandbox.policy import BARE_NOTE
from helpers import (REPO, TESTS, assert_no_hidden_tests, cell, handin, package, read_grades,
                     replace_once, run_autograde, scores, student_notebook, write_zip)

pytestmark = pytest.mark.slow

PREDICT = "        y_pred = np.argmax(X @ self.W, axis=1)\n"
NAIVE_START = "    ### BEGIN SOLUTION\n    num_train, num_classes = X.shape[0], W.shape[1]\n"
CELL_TIMEOUT = 30
LIMITS = ["--jobs", "2", "--cell-timeout", str(CELL_TIMEOUT), "--call-timeout", "30",
          "--timeout", "600", "--memory", "3G", "--max-handin", "1M", "--max-unpacked", "5M"]


def pts(naive_loss, naive_grad, vectorized, sgd, sweep, accuracy):
    return dict(zip(TESTS, map(float, (naive_loss, naive_grad, vectorized, sgd, sweep, accuracy))))


FULL = pts(3, 3, 4, 3, 3, 1)
ZERO = pts(0, 0, 0, 0, 0, 0)

# student id -> (expected points, status, phrases expected in the notes)
EXPECTED = {
    "hang": (pts(3, 3, 4, 0, 0, 0), "graded-with-problems",
             [f"time limit of {CELL_TIMEOUT} s per cell"]),
    # Points come from the grader's own checks of the functions, on its own problems:
    # a predict that hangs or dies once in the notebook (on more than 1000 rows), a
    # naive loss that runs out of memory for reg > 10, or a kernel whose numpy was
    # patched lose nothing, and the notes still say what happened in the notebook.
    "stuck": (FULL, "graded-with-problems", ["could not be interrupted"]),
    "dies": (FULL, "graded-with-problems", ["the kernel died"]),
    "memory": (FULL, "graded-with-problems", ["MemoryError"]),
    "flood": (FULL, "graded-with-problems", ["output cut to 1048576 bytes"]),
    "importerr": (ZERO, "graded-with-problems", ["the setup cell failed (RuntimeError"]),
    "syntax": (pts(3, 3, 4, 0, 0, 0), "graded-with-problems",
               ["linear_classifier.py does not compile (line"]),
    "missing": (pts(3, 3, 0, 0, 0, 0), "graded-with-problems",
                ["lacks softmax_loss_vectorized", "linear_classifier.py is missing"]),
    "renamed": (FULL, "graded-with-problems",
                ["graded Softmax (1).ipynb", "a path outside the assignment folder",
                 "a symbolic link", "test_naive_grad (deleted)", "sgd_run (edited)"]),
    "badjson": (pts(3, 3, 4, 3, 0, 0), "graded-with-problems", ["softmax.ipynb cannot be read"]),
    "tamper": (FULL, "graded-with-problems",
               ["replaced functions", "numpy.allclose", "builtins.len"]),
    "nonb": (pts(3, 3, 4, 3, 0, 0), "graded-with-problems", ["the hand-in has no softmax.ipynb"]),
    "dup": (ZERO, "graded", ["2 hand-ins for this student: graded dup.zip (the newest)"]),
    "notazip": (ZERO, "not-graded", ["not a readable zip file"]),
    "empty": (ZERO, "not-graded", ["the zip is empty"]),
    "bomb": (ZERO, "not-graded", ["unpack to 50 MB", "more than the limit of 5 MB"]),
    "huge": (ZERO, "not-graded", ["more than the limit of 1 MB"]),
}

# An extra cell in one hand-in reports what the kernel can reach.
SNOOP = f"""
import os, socket
print("SNOOP instructor", os.path.exists({str(REPO / 'instructor')!r}))
print("SNOOP solution", os.path.exists({str(REPO / 'cs231n' / 'classifiers' / 'softmax.py')!r}))
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3).close()
    print("SNOOP network yes")
except OSError:
    print("SNOOP network no")
"""


def solved_py(dist, **changes):
    py = package(dist)
    for rel, (old, new) in changes.items():
        py[rel] = replace_once(py[rel], old, new)
    return py


def build_handins(subs, dist):
    lc, sm = "cs231n/classifiers/linear_classifier.py", "cs231n/classifiers/softmax.py"
    handin(subs / "hang.zip", dist, py=solved_py(dist, **{lc: (PREDICT, "        while True:\n            pass\n")}))
    # Stuck once and dead once: a marker in the hand-in's folder (it outlives the
    # kernel) makes the kernel restarted after the first time behave.
    handin(subs / "stuck.zip", dist, py=solved_py(dist, **{lc: (PREDICT, (
        "        import os\n"
        "        if X.shape[0] > 1000 and not os.path.exists('stuck.marker'):\n"
        "            open('stuck.marker', 'w').close()\n            import signal\n"
        "            signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "            while True:\n                pass\n" + PREDICT))}))
    handin(subs / "dies.zip", dist, py=solved_py(dist, **{lc: (PREDICT, (
        "        import os\n"
        "        if X.shape[0] > 1000 and not os.path.exists('dies.marker'):\n"
        "            open('dies.marker', 'w').close()\n            os._exit(1)\n" + PREDICT))}))
    handin(subs / "memory.zip", dist, py=solved_py(dist, **{sm: (NAIVE_START, (
        "    if reg > 10:  # far more than the machine has, 800 MB at a time\n"
        "        hog = [np.ones(10**8) for _ in range(1000)]\n" + NAIVE_START))}))

    nb = student_notebook(dist)
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": SNOOP})
    handin(subs / "flood.zip", dist, notebook=nb, py=solved_py(dist, **{lc: (PREDICT, (
        "        for _ in range(300):\n            print('x' * 9999)\n" + PREDICT))}))

    py = package(dist)
    py[sm] += '\nraise RuntimeError("softmax.py is broken at import")\n'
    handin(subs / "importerr.zip", dist, py=py)
    py = package(dist)
    py[lc] += "\ndef broken(:\n    pass\n"
    handin(subs / "syntax.zip", dist, py=py)
    py = package(dist)
    py[sm] = py[sm][:py[sm].index("def softmax_loss_vectorized")]
    del py[lc], py["cs231n/vis_utils.py"]
    handin(subs / "missing.zip", dist, py=py)

    # renamed notebook, a deleted test cell, an edited read-only cell, unsafe zip entries
    nb = student_notebook(dist)
    nb["cells"] = [c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"] != "test_naive_grad"]
    sgd = cell(nb, "sgd_run")
    sgd["source"] = replace_once("".join(sgd["source"]), "num_iters=1500", "num_iters=1")
    with zipfile.ZipFile(subs / "renamed.zip", "w") as z:
        z.writestr("Softmax (1).ipynb", json.dumps(nb))
        for rel, text in package(dist).items():
            z.writestr(rel, text)
        z.writestr("../evil.py", "print('outside')\n")
        z.writestr("/abs_evil.py", "print('absolute')\n")
        link = zipfile.ZipInfo("cs231n/link.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")

    files = {"softmax.ipynb": json.dumps(student_notebook(dist))[:5000]}
    files.update(package(dist))
    write_zip(subs / "badjson.zip", files)
    handin(subs / "tamper.zip", dist, py=solved_py(dist, **{lc: (PREDICT, (
        "        np.allclose = lambda *a, **k: True\n        np.isclose = lambda *a, **k: True\n"
        "        import builtins\n        builtins.len = lambda x, _len=len: _len(x)\n"
        + PREDICT))}))
    write_zip(subs / "nonb.zip", package(dist))              # the notebook was left out

    handin(subs / "softmax_dup.zip", dist)                 # older: ignored
    handin(subs / "dup.zip", dist, solved=False)           # newer: graded
    old = time.time() - 3600
    os.utime(subs / "softmax_dup.zip", (old, old))

    (subs / "notazip.zip").write_bytes(b"PK\x03\x04 but not really a zip")
    write_zip(subs / "empty.zip", {})
    with zipfile.ZipFile(subs / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("softmax.ipynb", b" " * (50 << 20))     # 50 MB that compress to 50 KB
    files = {"softmax.ipynb": json.dumps(student_notebook(dist)), "padding.bin": os.urandom(2 << 20)}
    write_zip(subs / "huge.zip", files)
    write_zip(subs / "bad name!.zip", {"softmax.ipynb": "{}"})


@pytest.fixture(scope="session")
def hostile(tmp_path_factory, synthetic_cifar, dist):
    subs = tmp_path_factory.mktemp("hostile")
    build_handins(subs, dist)
    out = tmp_path_factory.mktemp("hostile-grading") / "out"
    start = time.monotonic()
    proc = run_autograde(subs, out, *LIMITS, synthetic=synthetic_cifar)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc, time.monotonic() - start


@pytest.mark.parametrize("sid", sorted(EXPECTED))
def test_hostile_handin_gets_the_right_score_and_a_clear_note(hostile, sid):
    out, proc, _ = hostile
    row = read_grades(out)[sid]
    expected, status, phrases = EXPECTED[sid]
    assert scores(row) == expected, row["notes"]
    assert float(row["total"]) == sum(expected.values())
    assert row["status"] == status, row["notes"]
    for phrase in phrases:
        assert phrase in row["notes"], row["notes"]
    page = out / "feedback" / sid / "softmax.html"
    assert page.is_file()
    assert_no_hidden_tests(page)
    if status == "not-graded":
        assert phrases[0] in page.read_text()


def test_every_handin_has_a_row_and_unattributable_zips_are_listed(hostile):
    out, proc, seconds = hostile
    rows = read_grades(out)
    assert sorted(k for k in rows if rows[k]["student_id"]) == sorted(EXPECTED)
    assert rows["bad name!.zip"]["status"] == "not-graded"
    assert "cannot tell the student id" in rows["bad name!.zip"]["notes"]
    print(f"hostile batch of {len(EXPECTED)} hand-ins graded in {seconds:.0f} s")


def test_unsafe_zip_entries_are_not_written_anywhere(hostile, tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    assert not list(base.rglob("evil.py")) and not list(base.rglob("link.py"))
    assert not Path("/abs_evil.py").exists()


def test_sandbox_hides_the_instructor_files_and_the_network(hostile):
    out, proc, _ = hostile
    if "sandbox: none" in proc.stdout:
        pytest.skip(f"no sandbox tier can run here ({bwrap_available().reason}): graded bare")
    nb = json.loads((out / "autograded" / "flood" / "softmax" / "softmax.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "SNOOP instructor False" in text
    assert "SNOOP solution False" in text
    assert "SNOOP network no" in text


def test_gradebook_matches_the_csv(hostile):
    from nbgrader.api import Gradebook
    out, _, _ = hostile
    rows = read_grades(out)
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for sid in EXPECTED:
            nb = gb.find_submission_notebook("softmax", "softmax", sid)
            auto = {g.name: g.auto_score for g in nb.grades if g.name in TESTS}
            assert auto == scores(rows[sid]), sid


# ---- interrupted runs ------------------------------------------------------------------------
def test_interrupted_run_resumes_without_regrading(tmp_path, synthetic_cifar, dist):
    subs = tmp_path / "subs"
    subs.mkdir()
    py = solved_py(dist, **{"cs231n/classifiers/softmax.py": (
        "dW += 2 * reg * W", "dW += 4 * reg * W")})
    for sid in ["a", "b", "c"]:  # the same buggy hand-in three times
        handin(subs / f"{sid}.zip", dist, py=py)
    out = tmp_path / "out"
    env = dict(os.environ, CIFAR10_DIR=str(synthetic_cifar))
    # The first run also covers grading bare (explicit --sandbox none): limits only.
    cmd = [sys.executable, "-m", "instructor", "autograde", str(subs), "--out", str(out),
           "--jobs", "1", "--sandbox", "none"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=REPO)
    deadline = time.monotonic() + 600
    while not (out / "results" / "a.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
        time.sleep(0.5)
    time.sleep(3)  # now grading b
    proc.send_signal(signal.SIGKILL)  # the hardest stop: no clean-up at all
    proc.wait()
    proc.stdout.close()

    con = sqlite3.connect(out / "gradebook.db")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    done = json.loads((out / "results" / "a.json").read_text())
    assert not (out / "results" / "c.json").exists()

    rerun = run_autograde(subs, out, "--jobs", "2", synthetic=synthetic_cifar)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "2 to grade, 1 already graded" in rerun.stdout
    assert json.loads((out / "results" / "a.json").read_text()) == done  # not graded again
    rows = read_grades(out)
    expected = dict(pts(3, 3, 0, 3, 3, 1))
    for sid in ["a", "b", "c"]:  # the same hand-in always gets the same score, with or without bwrap
        assert rows[sid]["status"] == "graded" and scores(rows[sid]) == expected
    # Graded bare: said in its row and its log; the others were graded in the jail.
    assert BARE_NOTE in rows["a"]["notes"] and BARE_NOTE in done["notes"]
    assert f"WARNING: {BARE_NOTE}" in (out / "logs" / "a.log").read_text()
    if "sandbox: none" not in rerun.stdout:
        assert BARE_NOTE not in rows["b"]["notes"] + rows["c"]["notes"]
    assert not (out / ".work" / "handins").exists() or not any((out / ".work" / "handins").iterdir())
