"""Tests for the auto-grader (`python -m instructor autograde`) with real nbgrader.

One batch of hand-ins, built here from the instructor's solution and the
release, is graded once per session on the synthetic data set, in parallel:

    sol      the solution, as a student would hand it in      -> full automatic points
    rel      the untouched release                            -> 0
    bug      the solution with the regularization gradient of softmax_loss_vectorized
             off by 2x, its test cell edited to `pass`, and a changed given file
                                                              -> loses exactly that test,
                                                                 whose check names the mistake
    broken   a file that is not a zip                          -> reported, not graded

with a roster that also names a student without a hand-in.
"""
import csv
import json
import re
import subprocess
import sys
import zipfile

import pytest

from helpers import (AUTO_MAX, MANUAL_MAX, REPO, TESTS, assert_no_hidden_tests, cell,
                     gradebook_grades, handin, instructor, package, read_grades, replace_once,
                     run_autograde, scores, student_notebook)

HEADER = ["student_id", "status", "total", "max", "manual_max", "manual_score", *TESTS,
          "handin", "notes"]


# ---- the batch ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def graded(tmp_path_factory, synthetic_cifar, dist):
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


@pytest.mark.slow
def test_csv_has_one_row_per_student(graded):
    out, proc, _ = graded
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER
    assert sorted(r[0] for r in rows[1:]) == ["absent", "broken", "bug", "rel", "sol"]
    assert "4 hand-in(s)" in proc.stdout and "2 at a time" in proc.stdout


@pytest.mark.slow
def test_roster_students_without_a_handin_are_listed(graded):
    from nbgrader.api import Gradebook
    out, _, _ = graded
    grades = read_grades(out)
    assert grades["absent"]["status"] == "missing" and float(grades["absent"]["total"]) == 0
    assert "not on the roster" in grades["broken"]["notes"]
    assert "not on the roster" not in grades["sol"]["notes"]
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        assert gb.find_student("sol").first_name == "Ada"


@pytest.mark.slow
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


