"""A second assignment (tests/fixtures/mini: one function, one notebook, one check, one
mistake) graded by the same trusted layers as the main one: spec, worker, client,
verdicts, notebook values. Nothing outside its folder names it."""
import html
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from instructor.assignment import spec
from instructor.assignment.model import load_spec, resolve
from instructor.boundary.client import WorkerClient
from instructor.boundary.results import load_results, results_code
from instructor.grade.trusted import copy_package, proxies
from instructor.grade.verdicts import Subject, grade_cell

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"


@pytest.fixture(scope="module")
def mini():
    return load_spec(str(MINI))


def test_the_fixture_spec_loads_and_its_notebook_has_its_points(mini):
    nb = json.loads((MINI / mini.notebook).read_text())
    points = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
              for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")}
    assert points == mini.points == {"test_double": 2}
    assert spec(str(MINI)) is spec(str(MINI)) and spec(str(MINI)).assignment_id == "mini"


def test_the_environment_variable_names_the_assignment_folder(monkeypatch):
    monkeypatch.setenv("ASSIGNMENT_DIR", str(MINI))
    assert spec().assignment_id == "mini"
    monkeypatch.delenv("ASSIGNMENT_DIR")
    assert spec().assignment_id != "mini"


def handin(tmp_path, body=None):
    """A hand-in folder with the fixture's package; ops.py replaced by body if given."""
    folder = tmp_path / "handin"
    shutil.copytree(MINI / "minipkg", folder / "minipkg")
    if body is not None:
        (folder / "minipkg" / "ops.py").write_text(body)
    return folder


def grade(mini, folder, tmp_path):
    work = tmp_path / "trusted"
    work.mkdir()
    sources = copy_package(str(folder), str(work), mini.package)
    with WorkerClient(str(work), timeout=30, budget=60) as client:
        subject = Subject(proxies(client, mini), sources=sources)
        return {c.grade_id: grade_cell(c.grade_id, subject, mini) for c in mini.cells}


def test_the_solution_passes_through_the_sandboxed_worker(mini, tmp_path):
    verdicts = grade(mini, handin(tmp_path), tmp_path)
    assert verdicts["test_double"].passed, verdicts["test_double"].message


def test_the_known_mistake_is_named_by_the_catalogue(mini, tmp_path):
    mistake = (MINI / "mini_mistakes.py").read_text()
    verdict = grade(mini, handin(tmp_path, mistake), tmp_path)["test_double"]
    assert not verdict.passed
    assert verdict.message.startswith("double: it returns one more than twice x")


def test_a_hidden_failure_shows_no_input(mini, tmp_path):
    # Right on the visible problem (x = 3), wrong elsewhere: only the hidden check fails.
    body = "def double(x):\n    return 6.0 if x == 3.0 else x * 2.5\n"
    verdict = grade(mini, handin(tmp_path, body), tmp_path)["test_double"]
    assert not verdict.passed
    assert "further check" in verdict.message and "expected" not in verdict.message


def test_its_notebook_values_go_through_the_generic_results_file(mini, tmp_path):
    path = str(tmp_path / "values.npz")
    namespace = {"answer": np.float32(0.5)}
    exec(results_code(path, mini.values), namespace)
    res = load_results(path, mini.values)
    assert res.answer == 0.5 and res.problems == {}
    assert os.path.getsize(path) > 0


def test_nothing_outside_the_fixture_names_it():
    root = MINI.parents[2]
    names = re.compile(r"\bminipkg\b|\bmini_checks\b|\bmini_mistakes\b|mini\.ipynb")
    found = [str(p.relative_to(root)) for top in ("instructor", "cs231n", "tools")
             for p in sorted((root / top).rglob("*.py")) if names.search(p.read_text())]
    assert found == []


