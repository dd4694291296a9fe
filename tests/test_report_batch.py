"""`make autograde` leaves the class report: one real, small graded batch.

    sol   the solution                                              17 points
    bug   the solution with the vectorized regularization gradient  the named mistake
          doubled (a copy of sol but for one character)             reg_grad_double; similar to sol
    rel   the untouched release                                     0; knock-on failures; no code
"""
import csv
import html
import json

import pytest

from helpers import REPO, read_grades

pytestmark = pytest.mark.slow   # grades a batch (in the jail where one can run)


@pytest.fixture(scope="module")
def graded(small_class):
    """The small class of tests/conftest.py (sol, bug, rel and a roster naming them),
    graded once per session: test_dask.py compares a cluster's grades with it."""
    _, out, proc = small_class
    return out, proc


def test_autograde_writes_the_report_files(graded):
    out, proc = graded
    for name in ("report.html", "class.json", "canvas.csv"):
        assert (out / name).is_file(), name
    assert "report.html" in proc.stdout
    page = (out / "report.html").read_text()
    assert "<script" not in page.lower() and "default-src 'none'" in page


def test_named_mistake_counts_match_the_feedback_pages(graded):
    out, _ = graded
    facts = json.loads((out / "class.json").read_text())
    assert [(m["id"], m["students"]) for m in facts["mistakes"]] == [("reg_grad_double", ["bug"])]
    for m in facts["mistakes"]:
        shown = sorted(sid for sid in facts["students"]
                       if html.escape(m["explanation"]) in (out / m_page(sid)).read_text())
        assert shown == m["students"]


def m_page(sid):
    return f"feedback/{sid}/softmax.html"


def test_similar_pair_and_untouched_starter(graded):
    out, _ = graded
    sim = json.loads((out / "class.json").read_text())["similarity"]
    assert [(p["a"], p["b"]) for p in sim["pairs"]] == [("bug", "sol")]
    assert sim["fingerprints"]["rel"] == 0


def test_knock_on_on_the_starters_feedback_page(graded):
    out, _ = graded
    facts = json.loads((out / "class.json").read_text())
    assert facts["students"]["rel"]["knock_on"]["test_sweep"] == ["test_vectorized", "test_sgd"]
    assert "knock-on failure" in (out / m_page("rel")).read_text()
    assert "knock-on failure" not in (out / m_page("sol")).read_text()


def test_canvas_rows_are_the_graded_totals(graded):
    out, _ = graded
    grades = read_grades(out)
    rows = list(csv.reader((out / "canvas.csv").read_text().splitlines()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "softmax"]
    got = {r[3]: (r[0], float(r[5])) for r in rows[1:]}
    assert got == {"bug": ("Babbage, Ben", float(grades["bug"]["total"])),
                   "rel": ("rel", 0.0),
                   "sol": ("Lovelace, Ada", float(grades["sol"]["total"]))}


@pytest.mark.browser
def test_the_graded_batchs_report_in_the_browser(graded):
    import browser
    from report_fixture import open_in_chromium
    if browser.missing_browser():
        pytest.skip(f"browser test skipped: {browser.missing_browser()}")
    out, _ = graded
    seen = open_in_chromium(out / "report.html", f"{REPO}/build/browser/report-graded.png")
    assert seen["title"] == "softmax: class report"
    assert "Named mistakes" in seen["headings"] and "Similar hand-ins" in seen["headings"]
    assert seen["images"] == [640]
    assert seen["scripts"] == 0 and seen["dialogs"] == [] and seen["refused"] == []
