"""Grade one hand-in with nbgrader, in a process and a course folder of its own.

grade_one(job, bundle) -> Result is the function an executor runs for each
hand-in (a thread of a local pool, or a Dask worker with the bundle prepared on
its machine). It starts a worker process,

    python -m instructor.grade.one WORK      (WORK/job.json in, WORK/result.json out)

which runs grade(): small steps over one Work record (the hand-in's folders and
what each step leaves for the next), each timed as a phase:

- unpack_step: the zip, unpacked safely (handin/unpack.py) into the course's
  submitted folder;
- rebuild_step: the notebook rebuilt on the release's cell list (handin/rebuild.py);
  a student file that is missing or does not compile replaced by its starter
  version, functions missing from it taken from the starter (handin/repair.py);
- stage_step: the course folder nbgrader expects (gradebook, starter files);
- execute_step: real `nbgrader autograde` in that process, with GuardedExecute in
  place of Execute (it also saves the notebook's values as data after the last
  cell), a SaveAutoGrades that takes no score from the kernel's outputs, and a
  kernel in the hand-in's room (sandbox/kernel.py: the jail; bare only with
  --sandbox none), found through the room's kernel spec folder without touching
  this process's environment;
- scores_step: what the run reported and the written answers' state;
- verdict_step: every test cell judged outside the student's process
  (grade/trusted.py), its verdict written into the hand-in's gradebook;
- pages_step: the stored notebook made inert (feedback/inert.py) and the feedback
  page rendered (feedback/page.py), nothing of the hidden checks in either.

The assignment's names come from its spec (instructor/assignment).
The worker process dies with the process that started it, and grade_one kills
it (and everything it started) if it runs past the hand-in's time limit. A
hand-in that cannot be graded at all (not a zip, empty, ...) still gets a
Result (score 0, the reason) and a feedback page. Result.phases holds the
seconds each phase took.
"""
import dataclasses
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

from instructor.assignment import REPO_ROOT, load_nbgrader_config, write_text
from instructor.assignment import spec as assignment_spec
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
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
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
    return cfg


def run_nbgrader(cls, cfg, student_id):
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = assignment_spec().assignment_id
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
        elif kind == "bad-output":
            notes.append(f"{where(e)}: an output was not valid notebook output ({e['detail']}); "
                         "replaced by a placeholder")
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
                         f"the {assignment_spec().package} package fails")
    return notes


def autograded_files(folder):
    """{relative path: bytes} of the graded notebook and the package's .py files (regular
    files only, never opening a pipe or following a link: whatever else is there stays)."""
    spec = assignment_spec()
    return regular_files(folder, lambda rel: rel == spec.notebook or (
        rel.startswith(spec.package + "/") and rel.endswith(".py")))


# ---- the whole job, as small steps over a work record -------------------------------------
@dataclasses.dataclass
class Work:
    """One hand-in's grading: its folders, and what each step leaves for the next."""
    job: Job
    bundle: Bundle
    folder: str
    result: Result
    phases: Phases
    notes: Notes = None
    written: list = None             # the files the zip held
    log: dict = None                 # nbgrader's log of the run
    results_file: str = None         # the notebook's values, taken out of the kernel's room
    graded: dict = None              # the graded notebook (JSON)

    @property
    def spec(self):
        return assignment_spec()

    @property
    def release_dir(self):
        return os.path.join(self.bundle.template, "release", self.spec.assignment_id)

    @property
    def course(self):
        return os.path.join(self.folder, "course")

    def course_dir(self, kind):
        return os.path.join(self.course, kind, self.job.student_id, self.spec.assignment_id)

    @property
    def submitted(self):
        return self.course_dir("submitted")

    @property
    def autograded(self):
        return self.course_dir("autograded")

    @property
    def source(self):
        return os.path.join(self.course, "source", self.spec.assignment_id)

    @property
    def graded_nb(self):
        return os.path.join(self.autograded, self.spec.notebook)

    @property
    def events_file(self):
        return os.path.join(self.folder, "events.jsonl")


