"""Build the student release of the assignment (the one the spec describes).

    python -m instructor release [--out dist]        (or: make release)

Writes OUT/<assignment id>/ and OUT/<assignment id>.zip (the same folder,
zipped) with

    <notebook>           solutions replaced by stubs, hidden tests removed, test and
                         read-only cells locked (checksums), outputs cleared
    <package>/           the package, solution regions of the .py files replaced by
                         stubs, and the given checks' data file if the spec has one
                         (computed from the solution at build time by the checks'
                         generator)
    the spec's release_extras, copied as they are (the data set's script, the
                         requirements, the collect script, ...)
    every file of the spec's release_data folder (the students' README.md and
                         nbgrader_config.py, ...), copied into the release's root

The notebook goes through real `nbgrader generate_assignment`, in a temporary
course folder with the instructor's nbgrader_config.py. nbgrader copies other
files as they are, so the .py files are stripped here (markers.strip_solutions)
before it runs, and checked: none may compute what the spec's given_code rule
forbids (given_code.py). The result is then searched for any solution or
hidden-test text (leaks.py) and refused if some is found.

Everything is built in a temporary folder inside OUT and moved into place at
the end: on any error (a source notebook that is not valid JSON, unbalanced
solution markers, ...) the command prints what is wrong, exits non-zero and
leaves OUT as it was.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile

from instructor.assignment import (ASSIGNMENT_ID, ASSIGNMENT_ROOT, CHECK_DATA, NBGRADER_CONFIG,
                                   NOTEBOOK, PACKAGE, RELEASE_DATA_DIR, RELEASE_EXTRAS,
                                   load_nbgrader_config, package_sources)
from instructor.assignment import spec as assignment_spec
from instructor.markers import MarkerError, notebook_stub, strip_solutions
from instructor.release.given_code import check_given_files
from instructor.release.leaks import find_leaks, source_secrets


class ReleaseError(RuntimeError):
    """The release cannot be built; the message says why and what to fix."""


def _shown(path):
    """path as the instructor knows it: relative to the assignment's folder."""
    return os.path.relpath(path, ASSIGNMENT_ROOT).replace(os.sep, "/")


def check_config(with_solutions):
    """Fail clearly unless nbgrader_config.py fits the package: its exclude_overwriting
    lists exactly the files with solutions, and its code stub has the form of the
    ones strip_solutions puts in the .py files (students see both)."""
    cfg = load_nbgrader_config()
    excluded = list(cfg.Autograde.exclude_overwriting.get(ASSIGNMENT_ID, []))
    if sorted(excluded) != sorted(with_solutions):
        raise ReleaseError(
            f"{_shown(NBGRADER_CONFIG)}: Autograde.exclude_overwriting must list exactly the "
            f"files with solution regions, {sorted(with_solutions)}; it lists {sorted(excluded)}")
    stub, expected = cfg.ClearSolutions.code_stub.get("python"), notebook_stub(NOTEBOOK)
    if stub != expected:
        raise ReleaseError(f"{_shown(NBGRADER_CONFIG)}: ClearSolutions.code_stub is "
                           f"{stub!r}, but the .py files get stubs of the form {expected!r} "
                           "(markers.notebook_stub): make them the same")


def check_student_config():
    """Fail clearly unless the students' nbgrader_config.py (their Validate button) allows
    what the grader allows: the same time per cell and the same ignored stderr output.
    (An assignment without a release_data folder gives students no settings of its own.)"""
    from traitlets.config.loader import PyFileConfigLoader
    if RELEASE_DATA_DIR is None:
        return
    path = os.path.join(RELEASE_DATA_DIR, "nbgrader_config.py")
    if not os.path.isfile(path):
        raise ReleaseError(f"{_shown(path)} is missing: without it "
                           "the students' Validate button allows only nbgrader's 30 s per cell")
    theirs = PyFileConfigLoader(os.path.basename(path), path=RELEASE_DATA_DIR).load_config()
    ours = load_nbgrader_config()
    for section, name in [("Execute", "timeout"), ("IgnorePattern", "enabled"),
                          ("IgnorePattern", "pattern")]:
        mine, yours = ours[section].get(name), theirs[section].get(name)
        if mine != yours:
            raise ReleaseError(f"{_shown(path)}: {section}.{name} is "
                               f"{yours!r}, but the grader's ({_shown(NBGRADER_CONFIG)}) "
                               f"is {mine!r}: make them the same")


def check_notebook(path):
    """Fail clearly if the source notebook is not a readable nbformat 4 notebook."""
    import nbformat
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ReleaseError(f"{path} not found") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ReleaseError(f"{path} is not valid JSON ({e}); fix the notebook (or restore it "
                           "from git) and run this again") from None
    try:
        nb = nbformat.from_dict(raw)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises several kinds of validation errors
        raise ReleaseError(f"{path} is not a valid Jupyter notebook: "
                           f"{str(e).splitlines()[0]}") from None
    if nb.nbformat != 4:
        raise ReleaseError(f"{path} is nbformat {nb.nbformat}; save it as nbformat 4")


def stripped_package(repo_root):
    """{relative path: student text} of the package, and the files that hold solutions."""
    files, with_solutions = {}, []
    try:
        for rel, text in package_sources(repo_root).items():
            files[rel] = strip_solutions(text, rel)[0]
            if files[rel] != text:   # it had solution regions
                with_solutions.append(rel)
    except (MarkerError, UnicodeDecodeError) as e:
        raise ReleaseError(str(e)) from None
    return files, with_solutions


