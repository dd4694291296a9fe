"""A second assignment (tests/fixtures/mini: one function, one notebook, one check, one
mistake) graded by the same trusted layers as the main one: spec, worker, client,
verdicts, notebook values. Nothing outside its folder names it."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from instructor.assignment.model import load_spec, spec
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
