"""The class report (python -m instructor report OUT) on a made-up graded OUT folder.

    ada   the instructor's solution                            all passed
    ben   his own code, regularization gradient doubled in      test_vectorized, then test_sweep
          the vectorized loss                                   (a knock-on failure)
    cy    her own code, the same mistake in both losses         test_naive_grad, test_vectorized
    dee   ada's file disguised: names, comments, order          a named mistake of her own
    eve   the untouched starter                                 everything "not implemented"
    fay   the untouched starter                                 everything "not implemented"
    hal   not graded (a zip bomb)
    plus a zip without a student id, and zoe on the roster without a hand-in.
"""
import csv
import html
import json
import os
import re
import subprocess
import sys

import pytest

from instructor.assignment import REPO_ROOT
from instructor.report import similarity
from instructor.report.build import ReportError, build_report
from instructor.report.canvas import RosterError, read_roster
from instructor.report.knock_on import knock_on, prerequisites
from report_fixture import (BEN_NAIVE, BEN_VECTORIZED, CY_NAIVE, CY_VECTORIZED, MISTAKES, NOT_DONE,
                            ROSTER, STUDENT_FILE, disguise, fill, make_out, solution, starter,
                            students)

@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report") / "out"
    make_out(str(folder), students())
    roster = folder.parent / "canvas_export.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    facts = build_report(str(folder), roster=str(roster))
    return folder, facts


def test_batch_counts_and_reasons(out):
    folder, facts = out
    b = facts["batch"]
    assert b["handins"] == 8 and b["graded"] == 6
    assert b["with_problems"] == ["cy"]
    assert [(g["student"], g["handin"]) for g in b["not_graded"]] == [("hal", "softmax_hal.zip"),
                                                                      ("", "bad name!.zip")]
    assert b["not_graded"][0]["why"] == ["not graded: the zip unpacks to 50 MB"]
    assert b["missing"] == ["zoe"]
    assert b["isolation"] == {"bwrap": 6}
    assert b["seconds_total"] == pytest.approx(12 + 14 + 20 + 11 + 9 + 8 + 0.1)
    assert b["seconds_per_handin"]["max"] == 20.0


def test_scores_and_cells(out):
    _, facts = out
    totals = {"ada": 17, "ben": 10, "cy": 10, "dee": 14, "eve": 0, "fay": 0}
    assert {s: v["total"] for s, v in facts["students"].items() if s != "hal"} == totals
    assert facts["scores"]["mean"] == pytest.approx(sum(totals.values()) / 6, abs=0.01)
    assert facts["scores"]["median"] == 10
    cells = {c["name"]: c for c in facts["cells"]}
    assert [c["name"] for c in facts["cells"]][:3] == ["test_naive_loss", "test_naive_grad",
                                                       "test_vectorized"]
    assert cells["test_vectorized"]["passed"] == 2 and cells["test_vectorized"]["graded"] == 6
    assert sorted(cells["test_vectorized"]["failed"]) == ["ben", "cy", "eve", "fay"]
    top = cells["test_vectorized"]["reasons"]
    assert [(r["count"], r["mistake"], r["students"]) for r in top] == [
        (2, None, ["eve", "fay"]), (2, "reg_grad_double", ["ben", "cy"])]
    assert top[0]["reason"] == NOT_DONE
    assert cells["test_sweep"]["knock_on"] == ["ben", "eve", "fay"]


def test_named_mistakes_ranked_with_students_and_their_explanation(out):
    folder, facts = out
    got = [(m["id"], m["count"], m["students"], m["cells"]) for m in facts["mistakes"]]
    assert got == [("reg_grad_double", 2, ["ben", "cy"], ["test_vectorized", "test_naive_grad"]),
                   ("no_shift", 1, ["dee"], ["test_naive_loss"])]
    # The counts are those of the feedback pages that show the explanation.
    for m in facts["mistakes"]:
        shown = [sid for sid in facts["students"]
                 if html.escape(m["explanation"]) in (folder / "feedback" / sid / "softmax.html").read_text()]
        assert shown == m["students"]
    page = (folder / "report.html").read_text()
    assert page.index("reg_grad_double") < page.index("no_shift")
    assert html.escape(MISTAKES["reg_grad_double"]) in page
    for sid in ("ben", "cy"):
        assert f'href="feedback/{sid}/softmax.html"' in page


