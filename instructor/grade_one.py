"""Grade one hand-in with nbgrader, in its own course folder: the worker of autograde.py.

    python instructor/grade_one.py JOB.json

autograde.py writes JOB.json (the hand-in, the work folder, the limits) and runs
one of these processes per hand-in; it is not meant to be run by hand. The
worker

1. unpacks the zip safely (handin.py) into WORK/course/submitted/<id>/softmax/;
2. repairs what would otherwise break more than it should: the notebook is
   rebuilt on the release's cell list (rebuild_notebook.py); a student file that
   is missing or does not compile is replaced by its starter version, and
   functions missing from it are taken from the starter version;
3. runs real `nbgrader autograde` (in this process, through nbgrader's Python
   API) with a kernel that has resource limits and, if available, runs inside
   bubblewrap (kernel_launcher.py), and GuardedExecute in place of Execute;
4. runs `nbgrader generate_feedback` with the hidden tests filtered out;
5. kills whatever the hand-in left running, reads the scores from its own
   gradebook and writes WORK/result.json, which autograde.py merges.

A hand-in that cannot be graded at all (not a zip, empty, ...) still gets a
result (score 0, the reason) and a feedback page.
"""
import ast
import datetime
import html
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback

from assignment import ASSIGNMENT_ID, INSTRUCTOR_DIR, NOTEBOOK, load_nbgrader_config, write_json
from handin import HandinError, Limits, unpack
from sandbox import become_subreaper, bwrap_command, die_with_parent, kill_descendants, python_paths

KERNEL_NAME = "softmax-grader"


class Notes(list):
    """Remarks about a hand-in, for the CSV and the feedback; problem() adds one that
    makes the status graded-with-problems (something repaired, or a limit hit)."""

    problems = 0

    def problem(self, text):
        self.append(text)
        self.problems += 1


# ---- preparing the hand-in -------------------------------------------------------------
def read_student_notebook(folder, written, notes):
    """The hand-in's notebook cells (list), or None; notes say what was wrong."""
    import nbformat
    name = NOTEBOOK
    if NOTEBOOK not in written:
        others = [f for f in written if "/" not in f and f.endswith(".ipynb")]
        if len(others) == 1:
            name = others[0]
            notes.problem(f"the hand-in has no {NOTEBOOK}; graded {name} in its place")
        else:
            what = f" (but {', '.join(others)}, so which one?)" if others else ""
            notes.problem(f"the hand-in has no {NOTEBOOK}{what}: your Python files were graded "
                         "with the starter notebook, so its cells for your work are empty")
            return None
    with open(os.path.join(folder, name), "rb") as f:
        raw = f.read()
    try:
        return nbformat.reads(raw.decode("utf-8"), as_version=4).cells
    except Exception as e:  # invalid JSON, not UTF-8, not a notebook
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    try:  # valid JSON that nbformat rejects: take the cells if there are any
        data = json.loads(raw.decode("utf-8"))
        if isinstance(data, dict) and isinstance(data.get("cells"), list):
            notes.problem(f"{name} is not a valid notebook ({reason[:200]}); graded the cells it has")
            return data["cells"]
    except (ValueError, UnicodeDecodeError):
        pass
    notes.problem(f"{name} cannot be read ({reason[:200]}): your Python files were graded with "
                 "the starter notebook, so its cells for your work are empty")
    return None


def _top_level_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def repair_student_file(rel, folder, starter_folder, notes):
    """Make a student file importable at least as far as the starter version is:
    missing or not compiling -> starter version; top-level functions or classes
    that the starter has and the hand-in lacks -> appended from the starter."""
    path = os.path.join(folder, rel)
    with open(os.path.join(starter_folder, rel), encoding="utf-8") as f:
        starter = f.read()
    if not os.path.isfile(path):
        notes.problem(f"{rel} is missing from the hand-in: graded with its starter version")
        shutil.copy(os.path.join(starter_folder, rel), path)
        return
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        tree = ast.parse(text, rel)
        compile(tree, rel, "exec")
    except (SyntaxError, ValueError, UnicodeDecodeError) as e:
        where = f"line {e.lineno}: {e.msg}" if isinstance(e, SyntaxError) else str(e)[:200]
        notes.problem(f"{rel} does not compile ({where}): graded with its starter version, "
                     "so the tests of its functions fail")
        shutil.copy(os.path.join(starter_folder, rel), path)
        return
    starter_tree = ast.parse(starter, rel)
    have = _top_level_names(tree)
    lines = starter.splitlines()
    added = []
    for node in starter_tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name not in have:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            added.append((node.name, "\n".join(lines[start - 1:node.end_lineno])))
    if added:
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n\n# Added by the grader from the starter code (missing from the hand-in):\n")
            for _, code in added:
                f.write("\n\n" + code + "\n")
        notes.problem(f"{rel} lacks {', '.join(n for n, _ in added)}: added the starter "
                     "version (which raises NotImplementedError)")


