"""Tests for the auto-grader (instructor/autograde.py) with real nbgrader.

One batch of hand-ins, built here from the instructor's solution and the
release, is graded once per session on the synthetic data set, in parallel:

    sol      the solution, as a student would hand it in      -> full automatic points
    rel      the untouched release                            -> 0
    bug      the solution with the regularization gradient of softmax_loss_vectorized
             off by 2x, its test cell edited to `pass`, and a changed given file
                                                              -> loses exactly that test
    broken   a file that is not a zip                          -> reported, not graded

with a roster that also names a student without a hand-in.

The helpers build hand-ins for tests/test_grading_faults.py too.
"""
import csv
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from test_release import REPO, release_dist, source_secrets  # also puts instructor/ on the path

from assignment import package_sources  # noqa: E402
from solved_handin import solved_notebook, write_handin  # noqa: E402

SMALL_GRID = "learning_rates = [1e-6, 2e-6]\nregularization_strengths = [1e3, 3e3]"
TESTS = {"test_naive_loss": 3, "test_naive_grad": 3, "test_vectorized": 4, "test_sgd": 3,
         "test_sweep": 3, "test_accuracy": 1}
AUTO_MAX, MANUAL_MAX = 17, 5
HEADER = ["student_id", "status", "total", "max", "manual_max", "manual_score", *TESTS,
          "handin", "notes"]


# ---- building hand-ins ------------------------------------------------------------------
def student_notebook(dist, solved=True, small_sweep=True):
    """The release notebook, with the solution cells filled in as a student would."""
    nb = json.loads((dist / "softmax" / "softmax.ipynb").read_text())
    if not solved:
        return nb
    solution = json.loads((REPO / "softmax.ipynb").read_text())
    return solved_notebook(nb, solution, (SMALL_GRID + "\n") if small_sweep else None)


def cell(nb, grade_id):
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def package(dist, solved=True):
    """{path in zip: text} of the cs231n .py files: the solution or the release."""
    return package_sources(str(REPO if solved else dist / "softmax"))


def replace_once(text, old, new):
    assert text.count(old) == 1, old
    return text.replace(old, new)


def write_zip(path, files):
    """files: {name: str or bytes}."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def handin(path, dist, notebook=None, py=None, solved=True):
    nb = student_notebook(dist, solved) if notebook is None else notebook
    return write_handin(path, nb, package(dist, solved) if py is None else py)


def run_autograde(submissions, out, *args, timeout=1800, synthetic=None):
    env = dict(os.environ)
    if synthetic:
        env["CIFAR10_DIR"] = str(synthetic)
    return subprocess.run([sys.executable, str(REPO / "instructor" / "autograde.py"),
                           str(submissions), "--out", str(out), *args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def read_grades(out):
    with open(Path(out) / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {r["student_id"] or r["handin"]: r for r in rows}


def scores(row):
    return {t: float(row[t]) for t in TESTS}


def gradebook_grades(out, student):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{Path(out) / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook("softmax", "softmax", student)
        return {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades}


def assert_no_hidden_tests(html_path):
    """Neither the hidden tests' code nor any of its lines (also not in tracebacks)."""
    import html as html_mod
    text = Path(html_path).read_text()
    plain = html_mod.unescape(re.sub(r"<[^>]+>", "", text))
    hidden = [s for s in source_secrets() if s.startswith(("_", "assert", "with", "def _"))]
    assert hidden
    for s in hidden:
        assert s not in plain, f"{html_path}: {s}"
    assert "HIDDEN TESTS" not in plain