def test_knock_on_failures_in_report_and_feedback(out):
    folder, facts = out
    ben = [k for k in facts["knock_on"] if k["student"] == "ben"]
    assert ben == [{"student": "ben", "cell": "test_sweep", "because": ["test_vectorized"]}]
    assert not [k for k in facts["knock_on"] if k["student"] == "cy"]
    feedback = (folder / "feedback" / "ben" / "softmax.html").read_text()
    assert "knock-on failure" in feedback and "it relies on test_vectorized" in feedback
    assert "knock-on" not in (folder / "feedback" / "cy" / "softmax.html").read_text().replace(
        ".knock-on", "")
    assert "<strong>test_sweep</strong> after test_vectorized failed: 1 hand-in(s)" in \
        (folder / "report.html").read_text()


@pytest.mark.parametrize("failed, expected", [
    (["test_naive_loss", "test_naive_grad"], {"test_naive_grad": ["test_naive_loss"]}),
    (["test_naive_grad", "test_sweep"], {}),
    (["test_vectorized", "test_accuracy"], {"test_accuracy": ["test_vectorized"]}),
    (["test_sgd", "test_sweep", "test_accuracy"],
     {"test_sweep": ["test_sgd"], "test_accuracy": ["test_sgd", "test_sweep"]}),
])
def test_knock_on_follows_the_dependencies_transitively(failed, expected):
    assert knock_on(failed) == expected
    assert prerequisites("test_accuracy", {"a": ["b"], "test_accuracy": ["a"], "b": ["a"]}) == ["a", "b"]


def test_similar_pairs_flag_the_disguised_copy_only(out):
    _, facts = out
    sim = facts["similarity"]
    assert [(p["a"], p["b"]) for p in sim["pairs"]] == [("ada", "dee")]
    assert sim["fingerprints"]["eve"] == 0 and sim["fingerprints"]["fay"] == 0
    pair = sim["pairs"][0]
    assert pair["similarity"] >= 0.9
    regions = {(bl["region_a"], bl["region_b"]) for bl in pair["blocks"]}
    assert regions == {(STUDENT_FILE, STUDENT_FILE)}
    # The side-by-side blocks are the same code under other names.
    assert any("num_train" in bl["text_a"] and "n_examples" in bl["text_b"] for bl in pair["blocks"])
    assert facts["students"]["dee"]["flags"] == ["similar", "not on the roster"]


@pytest.mark.parametrize("renamed, comments, reordered", [
    (True, False, False), (False, True, False), (False, False, True), (True, True, True)])
def test_each_disguise_alone_is_still_found(renamed, comments, reordered):
    layout = similarity.Layout("softmax.ipynb", {STUDENT_FILE: starter(STUDENT_FILE)})
    ada = solution(STUDENT_FILE)
    code = {"ada": {STUDENT_FILE: ada},
            "dee": {STUDENT_FILE: disguise(ada, renamed, comments, reordered)},
            "ben": {STUDENT_FILE: fill(STUDENT_FILE, BEN_NAIVE, BEN_VECTORIZED)},
            "cy": {STUDENT_FILE: fill(STUDENT_FILE, CY_NAIVE, CY_VECTORIZED)},
            "eve": {STUDENT_FILE: starter(STUDENT_FILE)}, "fay": {STUDENT_FILE: starter(STUDENT_FILE)}}
    pairs, sizes, _ = similarity.compare(code, layout)
    assert [(p.a, p.b) for p in pairs] == [("ada", "dee")]
    assert sizes["eve"] == sizes["fay"] == 0 and sizes["ada"] > similarity.FLAG_SHARED


