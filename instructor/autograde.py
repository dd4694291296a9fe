"""Grade a folder of hand-ins with nbgrader: grades.csv, a gradebook and feedback pages.

    python instructor/autograde.py SUBMISSIONS [--out build/grading] [options]
    make autograde SUBMISSIONS=<dir of zips> [OUT=build/grading]

SUBMISSIONS holds one zip per student, named softmax_<student_id>.zip (what
collectSubmission.sh writes) or <student_id>.zip, and optionally a roster
(roster.csv there, or --roster FILE: a CSV with a column `id` or `student_id`
and optionally first_name, last_name, email). OUT receives

    grades.csv               one row per student: id, status, total, max, manual_max,
                             the points of each test, the hand-in, notes
    gradebook.db             nbgrader's gradebook (automatic scores; inline answers
                             marked for manual grading: start Jupyter in OUT and
                             open nbgrader's Formgrader)
    feedback/<id>/softmax.html   the feedback page for the student
    autograded/<id>/softmax/     the graded notebook and files
    results/<id>.json        what the grader found, per hand-in
    logs/<id>.log            the grading log, per hand-in

Each hand-in is graded by its own process (grade_one.py), several at a time
(--jobs, default: the number of CPUs), each with its own nbgrader course
folder; only this process writes OUT, one hand-in at a time, so the gradebook
is never written concurrently. A hand-in that cannot be graded gets a row with
status not-graded and the reason; it never stops the others.

Running it again grades only what is new: hand-ins already graded (same zip
content) are skipped, so an interrupted run (Ctrl-C, kill) can simply be run
again. --regrade grades everything again. Grading the same hand-in twice gives
the same score.

Limits (per hand-in): --cell-timeout seconds per cell (300), --timeout seconds
for the whole notebook (1800), --memory for the kernel (4G), --max-output per
cell (1M), --max-file-write (100M per file written), --max-handin zip size (50M),
--max-unpacked (200M). --sandbox auto|bwrap|none: bubblewrap isolation of the
kernel when available (auto).
"""
import argparse
import csv
import datetime
import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from assignment import (ASSIGNMENT_ID, INSTRUCTOR_DIR, NBGRADER_CONFIG, NOTEBOOK, REPO_ROOT,
                        write_json, write_text)
from handin import collect
from sandbox import become_subreaper, bwrap_works, kill_orphans, parse_size

GRACE = 300  # seconds past --timeout before a worker is killed from outside


class SetupError(RuntimeError):
    """Grading cannot start; the message says why."""


# ---- the assignment -----------------------------------------------------------------
def build_template(work):
    """A fresh course folder with the assignment (release.make_course): its
    gradebook, release notebook and starter files. Returns (template, fingerprint,
    student_files)."""
    from release import ReleaseError, make_course
    template = os.path.join(work, "template")
    shutil.rmtree(template, ignore_errors=True)
    try:
        student_files = make_course(template)
    except ReleaseError as e:
        raise SetupError(f"cannot build the assignment from the source: {e}") from None
    h = hashlib.sha256()
    source = os.path.join(template, "source", ASSIGNMENT_ID)
    for root, _, names in sorted(os.walk(source)):
        for name in sorted(names):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, source).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read())
    with open(NBGRADER_CONFIG, "rb") as f:
        h.update(f.read())
    return template, h.hexdigest(), student_files


