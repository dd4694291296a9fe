"""Grade one hand-in with nbgrader, in a process and a course folder of its own.

grade_one(job, bundle) -> Result is the function an executor runs for each
hand-in (a thread of a local pool, or a Dask worker with the bundle prepared on
its machine). It starts a worker process,

    python -m instructor.grade.one WORK      (WORK/job.json in, WORK/result.json out)

which

1. unpacks the zip safely (handin/unpack.py) into WORK/course/submitted/<id>/softmax/;
2. repairs what would otherwise break more than it should: the notebook is
   rebuilt on the release's cell list (handin/rebuild.py); a student file that
   is missing or does not compile is replaced by its starter version, and
   functions missing from it are taken from the starter version (handin/repair.py);
3. runs real `nbgrader autograde` (in that process, through nbgrader's Python
   API) with GuardedExecute in place of Execute (it also saves the notebook's
   results as data after the last cell), a SaveAutoGrades that takes no score
   from the kernel's outputs, and a kernel in the hand-in's jail
   (sandbox/kernel.py: KernelRoom; bare only with --sandbox none);
4. judges every test cell outside the student's process (grade/trusted.py) and
   writes those verdicts into its own gradebook;
5. makes the stored notebook inert (feedback/inert.py) and renders the feedback
   page itself (feedback/page.py), without hidden tests;
6. kills whatever the hand-in left running, reads the scores from its own
   gradebook and writes the Result.

The worker process dies with the process that started it, and grade_one kills
it (and everything it started) if it runs past the hand-in's time limit. A
hand-in that cannot be graded at all (not a zip, empty, ...) still gets a
Result (score 0, the reason) and a feedback page. Result.phases holds the
seconds each phase took.
"""
import datetime
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

from instructor.assignment import (ASSIGNMENT_ID, NOTEBOOK, PACKAGE, REPO_ROOT,
                                   load_nbgrader_config, write_text)
from instructor.grade.job import (GRADER_ERROR, GRADED, NOT_GRADED, WITH_PROBLEMS, Bundle, Job,
                                  ManualAnswer, Result, TestScore, from_json, to_json)
from instructor.handin.repair import Notes
from instructor.handin.unpack import HandinError, unpack
from instructor.sandbox.files import read_regular, regular_files
from instructor.sandbox.kernel import KERNEL_NAME, KernelRoom, release_leftovers
from instructor.sandbox.limits import (become_subreaper, die_with_parent, kill_descendants,
                                       kill_orphans, limit_own_memory)

GRACE = 300  # seconds past the hand-in's time limit before its worker is killed from outside


class Phases(dict):
    """Seconds per phase of the grading, in the order they ran."""

    def __init__(self):
        super().__init__()
        self.wall_start = time.time()
        self._t = time.perf_counter()

    def done(self, name):
        now = time.perf_counter()
        self[name] = round(self.get(name, 0.0) + now - self._t, 2)
        self._t = now


# ---- the seam for executors ---------------------------------------------------------------
_running = {}            # pid -> Popen of the workers running now
_running_lock = threading.Lock()