# ---- the batch ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def graded(tmp_path_factory, synthetic_cifar):
    dist = release_dist(tmp_path_factory)
    subs = tmp_path_factory.mktemp("handins")
    sol_nb = student_notebook(dist, small_sweep=False)
    sol_nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                            "source": "import os\nprint('ENV', os.environ.get('NBGRADER_EXECUTION'), "
                                      "os.path.isdir(os.environ['CIFAR10_DIR']))"})
    handin(subs / "softmax_sol.zip", dist, notebook=sol_nb)
    handin(subs / "rel.zip", dist, solved=False)

    nb = student_notebook(dist)
    cell(nb, "test_vectorized")["source"] = "pass  # edited by the student"
    py = package(dist)
    py["cs231n/classifiers/softmax.py"] = replace_once(
        py["cs231n/classifiers/softmax.py"], "dW += 2 * reg * W", "dW += 4 * reg * W")
    py["cs231n/gradient_check.py"] += "\n# a change the grader must undo\n"
    handin(subs / "softmax_bug.zip", dist, notebook=nb, py=py)
    (subs / "broken.zip").write_bytes(b"this is not a zip file\n")
    (subs / "roster.csv").write_text("id,first_name,last_name\nsol,Ada,Lovelace\nrel,,\nbug,,\n"
                                     "absent,Alan,Turing\n")

    out = tmp_path_factory.mktemp("grading") / "out"
    proc = run_autograde(subs, out, "--jobs", "2", synthetic=synthetic_cifar)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc, subs


def test_csv_has_one_row_per_student(graded):
    out, proc, _ = graded
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER
    assert sorted(r[0] for r in rows[1:]) == ["absent", "broken", "bug", "rel", "sol"]
    assert "4 hand-in(s)" in proc.stdout and "2 at a time" in proc.stdout


def test_roster_students_without_a_handin_are_listed(graded):
    from nbgrader.api import Gradebook
    out, _, _ = graded
    grades = read_grades(out)
    assert grades["absent"]["status"] == "missing" and float(grades["absent"]["total"]) == 0
    assert "not on the roster" in grades["broken"]["notes"]
    assert "not on the roster" not in grades["sol"]["notes"]
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert gb.find_student("sol").first_name == "Ada"


def test_solution_scores_full_automatic_points(graded):
    out, _, _ = graded
    row = read_grades(out)["sol"]
    assert row["status"] == "graded", row["notes"]
    assert scores(row) == {t: float(p) for t, p in TESTS.items()}
    assert float(row["total"]) == AUTO_MAX and float(row["max"]) == AUTO_MAX
    assert float(row["manual_max"]) == MANUAL_MAX and row["manual_score"] == ""
    grades = gradebook_grades(out, "sol")
    for t, p in TESTS.items():
        assert grades[t] == (p, False)
    for answer in ["q1_answer", "q2_answer", "q3_answer", "q4_answer"]:
        assert grades[answer] == (None, True)  # answered: waiting for a human