# ---- the kernel and nbgrader's configuration ----------------------------------------
def kernel_settings(job, work, notebook_dir, runtime_dir):
    """Write the kernel spec and the launcher's settings; returns the kernel's home."""
    kdir = os.path.join(work, "kernel")
    home, tmp = os.path.join(kdir, "home"), os.path.join(kdir, "tmp")
    for d in (home, tmp):
        os.makedirs(d, exist_ok=True)
    mpl = os.path.join(kdir, "matplotlib")
    if job.get("mpl_cache") and os.path.isdir(job["mpl_cache"]):
        shutil.copytree(job["mpl_cache"], mpl, dirs_exist_ok=True)
    threads = str(job.get("threads", 1))
    env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/local/bin:/usr/bin:/bin",
        "HOME": home, "TMPDIR": tmp, "MPLCONFIGDIR": mpl, "MPLBACKEND": "agg",
        "IPYTHONDIR": os.path.join(kdir, "ipython"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
        "CIFAR10_DIR": job["cifar10_dir"],
        "NBGRADER_EXECUTION": "autograde",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine-specific BLAS fixes
        if name in os.environ:
            env[name] = os.environ[name]
    settings = {"python": sys.executable, "env": env, "memory": job["limits"]["memory"],
                "file_size": job["limits"]["file_size"], "open_files": 1024}
    if job.get("sandbox") == "bwrap":
        settings["wrapper"] = bwrap_command(
            hide=job.get("hide", []) + ["/tmp", "/var/tmp", "/run", os.path.expanduser("~")],
            read_only=python_paths() + [job["cifar10_dir"]],
            writable=[notebook_dir, kdir, runtime_dir], cwd=notebook_dir)
    path = os.path.join(work, "kernel_settings.json")
    write_json(path, settings)
    spec_dir = os.path.join(work, "jupyter", "kernels", KERNEL_NAME)
    os.makedirs(spec_dir, exist_ok=True)
    write_json(os.path.join(spec_dir, "kernel.json"), {
        "argv": [sys.executable, os.path.join(INSTRUCTOR_DIR, "kernel_launcher.py"), path,
                 "-f", "{connection_file}"],
        "display_name": "softmax grader", "language": "python",
        # An interrupt as a message reaches the kernel inside bubblewrap too.
        "interrupt_mode": "message",
    })


def nbgrader_config(job, course, events_file, deadline, runtime_dir):
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute, GetGrades
    from grading_execute import FeedbackFilter, GuardedExecute

    cfg = load_nbgrader_config()
    cfg.CourseDirectory.root = course
    defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    if Execute not in defaults:
        raise RuntimeError("this nbgrader version has no Execute step to replace")
    cfg.Autograde.autograde_preprocessors = [GuardedExecute if p is Execute else p for p in defaults]
    g = cfg.GuardedExecute
    g.kernel_name = KERNEL_NAME
    g.timeout = int(job["limits"]["cell_timeout"])
    g.startup_timeout = 120
    g.deadline = deadline
    g.max_output_bytes = int(job["limits"]["max_output"])
    g.events_file = events_file
    g.record_timing = False
    # Unix sockets instead of TCP ports: nothing listens on the network, and the
    # kernel can run without one (bwrap --unshare-net).
    cfg.KernelManager.transport = "ipc"
    # Without a set path, jupyter_client puts the connection file in /tmp, where the
    # sandboxed kernel cannot see it.
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
def read_scores(course, student_id):
    """{grade_id: (auto_score or None, max, kind)} from the hand-in's gradebook;
    kind is 'auto' for tests and 'manual' for answers graded by hand."""
    from nbgrader.api import Gradebook
    out = {}
    with Gradebook(f"sqlite:///{os.path.join(course, 'gradebook.db')}") as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT_ID, ASSIGNMENT_ID, student_id)
        for grade in nb.grades:
            kind = "manual" if grade.cell.cell_type == "markdown" or grade.needs_manual_grade else "auto"
            out[grade.name] = (grade.auto_score, float(grade.max_score), kind)
    return out


