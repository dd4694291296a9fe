"""OUT/canvas.csv: the automatic grades as a Canvas gradebook import.

Canvas imports a CSV with its own first columns, `Student`, `ID`, `SIS User ID`,
`SIS Login ID`, `Section`, then one column per assignment; it matches rows to
students by ID, SIS User ID or SIS Login ID. A header `Name (number)` taken from
a gradebook export updates that assignment; a new name creates one.

With a roster (a Canvas gradebook export, or the grader's roster.csv), each
hand-in is matched to a roster row by its student id: the row's SIS Login ID,
else its SIS User ID (case ignored). Matched rows take the roster's name, IDs and
section; hand-ins that match no row are left out of the file and listed in the
report. Without a roster, the student id is the SIS Login ID.
"""
import csv
import io

from instructor.spreadsheet import spreadsheet_safe

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


class RosterError(ValueError):
    """A roster that cannot be read; the message says why."""


def read_roster(path, assignment):
    """(rows, column): the roster's students as dicts with the Canvas columns, and the
    header of the assignment's column in it (None if it has none).

    Reads a Canvas gradebook export (Student, ID, SIS User ID, SIS Login ID, Section,
    ...; its 'Points Possible' row is skipped) or a roster with an `id` or
    `student_id` column and optionally first_name, last_name, section."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            raw = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise RosterError(f"cannot read the roster {path}: {e}") from None
    if not header:
        raise RosterError(f"the roster {path} is empty")
    rows = []
    if "SIS Login ID" in header or "SIS User ID" in header:
        column = next((h for h in header[5:] if h.lower().startswith(assignment.lower())), None)
        for n, row in enumerate(raw, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if row.get("Student", "").lower() in ("points possible", "student, test"):
                continue
            if not (row.get("SIS Login ID") or row.get("SIS User ID") or row.get("ID")):
                raise RosterError(f"{path}, line {n}: the row has no ID, SIS User ID or "
                                  "SIS Login ID")
            rows.append({h: row.get(h, "") for h in CANVAS_HEADER})
        return rows, column
    lower = [h.lower() for h in header]
    if "id" not in lower and "student_id" not in lower:
        raise RosterError(f"{path}: not a Canvas gradebook export (no 'SIS Login ID' or "
                          "'SIS User ID' column) and no 'id' or 'student_id' column")
    for n, row in enumerate(raw, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        sid = row.get("id") or row.get("student_id")
        if not sid:
            raise RosterError(f"{path}, line {n}: the row has no id")
        name = ", ".join(p for p in (row.get("last_name"), row.get("first_name")) if p)
        rows.append({"Student": name or sid, "ID": "", "SIS User ID": "",
                     "SIS Login ID": sid, "Section": row.get("section", "")})
    return rows, None


def match(student_ids, roster):
    """({student id: roster row}, [ids matching no row]); by SIS Login ID, then SIS
    User ID, ignoring case."""
    by_login = {r["SIS Login ID"].lower(): r for r in roster if r["SIS Login ID"]}
    by_user = {r["SIS User ID"].lower(): r for r in roster if r["SIS User ID"]}
    matched, unmatched = {}, []
    for sid in student_ids:
        row = by_login.get(sid.lower()) or by_user.get(sid.lower())
        if row is None:
            unmatched.append(sid)
        else:
            matched[sid] = row
    return matched, unmatched


def canvas_csv(scores, column, roster=None):
    """(CSV text, unmatched ids). scores: {student id: points} of the graded hand-ins;
    column: the assignment column's header; roster: rows from read_roster, or None."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CANVAS_HEADER + [column])
    unmatched = []
    if roster is None:
        for sid in sorted(scores):
            w.writerow([spreadsheet_safe(c) for c in [sid, "", "", sid, ""]]
                       + [_num(scores[sid])])
    else:
        matched, unmatched = match(sorted(scores), roster)
        for sid in sorted(matched, key=lambda s: (matched[s]["Student"].lower(), s)):
            r = matched[sid]
            w.writerow([spreadsheet_safe(r[h]) for h in CANVAS_HEADER] + [_num(scores[sid])])
    return buf.getvalue(), unmatched


def _num(x):
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.3f}".rstrip("0")
