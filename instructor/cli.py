"""One command for the instructor's pipeline: `python -m instructor COMMAND`.

    python -m instructor release [--out dist]                  build the student release
    python -m instructor solved-handin DIST OUT.zip            the solution as a hand-in
    python -m instructor autograde SUBMISSIONS [--out OUT]     grade a folder of hand-ins
    python -m instructor report OUT [--roster ROSTER.csv]      the class report of a graded OUT
    python -m instructor gradescope [--out dist/gradescope]    the Gradescope autograder zip
    python -m instructor leaks FOLDER                          search a folder for solutions
    python -m instructor strip FILE.py                         print a file's student version

Each command has its own --help. Each stage lives in its own subpackage
(release/, handin/, grade/, feedback/), which this module only calls.
"""
import argparse
import os
import re
import sys

from instructor.grade.job import add_limit_options, limits_from_args
from instructor.sandbox.box import ALIASES as SANDBOX_ALIASES, CHOICES as SANDBOX_CHOICES


def _tier(text):
    """--sandbox's value; older names (bwrap) still accepted."""
    return SANDBOX_ALIASES.get(text, text)


def _release(args):
    from instructor.release.build import main
    return main(args)


def _solved_handin(args):
    from instructor.handin.solved import main
    return main(args)


def _budget_note():
    from instructor.grade.trusted import CALL_TIMEOUT, TRUSTED_BUDGET
    return (f"The trusted checks of one hand-in get {TRUSTED_BUDGET} s in all for calls into "
            f"its code (--trusted-budget; at most {CALL_TIMEOUT} s per call, --call-timeout), "
            "and never run past its --timeout: past that, the remaining checks fail as too "
            "slow and the grade is final.")


_BUDGET_NOTE = _budget_note()

def _with_limits(command, args):
    """args.limits from the limit options; an error message and 2 if one is out of range."""
    args.limits, error = limits_from_args(args)
    if error:
        print(f"{command}: error: {error}", file=sys.stderr)
        return 2
    return 0


def _autograde(args):
    from instructor.grade.batch import main
    if args.jobs < 1:
        print("autograde: error: --jobs must be >= 1", file=sys.stderr)
        return 2
    return _with_limits("autograde", args) or main(args)


def _report(args):
    from instructor.report.build import main
    return main(args)


def _gradescope(args):
    from instructor.gradescope.build import main
    if _with_limits("gradescope", args):
        return 2
    if not re.fullmatch(r"3\.\d{1,2}", args.python_version):
        print(f"gradescope: error: --python-version must look like 3.11, not {args.python_version!r}",
              file=sys.stderr)
        return 2
    return main(args)


