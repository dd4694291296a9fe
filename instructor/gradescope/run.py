"""Grade one Gradescope submission: what run_autograder starts.

    AUTOGRADER_ROOT=/autograder  python -m instructor.gradescope.run

Run from the unpacked autograder (ROOT/source, which holds this package, the
assignment's gradebook and release, and autograder.json, written by build.py),
it grades ROOT/submission with grade_one(), the same hardened grading as
`python -m instructor autograde` (sandboxed kernel, limits, repairs, restored
test cells), and writes ROOT/results/results.json (results.py). What it prints
goes to Gradescope's stdout file, which only instructors see.

The assignment is the one the zip was built for: run_autograder points
ASSIGNMENT_DIR at its folder in the zip (or at none, for the grader's own), and
a spec other than the one autograder.json names is refused.

Exit status: 0 when results.json holds the grade, including 0 points for an
upload that cannot be graded (the student's results page explains why);
1 when grading failed on the grader's side (results.json then says so), so
that Gradescope marks the run as failed for the instructor to look at.

    python -m instructor.gradescope.run --check {code,all}

checks instead that this unpacked autograder can grade (build.py and setup.sh
run it): the spec is the zip's, every check it names loads, and, with all,
its data set is in place. Exit status 1 with the problems on stderr otherwise.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

from instructor.assignment import REPO_ROOT, spec, write_text

CONFIG = "autograder.json"          # written by build.py into the zip's root
TEMPLATE = "assignment"             # the course template: gradebook.db, release/<id>/


def autograder_root():
    return os.path.abspath(os.environ.get("AUTOGRADER_ROOT") or "/autograder")


def write_results(root, data):
    folder = os.path.join(root, "results")
    os.makedirs(folder, exist_ok=True)
    write_text(os.path.join(folder, "results.json"), json.dumps(data, indent=1))


def grader_failure(root, message):
    """results.json for a failure before any Result exists (no configuration, no data)."""
    from instructor.gradescope.results import overall_output
    from instructor.grade.job import GRADER_ERROR, Result
    result = Result(student_id="student", handin_name="", sha256="", mtime=time.time(),
                    fingerprint="", status=GRADER_ERROR, notes=[message])
    write_results(root, {"score": 0, "output": overall_output(result, 0, 0, ""),
                         "output_format": "text", "stdout_visibility": "hidden", "tests": [],
                         "extra_data": {"status": GRADER_ERROR}})
    print(f"grading failed: {message}", flush=True)
    return 1


def load_config():
    with open(os.path.join(REPO_ROOT, CONFIG), encoding="utf-8") as f:
        return json.load(f)


def wrong_spec(config):
    """Why the loaded spec is not the one this autograder was built for, or None."""
    built_for, loaded = config.get("assignment_id"), spec().assignment_id
    if built_for != loaded:
        return (f"this autograder was built for the assignment {built_for!r}, but the grader "
                f"loaded the spec of {loaded!r} (run it through run_autograder, which sets "
                "ASSIGNMENT_DIR to the zip's own assignment)")
    return None


def dataset_folder(work):
    """The data set's folder (the spec's locate_dataset; where setup.sh fetched it unless
    its environment variable says otherwise), or an empty one of the run's own when the
    notebook reads no data. SetupError when it cannot be used."""
    from instructor.grade.bundle import SetupError
    assignment = spec()
    folder, problem = assignment.locate_dataset()
    if folder is None:
        folder = os.path.join(work, "no-data")
        os.makedirs(folder, exist_ok=True)
    elif problem:
        fetch = assignment.dataset.fetch
        raise SetupError(f"{problem} (on Gradescope, setup.sh fetches it with {fetch})"
                         if fetch else problem)
    return folder


def make_bundle(config, root, work):
    """The assignment bundle from the files the autograder zip ships."""
    from instructor.grade.bundle import grade_cells
    from instructor.grade.job import Bundle
    template = os.path.join(REPO_ROOT, TEMPLATE)
    data_dir = dataset_folder(work)
    return Bundle(template=template, fingerprint=config["fingerprint"],
                  student_files=list(config["student_files"]), cells=grade_cells(template),
                  data_dir=data_dir, work=os.path.join(work, "handins"),
                  # The kernel sees none of the autograder: not the gradebook with the
                  # hidden tests, not the results it could forge, not the upload's folder.
                  hide=sorted({root, REPO_ROOT}))


def grade_submission(root, config, bundle, work):
    """The Result for ROOT/submission."""
    from instructor.grade.bundle import matplotlib_cache
    from instructor.grade.job import NOT_GRADED, Job, Limits, Options, Result
    from instructor.grade.one import end_orphans, grade_one
    from instructor.gradescope.upload import upload_as_zip
    from instructor.handin.unpack import HandinError
    from instructor.sandbox.policy import BARE_NOTE, choose_sandbox
    limits = Limits(**config["limits"])
    # As make autograde: the strongest tier this container allows (in Gradescope's,
    # uid), or grading bare only if the zip was built to.
    sandbox = choose_sandbox(config.get("sandbox", "auto"))
    print(f"sandbox: {sandbox}", flush=True)
    if sandbox == "uid":
        # The results file is written by this process (root) after grading; the
        # student's uid can neither write nor read anything under the autograder's folder.
        results = os.path.join(root, "results")
        os.makedirs(results, exist_ok=True)
        os.chmod(results, 0o700)
    try:
        data, name, notes = upload_as_zip(os.path.join(root, "submission"), limits.unpack())
    except HandinError as e:
        # Told at once: no worker, no feedback page (Gradescope shows results.json only).
        return Result(student_id="student", handin_name="", sha256="", mtime=time.time(),
                      fingerprint=bundle.fingerprint, status=NOT_GRADED, notes=[str(e)])
    job = Job(student_id="student", handin_name=name, handin=data,
              sha256=hashlib.sha256(data).hexdigest(), mtime=time.time(), limits=limits,
              # One BLAS thread: a container's CPU quota is not what os.cpu_count() says,
              # and more threads than cores slow numpy down by far (and with it the
              # notebook's own check that the vectorized loss is faster than the loop).
              options=Options(sandbox=sandbox, threads=1),
              notes=notes + ([BARE_NOTE] if sandbox == "none" else []))
    os.makedirs(bundle.work, exist_ok=True)
    bundle.mpl_cache = matplotlib_cache(work)   # only now: an unusable upload is told at once
    try:
        return grade_one(job, bundle)
    finally:
        end_orphans()


def grader_references(spec):
    """Every "module:name" the grader resolves while grading: the cells' checks, the
    contracts of what students write, the data loader, the data set's locator and the
    mistakes' catalogue."""
    refs = [check.ref for cell in spec.cells for check in cell.checks]
    for routine in spec.routines.values():
        refs += [routine.contract] if getattr(routine, "contract", None) else []
        refs += [rule for _, rule in getattr(routine, "contracts", ())]
    refs += [spec.data, spec.mistakes.catalogue, spec.dataset and spec.dataset.locate]
    return sorted({r for r in refs if r})


