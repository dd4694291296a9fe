"""The assignment bundle: what every worker of a batch needs, prepared once.

The bundle (job.Bundle) is an nbgrader course folder built from this
repository (release.make_course: the release notebook, the starter files and
the gradebook with the assignment), the list of grade cells, a fingerprint of
the assignment, matplotlib's font cache and the data set's folder.
"""
import hashlib
import os
import shutil
import subprocess
import sys

from instructor.assignment import ASSIGNMENT_ID, NBGRADER_CONFIG, NOTEBOOK
from instructor.grade.job import Bundle, GradeCell


class SetupError(RuntimeError):
    """Grading cannot start; the message says why."""


def build_template(work):
    """A fresh course folder with the assignment (release.make_course): its
    gradebook, release notebook and starter files. Returns (template, fingerprint,
    student_files)."""
    from instructor.release.build import ReleaseError, make_course
    template = os.path.join(work, "template")
    shutil.rmtree(template, ignore_errors=True)
    try:
        student_files = make_course(template)
    except ReleaseError as e:
        raise SetupError(f"cannot build the assignment from the source: {e}") from None
    h = hashlib.sha256()
    source = os.path.join(template, "source", ASSIGNMENT_ID)
    for root, _, names in sorted(os.walk(source)):
        for name in sorted(names):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, source).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read())
    with open(NBGRADER_CONFIG, "rb") as f:
        h.update(f.read())
    return template, h.hexdigest(), student_files


def grade_cells(template):
    """[GradeCell] in notebook order; kind 'auto' (test) or 'manual' (answer)."""
    import nbformat
    nb = nbformat.read(os.path.join(template, "release", ASSIGNMENT_ID, NOTEBOOK), as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            kind = "manual" if meta.get("solution") else "auto"
            cells.append(GradeCell(meta["grade_id"], float(meta.get("points", 0)), kind))
    return cells


def start_matplotlib_cache(work):
    """Start building matplotlib's font cache, once for every kernel to copy (saves
    seconds each); finish_matplotlib_cache() waits for it. (path, process or None)"""
    path = os.path.join(work, "matplotlib")
    if os.path.isdir(path):
        return path, None
    os.makedirs(path + ".tmp", exist_ok=True)
    env = dict(os.environ, MPLCONFIGDIR=path + ".tmp", MPLBACKEND="agg")
    proc = subprocess.Popen([sys.executable, "-c", "import matplotlib.pyplot"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path, proc


def finish_matplotlib_cache(path, proc):
    if proc is not None:
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.replace(path + ".tmp", path)
    return path


def matplotlib_cache(work):
    """matplotlib's font cache in work, built now if it is not there yet."""
    return finish_matplotlib_cache(*start_matplotlib_cache(work))


def make_bundle(work, data_dir, hide=()):
    """Build the assignment bundle in work (a folder of its own for this batch)."""
    mpl = start_matplotlib_cache(work)     # meanwhile, the template
    try:
        template, fingerprint, student_files = build_template(work)
    finally:
        mpl_cache = finish_matplotlib_cache(*mpl)
    return Bundle(template=template, fingerprint=fingerprint, student_files=student_files,
                  cells=grade_cells(template), data_dir=os.path.abspath(data_dir),
                  work=os.path.join(work, "handins"), mpl_cache=mpl_cache,
                  hide=[os.path.abspath(p) for p in hide])
