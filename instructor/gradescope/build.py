"""Build the Gradescope autograder: dist/gradescope/autograder.zip.

    python -m instructor [--assignment DIR] gradescope [--out dist/gradescope]
                         [--hidden-visibility V] [limits]
    make gradescope

Everything about the assignment comes from its spec (instructor.assignment.spec()).
The zip, uploaded as a programming assignment's autograder, holds at its root

    setup.sh            run once while Gradescope builds the image: Python, the
                        grader's requirements, bubblewrap, the assignment's data set
                        (the spec's dataset.fetch script, if any, checked as it checks)
    run_autograder      run for each submission: python -m instructor.gradescope.run
    autograder.json     the assignment's id and fingerprint, the limits, the grade cells
                        with hidden checks, the visibility of those tests, where the
                        assignment's folder is in the zip
    requirements.txt    the grader's requirements (this repository's)
    instructor/         this package (the grader), without the solution-bound files
    assignment/         the nbgrader course template: gradebook.db (the test cells,
                        hidden parts included, to restore them) and release/<id>/
                        (the starter notebook and files)

and the assignment's own files, at its root in the zip: the release's package (the
grader's checks import its given files; the files students edit are the starter
stubs), the modules the spec's references name (checks, contracts, data loaders),
its nbgrader settings, its data set's fetch script and the files of its hidden_pool.
For this repository's assignment that root is the zip's root; an assignment folder
elsewhere (--assignment DIR) goes into ASSIGNMENT_FOLDER/ with its assignment_spec.py,
and run_autograder points ASSIGNMENT_DIR there.

It holds neither the solution notebook nor the solved files, nor the spec's
solution_bound files: grading needs only the release, the gradebook and the
checks. Gradescope never shows the zip to students, and the grader hides it from
the student's kernel. Before it is written, the zip's own grader is asked, in a
process that sees only the unpacked zip, to load the spec and every check it names.
"""
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

from instructor.assignment import DATA_DIR, INSTRUCTOR_DIR, REPO_ROOT
from instructor.assignment import spec as assignment_spec
from instructor.assignment.model import ENV_VAR, SPEC_FILE
from instructor.grade.job import Limits
from instructor.gradescope.run import CONFIG, TEMPLATE, grader_references

PYTHON_VERSION = "3.11"                     # the version the project is tested with
GRADER_HOME = "/opt/autograder-python"      # where setup.sh puts the venv
SCRIPTS = os.path.join(DATA_DIR, "gradescope")
SKIP = {"__pycache__", ".ipynb_checkpoints"}
EPOCH = (2020, 1, 1, 0, 0, 0)               # one time for every entry: build times say nothing
# Where an assignment folder from outside this repository goes in the zip (a name no
# Python module can have, so it never shadows one).
ASSIGNMENT_FOLDER = "assignment-folder"
SAFE_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")


