"""Rebuild a handed-in notebook on the release notebook's cell list.

nbgrader's OverwriteCells restores the text of an edited test or read-only cell,
but a deleted one stays deleted (and its points are then simply not there), a
test cell whose metadata was removed is no longer recognized, and a cell can be
given the grade_id of another one. So before nbgrader sees a hand-in, the
notebook is rebuilt from the release notebook:

- every cell of the release is there, in the release's order, with the
  release's metadata and cell type;
- a solution cell (code the student writes, an inline answer) gets the text of
  the student's cell with the same grade_id, or the starter text if the
  student's notebook has none;
- every other cell of the release (tests, instructions, given code) is the
  release's own; nbgrader then puts the hidden tests back into the test cells;
- cells the student added are kept, after the release cell they followed, as
  plain cells (any nbgrader metadata is removed, so they cannot pose as tests).

Returns the notes for the feedback: what was restored or missing.
"""
import copy

import nbformat

from nbformat.v4 import new_code_cell, new_markdown_cell, new_raw_cell


def _grade_id(cell):
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _source(cell):
    src = cell.get("source", "")
    return "".join(str(s) for s in src) if isinstance(src, list) else str(src)


def _attachments(cell):
    """The cell's attachments that are valid PNG images ({} for anything else: other
    types are never shown, and a malformed one would make the notebook invalid)."""
    from instructor.feedback.inert import valid_png
    found = cell.get("attachments")
    kept = {}
    if isinstance(found, dict):
        for name, bundle in found.items():
            if isinstance(name, str) and isinstance(bundle, dict) and valid_png(bundle.get("image/png")):
                kept[name] = {"image/png": bundle["image/png"]}
    return kept


def _plain_copy(cell):
    """A student's own cell, without grading metadata or outputs."""
    kind = cell.get("cell_type")
    src = _source(cell)
    if kind == "code":
        return new_code_cell(src)
    if kind == "markdown":
        return new_markdown_cell(src)
    return new_raw_cell(src)


def rebuild(student_cells, release_nb):
    """(notebook, notes): release_nb with the student's work filled in.

    student_cells is the list of cells of the hand-in (dicts as read from its
    JSON; None when there is no usable notebook)."""
    nb = copy.deepcopy(release_nb)
    release_ids = [_grade_id(c) for c in nb.cells]
    known = set(i for i in release_ids if i)
    notes = []

    student_by_id, extras, anchor = {}, {}, None   # extras: anchor grade_id -> [cells]
    for cell in student_cells or []:
        if not isinstance(cell, dict):
            continue
        gid = _grade_id(cell)
        if gid in known and gid not in student_by_id:
            student_by_id[gid] = cell
            anchor = gid
        else:
            extras.setdefault(anchor, []).append(_plain_copy(cell))

    cells = list(extras.get(None, []))
    restored, missing = [], []
    for cell, gid in zip(nb.cells, release_ids):
        mine = student_by_id.get(gid) if gid else None
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            if mine is not None:
                cell.source = _source(mine)
                if cell.cell_type == "markdown" and "attachments" in mine:
                    attachments = _attachments(mine)
                    if attachments:
                        cell["attachments"] = attachments
                    if attachments != mine["attachments"]:
                        notes.append(f"{gid}: attachments other than PNG images were left out")
            elif student_cells is not None:
                missing.append(gid)
        elif gid and student_cells is not None:
            if mine is None:
                restored.append(f"{gid} (deleted)")
            elif _source(mine) != cell.source or mine.get("cell_type") != cell.cell_type:
                restored.append(f"{gid} (edited)")
        cells.append(cell)
        cells.extend(extras.get(gid, []))
    nb.cells = cells
    if restored:
        notes.append("restored the original of these locked cells: " + ", ".join(restored))
    if missing:
        notes.append("these cells for your work were missing from your notebook and were graded "
                     "empty: " + ", ".join(missing))
    nbformat.validate(nb)
    return nb, notes
