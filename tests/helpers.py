"""Builders shared by the release and grading tests: the release, hand-ins made from
the solution, running the grader and reading what it wrote.

Secrets of the source are found here independently of the instructor package, so
that a bug there cannot hide itself from the tests.
"""
import csv
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from instructor.assignment import RELEASE_DATA_DIR, package_sources
from instructor.assignment import spec as assignment_spec
from instructor.handin.solved import solved_notebook, write_handin

REPO = Path(__file__).resolve().parents[1]
STUDENT_PY = ["cs231n/classifiers/softmax.py", "cs231n/classifiers/linear_classifier.py"]
SMALL_GRID = "learning_rates = [1e-6, 2e-6]\nregularization_strengths = [1e3, 3e3]"
# The points of each test cell come from the assignment's spec (one source; the notebook
# and the README are checked against it in test_assignment_spec.py).
TESTS = {c.grade_id: c.points for c in assignment_spec().cells}
AUTO_MAX, MANUAL_MAX = assignment_spec().max_points, 5


# ---- the release ----------------------------------------------------------------------------
def instructor(*args, repo=REPO, timeout=600, **kw):
    """`python -m instructor ARGS` in repo (its own copy of the package)."""
    return subprocess.run([sys.executable, "-m", "instructor", *map(str, args)], cwd=repo,
                          capture_output=True, text=True, timeout=timeout, **kw)


def run_release(out, repo=REPO):
    return instructor("release", "--out", Path(out).resolve(), repo=repo)


def release_dist(tmp_path_factory):
    """The folder with softmax/ and softmax.zip, built once per session."""
    dist = tmp_path_factory.getbasetemp() / "release-dist"
    if not (dist / "softmax.zip").exists():
        proc = run_release(dist)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return dist


def release_files(folder):
    return sorted(str(p.relative_to(folder)).replace(os.sep, "/")
                  for p in Path(folder).rglob("*") if p.is_file())


def release_data_files():
    """The files instructor/data/release/ puts into the release's root."""
    return release_files(RELEASE_DATA_DIR)


# ---- secrets of the source, found independently of the release code ----------------
def _regions(text, begin, end):
    inside, on = [], False
    for line in text.splitlines():
        if begin in line:
            on = True
        elif end in line:
            on = False
        elif on:
            inside.append(line.strip())
    return inside


