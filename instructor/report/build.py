"""Build OUT/report.html, OUT/class.json and OUT/canvas.csv from a graded OUT.

    python -m instructor report OUT [--roster ROSTER.csv] [--column NAME]

build_report(out) reads only what a grading run left in OUT: results/<id>.json
(each test's points, status and message, the notes, the seconds), grades.csv
(manual scores, hand-ins that could not be attributed, students on the roster
without one), autograded/<id>/ (the code compared for similarity) and source/
(the starter code subtracted from it). It grades nothing, so it can be run
again at any time, for example after manual grading or with a roster.
"""
import csv
import datetime
import json
import os
import statistics
import sys
import time

from instructor.assignment import ASSIGNMENT_ID, NOTEBOOK, PACKAGE, write_json, write_text
from instructor.report import assignment_facts, canvas, similarity
from instructor.report.knock_on import knock_on

GRADED_STATES = ("graded", "graded-with-problems")
# How the report tells the isolation of each hand-in: a field of its result if the
# grader recorded one, else its notes (a bare run says so in every graded hand-in's notes).
BARE_WORDS = "graded WITHOUT a sandbox"


class ReportError(Exception):
    """OUT cannot be reported on; the message says why."""


# ---- reading OUT -----------------------------------------------------------------------
def read_results(out):
    folder = os.path.join(out, "results")
    if not os.path.isdir(folder):
        raise ReportError(f"{out} holds no results/ folder: is it the --out folder of a "
                          "grading run (python -m instructor autograde SUBMISSIONS --out OUT)?")
    results = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                r = json.load(f)
            sid = r["student_id"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ReportError(f"{os.path.join(folder, name)} cannot be read: {e}") from None
        results[sid] = r
    return results


def read_grades(out):
    """grades.csv rows as dicts ([] without the file)."""
    path = os.path.join(out, "grades.csv")
    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _tests(r):
    return r.get("tests") or [{"name": k, "points": v, "max": None, "status": "", "message": ""}
                              for k, v in r.get("scores", {}).items()]


def mistake_of(test, catalogue):
    """The id of the named mistake a failed test's message explains, or None."""
    if test.get("mistake") in catalogue:
        return test["mistake"]
    message = test.get("message") or ""
    found = [m for m, text in catalogue.items() if text and text in message]
    return max(found, key=lambda m: len(catalogue[m])) if found else None


def reason_of(test):
    """A failed test's reason as the report groups it: the first line of its message."""
    message = (test.get("message") or "").strip()
    return message.splitlines()[0] if message else f"({test.get('status') or 'failed'}, no message)"


def _num(x):
    x = float(x)
    return int(x) if x.is_integer() else round(x, 3)


def _isolation(r, default):
    for key in ("isolation", "sandbox", "tier"):
        if isinstance(r.get(key), str) and r[key]:
            return r[key]
    if any(BARE_WORDS in n for n in r.get("notes", [])):
        return "none"
    return default


# ---- the facts ---------------------------------------------------------------------------
def class_facts(out, roster_rows=None, column=None, run=None):
    """Everything the report shows, as a JSON-ready dict (class.json)."""
    results = read_results(out)
    grade_rows = read_grades(out)
    catalogue = assignment_facts.named_mistakes()
    run = dict(run or {})

    # The test cells, in the notebook's order, with their points.
    cells = []
    for r in results.values():
        for t in _tests(r):
            if t["name"] not in [c["name"] for c in cells]:
                cells.append({"name": t["name"], "max": t.get("max")})
    if grade_rows:
        header = list(grade_rows[0].keys())
        if "manual_score" in header and "handin" in header:
            order = header[header.index("manual_score") + 1:header.index("handin")]
            cells.sort(key=lambda c: order.index(c["name"]) if c["name"] in order else 99)
    auto_max = sum(c["max"] or 0 for c in cells)
    manual = {row["student_id"]: row.get("manual_score", "") for row in grade_rows
              if row.get("student_id")}

    students, mistakes, reasons, knock = {}, {}, {}, []
    for sid, r in sorted(results.items()):
        graded = r.get("status") in GRADED_STATES
        tests = _tests(r)
        failed = [t["name"] for t in tests if graded and float(t.get("points") or 0) < float(t.get("max") or 0)]
        follows = knock_on(failed) if graded else {}
        named = []
        for t in tests:
            if not graded or t["name"] not in failed:
                continue
            m = mistake_of(t, catalogue)
            if m:
                if m not in named:
                    named.append(m)
                entry = mistakes.setdefault(m, {"id": m, "explanation": catalogue[m],
                                                "students": [], "cells": [], "seen": {}})
                if sid not in entry["students"]:
                    entry["students"].append(sid)
                if t["name"] not in entry["cells"]:
                    entry["cells"].append(t["name"])
                first = "\n".join((t.get("message") or "").splitlines()[:2])
                entry["seen"][first] = entry["seen"].get(first, 0) + 1
            reason = reason_of(t)
            bucket = reasons.setdefault(t["name"], {}).setdefault(
                reason, {"reason": reason, "mistake": m, "students": []})
            bucket["students"].append(sid)
        for cell, causes in follows.items():
            knock.append({"student": sid, "cell": cell, "because": causes})
        flags = []
        if r.get("status") == "graded-with-problems":
            flags.append("graded-with-problems")
        students[sid] = {
            "status": r.get("status"),
            "total": _num(sum(float(t.get("points") or 0) for t in tests)) if graded else 0,
            "max": _num(auto_max),
            "manual_score": manual.get(sid, ""),
            "scores": {t["name"]: _num(t.get("points") or 0) for t in tests},
            "mistakes": named,
            "knock_on": follows,
            "flags": flags,
            "notes": list(r.get("notes", [])),
            "feedback": f"feedback/{sid}/{ASSIGNMENT_ID}.html",
            "seconds": r.get("seconds", 0.0),
            "isolation": _isolation(r, run.get("sandbox") or "bwrap"),
        }

    graded_ids = [s for s, v in students.items() if v["status"] in GRADED_STATES]
    totals = [students[s]["total"] for s in graded_ids]
    cell_facts = []
    for c in cells:
        name = c["name"]
        passed = [s for s in graded_ids if students[s]["scores"].get(name, 0) >= (c["max"] or 0)]
        failed = [s for s in graded_ids if s not in passed]
        ranked = sorted(reasons.get(name, {}).values(), key=lambda b: (-len(b["students"]), b["reason"]))
        cell_facts.append({
            "name": name, "max": _num(c["max"] or 0), "graded": len(graded_ids),
            "passed": len(passed), "failed": failed,
            "pass_rate": round(len(passed) / len(graded_ids), 4) if graded_ids else None,
            "knock_on": sorted(k["student"] for k in knock if k["cell"] == name),
            "reasons": [{"reason": b["reason"], "mistake": b["mistake"], "count": len(b["students"]),
                         "students": b["students"]} for b in ranked],
        })
    mistake_list = []
    for m in sorted(mistakes.values(), key=lambda e: (-len(e["students"]), e["id"])):
        seen = sorted(m.pop("seen").items(), key=lambda kv: -kv[1])
        mistake_list.append({**m, "count": len(m["students"]), "message": seen[0][0] if seen else ""})

    # Similar hand-ins: the code of the graded ones, the starter subtracted.
    layout = similarity.read_layout(os.path.join(out, "source", ASSIGNMENT_ID), NOTEBOOK, PACKAGE)
    code = {}
    for sid in graded_ids:
        folder = os.path.join(out, "autograded", sid, ASSIGNMENT_ID)
        if os.path.isdir(folder):
            code[sid] = similarity.read_student_code(folder, layout)
    pairs, sizes, common = similarity.compare(code, layout) if layout.starters else ([], {}, 0)
    for p in pairs:
        for s in (p.a, p.b):
            if "similar" not in students[s]["flags"]:
                students[s]["flags"].append("similar")

    # Not graded: hand-ins of a student that got no grade, and zips with no student id.
    not_graded = [{"student": s, "handin": results[s].get("handin_name", ""),
                   "status": v["status"], "why": v["notes"]}
                  for s, v in students.items() if v["status"] not in GRADED_STATES]
    not_graded += [{"student": "", "handin": row.get("handin", ""), "status": row.get("status"),
                    "why": [n for n in (row.get("notes") or "").split(" | ") if n]}
                   for row in grade_rows if not row.get("student_id")]
    missing = sorted(row["student_id"] for row in grade_rows
                     if row.get("status") == "missing" and row.get("student_id"))

    # Canvas: the automatic points, plus the manual ones once given.
    canvas_scores = {}
    for s in graded_ids:
        m = students[s]["manual_score"]
        canvas_scores[s] = students[s]["total"] + (float(m) if m not in ("", None) else 0)
    col = column or (roster_rows[1] if roster_rows and roster_rows[1] else ASSIGNMENT_ID)
    text, unmatched = canvas.canvas_csv(canvas_scores, col, roster_rows[0] if roster_rows else None)
    for s in unmatched:
        students[s]["flags"].append("not on the roster")

    seconds = [v["seconds"] for v in students.values() if v["seconds"]]
    tiers = {}
    for v in students.values():
        if v["status"] in GRADED_STATES:
            tiers[v["isolation"]] = tiers.get(v["isolation"], 0) + 1
    facts = {
        "assignment": ASSIGNMENT_ID,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "batch": {
            "handins": len(students) + sum(1 for row in grade_rows if not row.get("student_id")),
            "graded": len(graded_ids),
            "with_problems": sorted(s for s in graded_ids if students[s]["status"] == "graded-with-problems"),
            "not_graded": not_graded,
            "missing": missing,
            "isolation": tiers,
            "seconds_total": round(sum(seconds), 1),
            "seconds_per_handin": {
                "mean": round(statistics.fmean(seconds), 1) if seconds else None,
                "median": round(statistics.median(seconds), 1) if seconds else None,
                "max": round(max(seconds), 1) if seconds else None},
            "wall_seconds": run.get("wall_seconds"),
            "jobs": run.get("jobs"),
            "sandbox": run.get("sandbox"),
        },
        "scores": {"max": _num(auto_max), "graded": len(totals),
                   "mean": round(statistics.fmean(totals), 2) if totals else None,
                   "median": _num(statistics.median(totals)) if totals else None,
                   "counts": {str(_num(t)): totals.count(t) for t in sorted(set(totals))}},
        "cells": cell_facts,
        "mistakes": mistake_list,
        "knock_on": knock,
        "similarity": {
            "method": f"winnowed fingerprints of Python tokens (k={similarity.K}, "
                      f"window {similarity.WINDOW}), starter code subtracted",
            "skipped": None if layout.starters else (
                f"{os.path.join(out, 'source', ASSIGNMENT_ID)} holds no starter code with "
                "solution markers, so the hand-ins could not be compared"),
            "flag_at": similarity.FLAG_SIMILARITY, "min_shared": similarity.FLAG_SHARED,
            "common_cut": similarity.common_cut(len(code)), "common_fingerprints": common,
            "fingerprints": sizes,
            "pairs": [{"a": p.a, "b": p.b, "similarity": p.similarity, "shared": p.shared,
                       "fingerprints_a": p.size_a, "fingerprints_b": p.size_b, "blocks": p.blocks}
                      for p in pairs],
        },
        "canvas": {"file": "canvas.csv", "column": col, "rows": len(canvas_scores) - len(unmatched),
                   "roster": bool(roster_rows), "unmatched": unmatched,
                   "manual_missing": sorted(s for s in graded_ids
                                            if students[s]["manual_score"] in ("", None))},
        "students": students,
    }
    return facts, text


def build_report(out, roster=None, column=None, run=None):
    """Write OUT/report.html, OUT/class.json and OUT/canvas.csv; returns the facts.

    roster: a Canvas gradebook export (or the grader's roster.csv) to match the
    Canvas rows with; column: the Canvas assignment column's header (default: the
    roster's column for the assignment, else the assignment's name); run: facts
    only the grading run knows ({"wall_seconds", "jobs", "sandbox"}), kept in
    class.json so that a rebuild shows them too."""
    from instructor.report.render import render_report
    out = os.path.abspath(out)
    if not os.path.isdir(out):
        raise ReportError(f"{out} is not a folder")
    previous = os.path.join(out, "class.json")
    if run is None and os.path.isfile(previous):
        try:
            with open(previous, encoding="utf-8") as f:
                old = json.load(f).get("batch", {})
            run = {k: old.get(k) for k in ("wall_seconds", "jobs", "sandbox")}
        except (OSError, ValueError, AttributeError):
            run = None
    roster_rows = canvas.read_roster(roster, ASSIGNMENT_ID) if roster else None
    facts, canvas_text = class_facts(out, roster_rows, column, run)
    write_text(os.path.join(out, "canvas.csv"), canvas_text)
    write_json(os.path.join(out, "class.json"), facts)
    write_text(os.path.join(out, "report.html"), render_report(facts))
    return facts


def main(args):
    """`python -m instructor report OUT [--roster R] [--column NAME]`."""
    started = time.monotonic()
    try:
        facts = build_report(args.out, roster=args.roster, column=args.column)
    except (ReportError, canvas.RosterError, OSError) as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 1
    b = facts["batch"]
    print(f"report: {b['graded']} graded, {len(b['not_graded'])} not graded, "
          f"{len(facts['mistakes'])} named mistake(s), "
          f"{len(facts['similarity']['pairs'])} similar pair(s); "
          f"{len(facts['canvas']['unmatched'])} hand-in(s) not on the roster "
          f"({time.monotonic() - started:.1f} s)")
    for name in ("report.html", "class.json", "canvas.csv"):
        print(f"wrote {os.path.join(os.path.abspath(args.out), name)}")
    return 0
