"""The trusted verdict: every test's points decided outside the student's process.

After nbgrader has run the notebook in the student's kernel, that run decides
nothing about the automatic points any more. Instead, grade_tests()

1. loads the notebook values the kernel saved as plain data (boundary/results.py,
   the values the assignment's spec lists) as hostile input;
2. starts a worker process over a copy of the hand-in's package files only
   (boundary/client.py WorkerClient), in a box of the job's tier with the job's
   limits (sandbox/box.py, as the kernel's); the worker imports the student's files and
   answers requests with plain data, nothing else;
3. builds a Subject (a proxy for each routine of the spec, the student's source
   texts for inspection, the results, the instructor's own data) and runs the
   spec's checks for every automatically graded cell with grade_cells() (the visible
   checks of all cells before any hidden one), in this
   process, which never imports or executes student code; all calls into the
   hand-in's code share one time budget (the job's trusted_budget, TRUSTED_BUDGET
   unless --trusted-budget says otherwise): once it is spent, the
   remaining checks fail as "too slow" and the grade is final;
4. writes each verdict into the hand-in's gradebook (gradebook.py) and returns the
   TestScores read back from it: grades.csv, Formgrader and the feedback show the same.

Hidden checks run only here: nothing of them is ever sent to the worker, which
sees arrays and numbers only. Nothing here names the assignment: it reads the spec.
"""
import dataclasses
import os
import shutil
import time

import numpy as np

from instructor.assignment import REPO_ROOT, spec as assignment_spec
from instructor.assignment.model import Klass, resolve
from instructor.grade.job import Limits

RESULTS_FILE = "notebook_results.npz"
MAX_RESULTS_BYTES = 64 << 20   # larger results files are not taken out of the kernel's room
# What the student's code prints in the worker, in the box's runtime folder (a path the
# worker can write that the grader sees at the same place, whatever the tier); its end
# goes to the grader's log.
WORKER_OUTPUT = "worker-output.txt"
WORKER_OUTPUT_LOGGED = 16 << 10
# The defaults of Limits.call_timeout and Limits.trusted_budget (--call-timeout,
# --trusted-budget): a job's limits decide.
CALL_TIMEOUT = Limits.call_timeout        # seconds of wall time per call into the worker
TRUSTED_BUDGET = Limits.trusted_budget    # seconds for all calls into one hand-in's code


class TrustedGradeError(RuntimeError):
    """The trusted checks cannot run as configured (the grader's fault, not the student's)."""


# ---- the instructor's data, loaded once per bundle -------------------------------------------
def trusted_data(bundle, spec=None):
    """The spec's grader data for bundle.data_dir (a dataclass of arrays, or None); kept
    as a plain .npz beside the bundle's work folder, so a batch loads it once."""
    spec = spec or assignment_spec()
    if not spec.data:
        return None
    load = resolve(spec.data, spec.root)
    cache = os.path.join(os.path.dirname(os.path.abspath(bundle.work)),
                         f"trusted-data-{bundle.fingerprint[:16]}.npz")
    kind = getattr(load, "returns", None)
    if kind is not None and os.path.isfile(cache):
        try:
            # Written by the grader itself (below), never by a hand-in: no pickle all the same.
            with np.load(cache, allow_pickle=False) as f:
                return kind(**{fd.name: f[fd.name] for fd in dataclasses.fields(kind)})
        except (OSError, KeyError, ValueError, TypeError):
            pass
    data = load(bundle.data_dir)
    if not dataclasses.is_dataclass(data):
        return data
    tmp = f"{cache}.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, **dataclasses.asdict(data))
        os.replace(tmp, cache)      # atomic: a parallel hand-in reads all or nothing
    except OSError:
        pass
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return data


# ---- the student's package, and a worker over it ------------------------------------------------
def copy_package(handin_dir, dest, package=None, release_dir=None, student_files=None):
    """Copy the package's .py files (regular files only) to dest/PACKAGE; returns
    {relative path: text} of them, for the checks that read the code.

    With release_dir, only student_files come from the hand-in and every other file is
    the release's (a .py file the release does not have is not copied): the worker
    imports the same given files as the notebook's kernel, whatever the zip held."""
    package = package or assignment_spec().package
    sources = {}
    if release_dir is None:
        picks = [(rel, handin_dir) for rel in _package_files(handin_dir, package)]
    else:
        keep = set(student_files or ())
        picks = [(rel, handin_dir) for rel in _package_files(handin_dir, package)
                 if rel in keep]
        picks += [(rel, release_dir) for rel in _package_files(release_dir, package)
                  if rel not in keep]
    for rel, root in sorted(picks):
        path = os.path.join(root, rel)
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
        with open(path, "rb") as f:
            sources[rel] = f.read().decode("utf-8", "replace")
    return sources


