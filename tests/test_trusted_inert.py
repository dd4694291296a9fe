"""Student content is inert in the stored notebook and the feedback page (no grading run)."""
import base64
import html.parser

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from instructor.feedback.inert import inert_markdown, make_inert, valid_png
from instructor.feedback.page import feedback_leaks, render_feedback
from instructor.grade.job import ManualAnswer, TestScore as Score

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
PAYLOADS = [
    '<script>alert("x")</script>',
    '<img src=x onerror="alert(1)">',
    '<svg onload=alert(1)><script>alert(2)</script></svg>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '[click](javascript:alert(1))',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<div style="x" onmouseover="alert(1)">hover</div>',
    '[x](java&#115;cript:alert(1)) ![y](javascript\\:alert(2))',
    '[r]: javascript:alert(1)\n\nsee [r]',
]


class Live(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.live = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "svg"):
            self.live.append(tag)
        for name, value in attrs:
            if name.startswith("on") or "javascript:" in (value or "").lower().replace(" ", ""):
                self.live.append(f"{tag}.{name}")


def live(text):
    p = Live()
    p.feed(text)
    return p.live


def hostile_notebook(payload):
    test = new_code_cell("check()", metadata={"nbgrader": {
        "grade": True, "solution": False, "grade_id": "test_naive_loss", "points": 3}})
    test.outputs = [new_output("execute_result", {"text/plain": "3", "text/html": payload},
                               execution_count=1),
                    new_output("error", ename="AssertionError", evalue=payload,
                               traceback=["Cell In[3], line 2", payload])]
    code = new_code_cell("show()")
    code.outputs = [
        new_output("display_data", {"text/html": payload, "image/svg+xml": payload,
                                    "application/javascript": payload,
                                    "application/vnd.jupyter.widget-view+json": {"model_id": "m"}}),
        new_output("display_data", {"image/png": PNG, "text/plain": "<Figure>"}),
        new_output("display_data", {"image/png": base64.b64encode(payload.encode()).decode()}),
        new_output("stream", name="stdout", text=payload),
    ]
    md = new_markdown_cell(f"**Your answer:** {payload}", metadata={"nbgrader": {
        "grade": True, "solution": True, "grade_id": "q1_answer", "points": 1}})
    md.attachments = {"a.svg": {"image/svg+xml": payload}, "b.png": {"image/png": PNG}}
    raw = new_raw_cell(payload, metadata={"format": "text/html"})
    nb = new_notebook(cells=[md, code, test, raw])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


@pytest.mark.parametrize("payload", PAYLOADS)
def test_stored_notebook_keeps_only_text_and_png(payload):
    nb = make_inert(hostile_notebook(payload))
    md, code, test, raw = nb.cells
    assert "<" not in md.source and "<" not in raw.source
    assert "javascript:" not in md.source.lower()
    assert "format" not in raw.metadata
    assert md.attachments == {"b.png": {"image/png": PNG}}
    mimes = [sorted(o.get("data", {})) for o in code.outputs]
    assert mimes == [["text/plain"], ["image/png", "text/plain"], ["text/plain"], []]
    assert "removed by the grader" in code.outputs[0]["data"]["text/plain"]
    assert test.outputs[0]["data"] == {"text/plain": "3"}
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("payload", PAYLOADS)
def test_stored_markdown_renders_without_html_or_links_in_nbconvert(payload):
    """Formgrader shows the stored notebook through nbconvert's markdown renderer."""
    from nbconvert.filters.markdown import markdown2html_mistune
    nb = make_inert(hostile_notebook(payload))
    rendered = markdown2html_mistune(nb.cells[0].source)
    assert live(rendered) == [] and "<a " not in rendered and "<img" not in rendered


@pytest.mark.parametrize("payload", PAYLOADS)
def test_feedback_page_renders_payloads_as_text(payload):
    nb = hostile_notebook(payload)
    tests = [Score("test_naive_loss", 0.0, 3.0, "failed", payload)]
    page = render_feedback(nb, "s<script>1", tests, [ManualAnswer("q1_answer", 1.0, True)],
                           [payload], 3, 1)
    assert live(page) == []
    assert "default-src 'none'" in page
    assert 'src="data:image/png;base64,' + PNG in page
    assert "test_naive_loss: 0 / 3" in page


def test_hidden_lines_are_removed_from_outputs_and_caught_by_the_leak_check():
    secret = "assert _hidden_probe(W) < 1e-7, 'hidden'"
    nb = hostile_notebook("x")
    nb.cells[1].outputs.append(new_output("stream", name="stdout", text=f"a\n{secret}\nb\n"))
    page = render_feedback(nb, "s", [], [], [], 0, 0, [secret])
    assert secret not in page and "[line of a hidden test removed]" in page
    unredacted = render_feedback(nb, "s", [], [], [], 0, 0)
    assert feedback_leaks(unredacted, [secret]) == [secret]
    assert feedback_leaks(page, [secret]) == []


@pytest.mark.parametrize("text,ok", [(PNG, True), ("not base64!", False),
                                     (base64.b64encode(b"<svg/>").decode(), False), (3, False)])
def test_only_real_pngs_are_kept(text, ok):
    assert valid_png(text) is ok


def test_markdown_reads_the_same_without_html():
    assert inert_markdown("a < b and $x<y$") == "a &lt; b and $x&lt;y$"