def _given_text():
    """The text students receive as it is: the package outside its solution regions,
    the notebook outside solution regions, the data file, the release's extra files."""
    given = []
    for path in sorted((REPO / "cs231n").rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            given.append(path.read_text())
    nb = json.loads((REPO / "softmax.ipynb").read_text())
    for cell in nb["cells"]:
        if not (cell["metadata"].get("nbgrader", {}).get("solution")
                and cell["cell_type"] == "markdown"):
            given.append("".join(cell["source"]))
    for path in sorted(Path(RELEASE_DATA_DIR).rglob("*")):
        if path.is_file():
            given.append(path.read_text(errors="replace"))
    for rel in ["README.md", "get_datasets.sh", "collectSubmission.sh", "requirements.txt"]:
        if (REPO / rel).is_file():
            given.append((REPO / rel).read_text())
    return "\n".join(given)


def hidden_secrets():
    """Distinctive lines of the hidden checks (instructor/checks/hidden.py): lines of
    20 or more characters that nothing students receive contains."""
    given = _given_text()
    lines = {line.strip() for line in
             (REPO / "instructor" / "checks" / "hidden.py").read_text().splitlines()}
    return {s for s in lines if len(s) >= 20 and s not in given}


def source_secrets():
    """Distinctive lines of the solutions and of the instructor's check code (>= 20
    characters), without those a given text quotes (a TODO may show the line it asks for)."""
    secrets = set()
    for rel in STUDENT_PY:
        secrets.update(_regions((REPO / rel).read_text(), "BEGIN SOLUTION", "END SOLUTION"))
    nb = json.loads((REPO / "softmax.ipynb").read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "markdown":
            secrets.update(line.strip() for line in src.splitlines())
        secrets.update(_regions(src, "BEGIN SOLUTION", "END SOLUTION"))
        secrets.update(_regions(src, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))
    public = _strip_regions(_given_text())
    for path in sorted((REPO / "instructor" / "checks").glob("*.py")):
        secrets.update(line.strip() for line in path.read_text().splitlines())
    return {s for s in secrets if len(s) >= 20 and s not in public}


def _strip_regions(text):
    """text without the lines inside solution regions."""
    kept, on = [], False
    for line in text.splitlines():
        if "BEGIN SOLUTION" in line:
            on = True
        elif "END SOLUTION" in line:
            on = False
        elif not on:
            kept.append(line)
    return "\n".join(kept)


# ---- building hand-ins ------------------------------------------------------------------
def student_notebook(dist, solved=True, small_sweep=True):
    """The release notebook, with the solution cells filled in as a student would."""
    nb = json.loads((dist / "softmax" / "softmax.ipynb").read_text())
    if not solved:
        return nb
    solution = json.loads((REPO / "softmax.ipynb").read_text())
    nb = solved_notebook(nb, solution)
    if small_sweep:
        smaller_grid(nb)
    return nb


def smaller_grid(nb):
    """Swap the solution's hyperparameter grid for SMALL_GRID, keeping its loop."""
    sweep = cell(nb, "sweep")
    src, count = re.subn(r"^learning_rates = .*\n^regularization_strengths = .*$", SMALL_GRID,
                         "".join(sweep["source"]), flags=re.M)
    if count != 1:
        raise ValueError("the sweep cell has no 'learning_rates = ...' and "
                         "'regularization_strengths = ...' lines to shorten")
    sweep["source"] = src


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
    """The grader on a folder of hand-ins. Where no jail can run (the grader would
    refuse), it grades bare, asked for explicitly; tests of the jail skip there."""
    from instructor.sandbox.box import SandboxError, choose_tier
    env = dict(os.environ)
    if synthetic:
        env["CIFAR10_DIR"] = str(synthetic)
    if "--sandbox" not in args:
        try:
            choose_tier("auto")
        except SandboxError:
            args = (*args, "--sandbox", "none")
    return instructor("autograde", Path(submissions).resolve(), "--out", Path(out).resolve(),
                      *args, env=env, timeout=timeout)


# ---- batches shared by several test files -------------------------------------------------
SMALL_CLASS_ROSTER = "id,first_name,last_name\nsol,Ada,Lovelace\nbug,Ben,Babbage\nrel,,\n"


def doubled_reg_gradient(dist):
    """The solution's files with the vectorized regularization gradient doubled
    (one character away from the solution)."""
    py = package(dist)
    py["cs231n/classifiers/softmax.py"] = replace_once(
        py["cs231n/classifiers/softmax.py"], "dW += 2 * reg * W", "dW += 4 * reg * W")
    return py


def grade_small_class(tmp_path_factory, synthetic, dist):
    """A small class graded by `autograde` with default options (in the jail where one
    can run), once per session (tests/conftest.py's small_class):

        sol   the solution                                 (softmax_sol.zip)
        bug   the solution with the vectorized regularization gradient doubled
        rel   the untouched release
        roster.csv naming the three.

    Returns (subs, out, proc). Used by the class report's tests and as the local
    grades the Dask cluster must reproduce (it grades copies of sol's and bug's zips)."""
    subs = tmp_path_factory.mktemp("small-class-handins")
    handin(subs / "softmax_sol.zip", dist)
    handin(subs / "softmax_bug.zip", dist, notebook=student_notebook(dist),
           py=doubled_reg_gradient(dist))
    handin(subs / "softmax_rel.zip", dist, solved=False)
    (subs / "roster.csv").write_text(SMALL_CLASS_ROSTER)
    out = tmp_path_factory.mktemp("small-class-grading") / "out"
    proc = run_autograde(subs, out, "--jobs", "2", synthetic=synthetic)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return subs, out, proc


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
    hidden = hidden_secrets()
    assert len(hidden) > 20
    for s in hidden:
        assert s not in plain, f"{html_path}: {s}"
    assert "HIDDEN TESTS" not in plain