def test_the_notebook_solution_cells_are_compared_too():
    layout = similarity.read_layout(REPO_ROOT, "softmax.ipynb", "cs231n")
    cells = [r for r in layout.starters if r.startswith("softmax.ipynb:")]
    assert cells, "no solution code cell found in the notebook"
    with open(os.path.join(REPO_ROOT, "softmax.ipynb"), encoding="utf-8") as f:
        nb = json.load(f)
    sweep = next("".join(c["source"]) for c in nb["cells"]
                 if f"softmax.ipynb:{c['metadata'].get('nbgrader', {}).get('grade_id')}" == cells[0])
    solved = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n", "", sweep)
    copy = re.sub(r"#[^\n]*", "", similarity_rename(solved))
    code = {"a": {cells[0]: solved}, "b": {cells[0]: copy}, "c": {cells[0]: layout.starters[cells[0]]}}
    pairs, sizes, _ = similarity.compare(code, layout)
    assert [(p.a, p.b) for p in pairs] == [("a", "b")] and sizes["c"] == 0


def similarity_rename(text):
    from report_fixture import rename
    return rename(text, {"best_val": "top_acc", "results": "table", "lr": "step", "reg": "lam"})


def test_tokens_ignore_names_comments_and_layout():
    a = "def f(x, y):\n    # add\n    return x + y  # sum\n"
    b = "def g(p,\n      q):\n    return p + q\n"
    c = "def f(x, y):\n    return x - y\n"
    t = lambda s: [v for v, _ in similarity.tokens(s)]
    assert t(a) == t(b) != t(c)
    assert t("x = np.exp(s)") == ["V", "=", "V", ".", "exp", "(", "V", ")"]
    assert t("print(len('a'))") == ["print", "(", "len", "(", "S", ")", ")"]
    assert t("def broken(:\n  '''open") is not None   # no exception on bad code


def test_canvas_csv_matches_the_roster_exactly(out):
    folder, facts = out
    text = (folder / "canvas.csv").read_text(encoding="utf-8")
    assert list(csv.reader(text.splitlines())) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Softmax (4242)"],
        ["Babbage, Ben", "102", "ben", "ben@uni.example", "Lab 2", "10"],
        ["Eve, Eve", "105", "S005", "eve", "Lab 2", "0"],
        ["Fay, Fay", "106", "S006", "fay", "Lab 2", "0"],
        ["Lovelace, Ada", "101", "S001", "ada", "Lab 1", "21"],
        ["Young, Cy", "103", "S003", "CY", "Lab 1", "10"],
    ]
    assert facts["canvas"]["unmatched"] == ["dee"]
    assert facts["canvas"]["rows"] == 5
    assert "not on the roster" in facts["students"]["dee"]["flags"]
    page = (folder / "report.html").read_text()
    assert re.search(r'Hand-ins matching no roster row.*href="feedback/dee/softmax.html"', page)


def test_canvas_csv_without_roster_uses_the_student_id(tmp_path):
    make_out(str(tmp_path / "out"), {k: v for k, v in students().items() if k in ("ada", "hal")})
    build_report(str(tmp_path / "out"), column="Softmax")
    rows = list(csv.reader((tmp_path / "out" / "canvas.csv").read_text().splitlines()))
    assert rows == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Softmax"],
                    ["ada", "", "", "ada", "", "21"]]


@pytest.mark.parametrize("text, error", [
    ("", "is empty"),
    ("name,score\nada,3\n", "no 'id' or 'student_id' column"),
    ("Student,ID,SIS User ID,SIS Login ID,Section\nNobody,,,,\n", "line 2: the row has no ID"),
])
def test_bad_rosters_are_refused_with_the_reason(tmp_path, text, error):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(RosterError, match=re.escape(error)):
        read_roster(str(path), "softmax")