def unpack_step(w):
    """The zip, unpacked safely into the submitted folder; its problems become notes."""
    os.makedirs(w.submitted)
    w.notes = Notes(w.result.notes)
    w.result.notes = w.notes
    w.written, remarks, problems = unpack(w.job.handin, w.submitted, w.job.limits.unpack())
    w.notes.extend(remarks)
    for text in problems:
        w.notes.problem(text)


def rebuild_step(w):
    """The notebook rebuilt on the release's cells; the student's files repaired."""
    import nbformat
    from instructor.handin.rebuild import rebuild
    from instructor.handin.repair import (read_student_notebook, repair_student_file,
                                          restore_given_files)
    cells = read_student_notebook(w.submitted, w.written, w.notes)
    for name in os.listdir(w.submitted):
        if name.endswith(".ipynb"):
            os.remove(os.path.join(w.submitted, name))
    release_nb = nbformat.read(os.path.join(w.release_dir, w.spec.notebook), as_version=4)
    nb, rebuild_notes = rebuild(cells, release_nb)
    for text in rebuild_notes:
        w.notes.problem(text)
    nbformat.write(nb, os.path.join(w.submitted, w.spec.notebook))
    for rel in w.bundle.student_files:
        os.makedirs(os.path.dirname(os.path.join(w.submitted, rel)), exist_ok=True)
        repair_student_file(rel, w.submitted, w.release_dir, w.notes)
    # Every other file of the package is the assignment's (kernel and worker alike).
    restore_given_files(w.submitted, w.release_dir, w.bundle.student_files, w.notes)
    mtime = datetime.datetime.fromtimestamp(w.job.mtime, datetime.timezone.utc)
    with open(os.path.join(w.submitted, "timestamp.txt"), "w") as f:
        f.write(mtime.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))


def stage_step(w):
    """The course folder: the assignment's gradebook, and as "source" only the starter
    files (nbgrader copies the given files from there; no solutions)."""
    shutil.copy(os.path.join(w.bundle.template, "gradebook.db"),
                os.path.join(w.course, "gradebook.db"))
    shutil.copytree(w.release_dir, w.source, ignore=shutil.ignore_patterns("*.ipynb"))
    os.makedirs(w.autograded)


def room_kernel_manager(kernel_dir):
    """A KernelManager class that finds the room's kernel spec in kernel_dir, so that
    nothing of this process's environment has to change for nbgrader to find it."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    # nbclient's own default is the asynchronous manager: keep it (a blocking one would
    # run its restarts inside nbclient's event loop).
    class RoomKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _room_specs(self):
            return KernelSpecManager(kernel_dirs=[kernel_dir])

    return RoomKernelManager


def execute_step(w):
    """Real `nbgrader autograde` with the kernel in the hand-in's room (sandbox/kernel.py:
    the jail, unless --sandbox none); the notebook's values are taken out as data."""
    from nbgrader.converters import Autograde
    from instructor.grade import trusted
    job, sid = w.job, w.job.student_id
    keep = load_nbgrader_config().Autograde.exclude_overwriting.get(w.spec.assignment_id, [])
    with KernelRoom(job, w.bundle, w.folder, w.autograded, w.submitted, w.source, keep) as room:
        deadline = w.phases.wall_start + job.limits.timeout
        # The kernel writes its results where both sides see the same path.
        inside = os.path.join(room.runtime_dir, trusted.RESULTS_FILE)
        cfg = nbgrader_config(job, w.course, w.events_file, deadline, room.runtime_dir, inside)
        kernels = os.path.join(room.jupyter_env()["JUPYTER_PATH"], "kernels")
        cfg.GuardedExecute.kernel_manager_class = room_kernel_manager(kernels)
        w.log = run_nbgrader(Autograde, cfg, sid)
        # The results file is in the room, which ends with this block: take it out
        # (a regular file of bounded size, or nothing).
        taken = read_regular(inside, max_bytes=trusted.MAX_RESULTS_BYTES)
    w.results_file = os.path.join(w.folder, trusted.RESULTS_FILE)
    if taken is not None:
        with open(w.results_file, "wb") as f:
            f.write(taken)
    with open(os.path.join(w.folder, "nbgrader.log"), "w", encoding="utf-8") as f:
        f.write(w.log.get("log", "") + "\n" + (w.log.get("error") or ""))
        if room.kernel_output():
            f.write("\n==== the kernel's own stdout/stderr (end)\n" + room.kernel_output())
    if not w.log["success"] or not os.path.isfile(w.graded_nb):
        raise RuntimeError("nbgrader autograde failed:\n"
                           + (w.log.get("error") or w.log.get("log", ""))[-3000:])