def _zip_folder(folder, zip_path, replace=None):
    """zip_path with folder's files (minus caches), some replaced by the texts in replace."""
    replace = dict(replace or {})
    with zipfile.ZipFile(zip_path, "w") as z:
        for path in sorted(Path(folder).rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and "__pycache__" not in rel:
                z.writestr(rel, replace.pop(rel, None) or path.read_bytes())
        for rel, text in replace.items():
            z.writestr(rel, text)


@pytest.mark.slow
def test_release_handin_autograde_and_feedback_of_the_fixture(mini, tmp_path, monkeypatch):
    """The whole pipeline on the second assignment, through the command line only:
    --assignment for the release and the solved hand-in, ASSIGNMENT_DIR for the grader."""
    from helpers import instructor, read_grades, run_autograde

    dist = tmp_path / "dist"
    proc = instructor("--assignment", MINI, "release", "--out", dist)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    release = dist / mini.assignment_id
    assert (dist / f"{mini.assignment_id}.zip").is_file()
    assert sorted(p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()) \
        == sorted([mini.notebook] + [f"{mini.package}/{n}" for n in
                                      ("__init__.py", "checks.py", "ops.py")])
    starter = (release / "minipkg" / "ops.py").read_text()
    assert "raise NotImplementedError" in starter and "BEGIN SOLUTION" not in starter

    subs = tmp_path / "handins"
    subs.mkdir()
    proc = instructor("--assignment", MINI, "solved-handin", dist, subs / "mini_ada.zip")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    solved = tmp_path / "solved"
    with zipfile.ZipFile(subs / "mini_ada.zip") as z:
        z.extractall(solved)
    # The known mistake, as its working code, in place of the student's function.
    mistake = (MINI / "mini_mistakes.py").read_text()
    _zip_folder(solved, subs / "mini_bob.zip", {"minipkg/ops.py": mistake})
    _zip_folder(release, subs / "mini_cy.zip")             # the untouched starter

    monkeypatch.setenv("ASSIGNMENT_DIR", str(MINI))
    out = tmp_path / "out"
    proc = run_autograde(subs, out, "--jobs", "2", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in proc.stderr, proc.stderr

    rows = read_grades(out)
    assert set(rows) == {"ada", "bob", "cy"}
    full = mini.max_points
    cell = "test_double"                 # the cell that names the mistake
    assert rows["ada"]["status"] == "graded", rows["ada"]["notes"]
    assert float(rows["ada"]["total"]) == full and float(rows["ada"][cell]) == mini.points[cell]
    assert float(rows["bob"]["total"]) == full - mini.points[cell]
    assert float(rows["bob"][cell]) == 0
    assert float(rows["cy"]["total"]) == 0

    catalogue = resolve(mini.mistakes.catalogue, mini.root)
    for sid, total in (("ada", full), ("bob", full - mini.points[cell]), ("cy", 0)):
        page = (out / "feedback" / sid / f"{mini.assignment_id}.html").read_text()
        assert f"{total:g} / {full:g}" in page, sid
        assert "double_hidden" not in page and "uniform(10, 1000)" not in page
        named = html.escape(catalogue["plus_one"]) in page
        assert named == (sid == "bob"), sid
    report = json.loads((out / "class.json").read_text())
    assert report["assignment"] == mini.assignment_id


def test_the_readme_counts_the_fixture_files():
    files = [p for p in MINI.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    readme = (MINI.parents[2] / "README.md").read_text()
    found = re.search(r"`tests/fixtures/mini/` is a whole second\s+assignment in (\d+) small files",
                      readme)
    assert found and int(found.group(1)) == len(files)


@pytest.mark.parametrize("form", ["split", "joined"])
def test_the_assignment_option_names_the_folder_before_the_command(form, monkeypatch):
    from instructor.preamble import take_assignment_option
    monkeypatch.setenv("ASSIGNMENT_DIR", "")      # restored after the test, whatever it sets
    monkeypatch.delenv("ASSIGNMENT_DIR")
    given = ["--assignment", str(MINI)] if form == "split" else [f"--assignment={MINI}"]
    argv = ["instructor", *given, "release", "--out", "x"]
    take_assignment_option(argv)
    assert argv == ["instructor", "release", "--out", "x"]
    assert os.environ["ASSIGNMENT_DIR"] == str(MINI)


@pytest.mark.parametrize("argv, message", [
    (["instructor", "--assignment"], "needs a folder"),
    (["instructor", "--assignment", "no/such/folder", "release"], "not an assignment folder"),
])
def test_a_bad_assignment_option_stops_with_a_clear_message(argv, message, capsys, monkeypatch):
    from instructor.preamble import take_assignment_option
    monkeypatch.setenv("ASSIGNMENT_DIR", "")      # restored after the test, whatever it sets
    monkeypatch.delenv("ASSIGNMENT_DIR")
    with pytest.raises(SystemExit) as stop:
        take_assignment_option(list(argv))
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert "ASSIGNMENT_DIR" not in os.environ
