"""The assignment spec is the one source of points and bars: the notebook's test cells
and the README agree with it, and every reference in it resolves."""
import json
import re
import sys
from pathlib import Path

import pytest

from instructor.assignment import AssignmentSpec, spec
from instructor.assignment.model import Klass, Routine, resolve

REPO = Path(__file__).resolve().parents[1]
SPEC = spec()


def graded_code_cells():
    nb = json.loads((REPO / SPEC.notebook).read_text())
    found = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and cell["cell_type"] == "code":
            found[meta["grade_id"]] = meta["points"]
    return found


def test_the_notebooks_test_cells_have_the_specs_points_in_its_order():
    assert list(graded_code_cells().items()) == list(SPEC.points.items())


def test_the_readme_states_the_specs_total():
    text = (REPO / "README.md").read_text()
    assert f"({SPEC.max_points:g} points)" in text


@pytest.mark.parametrize("cell", SPEC.cells, ids=lambda c: c.grade_id)
def test_every_check_of_a_cell_resolves_and_hidden_ones_are_marked(cell):
    checks = SPEC.checks(cell.grade_id)
    assert [getattr(f, "hidden", False) for f in checks] == [c.hidden for c in cell.checks]
    assert all(callable(f) for f in checks)


@pytest.mark.parametrize("role", sorted(SPEC.routines))
def test_every_routine_and_its_contract_exist_in_the_given_package(role):
    r = SPEC.routines[role]
    module = resolve(f"{r.module}:{r.name}")
    assert (REPO / r.file).is_file()
    if isinstance(r, Routine):
        assert callable(module) and callable(resolve(r.contract))
    else:
        assert isinstance(r, Klass)
        for method in r.methods:
            assert callable(getattr(module, method))
        for _, rule in r.contracts:
            assert callable(resolve(rule))


def test_the_notebooks_visible_bars_are_the_specs():
    nb = (REPO / SPEC.notebook).read_text()
    bars = SPEC.bars()
    assert f"best_val > {bars['visible_sweep_bar']}" in nb
    assert f"test_accuracy > {bars['test_bar']}" in nb
    assert f"len(results) >= {bars['min_settings']}" in nb


def test_a_broken_spec_is_refused_with_its_problems():
    bad = AssignmentSpec("x", "x.ipynb", "pkg", str(REPO), {}, cells=(
        SPEC.cells[0], SPEC.cells[0]), depends=(("a", ("nowhere",)),))
    with pytest.raises(ValueError, match="grade_id repeats.*unknown cell 'nowhere'"):
        bad.validate()


GENERIC = ["boundary", "grade", "sandbox", "feedback", "handin", "release", "report"]


def assignment_words(spec):
    """The words that name an assignment: its id, notebook and package, what students
    write, the notebook values the grader reads, its data set's variable."""
    words = {spec.assignment_id, spec.notebook, spec.package}
    for routine in spec.routines.values():
        words |= {routine.name, routine.module}
        words |= set(getattr(routine, "methods", ()))
    words |= {v.variable for v in spec.values} | {v.key for v in spec.values}
    if spec.dataset and spec.dataset.env:
        words.add(spec.dataset.env)
    # Words of everyday English are no sign of the assignment in generic code.
    return sorted(w for w in words if "_" in w or "." in w or w in (
        spec.assignment_id, spec.package) or w[:1].isupper())


def test_assignment_words_are_the_specs():
    words = assignment_words(SPEC)
    for word in ("softmax", "cs231n", "softmax.ipynb", "Softmax", "softmax_loss_naive",
                 "best_softmax", "best_val", "sample_batch", "CIFAR10_DIR"):
        assert word in words
    assert "results" not in words and "train" not in words


@pytest.mark.parametrize("layer", GENERIC + ["gradescope", "data/gradescope", "cli.py",
                                   "markers.py"])
def test_the_generic_layers_name_nothing_of_the_assignment(layer):
    """Everything about the assignment is in its spec: no file of the pipeline's layers
    names it (in code, comments or docstrings), nor its data set, nor its scripts; the
    templates of the Gradescope scripts (data/gradescope/) neither."""
    words = assignment_words(SPEC) + ["cifar"] + [
        Path(p).name for p in (SPEC.dataset and SPEC.dataset.fetch, SPEC.collect_script) if p]
    pattern = re.compile("|".join(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])"
                                  for w in words), re.IGNORECASE)
    root = REPO / "instructor" / layer
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        and (p.suffix == ".py" or layer.startswith("data/")))
    assert files
    found = [f"{f.relative_to(REPO)}:{n}: {line.strip()}" for f in files
             for n, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []


def test_an_assignment_folders_modules_import_each_other_without_sys_path(tmp_path):
    from instructor.assignment.model import resolve
    folder = tmp_path / "course"
    (folder / "fxpkg_a").mkdir(parents=True)
    (folder / "fxpkg_a" / "__init__.py").write_text("from fxmod_b import VALUE\n")
    (folder / "fxmod_b.py").write_text("VALUE = 41 + 1\n")
    (folder / "not_a_module.txt").write_text("")
    before = list(sys.path)
    assert resolve("fxpkg_a:VALUE", str(folder)) == 42
    assert sys.path == before
    assert str(folder) not in sys.path
    # Only the folder's own top-level names are found through it.
    import importlib.util
    assert importlib.util.find_spec("fxmod_b").origin == str(folder / "fxmod_b.py")
    assert importlib.util.find_spec("fxmod_missing") is None
