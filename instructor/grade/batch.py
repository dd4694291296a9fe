"""Grade a folder of hand-ins with nbgrader: grades.csv, a gradebook and feedback pages.

    python -m instructor autograde SUBMISSIONS [--out build/grading] [options]
    make autograde SUBMISSIONS=<dir of zips> [OUT=build/grading] [AUTOGRADE_FLAGS=...]

SUBMISSIONS holds one zip per student, named <assignment>_<student_id>.zip (what
the release's collect script writes) or <student_id>.zip, and optionally a roster
(roster.csv there, or --roster FILE: a CSV with a column `id` or `student_id`
and optionally first_name, last_name, email). OUT receives

    grades.csv               one row per student: id, status, total, max, manual_max,
                             the points of each test, the hand-in, notes
    gradebook.db             nbgrader's gradebook (automatic scores; inline answers
                             marked for manual grading: start Jupyter in OUT and
                             open nbgrader's Formgrader)
    feedback/<id>/<assignment>.html  the feedback page for the student
    autograded/<id>/<assignment>/    the graded notebook and the package's .py files (as
                             handed in; nothing the hand-in wrote while it ran)
    results/<id>.json        what the grader found, per hand-in (a Result without its files)
    logs/<id>.log            the grading log, per hand-in
    report.html, class.json, canvas.csv   the class report, its facts as data and a
                             Canvas gradebook import (instructor/report/)

<assignment> is the assignment spec's id (instructor/assignment). The assignment
bundle (grade/bundle.py) is made once per run. Each hand-in
becomes a Job, graded by grade_one(job, bundle) (grade/one.py) in a worker
process of its own, --jobs at a time, through a concurrent.futures executor;
only this process writes OUT, one Result at a time, so the gradebook is never
written concurrently. A hand-in that cannot be graded gets a row with status
not-graded and the reason; it never stops the others. A line per finished
hand-in shows the count done and an estimate of the time left.

Running it again grades only what is new: hand-ins already graded (same zip
content) are skipped, so an interrupted run (Ctrl-C, kill) can simply be run
again. --regrade grades everything again. Grading the same hand-in twice gives
the same score.

Limits (per hand-in): --cell-timeout seconds per cell (300), --timeout seconds
for the whole notebook (1800), --memory for the kernel (4G), --max-processes of
the kernel in total (64), --max-disk it can fill in total (200M), --max-output
per cell (1M) and --max-output-total per notebook (4M), --max-file-write (100M
per file written), --grader-memory for the worker process that grades it (2G),
--max-handin zip size (50M), --max-unpacked (200M in total), --max-unpacked-file
(100M per file).

--sandbox auto (default): every kernel and trusted worker runs in a box of the
strongest tier that works here (sandbox/box.py): namespaces (bubblewrap, for
root and normal users), else uid (root without namespaces: containers); if none
can run, the run stops before grading, saying what would make each work.
--sandbox namespaces|uid insists on one tier. The tier is printed in the header
and is the first note of every hand-in (CSV and log): `sandbox: <tier>`.
--sandbox none grades bare, only when asked: a warning on stderr, and in every
graded hand-in's notes and log.

--scheduler tcp://HOST:PORT (or DASK_SCHEDULER_ADDRESS): grade on the workers of a
Dask cluster instead (grade/engines.py, grade/dask_engine.py); OUT is written here,
and every worker must be able to run the same tier (or --sandbox none).
"""
import concurrent.futures
import csv
import fcntl
import io
import json
import os
import shutil
import signal
import sys
import time

from instructor.assignment import (ASSIGNMENT_ID, ASSIGNMENT_ROOT, NBGRADER_CONFIG, NOTEBOOK,
                                   PACKAGE, REPO_ROOT, write_json, write_text)
from instructor.assignment import spec as assignment_spec
from instructor.grade.bundle import SetupError, make_bundle
from instructor.grade.engines import open_executor
from instructor.grade.job import (GRADED, GRADER_ERROR, NOT_GRADED, WITH_PROBLEMS, Job, Limits,
                                  Options)
from instructor.grade.one import end_orphans, failed_result, grade_one, kill_workers
from instructor.handin.unpack import HandinError, collect
from instructor.sandbox.files import write_files
from instructor.sandbox.limits import become_subreaper
from instructor.sandbox.policy import BARE_NOTE, SandboxError, choose_sandbox
from instructor.spreadsheet import spreadsheet_safe


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


