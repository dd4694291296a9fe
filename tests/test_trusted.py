"""The trusted grade: points come only from checks run outside the student's process.

One batch, graded once per session with real nbgrader on the synthetic data set,
two hand-ins at a time, while a busy loop occupies every core of the machine:

    sol       the solution                                     -> full marks (also under load)
    rel       the untouched starter                            -> the baseline
    bug       the solution with the regularization gradient of softmax_loss_vectorized
              doubled                                          -> loses exactly test_vectorized
    emit      starter whose module emits an execute_result (a number, a string) in every cell
    empty     starter that installs an AST transformer and an input transformer that empty
              every test cell
    patch     starter that patches numpy, builtins and cs231n.checks in the kernel
    steal     starter that walks the file system for the instructor's solved files and
              hidden checks, and reads the test cells' source from the interpreter
    xss       the solution with <script>/<img onerror> in its answers and HTML, JavaScript
              and SVG outputs in every cell                    -> full marks, nothing live

Every hostile hand-in scores no more than the untouched starter.
"""
import base64
import html.parser
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import (AUTO_MAX, TESTS, cell, gradebook_grades, handin, package, read_grades,
                     replace_once, run_autograde, scores, student_notebook)
from instructor.boundary.jail import bwrap_available

SANDBOX = "bwrap" if bwrap_available() else "none"
HOSTILE = ["emit", "empty", "patch", "steal"]
MARK = "pwned-by-a-handin"

PRELUDE = '''

# ---- appended by a hostile hand-in ----
try:
    from IPython import get_ipython as _get_ipython
    _ip = _get_ipython()
except Exception:
    _ip = None
'''

EMIT = PRELUDE + '''
if _ip is not None:
    _count = [0]
    def _emit(info=None):
        _count[0] += 1
        _ip.displayhook(1000 if _count[0] % 2 else "full marks")
    _ip.events.register("pre_run_cell", _emit)
'''

EMPTY = PRELUDE + '''
import ast as _ast
if _ip is not None:
    class _Empty(_ast.NodeTransformer):
        def visit_Module(self, node):
            text = _ast.dump(node)
            if "check" in text or "Assert" in text:
                node.body = [_ast.Expr(_ast.Constant(3))]
            return node
    _ip.ast_transformers.append(_Empty())
    _ip.input_transformers_post.append(
        lambda lines: ["3\\n"] if any("assert" in l or "check" in l for l in lines) else lines)
'''

PATCH = PRELUDE + '''
import builtins as _b, numpy as _np
import cs231n.checks as _checks
for _name in dir(_checks):
    if _name.startswith("check_") or _name.startswith("diagnose"):
        setattr(_checks, _name, lambda *a, **k: None)
_np.allclose = lambda *a, **k: True
_np.isclose = lambda *a, **k: True
_np.testing.assert_allclose = lambda *a, **k: None
_real_abs = _b.abs
_b.abs = lambda x: 0.0
def softmax_loss_naive(W, X, y, reg):
    import numpy
    return 2.302585, numpy.zeros_like(W)
softmax_loss_vectorized = softmax_loss_naive
'''

STEAL = PRELUDE + '''
import base64 as _b64, os as _os, sys as _sys
_found = []
_seen = 0
for _root, _dirs, _files in _os.walk("/"):
    # what a thief looks through: everything but the system's own folders (bounded, for time)
    _seen += 1
    _dirs[:] = [d for d in _dirs if d not in (".git", ".venv", "site-packages", "node_modules",
                                               "__pycache__", "proc", "sys", "dev", "usr",
                                               "lib", "lib64", "bin", "sbin", "etc", "var")]
    if _seen > 20000:
        break
    for _f in _files:
        if _f == "hidden.py" or _f == "softmax.py":
            _p = _os.path.join(_root, _f)
            try:
                _text = open(_p).read()
            except Exception:
                continue
            if "BEGIN SOLUTION" in _text or "HIDDEN" in _text or _f == "hidden.py":
                _found.append((_p, _text))
    if len(_found) > 20:
        break
for _p, _text in _found:
    if _p.endswith("softmax.py") and "BEGIN SOLUTION" in _text:
        try:
            exec(compile(_text, _p, "exec"), globals())     # the instructor's solution
            break
        except Exception:
            pass
print("STOLEN", _b64.b64encode(repr([p for p, _ in _found]).encode()).decode())

def _spy():
    # the source of the cell that called us, from the interpreter
    f = _sys._getframe(1)
    while f is not None:
        print("SOURCE", _b64.b64encode(repr(f.f_code.co_filename).encode()).decode())
        f = f.f_back
    if _ip is not None:
        print("HISTORY", _b64.b64encode("\\n".join(_ip.user_ns.get("In", [])).encode()).decode())
if _ip is not None:
    _ip.events.register("pre_run_cell", lambda info: print(
        "CELL", _b64.b64encode(str(getattr(info, "raw_cell", "")).encode()).decode()))
'''