def _leaks(args):
    from instructor.release.leaks import find_leaks
    if not os.path.isdir(args.folder):
        print(f"leaks: error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    leaks = find_leaks(args.folder)
    for rel, s in leaks:
        print(f"{rel}: {s}")
    return 1 if leaks else 0


def _strip(args):
    from instructor.markers import MarkerError, strip_solutions
    try:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
        sys.stdout.write(strip_solutions(text, args.file)[0])
    except (OSError, UnicodeDecodeError, MarkerError) as e:
        print(f"strip: error: {e}", file=sys.stderr)
        return 1
    return 0


def parser():
    ap = argparse.ArgumentParser(
        prog="python -m instructor",
        description="Instructor tools of an assignment (this repository's unless --assignment "
                    "says otherwise): release -> hand-in -> grade -> feedback.")
    ap.add_argument("--assignment", metavar="DIR",
                    help="the assignment folder (with its assignment_spec.py) to work on "
                         "instead of this repository's; before COMMAND (default: "
                         "$ASSIGNMENT_DIR if set)")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("release", help="build the student release (make release)",
                       description="Build the student release: OUT/<assignment id>/ and "
                                   "OUT/<assignment id>.zip.")
    p.add_argument("--out", default="dist", help="output folder (default: dist)")
    p.set_defaults(run=_release)

    p = sub.add_parser("solved-handin", help="write the solution as a student's hand-in",
                       description="Write a hand-in that answers everything with the solution "
                                   "(full automatic points when graded).")
    p.add_argument("dist", help="the folder `release` wrote (holds <assignment id>/<notebook>)")
    p.add_argument("out", help="the zip to write, e.g. submissions/<assignment id>_solution.zip")
    p.set_defaults(run=_solved_handin)

    p = sub.add_parser("autograde", help="grade a folder of hand-ins (make autograde)",
                       description="Grade a folder of hand-ins with nbgrader: grades.csv, "
                                   "gradebook.db, feedback pages.",
                       epilog=f"{_BUDGET_NOTE} See instructor/grade/batch.py for what OUT "
                              "receives.")
    p.add_argument("submissions", help="folder with the hand-in zips (and optionally roster.csv)")
    p.add_argument("--out", default="build/grading", help="output folder (default: build/grading)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="hand-ins graded at the same time (default: number of CPUs)")
    p.add_argument("--regrade", action="store_true", help="grade again hand-ins graded before")
    p.add_argument("--roster", help="CSV of students (default: SUBMISSIONS/roster.csv if present)")
    add_limit_options(p)
    p.add_argument("--sandbox", choices=SANDBOX_CHOICES, default="auto", type=_tier,
                   help="how student code is isolated: auto (default) takes the strongest "
                        "tier that runs here and stops with what each needs if none does; "
                        "namespaces: bubblewrap with its own namespaces (root or a normal "
                        "user); uid: a dedicated uid, the instructor's files unreadable, no "
                        "network (root in a container); none: WITHOUT isolation (student "
                        "code runs with the grader's rights; noted in the log and every CSV "
                        "row)")
    p.add_argument("--scheduler", default=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
                   metavar="tcp://HOST:PORT",
                   help="grade on the workers of this Dask scheduler instead of local processes "
                        "(default: $DASK_SCHEDULER_ADDRESS if set; --jobs is then ignored)")
    p.set_defaults(run=_autograde)

    p = sub.add_parser("report", help="the class report of a graded OUT folder",
                       description="Write OUT/report.html, OUT/class.json and OUT/canvas.csv "
                                   "from what a grading run left in OUT (nothing is graded "
                                   "again). make autograde writes them too.",
                       epilog="See instructor/report/ for what each file holds.")
    p.add_argument("out", help="the --out folder of a grading run (e.g. build/grading)")
    p.add_argument("--roster", help="a Canvas gradebook export (or the grader's roster.csv) "
                                    "to match canvas.csv's rows by SIS Login ID or SIS User ID")
    p.add_argument("--column", help="header of the assignment's column in canvas.csv (default: "
                                    "the roster's column for the assignment, else its name)")
    p.set_defaults(run=_report)

    p = sub.add_parser("gradescope", help="build the Gradescope autograder (make gradescope)",
                       description="Write OUT/autograder.zip, to upload as the autograder of a "
                                   "Gradescope programming assignment.",
                       epilog=f"{_BUDGET_NOTE} See instructor/gradescope/build.py for what "
                              "the zip holds.")
    p.add_argument("--out", default=os.path.join("dist", "gradescope"),
                   help="output folder (default: dist/gradescope)")
    p.add_argument("--hidden-visibility", default="after_published",
                   choices=["hidden", "after_due_date", "after_published", "visible"],
                   help="when students see the tests with hidden parts (default: after_published)")
    p.add_argument("--python-version", default="3.11",
                   help="the Python setup.sh installs (default: 3.11)")
    add_limit_options(p, ["cell_timeout", "timeout", "memory", "processes", "disk",
                          "max_file_write", "call_timeout", "trusted_budget"])
    p.add_argument("--sandbox", choices=["auto", "none"], default="auto",
                   help="auto (default): grade each submission in the strongest tier the "
                        "container allows (namespaces, else uid), or report a grader-side "
                        "failure if none runs; none: grade in the container WITHOUT "
                        "isolation (said in every results.json)")
    p.set_defaults(run=_gradescope)

    p = sub.add_parser("leaks", help="search a folder for solution or hidden-test text",
                       description="List solution or hidden-test text found in FOLDER "
                                   "(exit 1 if any).")
    p.add_argument("folder")
    p.set_defaults(run=_leaks)

    p = sub.add_parser("strip", help="print the student version of a .py file",
                       description="Print FILE.py with its solution regions replaced by the stub.")
    p.add_argument("file")
    p.set_defaults(run=_strip)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if args.assignment:
        # Read by `python -m instructor` before the spec is loaded; called otherwise, the
        # spec in use must be that folder's already.
        from instructor.assignment import ASSIGNMENT_ROOT
        if os.path.realpath(args.assignment) != os.path.realpath(ASSIGNMENT_ROOT):
            parser().error(f"--assignment {args.assignment}: the assignment of "
                           f"{ASSIGNMENT_ROOT} is already loaded; set ASSIGNMENT_DIR instead")
    return args.run(args)