def scores_step(w):
    """What the run reported (timings, limits hit) and the written answers' state."""
    events = []
    if os.path.exists(w.events_file):
        with open(w.events_file, encoding="utf-8") as f:
            events = [json.loads(line) for line in f if line.strip()]
    for e in events:  # how long the kernel took to start, and the notebook to run
        if e["kind"] == "timing":
            w.phases.update({k: round(v, 2) for k, v in e["detail"].items()})
    events = [e for e in events if e["kind"] != "timing"]
    with open(w.graded_nb, encoding="utf-8") as f:
        w.graded = json.load(f)
    for text in describe_events(events, w.graded["cells"], w.job.limits):
        w.notes.problem(text)
    w.result.events = events
    _, w.result.manual = read_scores(w.course, w.job.student_id, w.graded["cells"])


def trusted_budget(job, wall_start, now=None):
    """Seconds the trusted checks may spend in the hand-in's code: the job's
    trusted_budget, but never past the hand-in's timeout plus half the grace (the rest
    is for the feedback), so that a notebook that used its whole time followed by a
    slow worker still ends in a final grade, not in a kill from outside."""
    now = time.time() if now is None else now
    left = wall_start + job.limits.timeout + GRACE / 2 - now
    return max(1.0, min(float(job.limits.trusted_budget), left))


def verdict_step(w):
    """The trusted verdict (grade/trusted.py): the kernel's run decides no points."""
    from instructor.grade import trusted
    w.result.tests, _ = trusted.grade_tests(w.job, w.bundle, w.course, w.submitted,
                                            w.results_file, w.folder, w.notes,
                                            budget=trusted_budget(w.job, w.phases.wall_start))
    w.result.status = WITH_PROBLEMS if w.notes.problems else GRADED


def pages_step(w):
    """The feedback page, with the grader's notes on top and nothing of the hidden checks;
    the stored notebook (OUT, Formgrader) and the page show student content inert."""
    from instructor.feedback.inert import make_inert
    from instructor.feedback.page import feedback_leaks, render_feedback, simple_feedback
    from instructor.grade import trusted
    result, bundle, sid = w.result, w.bundle, w.job.student_id
    secret = trusted.hidden_check_lines(w.release_dir)
    for t in result.tests:   # a message may quote a hidden check
        if any(s in t.message for s in secret):
            t.message = "(a hidden test failed)"
    page = render_feedback(w.graded, sid, result.tests, result.manual, list(w.notes),
                           bundle.auto_max, bundle.manual_max, secret)
    make_inert(w.graded)
    write_text(w.graded_nb, json.dumps(w.graded, indent=1, ensure_ascii=False) + "\n")
    if feedback_leaks(page, secret):  # never hand out hidden tests, whatever went wrong above
        w.notes.append("the detailed feedback page was withheld (it quoted hidden tests)")
        page = simple_feedback(sid, sum(result.scores.values()), bundle.auto_max,
                               bundle.manual_max, w.notes, "Graded.")
    result.feedback_html = page
    result.autograded = autograded_files(w.autograded)


# (step, the phase its time is counted in), in order.
STEPS = [(unpack_step, "unpack"), (rebuild_step, "prepare"), (stage_step, "prepare"),
         (execute_step, "autograde"), (scores_step, "scores"),
         (verdict_step, "trusted checks"), (pages_step, "feedback")]


def grade(job, bundle, work, result, phases):
    """Grade job in the folder work, filling result; phases times each step."""
    w = Work(job, bundle, work, result, phases)
    phases.done("imports")
    for step, phase in STEPS:
        step(w)
        phases.done(phase)


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
