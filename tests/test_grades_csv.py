"""grades.csv is safe to open in a spreadsheet: no cell is read as a formula."""
import csv
import json
import os

import pytest

from instructor.grade import batch
from instructor.grade.job import GradeCell
from instructor.report.canvas import CANVAS_HEADER, canvas_csv
from instructor.spreadsheet import spreadsheet_safe

DANGEROUS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
             "\t=1+1", "\r=1", "-", "=", "+inf", "-nan"]
NUMBERS = ["-1.5", "+2", "-0", "1e-3", "-3e5", "42"]
PLAIN = ["alice", "softmax_bob.zip", "a=b", "x-1", "", "1-2"]


@pytest.mark.parametrize("cell", DANGEROUS)
def test_formula_like_text_is_escaped(cell):
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", NUMBERS + PLAIN + [3, -2.5, None])
def test_numbers_and_plain_text_are_unchanged(cell):
    assert spreadsheet_safe(cell) == cell


def test_grades_csv_escapes_handin_notes_and_roster_ids(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    monkeypatch.setattr(batch, "manual_scores", lambda out: {})
    result = {"student_id": "alice", "status": "graded", "notes": ["=1+1 note", "plain"],
              "tests": [{"name": "test_a", "points": 2.0}],
              "handin_name": "=HYPERLINK(\"http://evil\",\"x\").zip"}
    (out / "results" / "alice.json").write_text(json.dumps(result))
    roster = {"alice": {}, "-bob": {}, "@carol": {}}
    cells = [GradeCell("test_a", 2.0, "auto"), GradeCell("answer", 1.0, "manual")]
    rows = batch.write_csv(str(out), cells, roster, [("+evil.zip", "not a zip")])
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0][0] == "student_id" and len(table) == 1 + len(rows)
    by_id = {row[0]: row for row in table[1:]}
    assert by_id["alice"][-2] == "'" + result["handin_name"]
    assert by_id["alice"][-1] == "'=1+1 note | plain"
    assert "'-bob" in by_id and "'@carol" in by_id      # ids from the roster, escaped
    assert by_id["alice"][2] == "2"                       # numbers stay numbers
    problem = [row for row in table[1:] if row[0] == ""][0]
    assert problem[-2] == "'+evil.zip"
    for row in table[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) and (
                not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit()), cell


def test_canvas_csv_escapes_roster_text_and_ids():
    """The Canvas import carries names and ids from a roster: none may run as a formula."""
    row = {"Student": "=HYPERLINK(\"http://x\",\"y\")", "ID": "17", "SIS User ID": "@u1",
           "SIS Login ID": "ada", "Section": "+A"}
    text, unmatched = canvas_csv({"ada": 17}, "softmax", roster=[row])
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == CANVAS_HEADER + ["softmax"] and unmatched == []
    assert rows[1] == ["'" + row["Student"], "17", "'@u1", "ada", "'+A", "17"]
    text, _ = canvas_csv({"-x": 3}, "softmax")
    assert list(csv.reader(text.splitlines()))[1] == ["'-x", "", "", "'-x", "", "3"]
