"""Make a hand-in that answers everything with the instructor's solution.

    python instructor/solved_handin.py DIST OUT.zip     (DIST: what release.py wrote)

The zip has what collectSubmission.sh packs: the release's notebook with each
solution cell filled in from the solution notebook (as a student would fill
it) and the solution's Python files. Grading it must give full automatic
points; the tests and the grading benchmark use it for that.
"""
import argparse
import json
import os
import re
import sys
import zipfile

from assignment import ASSIGNMENT_ID, NOTEBOOK, PACKAGE, REPO_ROOT, package_sources

_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION\n", re.S)


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
            src = _REGION.sub(lambda m: m.group(1) if region is None else region, src)
        cell["source"] = src
    return nb


def write_handin(path, notebook, files):
    """A zip with softmax.ipynb (the notebook dict) and files ({name: text})."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(NOTEBOOK, json.dumps(notebook, indent=1))
        for name, text in files.items():
            z.writestr(name, text)
    return path


def make_solved_handin(dist, out):
    """Write the solved hand-in for the release in dist to out."""
    with open(os.path.join(dist, ASSIGNMENT_ID, NOTEBOOK), encoding="utf-8") as f:
        release_nb = json.load(f)
    with open(os.path.join(REPO_ROOT, NOTEBOOK), encoding="utf-8") as f:
        solution_nb = json.load(f)
    return write_handin(out, solved_notebook(release_nb, solution_nb), package_sources(REPO_ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dist", help="the folder release.py wrote (holds softmax/softmax.ipynb)")
    ap.add_argument("out", help="the zip to write, e.g. submissions/softmax_solution.zip")
    args = ap.parse_args(argv)
    release_nb = os.path.join(args.dist, ASSIGNMENT_ID, NOTEBOOK)
    if not os.path.isfile(release_nb):
        ap.error(f"{release_nb} not found: build the release first (make release)")
    make_solved_handin(args.dist, args.out)
    print(f"wrote {args.out} ({PACKAGE}/ from the solution, {NOTEBOOK} filled in)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