def test_kernel_sees_nbgrader_execution_and_the_data_set(graded):
    out, _, _ = graded
    nb = json.loads((out / "autograded" / "sol" / "softmax" / "softmax.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "ENV autograde True" in text


def test_untouched_release_scores_zero(graded):
    out, _, _ = graded
    row = read_grades(out)["rel"]
    assert row["status"] == "graded"
    assert scores(row) == {t: 0.0 for t in TESTS} and float(row["total"]) == 0
    grades = gradebook_grades(out, "rel")
    assert grades["q1_answer"] == (0, False)  # no answer: 0, nothing to grade by hand


def test_one_bug_loses_exactly_the_points_of_its_test(graded):
    out, _, _ = graded
    row = read_grades(out)["bug"]
    expected = {t: float(p) for t, p in TESTS.items()}
    expected["test_vectorized"] = 0.0
    assert scores(row) == expected
    assert float(row["total"]) == AUTO_MAX - TESTS["test_vectorized"]
    # the edit to the locked test cell was undone
    assert "test_vectorized (edited)" in row["notes"]
    graded_nb = json.loads((out / "autograded" / "bug" / "softmax" / "softmax.ipynb").read_text())
    assert "softmax_loss_vectorized agrees with" in "".join(cell(graded_nb, "test_vectorized")["source"])
    # the student's softmax.py was graded; the given files are the instructor's
    graded_dir = out / "autograded" / "bug" / "softmax" / "cs231n"
    assert "4 * reg * W" in (graded_dir / "classifiers" / "softmax.py").read_text()
    assert (graded_dir / "gradient_check.py").read_text() == (REPO / "cs231n" / "gradient_check.py").read_text()


def test_broken_zip_is_reported_and_the_others_are_graded(graded):
    out, _, _ = graded
    grades = read_grades(out)
    row = grades["broken"]
    assert row["status"] == "not-graded" and float(row["total"]) == 0
    assert "not a readable zip file" in row["notes"]
    page = (out / "feedback" / "broken" / "softmax.html").read_text()
    assert "could not be graded" in page and "not a readable zip file" in page
    assert all(grades[s]["status"] == "graded" for s in ["sol", "rel"])


def test_feedback_for_everyone_without_hidden_tests(graded):
    out, _, _ = graded
    for sid in ["sol", "rel", "bug", "broken"]:
        page = out / "feedback" / sid / "softmax.html"
        assert page.is_file()
        assert_no_hidden_tests(page)
    page = (out / "feedback" / "bug" / "softmax.html").read_text()
    # the failing hidden test is reported by its message, without its code
    assert "gradient on a fixed problem is wrong" in page
    assert "not shown" in page
    assert "Notes from the grader" in page and "test_vectorized (edited)" in page


def test_grading_again_skips_what_is_done(graded, synthetic_cifar):
    out, _, subs = graded
    before = (out / "grades.csv").read_text()
    proc = run_autograde(subs, out, synthetic=synthetic_cifar)
    assert proc.returncode == 0, proc.stderr
    assert "0 to grade, 4 already graded" in proc.stdout
    assert (out / "grades.csv").read_text() == before


def test_feedback_filter_drops_tracebacks_of_hidden_tests():
    """The filter on its own: a failing hidden assert in a traceback is not shown."""
    import nbformat
    from grading_execute import FeedbackFilter
    src = ('assert x == 1, "visible"\n### BEGIN HIDDEN TESTS\n'
           'assert secret_function(42) == 1764, "the secret check failed"\n### END HIDDEN TESTS\n')
    c = nbformat.v4.new_code_cell(src)
    c.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1,
                              "locked": True, "schema_version": 3}
    c.outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="the secret check failed",
        traceback=["\x1b[0;31m---\x1b[0m", "Cell \x1b[0;32mIn[3], line 3\x1b[0m\n      1 assert x == 1\n"
                   "----> 3 assert secret_function(42) == 1764, \"the secret check failed\"\n",
                   "AssertionError: the secret check failed"])]
    other = nbformat.v4.new_code_cell("print(1)")
    other.outputs = [nbformat.v4.new_output(
        "stream", name="stdout", text="leaked: assert secret_function(42) == 1764, \"the secret check failed\"\nok\n")]
    nb = nbformat.v4.new_notebook(cells=[c, other])
    nb, _ = FeedbackFilter(notes=["a note"]).preprocess(nb, {})
    dump = json.dumps(nb)
    assert "secret_function" not in dump
    assert "the secret check failed" in dump and "a note" in dump and "ok" in dump


def test_ignore_pattern_drops_only_warnings():
    """A stderr output made only of Python warnings does not fail a test; anything else does."""
    from traitlets.config.loader import PyFileConfigLoader
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(REPO / "instructor")).load_config()
    pattern = re.compile(cfg.IgnorePattern.pattern)
    assert cfg.IgnorePattern.enabled
    warning = ("/x/site-packages/numpy/core/fromnumeric.py:3504: RuntimeWarning: Mean of empty slice.\n"
               "  return _methods._mean(a, axis=axis, dtype=dtype,\n")
    assert pattern.search(warning)
    assert pattern.search(warning + "/y.py:1: DeprecationWarning: old\n  import imp\n")
    assert not pattern.search("debug print from my loss\n")
    assert not pattern.search(warning + "Traceback (most recent call last):\n")


def test_solved_handin_script_writes_what_the_tests_grade(tmp_path, tmp_path_factory):
    dist = release_dist(tmp_path_factory)
    script = REPO / "instructor" / "solved_handin.py"
    out = tmp_path / "softmax_solution.zip"
    proc = subprocess.run([sys.executable, str(script), str(dist), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        nb = json.loads(z.read("softmax.ipynb"))
        assert {n: z.read(n).decode() for n in names if n.endswith(".py")} == package(dist)
    assert nb == student_notebook(dist, small_sweep=False)
    assert "raise NotImplementedError" not in json.dumps(nb)
    # no release there: a clear error, nothing written
    missing = subprocess.run([sys.executable, str(script), str(tmp_path / "nowhere"),
                              str(tmp_path / "x.zip")], capture_output=True, text=True)
    assert missing.returncode == 2 and "make release" in missing.stderr
    assert not (tmp_path / "x.zip").exists()