def grade_cells(template):
    """[(grade_id, points, kind)] in notebook order; kind 'auto' (test) or 'manual' (answer)."""
    import nbformat
    nb = nbformat.read(os.path.join(template, "release", ASSIGNMENT_ID, NOTEBOOK), as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            kind = "manual" if meta.get("solution") else "auto"
            cells.append((meta["grade_id"], float(meta.get("points", 0)), kind))
    return cells


def prepare_out(out, template, fingerprint):
    """Make OUT a course folder for this assignment, or check that it is one."""
    os.makedirs(out, exist_ok=True)
    state_path = os.path.join(out, "assignment.json")
    db = os.path.join(out, "gradebook.db")
    if os.path.exists(state_path):
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("fingerprint") != fingerprint:
            raise SetupError(
                f"the assignment (notebook, package or nbgrader_config.py) changed since {out} "
                "was graded; grades from two versions cannot be mixed. Grade into a new --out "
                "folder, or delete that folder to start over.")
    elif os.path.exists(db):
        raise SetupError(f"{out} has a gradebook.db that this grader did not make; use another --out")
    if not os.path.exists(db):
        shutil.copy(os.path.join(template, "gradebook.db"), db + ".tmp")
        os.replace(db + ".tmp", db)
    source = os.path.join(out, "source", ASSIGNMENT_ID)
    if not os.path.isdir(source):
        shutil.copytree(os.path.join(template, "source", ASSIGNMENT_ID), source)
    shutil.copy(NBGRADER_CONFIG, os.path.join(out, "nbgrader_config.py"))
    write_json(state_path, {"assignment": ASSIGNMENT_ID, "fingerprint": fingerprint})
    for sub in ("results", "logs", "feedback", "autograded"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)


def matplotlib_cache(work):
    """Build matplotlib's font cache once, for every kernel to copy (saves seconds each)."""
    path = os.path.join(work, "matplotlib")
    if not os.path.isdir(path):
        os.makedirs(path + ".tmp", exist_ok=True)
        env = dict(os.environ, MPLCONFIGDIR=path + ".tmp", MPLBACKEND="agg")
        subprocess.run([sys.executable, "-c", "import matplotlib.pyplot"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
        os.replace(path + ".tmp", path)
    return path


def read_roster(path):
    """{id: {first_name, last_name, email}} from a CSV with an id or student_id column."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    roster = {}
    for row in rows:
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        sid = row.get("id") or row.get("student_id")
        if not sid:
            raise SetupError(f"{path}: every row needs an 'id' (or 'student_id') column")
        roster[sid] = {k: row[k] for k in ("first_name", "last_name", "email") if row.get(k)}
    return roster


# ---- the gradebook ------------------------------------------------------------------
def merge_into_gradebook(out, result, cells, roster):
    """Put one hand-in's scores into OUT/gradebook.db (manual grades already given stay)."""
    import warnings
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning
    # nbgrader's add_submission triggers harmless SQLAlchemy autoflush warnings.
    warnings.simplefilter("ignore", SAWarning)
    sid = result["student_id"]
    with Gradebook(f"sqlite:///{os.path.join(out, 'gradebook.db')}") as gb:
        gb.update_or_create_student(sid, **roster.get(sid, {}))
        timestamp = datetime.datetime.fromtimestamp(result.get("mtime", time.time()),
                                                    datetime.timezone.utc).replace(tzinfo=None)
        try:
            submission = gb.find_submission(ASSIGNMENT_ID, sid)
            submission.timestamp = timestamp
        except MissingEntry:
            gb.add_submission(ASSIGNMENT_ID, sid, timestamp=timestamp)
        graded = result["status"] in ("graded", "graded-with-problems")
        for grade_id, points, kind in cells:
            grade = gb.find_grade(grade_id, os.path.splitext(NOTEBOOK)[0], ASSIGNMENT_ID, sid)
            if kind == "auto":
                grade.auto_score = result["scores"].get(grade_id, 0.0) if graded else 0.0
                grade.needs_manual_grade = False
            else:
                answered = graded and result["manual"].get(grade_id, {}).get("answered", False)
                grade.auto_score = None if answered else 0.0
                grade.needs_manual_grade = answered and grade.manual_score is None
        gb.db.commit()


def manual_scores(out):
    """{student: manual points given so far in the gradebook (None if some are still open)}."""
    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(f"sqlite:///{os.path.join(out, 'gradebook.db')}") as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT_ID):
            total, complete = 0.0, True
            for nb in sub.notebooks:
                for grade in nb.grades:
                    if grade.cell.cell_type == "markdown":
                        if grade.manual_score is not None:
                            total += grade.manual_score
                        elif grade.auto_score is None:
                            complete = False
            scores[sub.student.id] = total if complete else None
    return scores


# ---- the CSV ------------------------------------------------------------------------
def write_csv(out, cells, roster, problems):
    results = {}
    for name in sorted(os.listdir(os.path.join(out, "results"))):
        if name.endswith(".json"):
            with open(os.path.join(out, "results", name), encoding="utf-8") as f:
                r = json.load(f)
            results[r["student_id"]] = r
    auto = [(g, p) for g, p, k in cells if k == "auto"]
    auto_max = sum(p for _, p in auto)
    manual_max = sum(p for g, p, k in cells if k == "manual")
    manual = manual_scores(out)
    header = ["student_id", "status", "total", "max", "manual_max", "manual_score",
              *[g for g, _ in auto], "handin", "notes"]
    rows = []
    for sid in sorted(set(results) | set(roster)):
        r = results.get(sid)
        if r is None:
            rows.append([sid, "missing", 0, auto_max, manual_max, "", *[0] * len(auto), "",
                         "no hand-in"])
            continue
        scores = [r["scores"].get(g, 0) for g, _ in auto]
        notes = list(r["notes"])
        if roster and sid not in roster:
            notes.append("not on the roster")
        m = manual.get(sid)
        rows.append([sid, r["status"], _num(sum(scores)), _num(auto_max), _num(manual_max),
                     "" if m is None else _num(m), *[_num(s) for s in scores], r["handin"],
                     " | ".join(notes)])
    for name, message in problems:
        rows.append(["", "not-graded", 0, _num(auto_max), _num(manual_max), "",
                     *[0] * len(auto), name, message])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    write_text(os.path.join(out, "grades.csv"), buf.getvalue())
    return rows


def _num(x):
    x = float(x)
    return int(x) if x.is_integer() else round(x, 3)


# ---- running the workers ------------------------------------------------------------
class Batch:
    """Runs the workers, --jobs at a time, and collects each result into OUT."""

    def __init__(self, args, out, work, template, fingerprint, student_files, cells, roster,
                 problems, cifar10_dir, sandbox, mpl_cache):
        self.args, self.out, self.work = args, out, work
        self.template, self.fingerprint, self.student_files = template, fingerprint, student_files
        self.cells, self.roster, self.problems = cells, roster, problems
        self.cifar10_dir, self.sandbox, self.mpl_cache = cifar10_dir, sandbox, mpl_cache
        self.running = {}  # sid -> (Popen, started, handin, log file)
        self.auto_max = sum(p for _, p, k in cells if k == "auto")
        self.manual_max = sum(p for _, p, k in cells if k == "manual")

    def job(self, handin, workdir):
        a = self.args
        return {
            "student_id": handin.student_id, "zip": os.path.abspath(handin.path),
            "sha256": handin.sha256, "mtime": handin.mtime, "notes": handin.notes,
            "work": workdir, "template": self.template, "fingerprint": self.fingerprint,
            "assignment_db": os.path.join(self.template, "gradebook.db"),
            "student_files": self.student_files, "cifar10_dir": self.cifar10_dir,
            "auto_max": self.auto_max, "manual_max": self.manual_max,
            "sandbox": self.sandbox, "threads": max(1, (os.cpu_count() or 1) // a.jobs),
            "mpl_cache": self.mpl_cache,
            # What the kernel must not see (with bubblewrap): the grader's output and
            # other hand-ins, the submissions, the repository with the solutions.
            "hide": [self.out, os.path.abspath(a.submissions), REPO_ROOT],
            "limits": {"cell_timeout": a.cell_timeout, "timeout": a.timeout, "memory": a.memory,
                       "max_output": a.max_output, "file_size": a.max_file_write,
                       "max_handin": a.max_handin, "max_unpacked": a.max_unpacked,
                       "max_file": a.max_unpacked, "max_entries": 5000},
        }

    def start(self, handin):
        sid = handin.student_id
        workdir = os.path.join(self.work, "handins", sid)
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        job_path = os.path.join(workdir, "job.json")
        write_json(job_path, self.job(handin, workdir))
        log = open(os.path.join(workdir, "worker.log"), "wb")
        proc = subprocess.Popen([sys.executable, os.path.join(INSTRUCTOR_DIR, "grade_one.py"), job_path],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=workdir)
        self.running[sid] = (proc, time.monotonic(), handin, log)

    def kill(self, sid):
        proc = self.running[sid][0]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def finish(self, sid, killed_reason=None):
        """Collect a finished worker's result into OUT (the order makes re-runs safe:
        files, then the gradebook, then results/<id>.json, which marks it done)."""
        proc, started, handin, log = self.running.pop(sid)
        log.close()
        workdir = os.path.join(self.work, "handins", sid)
        result_path = os.path.join(workdir, "result.json")
        result = None
        if killed_reason is None and os.path.exists(result_path):
            try:
                with open(result_path, encoding="utf-8") as f:
                    result = json.load(f)
            except ValueError:
                result = None
        if result is None:
            why = killed_reason or f"the grading process ended without a result (exit code {proc.returncode})"
            result = {"student_id": sid, "status": "grader-error", "scores": {}, "manual": {},
                      "notes": [f"grading failed: {why}"], "events": [],
                      "handin": os.path.basename(handin.path)}
            from grade_one import simple_feedback
            write_text(os.path.join(workdir, "feedback.html"), simple_feedback(
                sid, 0, self.auto_max, self.manual_max, result["notes"],
                "Grading failed for a reason on the grader's side; your instructor has been told."))
        # Only trust what a worker reports as far as it makes sense.
        allowed = {g: p for g, p, k in self.cells if k == "auto"}
        result["scores"] = {g: min(max(float(result["scores"].get(g) or 0), 0.0), p)
                            for g, p in allowed.items()}
        result.update(student_id=sid, sha256=handin.sha256, mtime=handin.mtime,
                      fingerprint=self.fingerprint, handin=os.path.basename(handin.path),
                      seconds=round(time.monotonic() - started, 1))
        for key in ("autograded", "traceback"):
            result.pop(key, None)

        feedback_dir = os.path.join(self.out, "feedback", sid)
        os.makedirs(feedback_dir, exist_ok=True)
        if os.path.exists(os.path.join(workdir, "feedback.html")):
            shutil.copy(os.path.join(workdir, "feedback.html"),
                        os.path.join(feedback_dir, f"{ASSIGNMENT_ID}.html"))
        graded = os.path.join(workdir, "course", "autograded", sid, ASSIGNMENT_ID)
        target = os.path.join(self.out, "autograded", sid, ASSIGNMENT_ID)
        shutil.rmtree(target, ignore_errors=True)
        if os.path.isfile(os.path.join(graded, NOTEBOOK)):
            shutil.copytree(graded, target, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        with open(os.path.join(self.out, "logs", f"{sid}.log"), "wb") as dst:
            for name in ("worker.log", "nbgrader.log"):
                path = os.path.join(workdir, name)
                if os.path.exists(path):
                    dst.write(f"==== {name}\n".encode())
                    with open(path, "rb") as src:
                        shutil.copyfileobj(src, dst)
        merge_into_gradebook(self.out, result, self.cells, self.roster)
        write_json(os.path.join(self.out, "results", f"{sid}.json"), result)
        shutil.rmtree(workdir, ignore_errors=True)
        return result

    def run(self, todo):
        total, done = len(todo), 0
        pending = list(todo)
        try:
            while pending or self.running:
                while pending and len(self.running) < self.args.jobs:
                    self.start(pending.pop(0))
                time.sleep(0.2)
                for sid in list(self.running):
                    proc, started, _, _ = self.running[sid]
                    reason = None
                    if proc.poll() is None:
                        if time.monotonic() - started < self.args.timeout + GRACE:
                            continue
                        reason = f"killed after {self.args.timeout + GRACE} s"
                    self.kill(sid)  # also ends processes a worker left in its group
                    result = self.finish(sid, reason)
                    # Processes of a killed worker's hand-in that detached themselves
                    # were reparented to this process (a subreaper): end them.
                    kill_orphans({p.pid for p, _, _, _ in self.running.values()})
                    done += 1
                    write_csv(self.out, self.cells, self.roster, self.problems)
                    scored = sum(result["scores"].values())
                    print(f"[{done}/{total}] {sid}: {result['status']}, {_num(scored)}/{_num(self.auto_max)} "
                          f"({result['seconds']:.0f} s)", flush=True)
        finally:
            for sid in list(self.running):  # interrupted: stop the workers, keep what is done
                self.kill(sid)
                self.running.pop(sid)[3].close()


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Grade a folder of softmax hand-ins with nbgrader.",
                                 epilog="See the docstring of instructor/autograde.py for details.")
    ap.add_argument("submissions", help="folder with the hand-in zips (and optionally roster.csv)")
    ap.add_argument("--out", default="build/grading", help="output folder (default: build/grading)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="hand-ins graded at the same time (default: number of CPUs)")
    ap.add_argument("--regrade", action="store_true", help="grade again hand-ins graded before")
    ap.add_argument("--roster", help="CSV of students (default: SUBMISSIONS/roster.csv if present)")
    ap.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell (300)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per hand-in (1800)")
    ap.add_argument("--memory", type=parse_size, default="4G", help="kernel memory limit (4G)")
    ap.add_argument("--max-output", type=parse_size, default="1M", help="output kept per cell (1M)")
    ap.add_argument("--max-file-write", type=parse_size, default="100M",
                    help="largest file a hand-in may write (100M)")
    ap.add_argument("--max-handin", type=parse_size, default="50M", help="largest zip (50M)")
    ap.add_argument("--max-unpacked", type=parse_size, default="200M",
                    help="most bytes taken out of a zip (200M)")
    ap.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto",
                    help="isolate kernels with bubblewrap: auto (if it works here), bwrap, none")
    args = ap.parse_args(argv)
    if args.jobs < 1 or args.cell_timeout < 1 or args.timeout < 10:
        ap.error("--jobs must be >= 1, --cell-timeout >= 1, --timeout >= 10")
    return args


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    # `kill` stops a run as cleanly as Ctrl-C: workers ended, finished grades kept.
    signal.signal(signal.SIGTERM, _interrupt)
    out = os.path.abspath(args.out)
    try:
        if not os.path.isdir(args.submissions):
            raise SetupError(f"{args.submissions} is not a folder")
        cifar = os.environ.get("CIFAR10_DIR") or os.path.join(REPO_ROOT, "datasets", "cifar-10-batches-py")
        if not os.path.isfile(os.path.join(cifar, "data_batch_1")):
            raise SetupError(f"CIFAR-10 not found in {cifar}: run ./get_datasets.sh, or set "
                             "CIFAR10_DIR to a cifar-10-batches-py folder")
        works = args.sandbox != "none" and bwrap_works()   # a trial sandbox: test it once
        if args.sandbox == "bwrap" and not works:
            raise SetupError("--sandbox bwrap: bubblewrap (bwrap) is not installed or cannot create "
                             "a sandbox here (it needs user namespaces or root)")
        sandbox = "bwrap" if works else "none"
        os.makedirs(out, exist_ok=True)
        lock = open(os.path.join(out, ".lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SetupError(f"another grading run is using {out}") from None
        work = os.path.join(out, ".work")
        os.makedirs(work, exist_ok=True)
        shutil.rmtree(os.path.join(work, "handins"), ignore_errors=True)  # left by a killed run
        template, fingerprint, student_files = build_template(work)
        prepare_out(out, template, fingerprint)
        cells = grade_cells(template)
        roster_path = args.roster or os.path.join(args.submissions, "roster.csv")
        roster = read_roster(roster_path) if os.path.isfile(roster_path) else {}
        if args.roster and not os.path.isfile(args.roster):
            raise SetupError(f"roster {args.roster} not found")
        handins, problems = collect(args.submissions)
    except (SetupError, OSError) as e:
        print(f"autograde.py: error: {e}", file=sys.stderr)
        return 1

    todo, skipped = [], 0
    for sid in sorted(handins):
        h = handins[sid]
        done_path = os.path.join(out, "results", f"{sid}.json")
        if not args.regrade and os.path.exists(done_path):
            with open(done_path, encoding="utf-8") as f:
                old = json.load(f)
            if (old.get("sha256") == h.sha256 and old.get("fingerprint") == fingerprint
                    and old.get("status") != "grader-error"):  # the grader's failures are retried
                skipped += 1
                continue
        todo.append(h)
    print(f"{len(handins)} hand-in(s) in {args.submissions}: {len(todo)} to grade, {skipped} already "
          f"graded{', ' + str(len(problems)) + ' not attributable' if problems else ''}; "
          f"{args.jobs} at a time, sandbox: {sandbox}", flush=True)
    for name, message in problems:
        print(f"  {name}: {message}", flush=True)

    become_subreaper()
    batch = Batch(args, out, work, template, fingerprint, student_files, cells, roster, problems,
                  os.path.abspath(cifar), sandbox, matplotlib_cache(work))
    try:
        batch.run(todo)
    except KeyboardInterrupt:
        write_csv(out, cells, roster, problems)
        print("interrupted: the hand-ins graded so far are saved; run the same command again "
              "to grade the rest", file=sys.stderr)
        return 130
    rows = write_csv(out, cells, roster, problems)
    counts = {}
    for row in rows:
        counts[row[1]] = counts.get(row[1], 0) + 1
    print("done: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print(f"wrote {os.path.join(out, 'grades.csv')} and {os.path.join(out, 'feedback')}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
