"""grades.csv is safe to open in a spreadsheet: no cell is read as a formula."""
import csv
import json
import os

import pytest

from instructor.grade import batch
from instructor.grade.job import GradeCell

DANGEROUS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
             "\t=1+1", "\r=1", "-", "=", "+inf", "-nan"]
NUMBERS = ["-1.5", "+2", "-0", "1e-3", "-3e5", "42"]
PLAIN = ["alice", "softmax_bob.zip", "a=b", "x-1", "", "1-2"]


@pytest.mark.parametrize("cell", DANGEROUS)
def test_formula_like_text_is_escaped(cell):
    assert batch.spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", NUMBERS + PLAIN + [3, -2.5, None])
def test_numbers_and_plain_text_are_unchanged(cell):
    assert batch.spreadsheet_safe(cell) == cell


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