def _package_files(root, package):
    """The package's .py files under root that are regular files (no links)."""
    found = []
    top = os.path.join(root, package)
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
    the copy of the package only; it sees the interpreter and the worker's files,
    nothing of the grader, the other hand-ins or the data set."""
    from instructor.boundary import client as client_mod
    from instructor.sandbox.box import Box
    return Box(job.options.sandbox, folder, job.limits,
               read_only=list(client_mod.WORKER_FILES),
               deny=[REPO_ROOT] + list(bundle.hide),
               reachable=[bundle.data_dir])   # the kernels' beside it (uid tier only)


def worker_gate():
    """The package gate of the kernel for the worker too: a function that imports a
    package students do not have fails in the checks as it did in the notebook."""
    from instructor.grade.execute import package_gate, requirements_path
    try:
        return package_gate(requirements_path())
    except OSError as e:
        print(f"no package gate for the worker: {e}", flush=True)
        return None


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
def proxies(client, spec):
    """{role: proxy} for every routine of the spec, run through client."""
    found = {}
    for role, r in spec.routines.items():
        if isinstance(r, Klass):
            found[role] = client.object_class(r.module, r.name, r.state, r.methods)
        else:
            found[role] = client.function(r.module, r.name)
    return found


def grade_tests(job, bundle, course, handin_dir, results_path, work, notes, spec=None,
                budget=None):
    """Judge every automatically graded cell of the hand-in in course (an nbgrader
    course folder whose gradebook already has the submission) outside the student's
    process; returns ([TestScore] in notebook order, seconds taken).

    Inputs:
    - handin_dir: the hand-in's folder as unpacked and repaired (the package the
      kernel never ran in); only its package's .py files are used.
    - results_path: the file the kernel's results step wrote (may be missing).
    - work: a folder of this hand-in for the worker's copy and log.
    - notes: the hand-in's Notes (a line about the worker's own problems, if any).
    - spec: the AssignmentSpec (default: the current assignment's).
    - budget: seconds for all calls into the hand-in's code (default: the job's
      limits.trusted_budget; each call at most limits.call_timeout).
    """
    from instructor.boundary.client import WorkerClient
    from instructor.boundary.results import load_results
    from instructor.grade import gradebook
    from instructor.grade.verdicts import Subject, grade_cells
    started = time.perf_counter()
    spec = spec or assignment_spec()
    auto = [c for c in bundle.cells if c.kind == "auto"]
    known = {c.grade_id for c in spec.cells}
    unknown = [c.grade_id for c in auto if c.grade_id not in known]
    if unknown:
        raise TrustedGradeError(f"no trusted checks for the test cells {', '.join(unknown)}")
    data = trusted_data(bundle, spec)
    w_shape = None
    if data is not None and hasattr(data, "X_val"):
        w_shape = (data.X_val.shape[1], _classes(data))
    results = load_results(results_path, spec.values, w_shape=w_shape)
    if results.problems:   # for the instructor's log
        print("notebook results:",
              "; ".join(f"{k}: {v}" for k, v in sorted(results.problems.items())), flush=True)

    folder = os.path.join(work, "trusted")
    os.makedirs(folder, exist_ok=True)
    release_dir = os.path.join(bundle.template, "release", spec.assignment_id)
    sources = copy_package(handin_dir, folder, spec.package, release_dir, bundle.student_files)
    verdicts = {}
    with worker_box(job, bundle, folder) as box:
        with WorkerClient(box.folder, timeout=job.limits.call_timeout,
                          memory_bytes=job.limits.memory,
                          log_path=os.path.join(box.runtime_dir, WORKER_OUTPUT),
                          budget=job.limits.trusted_budget if budget is None else budget,
                          gate=worker_gate(), **client_args(box)) as client:
            subject = Subject(proxies(client, spec), sources=sources, results=results,
                              data=data)
            # Visible checks of every cell before any hidden problem reaches the worker.
            verdicts = grade_cells([c.grade_id for c in auto], subject, spec)
        _log_worker_output(os.path.join(box.runtime_dir, WORKER_OUTPUT))
    tests = gradebook.write_verdicts(course, job.student_id, auto, verdicts, spec)
    for t in tests:   # the diagnosis in the CSV's notes too (first line)
        if t.status != "passed":
            first = t.message.splitlines()[0] if t.message else ""
            notes.append(f"{t.name}: {first[:200]}")
    return tests, round(time.perf_counter() - started, 2)


def _log_worker_output(path, keep=WORKER_OUTPUT_LOGGED):
    """The end of what the hand-in's code printed in the worker, into the grader's own
    log (OUT/logs/, the instructor's). The box could write the file, so it is read as
    hostile: a regular file, not a link, only its last `keep` bytes."""
    from instructor.sandbox.files import tail
    text = tail(path, keep)
    if text.strip():
        print("==== what the hand-in's code printed in the trusted worker (the end)")
        print(text, flush=True)


def _classes(data):
    labels = np.concatenate([np.asarray(data.y_val).ravel(), np.asarray(data.y_test).ravel()])
    return int(labels.max()) + 1 if labels.size else 10


def write_gradebook(course, student_id, auto_cells, verdicts):
    """Kept for callers of the old name: gradebook.write_verdicts."""
    from instructor.grade import gradebook
    return gradebook.write_verdicts(course, student_id, auto_cells, verdicts)


# ---- what must never reach a student ----------------------------------------------------------
def hidden_check_lines(release_dir=None, spec=None):
    """Distinctive lines of the hidden checks' source, for the last leak check of a
    feedback page. Lines that also occur in what students are given (release_dir),
    imports and short lines are left out: they say nothing and would match anywhere."""
    lines = set()
    for path in (spec or assignment_spec()).hidden_modules():
        with open(path, encoding="utf-8") as f:
            lines |= {line.strip() for line in f}
    if not lines:
        return []
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
