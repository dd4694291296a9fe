"""Make a hand-in that answers everything with the instructor's solution.

    python -m instructor solved-handin DIST OUT.zip     (DIST: what `release` wrote)

The zip has what the release's collect script packs: the release's notebook with each
solution cell filled in from the solution notebook (as a student would fill
it) and the solution's Python files. Grading it must give full automatic
points; the tests and the grading benchmark use it for that.
"""
import json
import os
import sys
import zipfile

from instructor.assignment import ASSIGNMENT_ID, ASSIGNMENT_ROOT, NOTEBOOK, PACKAGE, package_sources
from instructor.markers import fill_solution_regions


def solved_notebook(release_nb, solution_nb, region=None):
    """The release notebook (a dict) with its solution cells taken from solution_nb.

    In a code cell only the inside of the solution region is taken, as a
    student replaces the stub; region, if given, replaces that inside instead
    (for example a smaller hyperparameter grid).
    """
    answers = {c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"])
               for c in solution_nb["cells"]}
    nb = json.loads(json.dumps(release_nb))  # a deep copy
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if not meta.get("solution"):
            continue
        src = answers[meta["grade_id"]]
        if cell["cell_type"] == "code":
            src = fill_solution_regions(src, region)
        cell["source"] = src
    return nb


def write_handin(path, notebook, files):
    """A zip with the assignment's notebook (the notebook dict) and files ({name: text})."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(NOTEBOOK, json.dumps(notebook, indent=1))
        for name, text in files.items():
            z.writestr(name, text)
    return path


def make_solved_handin(dist, out):
    """Write the solved hand-in for the release in dist to out."""
    with open(os.path.join(dist, ASSIGNMENT_ID, NOTEBOOK), encoding="utf-8") as f:
        release_nb = json.load(f)
    with open(os.path.join(ASSIGNMENT_ROOT, NOTEBOOK), encoding="utf-8") as f:
        solution_nb = json.load(f)
    return write_handin(out, solved_notebook(release_nb, solution_nb), package_sources(ASSIGNMENT_ROOT))


def main(args):
    """`python -m instructor solved-handin`: args has .dist and .out."""
    release_nb = os.path.join(args.dist, ASSIGNMENT_ID, NOTEBOOK)
    if not os.path.isfile(release_nb):
        print(f"solved-handin: error: {release_nb} not found: build the release first "
              "(make release)", file=sys.stderr)
        return 2
    make_solved_handin(args.dist, args.out)
    print(f"wrote {args.out} ({PACKAGE}/ from the solution, {NOTEBOOK} filled in)")
    return 0
