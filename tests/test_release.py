"""Tests for the student release (`python -m instructor release`), with real nbgrader.

The release is built once per test session (the `dist` fixture of conftest.py, also
used by the grading tests) into the session's temporary folder.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from helpers import (REPO, STUDENT_PY, hidden_secrets, package, release_data_files,
                     release_files, run_release, source_secrets, student_notebook)
from instructor.assignment import RELEASE_DATA_DIR, GivenCodeRule, package_py_files
from instructor.assignment import spec

SPEC = spec()
from instructor.markers import MarkerError, strip_solutions

EXPECTED_FILES = sorted([
    "collectSubmission.sh", "get_datasets.sh", "requirements.txt", "softmax.ipynb",
    "datasets/README.md", "datasets/.gitignore",
    "cs231n/check_data.json",     # the given checks' fingerprints, generated at build time
    # the package as it is, whatever its files
    *package_py_files(str(REPO)),
    *release_data_files(),
])


# ---- the layout --------------------------------------------------------------------
def test_release_has_exactly_the_student_files(dist):
    folder = dist / "softmax"
    assert release_files(folder) == EXPECTED_FILES
    with zipfile.ZipFile(dist / "softmax.zip") as z:
        names = sorted(n for n in z.namelist() if not n.endswith("/"))
        assert names == sorted(f"softmax/{f}" for f in EXPECTED_FILES)
        for name in names:  # the zip holds the same bytes as the folder
            assert z.read(name) == (dist / name).read_bytes(), name
        mode = z.getinfo("softmax/collectSubmission.sh").external_attr >> 16
        assert mode & stat.S_IXUSR
    assert os.access(folder / "get_datasets.sh", os.X_OK)
    assert (folder / "datasets" / "README.md").read_text() == (REPO / "datasets" / "README.md").read_text()
    assert "collectSubmission.sh" in (folder / "README.md").read_text()


def test_no_solution_or_hidden_test_text_anywhere(dist):
    secrets = source_secrets()
    assert len(secrets) > 30  # the source really has solutions to hide
    markers = ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"]
    texts = {}
    for p in Path(dist / "softmax").rglob("*"):
        assert p.name not in ("__pycache__", ".ipynb_checkpoints", "instructor", "tests", "tools")
        if p.is_file():
            texts[str(p)] = p.read_bytes().decode("utf-8", "replace")
    with zipfile.ZipFile(dist / "softmax.zip") as z:
        for name in z.namelist():
            texts["zip:" + name] = z.read(name).decode("utf-8", "replace")
    nb = json.loads((dist / "softmax" / "softmax.ipynb").read_text())
    texts["cells"] = "\n".join("".join(c["source"]) for c in nb["cells"])  # JSON-unescaped
    for where, text in texts.items():
        for m in markers:
            assert m not in text, f"{m} in {where}"
        for s in secrets:
            assert s not in text, f"solution text in {where}: {s}"
    assert not any("gradebook" in w for w in texts)
    # nothing of the instructor's check code: no file, no distinctive line
    for name in ["hidden.py", "mistakes.py", "fingerprints.py", "suite.py"]:
        assert not any(w.endswith("/" + name) for w in texts), name
    for where, text in texts.items():
        for s in hidden_secrets():
            assert s not in text, f"hidden-check text in {where}: {s}"
    # the students' nbgrader settings, not the instructor's
    assert "exclude_overwriting" not in (dist / "softmax" / "nbgrader_config.py").read_text()


def test_release_ships_the_current_check_data(dist):
    from cs231n import checks
    from instructor.checks import fingerprints
    shipped = dist / "softmax" / "cs231n" / "check_data.json"
    assert shipped.read_text() == fingerprints.render(fingerprints.build_check_data())
    assert shipped.read_text() == (REPO / "cs231n" / "check_data.json").read_text()
    assert checks.load_check_data(str(shipped))["content"]["loss"]["probes"]


@pytest.mark.parametrize("rel", ["instructor/checks/hidden.py", "instructor/checks/mistakes.py",
                                 "instructor/checks/suite.py"])
def test_the_leak_scan_finds_lines_of_the_check_code(tmp_path, rel):
    from instructor.release.leaks import find_leaks, source_secrets as scan_secrets
    code = [line for line in (REPO / rel).read_text().splitlines() if len(line.strip()) >= 30]
    line = next(line for line in code if line.strip() in scan_secrets())
    (tmp_path / "notes.py").write_text(f"x = 1\n{line}\n")
    assert find_leaks(tmp_path) == [("notes.py", line.strip())]


def test_release_data_files_are_copied_into_the_root(dist):
    names = release_data_files()
    assert "README.md" in names and "nbgrader_config.py" in names
    for name in names:
        assert (dist / "softmax" / name).read_bytes() == (Path(RELEASE_DATA_DIR) / name).read_bytes()


def test_students_nbgrader_config_gives_the_graders_time_per_cell(dist):
    from traitlets.config.loader import PyFileConfigLoader
    from instructor.assignment import load_nbgrader_config
    theirs = PyFileConfigLoader("nbgrader_config.py", path=str(dist / "softmax")).load_config()
    ours = load_nbgrader_config()
    assert theirs.Execute.timeout == ours.Execute.timeout == 300
    assert theirs.IgnorePattern.pattern == ours.IgnorePattern.pattern


def _functions_by_line(text):
    """{line number: 'function' or 'Class.method'} for every line inside a def."""
    import ast
    names = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if isinstance(child, ast.FunctionDef):
                    names.update((n, name) for n in range(child.lineno, child.end_lineno + 1))
                visit(child, f"{name}.")
    visit(ast.parse(text), "")
    return names


def test_py_solution_regions_become_indented_stubs(dist):
    for rel in STUDENT_PY:
        text = (REPO / rel).read_text()
        source, functions = text.splitlines(), _functions_by_line(text)
        released = (dist / "softmax" / rel).read_text()
        compile(released, rel, "exec")
        expected, skipping = [], False
        for number, line in enumerate(source, 1):
            if line.strip() == "### BEGIN SOLUTION":
                indent = line[:len(line) - len(line.lstrip())]
                expected += [indent + "# YOUR CODE HERE",
                             indent + f'raise NotImplementedError("{functions[number]} is not '
                                      'written yet: "',
                             indent + " " * 26 + f'"fill in its TODO in {rel}")']
                skipping = True
            elif line.strip() == "### END SOLUTION":
                skipping = False
            elif not skipping:
                expected.append(line)
        assert released.splitlines() == expected, rel
    given = [rel for rel in package_py_files(str(REPO)) if rel not in STUDENT_PY]
    assert given
    for rel in given:
        assert (dist / "softmax" / rel).read_text() == (REPO / rel).read_text()


def test_release_notebook_is_locked_cleared_and_stubbed(dist):
    from nbgrader.utils import compute_checksum
    source = {c.metadata.nbgrader.grade_id: c
              for c in nbformat.read(str(REPO / "softmax.ipynb"), as_version=4).cells}
    nb = nbformat.read(str(dist / "softmax" / "softmax.ipynb"), as_version=4)
    assert [c.metadata.nbgrader.grade_id for c in nb.cells] == list(source)
    for cell in nb.cells:
        meta = cell.metadata.nbgrader
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        if meta.get("solution"):
            stub = ("YOUR ANSWER HERE" if cell.cell_type == "markdown" else
                    'raise NotImplementedError("this cell is not written yet: "\n'
                    '                          "fill in its TODO in softmax.ipynb")')
            assert stub in cell.source
        else:  # tests and everything given: locked, with a checksum nbgrader can verify
            assert meta["locked"] and cell.metadata.get("editable") is False
            assert cell.metadata.get("deletable") is False
            assert meta["checksum"] == compute_checksum(cell)
        if meta.get("grade") and not meta.get("solution"):
            assert "HIDDEN" not in cell.source
            visible = source[meta.grade_id].source.split("### BEGIN HIDDEN TESTS")[0].strip()
            assert cell.source.strip() == visible


@pytest.mark.slow
def test_release_notebook_runs_and_each_stub_fails_in_its_cell(dist, synthetic_cifar, tmp_path):
    from nbclient import NotebookClient
    work = tmp_path / "softmax"
    shutil.copytree(dist / "softmax", work)
    nb = nbformat.read(str(work / "softmax.ipynb"), as_version=4)
    env_before = os.environ.get("CIFAR10_DIR")
    os.environ["CIFAR10_DIR"] = str(synthetic_cifar)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(work)}}).execute()
    finally:
        if env_before is None:
            del os.environ["CIFAR10_DIR"]
        else:
            os.environ["CIFAR10_DIR"] = env_before
    errors, values, first = {}, {}, None
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None, "every cell runs"
            errs = [o for o in cell.outputs if o.output_type == "error"]
            errors[cell.metadata.nbgrader.grade_id] = errs[0].ename if errs else None
            if errs:
                values[cell.metadata.nbgrader.grade_id] = errs[0].evalue
                first = first or errs[0]
    # The first error of Run All names the function to write and its file.
    assert first.ename == "NotImplementedError"
    assert first.evalue == ("softmax_loss_naive is not written yet: fill in its TODO in "
                            "cs231n/classifiers/softmax.py"), first.evalue
    assert values["sweep"] == "this cell is not written yet: fill in its TODO in softmax.ipynb"
    for gid in ["setup", "load_data", "preprocess"]:
        assert errors[gid] is None, gid
    for gid in ["naive_loss_run", "gradcheck_run", "vectorized_run", "sgd_run", "sgd_eval", "sweep"]:
        assert errors[gid] == "NotImplementedError", (gid, errors[gid])
    tests = [g for g in errors if g.startswith("test_")]
    assert tests and all(errors[g] for g in tests)  # nothing passes before the work is done
    # Each test says what is missing, never fails on a name the cell above did not set.
    for gid, function in [("test_naive_loss", "softmax_loss_naive"),
                          ("test_naive_grad", "softmax_loss_naive"),
                          ("test_vectorized", "softmax_loss_vectorized"),
                          ("test_sgd", "sample_batch")]:
        assert errors[gid] == "CheckFailed", (gid, errors[gid], values[gid])
        assert values[gid].startswith(f"{function} is not implemented yet: fill in its TODO"), \
            values[gid]
    assert errors["test_sweep"] == errors["test_accuracy"] == "AssertionError"
    assert "fill in the sweep" in values["test_accuracy"]


@pytest.mark.slow
def test_nbgrader_validate_works_on_the_release(dist, synthetic_cifar, tmp_path):
    work = tmp_path / "softmax"
    shutil.copytree(dist / "softmax", work)
    env = dict(os.environ, CIFAR10_DIR=str(synthetic_cifar),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", "softmax.ipynb"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    # nbgrader validate exits 0 even when tests fail: the verdict is in its output.
    assert proc.returncode == 0, proc.stderr
    # 6 test cells fail and 4 inline answers are missing
    assert "VALIDATION FAILED ON 10 CELL(S)" in proc.stdout, proc.stdout[-3000:]
    assert proc.stdout.count("You did not provide a response") == 4
    assert "HIDDEN" not in proc.stdout
    assert "NameError" not in proc.stdout
    assert proc.stdout.count("is not implemented yet") >= 4


@pytest.mark.slow
def test_solved_release_passes_nbgrader_validate_run_in_its_folder(dist, synthetic_cifar, tmp_path):
    """A student's check with the release's own nbgrader_config.py: the solution passes."""
    work = tmp_path / "softmax"
    shutil.copytree(dist / "softmax", work)
    (work / "softmax.ipynb").write_text(json.dumps(student_notebook(dist)))
    for rel, text in package(dist).items():
        (work / rel).write_text(text)
    env = dict(os.environ, CIFAR10_DIR=str(synthetic_cifar),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
               JUPYTER_CONFIG_DIR=str(tmp_path / "no-user-config"))
    env.pop("JUPYTER_CONFIG_PATH", None)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", "softmax.ipynb"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "Success! Your notebook passes all the tests." in proc.stdout, proc.stdout[-3000:]


# ---- a broken source: clear message, non-zero exit, nothing written -------------------
def copy_repo(dst):
    dst.mkdir()
    for name in ["softmax.ipynb", "cs231n", "instructor", "datasets", "get_datasets.sh",
                 "requirements.txt", "collectSubmission.sh"]:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "STATUS.txt"))
        else:
            shutil.copy2(src, dst / name)
    return dst


@pytest.mark.parametrize("damage, message", [
    ("unbalanced", "softmax.py:"),
    ("marker_text", "alone on its line"),
    ("bad_json", "is not valid JSON"),
])
def test_broken_source_fails_cleanly_and_writes_nothing(tmp_path, damage, message):
    repo = copy_repo(tmp_path / "repo")
    py = repo / "cs231n" / "classifiers" / "softmax.py"
    if damage == "unbalanced":
        text = py.read_text()
        py.write_text(text.replace("    ### END SOLUTION\n", "", 1))
    elif damage == "marker_text":
        py.write_text(py.read_text().replace("### END SOLUTION", "### END SOLUTION here", 1))
    else:
        nb = repo / "softmax.ipynb"
        nb.write_text(nb.read_text()[:-200])
    out = tmp_path / "dist"
    (out / "softmax").mkdir(parents=True)
    (out / "softmax" / "old.txt").write_text("the previous release")
    proc = run_release(out, repo)
    assert proc.returncode != 0
    assert message in proc.stderr and "nothing was written" in proc.stderr, proc.stderr
    assert [p.name for p in out.iterdir()] == ["softmax"]        # no zip, no temporary folder
    assert (out / "softmax" / "old.txt").read_text() == "the previous release"


# ---- the stripping itself -------------------------------------------------------------
def test_strip_keeps_indentation_and_reports_bad_markers():
    src = ("def f(x):\n"
           "    if x:\n"
           "        ### BEGIN SOLUTION\n"
           "        return 1\n"
           "        ### END SOLUTION\n"
           "    ### BEGIN SOLUTION\n"
           "    return 2\n"
           "    ### END SOLUTION\n")
    out, removed = strip_solutions(src, "pkg/f.py")
    assert out == ("def f(x):\n    if x:\n        # YOUR CODE HERE\n"
                   '        raise NotImplementedError("f is not written yet: "\n'
                   '                                  "fill in its TODO in pkg/f.py")\n'
                   "    # YOUR CODE HERE\n"
                   '    raise NotImplementedError("f is not written yet: "\n'
                   '                              "fill in its TODO in pkg/f.py")\n')
    method = strip_solutions("class A:\n    def g(self):\n        ### BEGIN SOLUTION\n"
                             "        pass\n        ### END SOLUTION\n", "m.py")[0]
    assert '"A.g is not written yet: "' in method and '"fill in its TODO in m.py")' in method
    assert removed == ["        return 1", "    return 2"]
    assert strip_solutions("x = 1\n") == ("x = 1\n", [])
    bad = {
        "### BEGIN SOLUTION\nx = 1\n": "never closed",
        "x = 1\n### END SOLUTION\n": "without a BEGIN",
        "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n": "inside the region",
        "x = 1  ### BEGIN SOLUTION\n": "alone on its line",
        "### BEGIN HIDDEN TESTS\n": "hidden tests",
        "def f():\n### BEGIN SOLUTION\n    return 1\n### END SOLUTION\n": "does not compile",
    }
    for text, message in bad.items():
        with pytest.raises(MarkerError, match=message):
            strip_solutions(text, "x.py")


# ---- no given file computes what students write ---------------------------------------------
EXP_HEADER = ("import math\nimport numpy as np\nimport scipy.special\nfrom numpy import exp\n"
              "from numpy import exp as E\nfrom scipy.special import logsumexp\n\n\n"
              "def f(x):\n    \"\"\"np.exp(x) in a docstring does not count.\"\"\"\n"
              "    # nor np.exp(x) in a comment\n")
EXP_LINE = EXP_HEADER.count("\n") + 1


@pytest.mark.parametrize("code, what", [
    ("np.exp(x)", "calls np.exp"),
    ("math.exp(1.0)", "calls math.exp"),
    ("np.expm1(x)", "calls np.expm1"),
    ("exp(x)", "calls exp"),
    ("E(x)", "calls E"),
    ("logsumexp(x, axis=1)", "calls logsumexp"),
    ("scipy.special.log_softmax(x)", "calls scipy.special.log_softmax"),
    ("scipy.special.softmax(x)", "calls scipy.special.softmax"),
    ("getattr(np, 'exp')(x)", "calls getattr(np, 'exp')"),
    ("np.e ** x", "computes np.e ** x"),
    ("g = np.exp", "uses np.exp"),
])
def test_given_code_check_finds_each_exponential(code, what):
    from instructor.release.given_code import forbidden_uses
    found = forbidden_uses(EXP_HEADER + f"    y = {code}\n", SPEC.given_code, SPEC.package)
    assert (EXP_LINE, what) in found, found


def test_given_code_check_ignores_comments_and_other_math():
    from instructor.release.given_code import forbidden_uses
    src = ('"""L = log(sum_j exp(s_j)) - s_y: np.exp in a docstring."""\n'
           "import numpy as np\nfrom cs231n.classifiers import softmax\n\n\n"
           "def f(x):\n    # np.exp(x)\n    y = np.log(np.maximum(x, 1e-12)) ** 2\n"
           "    return softmax.softmax_loss_naive(y, x, x, 0.0), 'np.exp(x)'\n")
    assert forbidden_uses(src, SPEC.given_code, SPEC.package) == []


@pytest.mark.parametrize("line, flagged", [
    ("from scipy.special import softmax", True),
    ("from cs231n.classifiers import softmax", False),
    ("from .classifiers import softmax", False),
    ("from numpy import logaddexp", True),
])
def test_given_code_imports_of_call_only_names_count_from_outside_the_package(line, flagged):
    from instructor.release.given_code import forbidden_uses
    found = forbidden_uses(line + "\n", SPEC.given_code, SPEC.package)
    assert bool(found) == flagged, found


def test_given_code_rule_comes_from_the_spec_not_the_scanner():
    """Another assignment's rule: its names are found, this assignment's are not."""
    from instructor.release.given_code import check_given_files, forbidden_uses
    rule = GivenCodeRule(what="a square root", names=("sqrt",), powers_of=("two",))
    src = "import numpy as np\n\n\ndef f(x):\n    return np.sqrt(x) + np.exp(x) + two ** x\n"
    assert forbidden_uses(src, rule) == [(5, "calls np.sqrt"), (5, "computes two ** x")]
    assert check_given_files({"pkg/a.py": src}, None) == []
    assert check_given_files({"pkg/a.py": src}, rule) == ["pkg/a.py:5: calls np.sqrt",
                                                         "pkg/a.py:5: computes two ** x"]


def test_release_refuses_a_given_file_that_calls_np_exp(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    given = [rel for rel in package_py_files(str(repo)) if rel not in STUDENT_PY
             and "import numpy as np" in (repo / rel).read_text()]
    assert given
    rel = given[0]
    text = (repo / rel).read_text().rstrip("\n") + "\n\n\ndef _probabilities(S):\n    return np.exp(S)\n"
    (repo / rel).write_text(text)
    line = text.count("\n")
    out = tmp_path / "dist"
    proc = run_release(out, repo)
    assert proc.returncode != 0
    assert f"{rel}:{line}: calls np.exp" in proc.stderr, proc.stderr
    assert "nothing was written" in proc.stderr
    assert not (out / "softmax.zip").exists()