XSS_MODULE = PRELUDE + f'''
if _ip is not None:
    def _show(result=None):
        from IPython.display import HTML, Javascript, SVG, display
        display(HTML('<script>alert("{MARK}")</script><img src=x onerror=alert("{MARK}")>'))
        display(Javascript('alert("{MARK}")'))
        display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>alert("{MARK}")</script></svg>'))
        display({{"text/html": '<iframe src="javascript:alert(1)">{MARK}</iframe>',
                  "application/vnd.jupyter.widget-view+json": {{"model_id": "x"}}}}, raw=True)
    _ip.events.register("post_run_cell", _show)
'''
XSS_ANSWER = (f'**Answer** <script>alert("{MARK}")</script> <img src=x onerror="alert(\'{MARK}\')"> '
              f'[click](javascript:alert("{MARK}")) <svg onload=alert("{MARK}")></svg>')


def _hostile_package(dist, code):
    py = package(dist, solved=False)
    py["cs231n/classifiers/softmax.py"] += code
    return py


@pytest.fixture(scope="session")
def trusted_batch(tmp_path_factory, synthetic_cifar, dist):
    subs = tmp_path_factory.mktemp("trusted-handins")
    handin(subs / "sol.zip", dist, notebook=student_notebook(dist))
    handin(subs / "rel.zip", dist, solved=False)
    py = package(dist)
    py["cs231n/classifiers/softmax.py"] = replace_once(
        py["cs231n/classifiers/softmax.py"], "dW += 2 * reg * W", "dW += 4 * reg * W")
    handin(subs / "bug.zip", dist, notebook=student_notebook(dist), py=py)
    starter_nb = student_notebook(dist, solved=False)
    for name, code in [("emit", EMIT), ("empty", EMPTY), ("patch", PATCH), ("steal", STEAL)]:
        handin(subs / f"{name}.zip", dist, notebook=starter_nb, py=_hostile_package(dist, code))
    nb = student_notebook(dist)
    for q in ("q1_answer", "q3_answer"):
        cell(nb, q)["source"] = XSS_ANSWER
    py = package(dist)
    py["cs231n/classifiers/softmax.py"] += XSS_MODULE
    handin(subs / "xss.zip", dist, notebook=nb, py=py)

    # A busy loop on every core for the whole batch: verdicts must not depend on load.
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 2)]
    try:
        out = tmp_path_factory.mktemp("trusted-grading") / "out"
        proc = run_autograde(subs, out, "--jobs", "2", "--sandbox", SANDBOX,
                             synthetic=synthetic_cifar)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc


def _result(out, sid):
    return json.loads((out / "results" / f"{sid}.json").read_text())


@pytest.mark.slow
def test_solution_gets_full_marks_while_every_core_is_busy(trusted_batch):
    out, _ = trusted_batch
    row = read_grades(out)["sol"]
    assert scores(row) == {t: float(p) for t, p in TESTS.items()}, row["notes"]
    assert float(row["total"]) == AUTO_MAX


@pytest.mark.slow
@pytest.mark.parametrize("sid", HOSTILE)
def test_hostile_handin_scores_no_more_than_the_starter(trusted_batch, sid):
    out, _ = trusted_batch
    if sid == "steal" and SANDBOX != "bwrap":
        pytest.skip("without bwrap the worker can read the instructor's files")
    grades = read_grades(out)
    starter, row = scores(grades["rel"]), scores(grades[sid])
    assert row["test_naive_loss"] <= starter["test_naive_loss"]
    for t in TESTS:
        assert row[t] <= starter[t], (t, grades[sid]["notes"])
    assert float(grades[sid]["total"]) <= float(grades["rel"]["total"])


@pytest.mark.slow
def test_batch_stays_intact_next_to_hostile_handins(trusted_batch):
    out, proc = trusted_batch
    grades = read_grades(out)
    for sid in ["sol", "rel", "bug", "xss", *HOSTILE]:
        assert grades[sid]["status"] in ("graded", "graded-with-problems"), (sid, grades[sid])
    assert float(grades["xss"]["total"]) == AUTO_MAX, grades["xss"]["notes"]