# ---- the gradebook ---------------------------------------------------------------------
def merge_into_gradebook(out, result, cells, roster):
    """Put one hand-in's scores (a Result) into OUT/gradebook.db (gradebook.py's rules)."""
    from instructor.grade import gradebook
    gradebook.merge_result(out, result, cells, roster,
                           graded=result.status in (GRADED, WITH_PROBLEMS))


def manual_scores(out):
    """{student: manual points given so far in the gradebook (None if some are still open)}."""
    from instructor.grade import gradebook
    return gradebook.manual_scores(out)


# ---- the CSV ------------------------------------------------------------------------
def write_csv(out, cells, roster, problems):
    results = {}
    for name in sorted(os.listdir(os.path.join(out, "results"))):
        if name.endswith(".json"):
            with open(os.path.join(out, "results", name), encoding="utf-8") as f:
                r = json.load(f)
            results[r["student_id"]] = r
    auto = [(c.grade_id, c.points) for c in cells if c.kind == "auto"]
    auto_max = sum(p for _, p in auto)
    manual_max = sum(c.points for c in cells if c.kind == "manual")
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
        # (results written before tests were listed one by one have a "scores" table)
        points = {t["name"]: t["points"] for t in r.get("tests", [])} or r.get("scores", {})
        scores = [points.get(g, 0) for g, _ in auto]
        notes = list(r["notes"])
        if roster and sid not in roster:
            notes.append("not on the roster")
        m = manual.get(sid)
        handin = r.get("handin_name", r.get("handin", ""))
        rows.append([sid, r["status"], _num(sum(scores)), _num(auto_max), _num(manual_max),
                     "" if m is None else _num(m), *[_num(s) for s in scores], handin,
                     " | ".join(notes)])
    for name, message in problems:
        rows.append(["", "not-graded", 0, _num(auto_max), _num(manual_max), "",
                     *[0] * len(auto), name, message])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows([[spreadsheet_safe(cell) for cell in row] for row in rows])
    write_text(os.path.join(out, "grades.csv"), buf.getvalue())
    return rows


# A text cell starting with one of these is read as a formula by spreadsheet programs.
def _num(x):
    x = float(x)
    return int(x) if x.is_integer() else round(x, 3)


# ---- the batch ----------------------------------------------------------------------
# The phases of grading one hand-in, in the order they run (grade/one.py times them).
PHASES = ["process", "imports", "unpack", "prepare", "autograde", "autograde: kernel start",
          "autograde: cells", "autograde: kernel stop", "scores", "feedback"]
def make_job(handin, limits, options):
    """The Job of a hand-in: its bytes, or, for a zip over the size limit, None and
    the reason (the zip is never read into memory then)."""
    try:
        data = handin.read(limits.unpack())
    except (HandinError, OSError) as e:
        data, why = None, str(e)
    job = Job(student_id=handin.student_id, handin_name=os.path.basename(handin.path),
              handin=data or b"", sha256=handin.sha256, mtime=handin.mtime, limits=limits,
              options=options, notes=list(handin.notes))
    return job, (None if data is not None else why)


def save_result(out, result, bundle, roster, sandbox="namespaces"):
    """Write one Result into OUT (the order makes re-runs safe: files, then the
    gradebook, then results/<id>.json, which marks it done). OUT receives only the
    graded notebook and the package's .py files of a hand-in, as regular files."""
    sid = result.student_id
    tier_note = f"sandbox: {sandbox}"
    if tier_note not in result.notes:
        result.notes.insert(0, tier_note)
        result.log = f"{tier_note}\n" + result.log
    if sandbox == "none" and BARE_NOTE not in result.notes:
        result.notes.append(BARE_NOTE)
        result.log = f"WARNING: {BARE_NOTE}\n" + result.log
    # Only trust what a worker reports as far as it makes sense.
    allowed = {c.grade_id: c.points for c in bundle.cells if c.kind == "auto"}
    result.tests = [t for t in result.tests if t.name in allowed]
    for t in result.tests:
        t.points = min(max(float(t.points or 0), 0.0), allowed[t.name])
        t.max = allowed[t.name]
    feedback_dir = os.path.join(out, "feedback", sid)
    os.makedirs(feedback_dir, exist_ok=True)
    write_text(os.path.join(feedback_dir, f"{ASSIGNMENT_ID}.html"), result.feedback_html)
    target = os.path.join(out, "autograded", sid, ASSIGNMENT_ID)
    shutil.rmtree(target, ignore_errors=True)
    if NOTEBOOK in result.autograded:
        write_files(target, {rel: data for rel, data in result.autograded.items()
                             if _wanted_in_out(rel)})
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(
        result.phases.items(), key=lambda kv: PHASES.index(kv[0]) if kv[0] in PHASES else 99))
    write_text(os.path.join(out, "logs", f"{sid}.log"),
               result.log + (f"\n==== time per phase\n{phases}\n" if phases else ""))
    merge_into_gradebook(out, result, bundle.cells, roster)
    write_json(os.path.join(out, "results", f"{sid}.json"), result.summary())