def grade_one(job, bundle):
    """Grade one hand-in (a Job) with the assignment bundle; returns a Result.

    Safe to call from several threads at once: each call runs its own worker
    process in its own folder under bundle.work."""
    started = time.perf_counter()
    work = os.path.join(bundle.work, f"{job.student_id}-{secrets.token_hex(4)}")
    os.makedirs(work)
    try:
        write_text(os.path.join(work, "job.json"), to_json(job))
        write_text(os.path.join(work, "bundle.json"), to_json(bundle))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, env.get("PYTHONPATH")]))
        reason = None
        with open(os.path.join(work, "worker.log"), "wb") as log:
            # Started and registered under the lock: end_orphans() never takes a worker
            # that is just starting for an orphan.
            with _running_lock:
                proc = subprocess.Popen([sys.executable, "-m", "instructor.grade.one", work],
                                        stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        cwd=work, env=env)
                _running[proc.pid] = proc
            try:
                proc.wait(timeout=job.limits.timeout + GRACE)
            except subprocess.TimeoutExpired:
                reason = f"killed after {job.limits.timeout + GRACE} s"
            finally:
                _kill_group(proc)
                with _running_lock:
                    _running.pop(proc.pid, None)
        result = None
        result_path = os.path.join(work, "result.json")
        if reason is None and os.path.exists(result_path):
            try:
                with open(result_path, encoding="utf-8") as f:
                    result = from_json(Result, f.read())
            except (ValueError, KeyError, TypeError):
                result = None
        if result is None:
            why = reason or f"the grading process ended without a result (exit code {proc.returncode})"
            result = failed_result(job, bundle, GRADER_ERROR, [f"grading failed: {why}"])
        result.log = _read_logs(work) + result.log
        result.seconds = round(time.perf_counter() - started, 1)
        # The rest: starting the worker process, its imports, passing job and result.
        inner = sum(v for k, v in result.phases.items() if not k.startswith("autograde:"))
        result.phases["process"] = round(max(0.0, result.seconds - inner), 2)
        return result
    finally:
        release_leftovers(work)   # the jail of a worker that was killed
        shutil.rmtree(work, ignore_errors=True)


def end_orphans():
    """Kill the children of this process that are not running workers, with their
    descendants: with become_subreaper(), what a killed worker's hand-in left running
    after detaching itself."""
    with _running_lock:
        return kill_orphans(set(_running))


