"""Build the Gradescope autograder: dist/gradescope/autograder.zip.

    python -m instructor gradescope [--out dist/gradescope] [--hidden-visibility V] [limits]
    make gradescope

The zip, uploaded as a programming assignment's autograder, holds at its root

    setup.sh            run once while Gradescope builds the image: Python, the
                        requirements, bubblewrap, CIFAR-10 (get_datasets.sh, md5-checked)
    run_autograder      run for each submission: python -m instructor.gradescope.run
    autograder.json     the assignment's fingerprint, the limits, the grade cells with
                        hidden tests, the visibility of those tests
    requirements.txt, get_datasets.sh      as in the repository
    instructor/         this package (the grader)
    assignment/         the nbgrader course template: gradebook.db (the test cells,
                        hidden parts included, to restore them) and release/softmax/
                        (the starter notebook and files)

It holds neither the solution notebook nor the solved .py files: grading needs
only the release and the gradebook. Gradescope never shows the zip to students,
and the grader hides it from the student's kernel.
"""
import dataclasses
import json
import os
import re
import sys
import tempfile
import zipfile

from instructor.assignment import ASSIGNMENT_ID, DATA_DIR, INSTRUCTOR_DIR, REPO_ROOT
from instructor.grade.job import Limits

PYTHON_VERSION = "3.11"                     # the version the project is tested with
GRADER_HOME = "/opt/softmax-autograder"     # where setup.sh puts the venv
SCRIPTS = os.path.join(DATA_DIR, "gradescope")
SKIP = {"__pycache__", ".ipynb_checkpoints"}
EPOCH = (2020, 1, 1, 0, 0, 0)               # one time for every entry: build times say nothing


def official_md5():
    """The md5 of the CIFAR-10 archive, as get_datasets.sh has it."""
    with open(os.path.join(REPO_ROOT, "get_datasets.sh"), encoding="utf-8") as f:
        m = re.search(r'^DEFAULT_MD5="([0-9a-f]{32})"', f.read(), re.M)
    if not m:
        raise RuntimeError("get_datasets.sh: no DEFAULT_MD5 line found")
    return m.group(1)


def script(name, python_version):
    with open(os.path.join(SCRIPTS, name), encoding="utf-8") as f:
        text = f.read()
    for key, value in {"PYTHON_VERSION": python_version, "GRADER_HOME": GRADER_HOME,
                       "GRADER_PYTHON": f"{GRADER_HOME}/venv/bin/python",
                       "CIFAR10_MD5": official_md5()}.items():
        text = text.replace(f"@{key}@", value)
    if re.search(r"@[A-Z_]+@", text):
        raise RuntimeError(f"{name}: a placeholder was left unfilled")
    return text.encode()


def hidden_tests(release_dir):
    """(grade ids of test cells with hidden checks, the distinctive lines of those checks,
    for a last scrub of what results.json shows)."""
    from instructor.checks.suite import AUTO_TESTS
    from instructor.grade.trusted import hidden_check_lines
    ids = [g for g, checks in AUTO_TESTS.items()
           if any(getattr(check, "hidden", False) for check in checks)]
    return sorted(ids), hidden_check_lines(release_dir)


def tree(folder, prefix):
    """{name in zip: path} of the files under folder (no caches)."""
    files = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        for name in sorted(names):
            if name.endswith(".pyc"):
                continue
            rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            files[f"{prefix}/{rel}"] = os.path.join(root, name)
    return files


# Instructor modules that import the solution; not in the zip.
SOLUTION_BOUND = ("fingerprints.py", "mistakes.py")


def build(out_zip, hidden_visibility="after_published", limits=None,
          python_version=PYTHON_VERSION, sandbox="auto"):
    """Write the autograder zip to out_zip; returns the list of its names."""
    from instructor.checks.hidden import hidden_pool
    from instructor.grade.bundle import build_template
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="gradescope-build-") as tmp:
        template, fingerprint, student_files = build_template(tmp)
        ids, lines = hidden_tests(os.path.join(template, "release", ASSIGNMENT_ID))
        config = {"fingerprint": fingerprint, "student_files": student_files,
                  "limits": dataclasses.asdict(limits), "hidden_visibility": hidden_visibility,
                  "hidden_tests": ids, "hidden_lines": lines, "python_version": python_version,
                  "sandbox": sandbox}
        entries = {  # name -> (bytes, executable)
            "setup.sh": (script("setup.sh", python_version), True),
            "run_autograder": (script("run_autograder", python_version), True),
            "autograder.json": (json.dumps(config, indent=1, sort_keys=True).encode(), False),
        }
        paths = {"requirements.txt": os.path.join(REPO_ROOT, "requirements.txt"),
                 "get_datasets.sh": os.path.join(REPO_ROOT, "get_datasets.sh"),
                 "assignment/gradebook.db": os.path.join(template, "gradebook.db")}
        paths.update(tree(INSTRUCTOR_DIR, "instructor"))
        # The grader there has no solution: the hidden checks' numbers travel as data,
        # and the code that computes them from the solution (and the known mistakes,
        # which hold most of its lines) stays home.
        for name in SOLUTION_BOUND:
            paths.pop(f"instructor/checks/{name}", None)
        # A pool of hidden problem sets: each run draws one (instructor/checks/hidden.py).
        entries["instructor/checks/hidden_pool.json"] = (hidden_pool().encode(), False)
        paths.update(tree(os.path.join(template, "release", ASSIGNMENT_ID),
                          f"assignment/release/{ASSIGNMENT_ID}"))
        # The grader's own checks import the given cs231n files (checks.py and its
        # data, data_utils.py): the release's package, where student files are stubs.
        paths.update(tree(os.path.join(template, "release", ASSIGNMENT_ID, "cs231n"), "cs231n"))
        for name, path in paths.items():
            with open(path, "rb") as f:
                entries[name] = (f.read(), os.access(path, os.X_OK) and name.endswith(".sh"))
        os.makedirs(os.path.dirname(os.path.abspath(out_zip)), exist_ok=True)
        part = f"{out_zip}.{os.getpid()}.tmp"
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
            for name in sorted(entries):
                data, executable = entries[name]
                info = zipfile.ZipInfo(name, EPOCH)
                info.external_attr = (0o100755 if executable else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        os.replace(part, out_zip)
    return sorted(entries)


def main(args):
    """`python -m instructor gradescope` (args: see cli.py)."""
    from instructor.grade.bundle import SetupError
    out_zip = os.path.join(args.out, "autograder.zip")
    limits = getattr(args, "limits", None) or Limits()
    try:
        names = build(out_zip, args.hidden_visibility, limits, args.python_version,
                      args.sandbox)
    except (SetupError, OSError, RuntimeError) as e:
        print(f"gradescope: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out_zip} ({len(names)} files; hidden tests visible to students: "
          f"{args.hidden_visibility}; Python {args.python_version})")
    print("Upload it as the autograder of a Gradescope programming assignment "
          f"(see README.md, 'Grading on Gradescope'); give it a timeout above {limits.timeout} s.")
    return 0