def check(config, data=True):
    """[problems] that keep this unpacked autograder from grading: another spec than
    the zip's, a check (or contract, loader, catalogue) that does not load, and, with
    data, a data set that is not in place."""
    from instructor.assignment.model import resolve
    problem = wrong_spec(config)
    if problem:
        return [problem]
    assignment, problems = spec(), []
    for ref in grader_references(assignment):
        try:
            resolve(ref, assignment.root)
        except Exception as e:   # noqa: BLE001 (any failure to load is the answer)
            problems.append(f"{ref} does not load: {type(e).__name__}: {e}")
    if data:
        _, problem = assignment.locate_dataset()
        if problem:
            problems.append(problem)
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m instructor.gradescope.run",
                                     description="grade AUTOGRADER_ROOT/submission")
    parser.add_argument("--check", choices=("code", "all"),
                        help="only check that this autograder can grade: its spec and "
                             "checks load (code), and its data set is in place (all)")
    args = parser.parse_args(argv)
    if args.check:
        try:
            problems = check(load_config(), data=args.check == "all")
        except (OSError, ValueError, KeyError) as e:
            problems = [f"cannot read {CONFIG} of the autograder: {e}"]
        for problem in problems:
            print(f"autograder check: {problem}", file=sys.stderr)
        if not problems:
            print(f"autograder check: {spec().assignment_id} can be graded")
        return 1 if problems else 0
    return grade(autograder_root())


def grade(root):
    """Grade ROOT/submission into ROOT/results/results.json; the exit status."""
    from instructor.grade.job import GRADER_ERROR
    from instructor.gradescope.results import results_json
    from instructor.gradescope.upload import WHAT_TO_UPLOAD
    from instructor.sandbox.limits import become_subreaper
    try:
        config = load_config()
    except (OSError, ValueError, KeyError) as e:
        return grader_failure(root, f"cannot read {CONFIG} of the autograder: {e}")
    problem = wrong_spec(config)
    if problem:
        return grader_failure(root, problem)
    become_subreaper()   # what a hand-in detaches from its kernel comes back to be killed
    work = tempfile.mkdtemp(prefix="gradescope-")
    try:
        bundle = make_bundle(config, root, work)
        result = grade_submission(root, config, bundle, work)
    except Exception as e:  # the grader's fault: Gradescope shows the run as failed
        traceback.print_exc()
        return grader_failure(root, f"{type(e).__name__}: {e}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data = results_json(result, bundle.cells, set(config["hidden_tests"]),
                        config["hidden_lines"], config["hidden_visibility"], WHAT_TO_UPLOAD)
    write_results(root, data)
    print(f"status: {result.status}; score {data['score']}; {result.seconds} s", flush=True)
    for note in result.notes:
        print(f"  note: {note}")
    if result.phases:
        print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.phases.items()))
    if result.status == GRADER_ERROR:
        print(result.log[-20000:])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
