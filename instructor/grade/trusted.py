"""The trusted verdict: every test's points decided outside the student's process.

After nbgrader has run the notebook in the student's kernel, that run decides
nothing about the automatic points any more. Instead, grade_tests()

1. loads the notebook-level results the kernel saved as plain data
   (boundary/results.py: best_val, best_softmax.W, results, ...) as hostile input;
2. starts a worker process over a copy of the hand-in's package files only
   (boundary/client.py WorkerClient), in a box of the job's tier with the job's
   limits (sandbox/box.py, as the kernel's); the worker imports the student's files and
   answers requests with arrays, nothing else;
3. builds a Subject (proxies for the student's functions, the student's source
   texts for inspection, the results, the instructor's own data) and runs the
   instructor's checks for every automatically graded cell with grade_cell(),
   in this process, which never imports or executes student code;
4. writes each verdict into the hand-in's gradebook (auto_score = the cell's
   points if it passed, else 0, for every automatic grade, so no score nbgrader
   took from the kernel's outputs survives) and returns the TestScores read back
   from that gradebook: grades.csv, Formgrader and the feedback show the same.

Hidden checks run only here: nothing of them is ever sent to the worker, which
sees arrays and numbers only.

The checks come from instructor.checks.suite (Subject, grade_cell, AUTO_TESTS,
load_trusted_data).
"""
import importlib
import os
import shutil
import time

import numpy as np

from instructor.assignment import ASSIGNMENT_ID, NOTEBOOK, PACKAGE, REPO_ROOT
from instructor.grade.job import TestScore

SUITE_MODULE = "instructor.checks.suite"
RESULTS_FILE = "notebook_results.npz"
MAX_RESULTS_BYTES = 64 << 20   # larger results files are not taken out of the kernel's room
CALL_TIMEOUT = 120        # seconds of wall time per call into the worker


class TrustedGradeError(RuntimeError):
    """The trusted checks cannot run as configured (the grader's fault, not the student's)."""


def suite():
    """The module with Subject, grade_cell, AUTO_TESTS and load_trusted_data."""
    return importlib.import_module(SUITE_MODULE)


# ---- the instructor's data, loaded once per bundle -------------------------------------------
def trusted_data(bundle):
    """The suite's TrustedData for bundle.data_dir; kept as a plain .npz beside the
    bundle's work folder, so a batch loads the data set once, not once per hand-in."""
    checks = suite()
    cache = os.path.join(os.path.dirname(os.path.abspath(bundle.work)),
                         f"trusted-data-{bundle.fingerprint[:16]}.npz")
    fields = ("X_val", "y_val", "X_test", "y_test")
    if os.path.isfile(cache):
        try:
            # Written by the grader itself (below), never by a hand-in: no pickle all the same.
            with np.load(cache, allow_pickle=False) as f:
                data = {k: f[k] for k in fields}
            return checks.TrustedData(**data)
        except (OSError, KeyError, ValueError):
            pass
    data = checks.load_trusted_data(bundle.data_dir)
    tmp = f"{cache}.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, **{k: getattr(data, k) for k in fields})
        os.replace(tmp, cache)      # atomic: a parallel hand-in reads all or nothing
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return data


# ---- the student's package, and a worker over it ------------------------------------------------
def copy_package(handin_dir, dest, release_dir=None, student_files=None):
    """Copy the package's .py files (regular files only) to dest/PACKAGE; returns
    {relative path: text} of them, for the checks that read the code.

    With release_dir, only student_files come from the hand-in and every other file is
    the release's (a .py file the release does not have is not copied): the worker
    imports the same given files as the notebook's kernel, whatever the zip held."""
    sources = {}
    if release_dir is None:
        picks = [(rel, handin_dir) for rel in _package_files(handin_dir)]
    else:
        keep = set(student_files or ())
        picks = [(rel, handin_dir) for rel in _package_files(handin_dir) if rel in keep]
        picks += [(rel, release_dir) for rel in _package_files(release_dir) if rel not in keep]
    for rel, root in sorted(picks):
        path = os.path.join(root, rel)
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        with open(path, "rb") as f:
            sources[rel] = f.read().decode("utf-8", "replace")
    return sources


def _package_files(root):
    """The package's .py files under root that are regular files (no links)."""
    found = []
    top = os.path.join(root, PACKAGE)
    for folder, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__"
                         and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(names):
            path = os.path.join(folder, name)
            if name.endswith(".py") and not os.path.islink(path) and os.path.isfile(path):
                found.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return found


def worker_box(job, bundle, folder):
    """The box of the trusted worker: the job's tier and every one of its limits, over
    the copy of the package only; it sees the interpreter and the worker's two files,
    nothing of the grader, the other hand-ins or the data set."""
    from instructor.boundary import client as client_mod
    from instructor.sandbox.box import Box
    return Box(job.options.sandbox, folder, job.limits,
               read_only=[client_mod.WORKER_PATH, client_mod.PROTOCOL_PATH],
               deny=[REPO_ROOT] + list(bundle.hide),
               reachable=[bundle.data_dir])   # the kernels' beside it (uid tier only)


def client_args(box):
    """What WorkerClient needs to start its worker in box."""
    return {"launcher": box.command(), "preexec_fn": box.preexec, "python": box.python,
            "env": box.env()}