def _wanted_in_out(rel):
    """The graded notebook and the package's .py files; never a path that leaves the folder."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        return False
    return rel == NOTEBOOK or (parts[0] == PACKAGE and rel.endswith(".py"))


def progress(done, total, elapsed):
    """'[3/10, about 2 min left]': the time left from the mean wall time per hand-in so far."""
    if done >= total:
        return f"[{done}/{total}]"
    left = elapsed / done * (total - done)
    if left < 90:
        return f"[{done}/{total}, about {left:.0f} s left]"
    return f"[{done}/{total}, about {left / 60:.0f} min left]"


def run_batch(executor, todo, bundle, out, roster, problems, limits, options):
    """Grade the hand-ins in todo with executor (a concurrent.futures.Executor), writing
    each Result into OUT as it arrives."""
    total, done, start = len(todo), 0, time.monotonic()
    futures = {}
    for handin in todo:
        job, refused = make_job(handin, limits, options)
        if refused is not None:   # too big to read: no worker needed to say so
            fut = concurrent.futures.Future()
            fut.set_result(failed_result(job, bundle, NOT_GRADED, [f"not graded: {refused}",
                                                                   *job.notes]))
        else:
            fut = executor.submit(grade_one, job, bundle)
        futures[fut] = job
    for fut in concurrent.futures.as_completed(futures):
        job = futures[fut]
        try:
            result = fut.result()
        except Exception as e:  # the executor's failure, not the hand-in's
            result = failed_result(job, bundle, GRADER_ERROR, [f"grading failed: {e}"])
        # Processes of a killed worker's hand-in that detached themselves were
        # reparented to this process (a subreaper): end them.
        end_orphans()
        save_result(out, result, bundle, roster, options.sandbox)
        done += 1
        write_csv(out, bundle.cells, roster, problems)
        print(f"{progress(done, total, time.monotonic() - start)} {result.student_id}: "
              f"{result.status}, {_num(sum(result.scores.values()))}/{_num(bundle.auto_max)} "
              f"({result.seconds:.0f} s)", flush=True)


def out_owner():
    """(uid, gid) OUT should belong to when root grades: the user who ran sudo, else
    the owner of the checkout; None when nothing is to change (not root, or root's)."""
    if os.geteuid() != 0:
        return None
    if os.environ.get("SUDO_UID", "").isdigit():
        uid = int(os.environ["SUDO_UID"])
        gid = int(os.environ["SUDO_GID"]) if os.environ.get("SUDO_GID", "").isdigit() else uid
    else:
        info = os.stat(REPO_ROOT)
        uid, gid = info.st_uid, info.st_gid
    return None if uid == 0 else (uid, gid)


def give_out_to_owner(out):
    """chown OUT and everything in it (never following links) to out_owner()."""
    owner = out_owner()
    if owner is None or not os.path.isdir(out):
        return
    for root, dirs, files in os.walk(out):
        for name in [""] + dirs + files:
            try:
                os.chown(os.path.join(root, name) if name else root, *owner,
                         follow_symlinks=False)
            except OSError:
                pass


def dataset_folder(out, check=True):
    """The folder of the data set the notebook reads (the spec's dataset), read-only for
    kernels; SetupError if it cannot be used. A notebook that reads no data gets an
    empty folder of OUT's."""
    folder, problem = assignment_spec().locate_dataset()
    if folder is None:
        folder = os.path.join(out, ".work", "no-data")
        os.makedirs(folder, exist_ok=True)
        return folder
    if check and problem:
        raise SetupError(problem)
    return folder


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(args):
    """`python -m instructor autograde` (args: see cli.py)."""
    # `kill` stops a run as cleanly as Ctrl-C: workers ended, finished grades kept.
    signal.signal(signal.SIGTERM, _interrupt)
    out = os.path.abspath(args.out)
    try:
        if not os.path.isdir(args.submissions):
            raise SetupError(f"{args.submissions} is not a folder")
        # On a Dask cluster the workers check their own data set and sandbox.
        remote = bool(getattr(args, "scheduler", None))
        data_dir = dataset_folder(out, check=not remote)
        # A trial box of each tier, strongest first: stops here if none works. On a
        # Dask cluster each worker checks that it can run the same tier too.
        sandbox = choose_sandbox(args.sandbox)
        args.sandbox = sandbox      # what the executor (and every Dask worker) uses
        if sandbox == "none":
            print(f"autograde: WARNING: {BARE_NOTE}", file=sys.stderr, flush=True)
        os.makedirs(out, exist_ok=True)
        lock = open(os.path.join(out, ".lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SetupError(f"another grading run is using {out}") from None
        work = os.path.join(out, ".work")
        os.makedirs(work, exist_ok=True)
        shutil.rmtree(os.path.join(work, "handins"), ignore_errors=True)  # left by a killed run
        # What the kernel must not see (with bubblewrap): the grader's output and
        # other hand-ins, the submissions, the repository with the solutions.
        started = time.monotonic()
        # An assignment folder of its own (--assignment) holds solutions too.
        hide = [out, os.path.abspath(args.submissions), REPO_ROOT]
        if os.path.realpath(ASSIGNMENT_ROOT) != os.path.realpath(REPO_ROOT):
            hide.append(ASSIGNMENT_ROOT)
        bundle = make_bundle(work, data_dir, hide=hide)
        print(f"assignment prepared in {time.monotonic() - started:.1f} s", flush=True)
        os.makedirs(bundle.work, exist_ok=True)
        prepare_out(out, bundle.template, bundle.fingerprint)
        roster_path = args.roster or os.path.join(args.submissions, "roster.csv")
        if args.roster and not os.path.isfile(args.roster):
            raise SetupError(f"roster {args.roster} not found")
        roster = read_roster(roster_path) if os.path.isfile(roster_path) else {}
        handins, problems = collect(args.submissions)
        executor, where = open_executor(args, bundle)
    except (SetupError, SandboxError, OSError) as e:
        print(f"autograde: error: {e}", file=sys.stderr)
        return 1

    todo, skipped = [], 0
    for sid in sorted(handins):
        h = handins[sid]
        done_path = os.path.join(out, "results", f"{sid}.json")
        if not args.regrade and os.path.exists(done_path):
            with open(done_path, encoding="utf-8") as f:
                old = json.load(f)
            if (old.get("sha256") == h.sha256 and old.get("fingerprint") == bundle.fingerprint
                    and old.get("status") != GRADER_ERROR):  # the grader's failures are retried
                skipped += 1
                continue
        todo.append(h)
    print(f"{len(handins)} hand-in(s) in {args.submissions}: {len(todo)} to grade, {skipped} already "
          f"graded{', ' + str(len(problems)) + ' not attributable' if problems else ''}; "
          f"{where}, sandbox: {sandbox}", flush=True)
    for name, message in problems:
        print(f"  {name}: {message}", flush=True)

    become_subreaper()
    limits = getattr(args, "limits", None) or Limits()
    options = Options(sandbox=sandbox, threads=max(1, (os.cpu_count() or 1) // args.jobs))
    try:
        run_batch(executor, todo, bundle, out, roster, problems, limits, options)
    except KeyboardInterrupt:
        executor.shutdown(wait=False, cancel_futures=True)
        kill_workers()
        executor.shutdown(wait=True)
        write_csv(out, bundle.cells, roster, problems)
        give_out_to_owner(out)
        print("interrupted: the hand-ins graded so far are saved; run the same command again "
              "to grade the rest", file=sys.stderr)
        return 130
    executor.shutdown(wait=True)
    rows = write_csv(out, bundle.cells, roster, problems)
    counts = {}
    for row in rows:
        counts[row[1]] = counts.get(row[1], 0) + 1
    print("done: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print(f"wrote {os.path.join(out, 'grades.csv')} and {os.path.join(out, 'feedback')}/")
    # The class report (report.html, class.json, canvas.csv), from what OUT now holds.
    from instructor.report.build import build_report
    try:
        build_report(out, roster=roster_path if os.path.isfile(roster_path) else None,
                     run={"wall_seconds": round(time.monotonic() - started, 1),
                          "jobs": None if getattr(args, "scheduler", None) else args.jobs,
                          "sandbox": sandbox})
    except Exception as e:  # the grades are saved; `python -m instructor report OUT` retries
        print(f"autograde: error: the class report could not be written: {e}", file=sys.stderr)
        return 1
    finally:
        give_out_to_owner(out)
    print(f"wrote {os.path.join(out, 'report.html')}, class.json and canvas.csv")
    return 0