def kill_workers():
    """Kill every worker running now (an interrupted batch)."""
    with _running_lock:
        procs = list(_running.values())
    for proc in procs:
        _kill_group(proc)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)   # the worker and what it left in its group
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _read_logs(work):
    text = ""
    for name in ("worker.log", "nbgrader.log"):
        path = os.path.join(work, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                text += f"==== {name}\n" + f.read().decode("utf-8", "replace")
    return text


def failed_result(job, bundle, status, notes):
    """The Result of a hand-in that was not graded, with its simple feedback page."""
    from instructor.feedback.page import simple_feedback
    result = Result(student_id=job.student_id, handin_name=job.handin_name, sha256=job.sha256,
                    mtime=job.mtime, fingerprint=bundle.fingerprint, status=status,
                    notes=list(notes))
    headline = ("Your hand-in could not be graded." if status == NOT_GRADED
                else "Grading failed for a reason on the grader's side; your instructor has been told.")
    result.feedback_html = simple_feedback(job.student_id, 0, bundle.auto_max, bundle.manual_max,
                                           result.notes, headline)
    return result


# ---- nbgrader's configuration ----------------------------------------------------------
def nbgrader_config(job, course, events_file, deadline, runtime_dir, results_file=""):
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute, GetGrades
    from instructor.feedback.page import FeedbackFilter
    from instructor.grade.execute import GuardedExecute

    cfg = load_nbgrader_config()
    cfg.CourseDirectory.root = course
    defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    if Execute not in defaults:
        raise RuntimeError("this nbgrader version has no Execute step to replace")
    from nbgrader.preprocessors import SaveAutoGrades
    from instructor.grade.trusted import unjudged_save_autogrades
    if SaveAutoGrades not in defaults:
        raise RuntimeError("this nbgrader version has no SaveAutoGrades step to replace")
    save = unjudged_save_autogrades()   # test scores come from grade/trusted.py only
    cfg.Autograde.autograde_preprocessors = [
        GuardedExecute if p is Execute else save if p is SaveAutoGrades else p for p in defaults]
    g = cfg.GuardedExecute
    g.kernel_name = KERNEL_NAME
    g.timeout = int(job.limits.cell_timeout)
    g.startup_timeout = 120
    g.deadline = deadline
    g.max_output_bytes = int(job.limits.max_output)
    g.max_notebook_output_bytes = int(job.limits.max_output_total)
    g.events_file = events_file
    g.record_timing = False
    g.results_file = results_file
    # Unix sockets instead of TCP ports: nothing listens on the network, and the
    # kernel can run without one (bwrap --unshare-net).
    cfg.KernelManager.transport = "ipc"
    # Without a set path, jupyter_client puts the connection file in /tmp, where the
    # jailed kernel cannot see it.
    cfg.KernelManager.connection_file = os.path.join(runtime_dir, "kernel.json")
    cfg.GenerateFeedback.preprocessors = [GetGrades, FeedbackFilter, CSSHTMLHeaderPreprocessor]
    return cfg


def run_nbgrader(cls, cfg, student_id):
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = ASSIGNMENT_ID
    coursedir.student_id = student_id
    app = cls(coursedir=coursedir, config=cfg)
    app.force = True
    if hasattr(app, "create_student"):
        app.create_student = True
    return capture_log(app)


# ---- reading the outcome ---------------------------------------------------------------
def read_scores(course, student_id, graded_cells):
    """([TestScore], [ManualAnswer]) from the hand-in's gradebook (gradebook.py); graded_cells
    (the graded notebook's cells) give each failed test its message."""
    from instructor.grade import gradebook
    messages = {}
    for cell in graded_cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if gid and errors:
            first = str(errors[0].get("evalue", "")).splitlines()
            messages[gid] = f"{errors[0].get('ename')}: {first[0] if first else ''}"[:300]
    return gradebook.read_scores(course, student_id, messages)


def describe_events(events, nb_cells, limits):
    """Notes for the CSV and feedback from what GuardedExecute recorded and the outputs."""
    notes = []
    def where(e):
        return e["grade_id"] or f"cell {e['cell'] + 1}"
    for e in events:
        kind = e["kind"]
        if kind == "timeout":
            notes.append(f"{where(e)}: stopped after the time limit of {limits.cell_timeout} s per cell")
        elif kind == "stuck":
            notes.append(f"{where(e)}: ran past the time limit and could not be interrupted; "
                         "kernel restarted")
        elif kind == "kernel-died":
            notes.append(f"{where(e)}: the kernel died (os._exit, a crash, or the memory limit); "
                         "kernel restarted and the cells above re-run")
        elif kind == "replay-failed":
            notes.append(f"{where(e)}: failed again while rebuilding the state after a restart")
        elif kind == "deadline":
            notes.append(f"{where(e)} and the cells after it: not run, the time limit of "
                         f"{limits.timeout} s for the whole notebook was reached")
        elif kind == "output-truncated":
            notes.append(f"{where(e)}: output cut to {limits.max_output} bytes ({e['detail']})")
        elif kind == "output-total":
            notes.append(f"{where(e)} and the cells after it: output dropped, the notebook's "
                         f"output reached the limit of {limits.max_output_total} bytes")
        elif kind == "tampering":
            notes.append(f"{where(e)}: ran with replaced functions ({e['detail']}); its points "
                         "come from the grader's own checks, not from this run")
    for i, cell in enumerate(nb_cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i + 1}"
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "MemoryError":
                notes.append(f"{gid}: MemoryError (the memory limit is "
                             f"{limits.memory >> 20} MB)")
            elif "File too large" in str(out.get("evalue")):
                notes.append(f"{gid}: a file grew past the limit of "
                             f"{limits.max_file_write >> 20} MB per file")
    code = [c for c in nb_cells if c.get("cell_type") == "code"]
    if code:
        errors = [o for o in code[0].get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            notes.append(f"the setup cell failed ({errors[0].get('ename')}: "
                         f"{str(errors[0].get('evalue'))[:200]}), so every test that needs "
                         "the cs231n package fails")
    return notes


def autograded_files(folder):
    """{relative path: bytes} of the graded notebook and the package's .py files (regular
    files only, never opening a pipe or following a link: whatever else is there stays)."""
    return regular_files(folder, lambda rel: rel == NOTEBOOK or (
        rel.startswith(PACKAGE + "/") and rel.endswith(".py")))


# ---- the whole job -------------------------------------------------------------------------
def grade(job, bundle, work, result, phases):
    """Grade job in work, filling result; phases times each step."""
    from nbgrader.converters import Autograde
    import nbformat
    from instructor.feedback.page import feedback_leaks, simple_feedback
    from instructor.handin.rebuild import rebuild
    from instructor.handin.repair import read_student_notebook, repair_student_file
    from instructor.markers import hidden_lines
    from instructor.grade import trusted
    phases.done("imports")
    sid = job.student_id
    release_dir = os.path.join(bundle.template, "release", ASSIGNMENT_ID)
    course = os.path.join(work, "course")
    submitted = os.path.join(course, "submitted", sid, ASSIGNMENT_ID)
    os.makedirs(submitted)
    notes = Notes(result.notes)
    result.notes = notes

    written, remarks, problems = unpack(job.handin, submitted, job.limits.unpack())
    notes.extend(remarks)
    for text in problems:
        notes.problem(text)
    phases.done("unpack")

    # The notebook: rebuilt on the release's cells.
    cells = read_student_notebook(submitted, written, notes)
    for name in os.listdir(submitted):
        if name.endswith(".ipynb"):
            os.remove(os.path.join(submitted, name))
    release_nb = nbformat.read(os.path.join(release_dir, NOTEBOOK), as_version=4)
    nb, rebuild_notes = rebuild(cells, release_nb)
    for text in rebuild_notes:
        notes.problem(text)
    nbformat.write(nb, os.path.join(submitted, NOTEBOOK))

    # The student's Python files.
    for rel in bundle.student_files:
        os.makedirs(os.path.dirname(os.path.join(submitted, rel)), exist_ok=True)
        repair_student_file(rel, submitted, release_dir, notes)
    mtime = datetime.datetime.fromtimestamp(job.mtime, datetime.timezone.utc)
    with open(os.path.join(submitted, "timestamp.txt"), "w") as f:
        f.write(mtime.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))

    # The course folder: the assignment's gradebook, and as "source" only the
    # starter files (nbgrader copies the given files from there; no solutions).
    shutil.copy(os.path.join(bundle.template, "gradebook.db"), os.path.join(course, "gradebook.db"))
    source = os.path.join(course, "source", ASSIGNMENT_ID)
    shutil.copytree(release_dir, source, ignore=shutil.ignore_patterns("*.ipynb"))
    autograded = os.path.join(course, "autograded", sid, ASSIGNMENT_ID)
    os.makedirs(autograded)
    phases.done("prepare")

    # The kernel's room (sandbox/kernel.py): the jail, unless --sandbox none.
    keep = load_nbgrader_config().Autograde.exclude_overwriting.get(ASSIGNMENT_ID, [])
    with KernelRoom(job, bundle, work, autograded, submitted, source, keep) as room:
        os.environ.update(room.jupyter_env())
        os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        os.environ.pop("JUPYTER_CONFIG_PATH", None)
        events_file = os.path.join(work, "events.jsonl")
        deadline = phases.wall_start + job.limits.timeout
        # The kernel writes its results where both sides see the same path.
        results_file = os.path.join(room.runtime_dir, trusted.RESULTS_FILE)
        cfg = nbgrader_config(job, course, events_file, deadline, room.runtime_dir, results_file)
        log = run_nbgrader(Autograde, cfg, sid)
        # The results file is in the room, which ends with this block: take it out
        # (a regular file of bounded size, or nothing).
        taken = read_regular(results_file, max_bytes=trusted.MAX_RESULTS_BYTES)
    results_file = os.path.join(work, trusted.RESULTS_FILE)
    if taken is not None:
        with open(results_file, "wb") as f:
            f.write(taken)
    with open(os.path.join(work, "nbgrader.log"), "w", encoding="utf-8") as f:
        f.write(log.get("log", "") + "\n" + (log.get("error") or ""))
        if room.kernel_output():
            f.write("\n==== the kernel's own stdout/stderr (end)\n" + room.kernel_output())
    graded_nb = os.path.join(autograded, NOTEBOOK)
    if not log["success"] or not os.path.isfile(graded_nb):
        raise RuntimeError("nbgrader autograde failed:\n" + (log.get("error") or log.get("log", ""))[-3000:])
    phases.done("autograde")

    events = []
    if os.path.exists(events_file):
        with open(events_file, encoding="utf-8") as f:
            events = [json.loads(line) for line in f if line.strip()]
    for e in events:  # how long the kernel took to start, and the notebook to run
        if e["kind"] == "timing":
            phases.update({k: round(v, 2) for k, v in e["detail"].items()})
    events = [e for e in events if e["kind"] != "timing"]
    with open(graded_nb, encoding="utf-8") as f:
        graded = json.load(f)
    for text in describe_events(events, graded["cells"], job.limits):
        notes.problem(text)
    result.events = events
    _, result.manual = read_scores(course, sid, graded["cells"])
    phases.done("scores")

    # ---- the trusted verdict (grade/trusted.py): the kernel's run decides no points ----
    result.tests, _ = trusted.grade_tests(job, bundle, course, submitted, results_file, work, notes)
    result.status = WITH_PROBLEMS if notes.problems else GRADED
    phases.done("trusted checks")

    # Feedback, with the grader's notes on top and no hidden tests anywhere; the stored
    # notebook (OUT, Formgrader) and the page show student content inert.
    from instructor.feedback.inert import make_inert
    from instructor.feedback.page import render_feedback
    secret = [line for c in graded["cells"] for line in hidden_lines("".join(c.get("source", "")))]
    secret += trusted.hidden_check_lines(release_dir)
    for t in result.tests:   # a message may quote a hidden check
        if any(s in t.message for s in secret):
            t.message = "(a hidden test failed)"
    page = render_feedback(graded, sid, result.tests, result.manual, list(notes),
                           bundle.auto_max, bundle.manual_max, secret)
    make_inert(graded)
    write_text(graded_nb, json.dumps(graded, indent=1, ensure_ascii=False) + "\n")
    leaks = feedback_leaks(page, secret)
    if leaks:  # never hand out hidden tests, whatever went wrong above
        notes.append("the detailed feedback page was withheld (it quoted hidden tests)")
        page = simple_feedback(sid, sum(result.scores.values()), bundle.auto_max,
                               bundle.manual_max, notes, "Graded.")
    result.feedback_html = page
    result.autograded = autograded_files(autograded)
    phases.done("feedback")


def run(job, bundle, work):
    """The worker's whole job: a Result, whatever happens."""
    phases = Phases()
    result = Result(student_id=job.student_id, handin_name=job.handin_name, sha256=job.sha256,
                    mtime=job.mtime, fingerprint=bundle.fingerprint, notes=list(job.notes))
    try:
        grade(job, bundle, work, result, phases)
    except HandinError as e:
        result = failed_result(job, bundle, NOT_GRADED, [f"not graded: {e}", *result.notes])
    except Exception as e:  # the grader's fault, or nbgrader's: keep the details for the instructor
        first = str(e).splitlines()[0] if str(e) else ""
        result = failed_result(job, bundle, GRADER_ERROR,
                               [f"grading failed: {type(e).__name__}: {first}", *result.notes])
        result.log = traceback.format_exc()
        traceback.print_exc()
    finally:
        kill_descendants()
    result.notes = list(result.notes)
    result.phases.update(phases)
    return result


def main(argv):
    if len(argv) != 1:
        print("usage: python -m instructor.grade.one WORK (run by grade_one())", file=sys.stderr)
        return 2
    work = argv[0]
    die_with_parent(signal.SIGKILL)
    become_subreaper()
    with open(os.path.join(work, "job.json"), encoding="utf-8") as f:
        job = from_json(Job, f.read())
    # This process reads what the hand-in's kernel sends: bounded, so is its memory.
    limit_own_memory(job.limits.grader_memory)
    with open(os.path.join(work, "bundle.json"), encoding="utf-8") as f:
        bundle = from_json(Bundle, f.read())
    result = run(job, bundle, work)
    write_text(os.path.join(work, "result.json"), to_json(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