def test_the_grader_roster_works_as_well(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("id,first_name,last_name\nada,Ada,Lovelace\nzoe,,\n")
    rows, column = read_roster(str(path), "softmax")
    assert column is None
    assert [(r["Student"], r["SIS Login ID"]) for r in rows] == [("Lovelace, Ada", "ada"), ("zoe", "zoe")]


def test_class_json_holds_the_same_facts(out):
    folder, facts = out
    data = json.loads((folder / "class.json").read_text())
    assert data["mistakes"] == facts["mistakes"]
    assert data["students"]["cy"]["mistakes"] == ["reg_grad_double"]
    assert data["students"]["ben"]["scores"]["test_vectorized"] == 0
    assert data["students"]["ben"]["knock_on"] == {"test_sweep": ["test_vectorized"]}
    assert [(p["a"], p["b"]) for p in data["similarity"]["pairs"]] == [("ada", "dee")]


def test_report_is_inert(out):
    folder, facts = out
    page = (folder / "report.html").read_text()
    assert "<script" not in page.lower() and "javascript:" not in page.lower()
    assert "default-src 'none'" in page and "img-src data:" in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"\son[a-z]+\s*=", page)


def test_hostile_student_ids_and_code_are_escaped(tmp_path):
    evil = 'x"><script>alert(1)</script>'
    s = students()
    code = solution(STUDENT_FILE).replace("return float(loss), dW",
                                          "s = '</pre><script>alert(2)</script>'\n    return float(loss), dW")
    s = {"ada": dict(s["ada"], files={STUDENT_FILE: code}),
         "dee": dict(s["dee"], files={STUDENT_FILE: disguise(code)},
                     notes=[evil])}
    make_out(str(tmp_path / "out"), s)
    build_report(str(tmp_path / "out"))
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script" not in page.lower()


def test_command_rebuilds_and_refuses_a_folder_without_results(out, tmp_path):
    folder, _ = out
    (folder / "report.html").unlink()
    proc = subprocess.run([sys.executable, "-m", "instructor", "report", str(folder)],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "report.html").is_file()
    assert "6 graded, 2 not graded, 2 named mistake(s), 1 similar pair(s)" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "instructor", "report", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    assert proc.returncode == 1 and "holds no results/ folder" in proc.stderr
    with pytest.raises(ReportError):
        build_report(str(tmp_path / "nowhere"))


def test_a_batch_with_nothing_graded_still_gets_a_report(tmp_path):
    make_out(str(tmp_path / "out"), {"hal": students()["hal"]})
    facts = build_report(str(tmp_path / "out"))
    assert facts["batch"]["graded"] == 0 and facts["scores"]["mean"] is None
    assert facts["mistakes"] == [] and facts["similarity"]["pairs"] == []
    page = (tmp_path / "out" / "report.html").read_text()
    assert "No hand-in was graded." in page and "<img" not in page
    assert (tmp_path / "out" / "canvas.csv").read_text().splitlines() == [
        "Student,ID,SIS User ID,SIS Login ID,Section,softmax"]


def test_without_the_starter_code_similarity_says_it_was_not_compared(tmp_path):
    import shutil
    make_out(str(tmp_path / "out"), {k: v for k, v in students().items() if k in ("ada", "dee")})
    shutil.rmtree(tmp_path / "out" / "source")
    facts = build_report(str(tmp_path / "out"), run={"sandbox": "none", "wall_seconds": 61.5})
    assert facts["similarity"]["pairs"] == [] and "could not be compared" in facts["similarity"]["skipped"]
    assert "Not compared:" in (tmp_path / "out" / "report.html").read_text()
    assert facts["batch"]["isolation"] == {"none": 2}
    # A rebuild keeps what only the grading run knew.
    again = build_report(str(tmp_path / "out"))
    assert again["batch"]["wall_seconds"] == 61.5 and again["batch"]["isolation"] == {"none": 2}


@pytest.mark.parametrize("args, code, text", [
    (["--roster", "no-such-roster.csv"], 1, "cannot read the roster"),
    (["--column", "Softmax (777)"], 0, "6 graded"),
])
def test_command_options(out, tmp_path, args, code, text):
    folder, _ = out
    copy = tmp_path / "out"
    import shutil
    shutil.copytree(folder, copy)
    proc = subprocess.run([sys.executable, "-m", "instructor", "report", str(copy), *args],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": REPO_ROOT})
    assert proc.returncode == code, proc.stderr
    assert text in proc.stdout + proc.stderr
    if code == 0:
        assert (copy / "canvas.csv").read_text().splitlines()[0].endswith(",Softmax (777)")