@pytest.mark.slow
def test_kernel_sees_nbgrader_execution_and_the_data_set(graded):
    out, _, _ = graded
    nb = json.loads((out / "autograded" / "sol" / "softmax" / "softmax.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "ENV autograde True" in text


@pytest.mark.slow
def test_untouched_release_scores_zero(graded):
    out, _, _ = graded
    row = read_grades(out)["rel"]
    assert row["status"] == "graded"
    assert scores(row) == {t: 0.0 for t in TESTS} and float(row["total"]) == 0
    grades = gradebook_grades(out, "rel")
    assert grades["q1_answer"] == (0, False)  # no answer: 0, nothing to grade by hand


@pytest.mark.slow
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
    assert "is right and agrees with the naive one" in "".join(cell(graded_nb, "test_vectorized")["source"])
    # the student's softmax.py was graded; the given files are the instructor's
    graded_dir = out / "autograded" / "bug" / "softmax" / "cs231n"
    assert "4 * reg * W" in (graded_dir / "classifiers" / "softmax.py").read_text()
    assert (graded_dir / "gradient_check.py").read_text() == (REPO / "cs231n" / "gradient_check.py").read_text()


@pytest.mark.slow
def test_broken_zip_is_reported_and_the_others_are_graded(graded):
    out, _, _ = graded
    grades = read_grades(out)
    row = grades["broken"]
    assert row["status"] == "not-graded" and float(row["total"]) == 0
    assert "not a readable zip file" in row["notes"]
    page = (out / "feedback" / "broken" / "softmax.html").read_text()
    assert "could not be graded" in page and "not a readable zip file" in page
    assert all(grades[s]["status"] == "graded" for s in ["sol", "rel"])


@pytest.mark.slow
def test_feedback_for_everyone_without_hidden_tests(graded):
    out, _, _ = graded
    for sid in ["sol", "rel", "bug", "broken"]:
        page = out / "feedback" / sid / "softmax.html"
        assert page.is_file()
        assert_no_hidden_tests(page)
    page = (out / "feedback" / "bug" / "softmax.html").read_text()
    # the failing test is reported with the grader's own verdict, and its check names the mistake
    assert "test_vectorized: 0 / 4 (failed)" in page
    assert "regularization part of the gradient is twice what it should be" in page
    assert "Notes from the grader" in page and "test_vectorized (edited)" in page


@pytest.mark.slow
def test_grading_again_skips_what_is_done(graded, synthetic_cifar):
    out, _, subs = graded
    before = (out / "grades.csv").read_text()
    proc = run_autograde(subs, out, synthetic=synthetic_cifar)
    assert proc.returncode == 0, proc.stderr
    assert "0 to grade, 4 already graded" in proc.stdout
    assert (out / "grades.csv").read_text() == before


def test_ignore_pattern_drops_only_warnings():
    """A stderr output made only of Python warnings does not fail a test; anything else does."""
    from instructor.assignment import load_nbgrader_config
    cfg = load_nbgrader_config()
    pattern = re.compile(cfg.IgnorePattern.pattern)
    assert cfg.IgnorePattern.enabled
    warning = ("/x/site-packages/numpy/core/fromnumeric.py:3504: RuntimeWarning: Mean of empty slice.\n"
               "  return _methods._mean(a, axis=axis, dtype=dtype,\n")
    assert pattern.search(warning)
    assert pattern.search(warning + "/y.py:1: DeprecationWarning: old\n  import imp\n")
    assert not pattern.search("debug print from my loss\n")
    assert not pattern.search(warning + "Traceback (most recent call last):\n")


def test_solved_handin_command_writes_what_the_tests_grade(tmp_path, dist):
    out = tmp_path / "softmax_solution.zip"
    proc = instructor("solved-handin", dist, out, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        nb = json.loads(z.read("softmax.ipynb"))
        assert {n: z.read(n).decode() for n in names if n.endswith(".py")} == package(dist)
    assert nb == student_notebook(dist, small_sweep=False)
    assert "raise NotImplementedError" not in json.dumps(nb)
    # no release there: a clear error, nothing written
    missing = instructor("solved-handin", tmp_path / "nowhere", tmp_path / "x.zip")
    assert missing.returncode == 2 and "make release" in missing.stderr
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.parametrize("command", [[], ["release"], ["autograde"], ["solved-handin"],
                                     ["leaks"], ["strip"]])
def test_one_command_lists_the_pipeline_and_each_stage_has_help(command):
    proc = subprocess.run([sys.executable, "-m", "instructor", *command, "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m instructor")
    if not command:
        for name in ["release", "autograde", "solved-handin"]:
            assert name in proc.stdout


@pytest.mark.slow
def test_batch_prints_progress_with_the_time_left(graded):
    _, proc, _ = graded
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 4
    assert all(re.match(r"\[[123]/4, about \d+ (s|min) left\] ", line) for line in lines[:3]), lines
    assert lines[3].startswith("[4/4] ")


@pytest.mark.parametrize("done, total, elapsed, expected", [
    (1, 4, 30.0, "[1/4, about 2 min left]"),
    (1, 10, 30.0, "[1/10, about 4 min left]"),
    (3, 4, 30.0, "[3/4, about 10 s left]"),
    (4, 4, 30.0, "[4/4]"),
])
def test_progress_estimates_from_the_mean_time_so_far(done, total, elapsed, expected):
    from instructor.grade.batch import progress
    assert progress(done, total, elapsed) == expected


def test_job_and_result_travel_as_json_unchanged():
    """What a worker on another machine would receive and send back."""
    import random
    from instructor.grade.job import (Bundle, GradeCell, Job, Limits, ManualAnswer, Options,
                                      Result, TestScore, from_json, to_json)
    rng = random.Random(0)
    zip_bytes = bytes(rng.randrange(256) for _ in range(1000))
    job = Job("alice", "softmax_alice.zip", zip_bytes, "ab" * 32, 1.5e9,
              Limits(cell_timeout=20, max_file=7), Options("bwrap", 2), ["a note"])
    back = from_json(Job, to_json(job))
    assert back == job and back.handin == zip_bytes and back.limits.unpack().max_file == 7
    bundle = Bundle("/t", "f" * 64, ["cs231n/x.py"], [GradeCell("t1", 3.0, "auto"),
                    GradeCell("q1", 1.0, "manual")], "/data", "/work")
    assert from_json(Bundle, to_json(bundle)) == bundle
    assert (bundle.auto_max, bundle.manual_max) == (3.0, 1.0)
    result = Result("alice", "softmax_alice.zip", "ab" * 32, 1.5e9, "f" * 64, "graded",
                    [TestScore("t1", 2.0, 3.0, "failed", "AssertionError: no")],
                    [ManualAnswer("q1", 1.0, True)], ["n"], [{"kind": "timeout", "cell": 3}],
                    {"softmax.ipynb": b"{}", "cs231n/x.py": zip_bytes}, "<html>", "log", 12.5,
                    {"autograde": 10.0})
    back = from_json(Result, to_json(result))
    assert back == result and back.scores == {"t1": 2.0}
    assert set(result.summary()) == set(json.loads(to_json(result))) - {"autograded",
                                                                       "feedback_html", "log"}