def write_check_data(folder):
    """Write the given checks' data file (the fingerprints: numbers only) into folder's
    package, computed now from the solution, so that it always fits the solution and
    the probes the release ships."""
    from instructor.checks.fingerprints import write_fingerprints
    try:
        write_fingerprints(os.path.join(folder, CHECK_DATA))
    except Exception as e:  # the solution or the probes fail: no release without checks
        raise ReleaseError(f"cannot compute {CHECK_DATA} from the solution: "
                           f"{type(e).__name__}: {e}") from None


def run_generate_assignment(course):
    """`nbgrader generate_assignment` in the course folder; ReleaseError with its log on failure."""
    env = dict(os.environ)
    # Only our config: an instructor's personal ~/.jupyter/nbgrader_config.py must not
    # change what students get.
    env["JUPYTER_CONFIG_DIR"] = os.path.join(course, ".jupyter")
    env.pop("JUPYTER_CONFIG_PATH", None)
    # nbgrader runs `alembic` from PATH: make the tools of this Python's environment
    # found even when it is not activated (make calls .venv/bin/python directly).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT_ID,
           "--force", "--log-level=WARN"]
    proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr).strip()
        raise ReleaseError("nbgrader generate_assignment failed:\n" + "\n".join(log.splitlines()[-30:]))


def _zip_folder(folder, zip_path, top):
    """Zip folder as top/..., keeping the executable bit of scripts."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            for name in sorted(names):
                path = os.path.join(root, name)
                arc = os.path.join(top, os.path.relpath(path, folder)).replace(os.sep, "/")
                info = zipfile.ZipInfo.from_file(path, arc)
                mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as f:
                    z.writestr(info, f.read())


def make_course(course, repo_root=ASSIGNMENT_ROOT):
    """An nbgrader course folder for the assignment: source/<id>/ with the
    instructor's notebook and the stripped package, then generate_assignment,
    which writes release/<id>/ and the assignment into gradebook.db (in a
    process of its own, with only our configuration)."""
    notebook = os.path.join(repo_root, NOTEBOOK)
    check_notebook(notebook)
    files, with_solutions = stripped_package(repo_root)
    rule = assignment_spec().given_code
    unsafe = check_given_files(files, rule, PACKAGE)
    if unsafe:
        raise ReleaseError(f"a file given to students computes {rule.what}, "
                           "which is what they must write themselves:\n"
                           + "\n".join(f"  {p}" for p in unsafe))
    check_config(with_solutions)
    check_student_config()
    source = os.path.join(course, "source", ASSIGNMENT_ID)
    os.makedirs(source)
    shutil.copy(NBGRADER_CONFIG, os.path.join(course, "nbgrader_config.py"))
    shutil.copy(notebook, os.path.join(source, NOTEBOOK))
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(source, rel)), exist_ok=True)
        with open(os.path.join(source, rel), "w", encoding="utf-8") as f:
            f.write(text)
    if CHECK_DATA:
        write_check_data(source)
    run_generate_assignment(course)
    return with_solutions


def build(stage_root, repo_root=ASSIGNMENT_ROOT):
    """Build the release into stage_root/<id> and stage_root/<id>.zip."""
    course = os.path.join(stage_root, "course")
    make_course(course, repo_root)

    release = os.path.join(stage_root, ASSIGNMENT_ID)
    shutil.copytree(os.path.join(course, "release", ASSIGNMENT_ID), release,
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc"))
    for rel in RELEASE_EXTRAS:
        src = os.path.join(repo_root, rel)
        if not os.path.isfile(src):
            raise ReleaseError(f"{rel} is missing from the repository")
        os.makedirs(os.path.dirname(os.path.join(release, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(release, rel))
    for name in sorted(os.listdir(RELEASE_DATA_DIR)) if RELEASE_DATA_DIR else ():
        src = os.path.join(RELEASE_DATA_DIR, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(release, name), dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif name != "__pycache__":
            shutil.copy(src, os.path.join(release, name))

    leaks = find_leaks(release, source_secrets(repo_root))
    if leaks:
        listing = "\n".join(f"  {rel}: {s}" for rel, s in leaks[:20])
        raise ReleaseError(f"solution or hidden-test text found in the release:\n{listing}")
    _zip_folder(release, os.path.join(stage_root, f"{ASSIGNMENT_ID}.zip"), ASSIGNMENT_ID)
    return release


def install(stage_root, out):
    """Move the built folder and zip into out, replacing an older release."""
    target = os.path.join(out, ASSIGNMENT_ID)
    if os.path.exists(target):
        os.rename(target, os.path.join(stage_root, "previous"))
    os.rename(os.path.join(stage_root, ASSIGNMENT_ID), target)
    os.replace(os.path.join(stage_root, f"{ASSIGNMENT_ID}.zip"),
               os.path.join(out, f"{ASSIGNMENT_ID}.zip"))
    return target


def main(args):
    """`python -m instructor release`: args has .out."""
    out = os.path.abspath(args.out)
    try:
        os.makedirs(out, exist_ok=True)
        # Same file system as the result, so the final moves are renames.
        stage = tempfile.mkdtemp(prefix=".release-", dir=out)
    except OSError as e:
        print(f"release: error: cannot write to {out}: {e}", file=sys.stderr)
        return 1
    try:
        build(stage)
        target = install(stage, out)
    except (ReleaseError, OSError) as e:
        print(f"release: error: {e}", file=sys.stderr)
        print(f"release: nothing was written; {out} is unchanged.", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print(f"Wrote {target}/ and {target}.zip")
    return 0