@pytest.mark.slow
def test_bug_loses_exactly_its_cell_with_the_diagnosis(trusted_batch):
    out, _ = trusted_batch
    row = read_grades(out)["bug"]
    expected = {t: float(p) for t, p in TESTS.items()}
    expected["test_vectorized"] = 0.0
    assert scores(row) == expected
    result = _result(out, "bug")
    message = next(t["message"] for t in result["tests"] if t["name"] == "test_vectorized")
    assert "reg" in message.lower() or "regulari" in message.lower(), message
    assert message.splitlines()[0][:60] in row["notes"]
    page = (out / "feedback" / "bug" / "softmax.html").read_text()
    import html as html_mod
    assert html_mod.escape(message.splitlines()[0][:60]) in page


@pytest.mark.slow
@pytest.mark.parametrize("sid", ["sol", "rel", "bug", "emit", "empty"])
def test_csv_gradebook_and_feedback_agree(trusted_batch, sid):
    out, _ = trusted_batch
    row = scores(read_grades(out)[sid])
    book = gradebook_grades(out, sid)
    result = _result(out, sid)
    page = (out / "feedback" / sid / "softmax.html").read_text()
    for t in result["tests"]:
        assert row[t["name"]] == t["points"] == book[t["name"]][0]
        assert book[t["name"]][1] is False
        assert f"{t['name']}: {t['points']:g} / {t['max']:g}" in page


class _Live(html.parser.HTMLParser):
    """Collects what could run: script bodies, on* attributes, script URLs, embeds."""

    def __init__(self):
        super().__init__()
        self.live, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "svg"):
            self.live.append(f"<{tag}>")
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or "javascript:" in (value or "").replace(" ", "").lower():
                self.live.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag):
        self._in_script = False


def _live_parts(text):
    p = _Live()
    p.feed(text)
    return p.live


@pytest.mark.slow
def test_feedback_page_of_a_hostile_handin_runs_nothing(trusted_batch):
    out, _ = trusted_batch
    for sid in ["xss", "emit", "steal"]:
        page = (out / "feedback" / sid / "softmax.html").read_text()
        assert _live_parts(page) == [], sid
        assert "Content-Security-Policy" in page and "default-src 'none'" in page
    page = (out / "feedback" / "xss" / "softmax.html").read_text()
    assert MARK in page          # shown, as text
    assert "&lt;script&gt;" in page


@pytest.mark.slow
def test_stored_notebook_is_inert_where_formgrader_renders_it(trusted_batch):
    from nbconvert import HTMLExporter
    import nbformat
    out, _ = trusted_batch
    path = out / "autograded" / "xss" / "softmax" / "softmax.ipynb"
    nb = json.loads(path.read_text())
    mimes = {m for c in nb["cells"] for o in c.get("outputs", []) for m in o.get("data", {})}
    assert mimes <= {"text/plain", "image/png"}
    assert "image/png" in mimes       # the plots survive
    for c in nb["cells"]:
        if c["cell_type"] == "markdown":
            assert "<" not in "".join(c["source"])
    body, _ = HTMLExporter().from_notebook_node(nbformat.reads(path.read_text(), as_version=4))
    # nbconvert's own page scripts are fine; nothing of the hand-in may be live.
    live = [p for p in _live_parts(body) if MARK in p or "javascript:" in p]
    scripts = body.split("<script")
    assert not any(MARK in s.split("</script>")[0] for s in scripts[1:])
    assert live == []


@pytest.mark.slow
def test_no_hidden_or_stolen_text_in_feedback(trusted_batch):
    out, _ = trusted_batch
    from instructor.grade.trusted import hidden_check_lines
    secrets = hidden_check_lines()
    for sid in ["steal", "rel", "bug"]:
        page = (out / "feedback" / sid / "softmax.html").read_text()
        # what the thief printed base64-encoded, decoded again
        decoded = []
        for token in re.findall(r"[A-Za-z0-9+/=]{24,}", page):
            try:
                decoded.append(base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace"))
            except ValueError:
                pass
        for s in secrets:
            assert s not in page and not any(s in d for d in decoded)
        assert "BEGIN HIDDEN TESTS" not in page


def test_no_check_compares_timings():
    """Verdicts never depend on time: no check module reads a clock."""
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1]
    files = [root / "cs231n" / "checks.py", *sorted((root / "instructor" / "checks").glob("*.py")),
             root / "instructor" / "grade" / "trusted.py"]
    for f in files:
        text = f.read_text()
        for clock in ("perf_counter", "time.time(", "process_time", "timeit", "monotonic"):
            if f.name == "trusted.py" and clock == "perf_counter":
                continue    # the phase's own duration for the log, never a verdict
            assert clock not in text, (f, clock)