def _same(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def zip_folder(spec):
    """The assignment's folder in the zip: '' (the root) for this repository's."""
    return "" if _same(spec.root, REPO_ROOT) else ASSIGNMENT_FOLDER


def script(name, values):
    """A script of instructor/data/gradescope with its @PLACEHOLDERS@ filled in."""
    with open(os.path.join(SCRIPTS, name), encoding="utf-8") as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if re.search(r"@[A-Z_]+@", text):
        raise RuntimeError(f"{name}: a placeholder was left unfilled")
    return text.encode()


def hidden_tests(spec, release_dir):
    """(grade ids of test cells with hidden checks, the distinctive lines of those checks,
    for a last scrub of what results.json shows)."""
    from instructor.grade.trusted import hidden_check_lines
    ids = [c.grade_id for c in spec.cells if any(check.hidden for check in c.checks)]
    return sorted(ids), hidden_check_lines(release_dir, spec)


def tree(folder, prefix):
    """{name in zip: path} of the files under folder (no caches)."""
    files = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        for name in sorted(names):
            if name.endswith(".pyc"):
                continue
            rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            files[f"{prefix}/{rel}" if prefix else rel] = os.path.join(root, name)
    return files


def _under(name, paths):
    """Whether name (a '/'-path) is one of paths or inside one of them."""
    return any(name == p or name.startswith(p.rstrip("/") + "/") for p in paths)


def _relative(spec, path, what):
    """path (absolute or relative to the spec's root) as a '/'-path inside the root."""
    full = os.path.normpath(os.path.join(spec.root, path))
    rel = os.path.relpath(full, os.path.normpath(spec.root)).replace(os.sep, "/")
    if rel.startswith("../") or rel == ".." or not SAFE_PATH.fullmatch(rel):
        raise RuntimeError(f"{what} {path!r} is not a plain path inside the assignment's "
                           f"folder {spec.root}")
    return rel


def assignment_files(spec, release_dir):
    """{path relative to the assignment's root: file} of what the grader needs of the
    assignment: the release's package, the modules of the spec's references (each a
    module or folder at the assignment's root; installed packages are not the
    assignment's), its nbgrader settings, its data set's fetch script, and for a folder
    outside this repository its spec. The solution-bound files are left out."""
    files = tree(os.path.join(release_dir, spec.package), spec.package)
    files[_relative(spec, spec.nbgrader_config, "nbgrader_config")] = spec.path(
        spec.nbgrader_config)
    if zip_folder(spec):
        files[SPEC_FILE] = spec.path(SPEC_FILE)
    if spec.dataset and spec.dataset.fetch:
        files[_relative(spec, spec.dataset.fetch, "dataset.fetch")] = spec.path(spec.dataset.fetch)
    for ref in grader_references(spec):
        top = ref.partition(":")[0].split(".")[0]
        if top == spec.package:
            continue                      # the release's copy, above
        if os.path.isfile(spec.path(top + ".py")):
            files[top + ".py"] = spec.path(top + ".py")
        elif os.path.isdir(spec.path(top)):
            files.update(tree(spec.path(top), top))
    bound = [_relative(spec, p, "solution_bound") for p in spec.solution_bound]
    missing = sorted(rel for rel, path in files.items() if not os.path.isfile(path))
    if missing:
        raise RuntimeError(f"the spec of {spec.assignment_id} names files that do not exist: "
                           + ", ".join(missing))
    return {rel: path for rel, path in files.items() if not _under(rel, bound)}


def grader_files(spec):
    """{name in zip: file} of the grader's package. Left out: the solution-bound files
    of this repository's assignment and, in the zip of an assignment folder from
    elsewhere, all of this repository's own assignment's instructor-only code."""
    home = assignment_spec(REPO_ROOT)
    away = list(home.solution_bound)
    if zip_folder(spec):
        away += list(home.secret_code)
    return {name: path for name, path in tree(INSTRUCTOR_DIR, "instructor").items()
            if not _under(name, away)}


def pool_entries(spec, folder):
    """{name in zip: bytes} of the spec's hidden_pool (computed now, from the solution)."""
    if not spec.hidden_pool:
        return {}
    from instructor.assignment.model import resolve
    made = resolve(spec.hidden_pool, spec.root)()
    return {"/".join(filter(None, [folder, _relative(spec, path, "hidden_pool file")])):
            text.encode() if isinstance(text, str) else bytes(text)
            for path, text in made.items()}


def check_zip(zip_path, folder):
    """Ask the zip's own grader, unpacked alone (no other copy of the grader on its
    path), whether it can grade: its spec loads and every reference resolves.
    RuntimeError with what it said otherwise."""
    with tempfile.TemporaryDirectory(prefix="gradescope-check-") as tmp:
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", ENV_VAR)}
        env["PYTHONPATH"] = tmp
        if folder:
            env[ENV_VAR] = os.path.join(tmp, folder)
        proc = subprocess.run([sys.executable, "-m", "instructor.gradescope.run", "--check",
                               "code"], cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=600)
    if proc.returncode != 0:
        said = (proc.stdout + proc.stderr).strip().replace(tmp, "<zip>")
        raise RuntimeError(f"the autograder zip could not grade:\n{said[-3000:]}\n(it holds "
                           "the assignment's package as released, the modules and folders its "
                           "spec's references name, its spec and nbgrader settings; never its "
                           "solution_bound files)")


def build(out_zip, hidden_visibility="after_published", limits=None,
          python_version=PYTHON_VERSION, sandbox="auto"):
    """Write the autograder zip of the current assignment (spec()) to out_zip; returns
    the list of its names."""
    from instructor.grade.bundle import build_template
    spec = assignment_spec()
    limits = limits or Limits()
    folder = zip_folder(spec)
    fetch = spec.dataset.fetch if spec.dataset and spec.dataset.fetch else ""
    if fetch:
        fetch = _relative(spec, fetch, "dataset.fetch")
    with tempfile.TemporaryDirectory(prefix="gradescope-build-") as tmp:
        template, fingerprint, student_files = build_template(tmp)
        release = os.path.join(template, "release", spec.assignment_id)
        ids, lines = hidden_tests(spec, release)
        config = {"assignment_id": spec.assignment_id, "assignment_folder": folder,
                  "fingerprint": fingerprint, "student_files": student_files,
                  "limits": dataclasses.asdict(limits), "hidden_visibility": hidden_visibility,
                  "hidden_tests": ids, "hidden_lines": lines, "python_version": python_version,
                  "sandbox": sandbox}
        values = {"PYTHON_VERSION": python_version, "GRADER_HOME": GRADER_HOME,
                  "GRADER_PYTHON": f"{GRADER_HOME}/venv/bin/python",
                  "ASSIGNMENT_FOLDER": folder, "DATASET_FETCH": fetch}
        entries = {  # name -> (bytes, executable)
            "setup.sh": (script("setup.sh", values), True),
            "run_autograder": (script("run_autograder", values), True),
            CONFIG: (json.dumps(config, indent=1, sort_keys=True).encode(), False),
        }
        paths = {"requirements.txt": os.path.join(REPO_ROOT, "requirements.txt"),
                 f"{TEMPLATE}/gradebook.db": os.path.join(template, "gradebook.db")}
        paths.update(tree(release, f"{TEMPLATE}/release/{spec.assignment_id}"))
        paths.update(grader_files(spec))
        for rel, path in assignment_files(spec, release).items():
            name = f"{folder}/{rel}" if folder else rel
            if name in paths and not _same(paths[name], path) or name in entries:
                raise RuntimeError(f"the assignment's {rel} would replace the grader's "
                                   f"{name} in the zip")
            paths[name] = path
        # The grader there has no solution: what its hidden checks would compute from
        # it (a pool of problem sets, each run drawing one) travels as data.
        entries.update((name, (data, False)) for name, data in pool_entries(spec, folder).items())
        executable = {f"{folder}/{fetch}" if folder else fetch} if fetch else set()
        for name, path in paths.items():
            with open(path, "rb") as f:
                entries[name] = (f.read(), name in executable or (
                    os.access(path, os.X_OK) and name.endswith(".sh")))
        os.makedirs(os.path.dirname(os.path.abspath(out_zip)), exist_ok=True)
        part = f"{out_zip}.{os.getpid()}.tmp"
        try:
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
                for name in sorted(entries):
                    data, executable_entry = entries[name]
                    info = zipfile.ZipInfo(name, EPOCH)
                    info.external_attr = (0o100755 if executable_entry else 0o100644) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, data)
            check_zip(part, folder)
            os.replace(part, out_zip)
        finally:
            if os.path.exists(part):
                os.remove(part)
    return sorted(entries)


def main(args):
    """`python -m instructor gradescope` (args: see cli.py)."""
    from instructor.grade.bundle import SetupError
    out_zip = os.path.join(args.out, "autograder.zip")
    limits = getattr(args, "limits", None) or Limits()
    try:
        names = build(out_zip, args.hidden_visibility, limits, args.python_version,
                      args.sandbox)
    except (SetupError, OSError, RuntimeError, subprocess.SubprocessError) as e:
        print(f"gradescope: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {out_zip} ({len(names)} files; hidden tests visible to students: "
          f"{args.hidden_visibility}; Python {args.python_version})")
    print("Upload it as the autograder of a Gradescope programming assignment "
          f"(see README.md, 'Grading on Gradescope'); give it a timeout above {limits.timeout} s.")
    return 0