def describe_events(events, nb_cells, limits):
    """Notes for the CSV and feedback from what GuardedExecute recorded and the outputs."""
    notes = []
    def where(e):
        return e["grade_id"] or f"cell {e['cell'] + 1}"
    for e in events:
        kind = e["kind"]
        if kind == "timeout":
            notes.append(f"{where(e)}: stopped after the time limit of {limits['cell_timeout']} s per cell")
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
                         f"{limits['timeout']} s for the whole notebook was reached")
        elif kind == "output-truncated":
            notes.append(f"{where(e)}: output cut to {limits['max_output']} bytes ({e['detail']})")
        elif kind == "tampering":
            notes.append(f"{where(e)}: scored 0, it ran with replaced functions: {e['detail']}")
    for i, cell in enumerate(nb_cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i + 1}"
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            if out.get("ename") == "MemoryError":
                notes.append(f"{gid}: MemoryError (the memory limit is "
                             f"{limits['memory'] >> 20} MB)")
            elif "File too large" in str(out.get("evalue")):
                notes.append(f"{gid}: a file grew past the limit of "
                             f"{limits['file_size'] >> 20} MB per file")
    code = [c for c in nb_cells if c.get("cell_type") == "code"]
    if code:
        errors = [o for o in code[0].get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            notes.append(f"the setup cell failed ({errors[0].get('ename')}: "
                         f"{str(errors[0].get('evalue'))[:200]}), so every test that needs "
                         "the cs231n package fails")
    return notes


def _text_of_html(text):
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def feedback_leaks(html_text, secret_lines):
    plain = _text_of_html(html_text)
    return [s for s in secret_lines if len(s) >= 12 and s in plain]


def simple_feedback(student_id, score, max_score, manual_max, notes, headline):
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{ASSIGNMENT_ID} feedback for {html.escape(student_id)}</title></head>
<body style="font-family: sans-serif; max-width: 50em; margin: 2em auto">
<h1>{ASSIGNMENT_ID}: feedback for {html.escape(student_id)}</h1>
<p><strong>{html.escape(headline)}</strong></p>
<p>Automatic score: {score:g} / {max_score:g}. Inline answers (graded by hand): {manual_max:g} points.</p>
<ul>{items}</ul>
</body></html>
"""


# ---- the whole job -------------------------------------------------------------------------
def grade(job, work, result):
    from nbgrader.converters import Autograde, GenerateFeedback
    import nbformat
    from rebuild_notebook import rebuild
    from grading_execute import hidden_lines

    sid = job["student_id"]
    template = job["template"]
    release_dir = os.path.join(template, "release", ASSIGNMENT_ID)
    course = os.path.join(work, "course")
    submitted = os.path.join(course, "submitted", sid, ASSIGNMENT_ID)
    os.makedirs(submitted)
    notes = result["notes"] = Notes(result["notes"])

    limits = Limits(**{k: job["limits"][k] for k in ("max_handin", "max_unpacked", "max_file",
                                                       "max_entries")})
    written, remarks, problems = unpack(job["zip"], submitted, limits)
    notes.extend(remarks)
    for text in problems:
        notes.problem(text)

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
    for rel in job["student_files"]:
        os.makedirs(os.path.dirname(os.path.join(submitted, rel)), exist_ok=True)
        repair_student_file(rel, submitted, release_dir, notes)
    mtime = datetime.datetime.fromtimestamp(job["mtime"], datetime.timezone.utc)
    with open(os.path.join(submitted, "timestamp.txt"), "w") as f:
        f.write(mtime.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))

    # The course folder: the assignment's gradebook, and as "source" only the
    # starter files (nbgrader copies the given files from there; no solutions).
    shutil.copy(job["assignment_db"], os.path.join(course, "gradebook.db"))
    source = os.path.join(course, "source", ASSIGNMENT_ID)
    shutil.copytree(release_dir, source, ignore=shutil.ignore_patterns("*.ipynb"))

    autograded = os.path.join(course, "autograded", sid, ASSIGNMENT_ID)
    os.makedirs(autograded)
    runtime_dir = tempfile.mkdtemp(prefix="grader-")  # short: Unix socket paths are limited
    try:
        kernel_settings(job, work, autograded, runtime_dir)
        os.environ.update({
            "JUPYTER_PATH": os.path.join(work, "jupyter"),
            "JUPYTER_RUNTIME_DIR": runtime_dir,
            "JUPYTER_CONFIG_DIR": os.path.join(work, "jupyter-config"),
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        })
        os.environ.pop("JUPYTER_CONFIG_PATH", None)
        events_file = os.path.join(work, "events.jsonl")
        deadline = job["started"] + job["limits"]["timeout"]
        cfg = nbgrader_config(job, course, events_file, deadline, runtime_dir)
        log = run_nbgrader(Autograde, cfg, sid)
    finally:
        kill_descendants()
        shutil.rmtree(runtime_dir, ignore_errors=True)
    with open(os.path.join(work, "nbgrader.log"), "w", encoding="utf-8") as f:
        f.write(log.get("log", "") + "\n" + (log.get("error") or ""))
    graded_nb = os.path.join(autograded, NOTEBOOK)
    if not log["success"] or not os.path.isfile(graded_nb):
        raise RuntimeError("nbgrader autograde failed:\n" + (log.get("error") or log.get("log", ""))[-3000:])

    events = []
    if os.path.exists(events_file):
        with open(events_file, encoding="utf-8") as f:
            events = [json.loads(line) for line in f if line.strip()]
    with open(graded_nb, encoding="utf-8") as f:
        graded = json.load(f)
    for text in describe_events(events, graded["cells"], job["limits"]):
        notes.problem(text)
    result["events"] = events
    scores = read_scores(course, sid)
    result["scores"] = {k: v[0] for k, v in scores.items() if v[2] == "auto"}
    result["manual"] = {k: {"answered": v[0] is None, "max": v[1]}
                        for k, v in scores.items() if v[2] == "manual"}
    result["status"] = "graded-with-problems" if notes.problems else "graded"

    # Feedback, with the grader's notes on top and no hidden tests anywhere.
    cfg.FeedbackFilter.notes = notes
    secret = [line for c in graded["cells"] for line in hidden_lines("".join(c.get("source", "")))]
    cfg.FeedbackFilter.extra_secrets = secret
    fb = run_nbgrader(GenerateFeedback, cfg, sid)
    html_path = os.path.join(course, "feedback", sid, ASSIGNMENT_ID, NOTEBOOK.replace(".ipynb", ".html"))
    if not fb["success"] or not os.path.isfile(html_path):
        raise RuntimeError("nbgrader generate_feedback failed:\n" + (fb.get("error") or "")[-3000:])
    with open(html_path, encoding="utf-8") as f:
        page = f.read()
    leaks = feedback_leaks(page, secret)
    if leaks:  # never hand out hidden tests, whatever went wrong above
        notes.append("the detailed feedback page was withheld (it quoted hidden tests)")
        page = simple_feedback(sid, sum(v or 0 for v in result["scores"].values()),
                               job["auto_max"], job["manual_max"], notes, "Graded.")
    with open(os.path.join(work, "feedback.html"), "w", encoding="utf-8") as f:
        f.write(page)
    result["autograded"] = autograded


def main(argv):
    if len(argv) != 1:
        print("usage: python instructor/grade_one.py JOB.json (run by autograde.py)", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    die_with_parent(signal.SIGKILL)
    become_subreaper()
    work = job["work"]
    sid = job["student_id"]
    job["started"] = time.time()
    result = {"student_id": sid, "sha256": job["sha256"], "handin": os.path.basename(job["zip"]),
              "status": "not-graded", "scores": {}, "manual": {}, "notes": list(job.get("notes", [])),
              "events": [], "fingerprint": job["fingerprint"]}
    try:
        grade(job, work, result)
    except HandinError as e:
        result["status"] = "not-graded"
        result["notes"].insert(0, f"not graded: {e}")
    except Exception as e:  # the grader's fault, or nbgrader's: keep the details for the instructor
        result["status"] = "grader-error"
        result["notes"].insert(0, f"grading failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        result["traceback"] = traceback.format_exc()
        traceback.print_exc()
    finally:
        kill_descendants()
    if result["status"] in ("not-graded", "grader-error"):
        result["scores"] = {}
        headline = ("Your hand-in could not be graded." if result["status"] == "not-graded"
                    else "Grading failed for a reason on the grader's side; your instructor has been told.")
        with open(os.path.join(work, "feedback.html"), "w", encoding="utf-8") as f:
            f.write(simple_feedback(sid, 0, job["auto_max"], job["manual_max"], result["notes"], headline))
    result["seconds"] = round(time.time() - job["started"], 1)
    write_json(os.path.join(work, "result.json"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