# ---- nbgrader's own scores: never taken from the kernel's outputs ----------------------------
def unjudged_save_autogrades():
    """nbgrader's SaveAutoGrades, except that a test cell's score is not read from the
    outputs the student's kernel produced (nbgrader would take the first
    execute_result as the score, and a bad one even stops the hand-in's grading):
    every test cell starts at 0 until grade_tests() writes the trusted verdict.
    Written answers are treated as nbgrader does (unchanged: 0 points, else graded by hand)."""
    from nbgrader import utils as nbutils
    from nbgrader.preprocessors import SaveAutoGrades

    class SaveUnjudgedGrades(SaveAutoGrades):
        def _add_score(self, cell, resources):
            if nbutils.is_solution(cell) or cell.cell_type != "code":
                return super()._add_score(cell, resources)
            grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"],
                                              self.notebook_id, self.assignment_id,
                                              self.student_id)
            grade.auto_score = 0.0
            grade.needs_manual_grade = False
            self.gradebook.db.commit()

    return SaveUnjudgedGrades


# ---- the verdicts -----------------------------------------------------------------------------
def grade_tests(job, bundle, course, handin_dir, results_path, work, notes):
    """Judge every automatically graded cell of the hand-in in course (an nbgrader
    course folder whose gradebook already has the submission) outside the student's
    process; returns ([TestScore] in notebook order, seconds taken).

    Inputs:
    - handin_dir: the hand-in's folder as unpacked and repaired (the package the
      kernel never ran in); only its PACKAGE/*.py files are used.
    - results_path: the file the kernel's results step wrote (may be missing).
    - work: a folder of this hand-in for the worker's copy and log.
    - notes: the hand-in's Notes (a line about the worker's own problems, if any).
    """
    from instructor.boundary.client import WorkerClient
    from instructor.boundary.results import load_results
    started = time.perf_counter()
    checks = suite()
    auto = [c for c in bundle.cells if c.kind == "auto"]
    unknown = [c.grade_id for c in auto if c.grade_id not in checks.AUTO_TESTS]
    if unknown:
        raise TrustedGradeError(f"no trusted checks for the test cells {', '.join(unknown)}")
    data = trusted_data(bundle)
    results = load_results(results_path, w_shape=(data.X_val.shape[1], _classes(data)))
    if results.problems:   # for the instructor's log
        print("notebook results:", "; ".join(f"{k}: {v}" for k, v in sorted(results.problems.items())),
              flush=True)

    folder = os.path.join(work, "trusted")
    os.makedirs(folder, exist_ok=True)
    release_dir = os.path.join(bundle.template, "release", ASSIGNMENT_ID)
    sources = copy_package(handin_dir, folder, release_dir, bundle.student_files)
    verdicts = {}
    with worker_box(job, bundle, folder) as box:
        with WorkerClient(box.folder, timeout=CALL_TIMEOUT, memory_bytes=job.limits.memory,
                          log_path=os.path.join(box.folder, "worker-output.txt"),
                          **client_args(box)) as client:
            subject = checks.Subject(
                loss_naive=client.function("softmax_loss_naive"),
                loss_vectorized=client.function("softmax_loss_vectorized"),
                sample_batch=client.sample_batch,
                make_classifier=client.make_classifier,
                sources=sources, results=results, data=data)
            for c in auto:
                verdicts[c.grade_id] = checks.grade_cell(c.grade_id, subject)
    tests = write_gradebook(course, job.student_id, auto, verdicts)
    for t in tests:   # the diagnosis in the CSV's notes too (first line)
        if t.status != "passed":
            first = t.message.splitlines()[0] if t.message else ""
            notes.append(f"{t.name}: {first[:200]}")
    return tests, round(time.perf_counter() - started, 2)


def _classes(data):
    labels = np.concatenate([np.asarray(data.y_val).ravel(), np.asarray(data.y_test).ravel()])
    return int(labels.max()) + 1 if labels.size else 10


def write_gradebook(course, student_id, auto_cells, verdicts):
    """Set every automatic grade of the submission from the verdicts; returns the
    TestScores as the gradebook now holds them (one truth for CSV, Formgrader, feedback)."""
    from nbgrader.api import Gradebook
    notebook_id = os.path.splitext(NOTEBOOK)[0]
    tests = []
    with Gradebook(f"sqlite:///{os.path.join(course, 'gradebook.db')}") as gb:
        for c in auto_cells:
            grade = gb.find_grade(c.grade_id, notebook_id, ASSIGNMENT_ID, student_id)
            v = verdicts[c.grade_id]
            top = float(grade.max_score)
            grade.auto_score = top if v.passed else 0.0
            grade.needs_manual_grade = False
        gb.db.commit()
        for c in auto_cells:
            grade = gb.find_grade(c.grade_id, notebook_id, ASSIGNMENT_ID, student_id)
            v = verdicts[c.grade_id]
            points, top = float(grade.auto_score), float(grade.max_score)
            tests.append(TestScore(c.grade_id, points, top,
                                   "passed" if v.passed else "failed",
                                   "" if v.passed else (v.message or "the check failed")))
    return tests


# ---- what must never reach a student ----------------------------------------------------------
HIDDEN_CHECKS = os.path.join(REPO_ROOT, "instructor", "checks", "hidden.py")


def hidden_check_lines(release_dir=None):
    """Distinctive lines of the hidden checks' source, for the last leak check of a
    feedback page. Lines that also occur in what students are given (release_dir),
    imports and short lines are left out: they say nothing and would match anywhere."""
    if not os.path.isfile(HIDDEN_CHECKS):
        return []
    with open(HIDDEN_CHECKS, encoding="utf-8") as f:
        lines = {line.strip() for line in f}
    given = ""
    if release_dir and os.path.isdir(release_dir):
        for root, _, names in os.walk(release_dir):
            for name in names:
                if name.endswith((".py", ".ipynb", ".md")):
                    with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                        given += f.read()
    return sorted(line for line in lines
                  if len(line) >= 16 and not line.startswith(("import ", "from ", "#"))
                  and line not in given)
