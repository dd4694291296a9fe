"""HTML pages that need no network: maths as MathML made at build time, alt text on every
image, nothing loaded from a CDN (instructor/feedback/offline.py and its users)."""
import base64
import html.parser
import importlib.util
import io
import re
import xml.etree.ElementTree as ET

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers import REPO
from instructor.feedback import offline
from instructor.feedback.page import render_feedback
from instructor.grade.job import ManualAnswer, TestScore as Score

needs_latex2mathml = pytest.mark.skipif(
    importlib.util.find_spec("latex2mathml") is None, reason="latex2mathml is not installed (pip install -r requirements-dev.txt)")

MATHML = "http://www.w3.org/1998/Math/MathML"


# ---- what a page must not load, and its images ------------------------------------------
class Page(html.parser.HTMLParser):
    """The remote resources a page would load, and the alt text of each image."""

    def __init__(self):
        super().__init__()
        self.remote, self.alts, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.alts.append(attrs.get("alt"))
        for name in ("src", "href", "data", "poster"):
            value = (attrs.get(name) or "").strip().lower()
            loads = tag in ("script", "img", "iframe", "embed", "object", "audio", "video",
                            "source") or (tag == "link" and name == "href")
            if loads and re.match(r"(https?:)?//", value):
                self.remote.append(f"<{tag} {name}={value}>")


def page_facts(text):
    p = Page()
    p.feed(text)
    # Stylesheets can load too: @import and url() of a remote address.
    p.remote += re.findall(r"@import\s+(?:url\()?\s*['\"]?(?:https?:)?//[^\s'\")]+", text)
    p.remote += re.findall(r"url\(\s*['\"]?(?:https?:)?//[^\s'\")]+", text)
    return p


def png_bytes(seed):
    """A small real PNG (a seeded random picture drawn by matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow(np.random.default_rng(seed).random((4, 4)))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def notebook_with(markdown, figures=2):
    cells = [new_markdown_cell("# A section\n\n" + markdown)]
    for seed in range(figures):
        code = new_code_cell(f"# figure {seed}\nplot({seed})\nplt.show()\n")
        code.outputs = [new_output("display_data", {"image/png": png_bytes(seed),
                                                    "text/plain": "<Figure>"})]
        cells.append(code)
    cells.append(new_markdown_cell("![](picture.png) and ![ ](other.png)"))
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3",
                                                              "display_name": "Python 3",
                                                              "language": "python"}})


# ---- finding the maths in markdown -------------------------------------------------------
@pytest.mark.parametrize("text, formulas", [
    ("the loss $L_i = -\\log p$ of one", [("L_i = -\\log p", False)]),
    ("display\n\n$$p_j = \\frac{e^{s_j}}{\\sum_k e^{s_k}}.$$\n\nafter",
     [("p_j = \\frac{e^{s_j}}{\\sum_k e^{s_k}}.", True)]),
    ("both \\(a+b\\) and \\[c\\]", [("a+b", False), ("c", True)]),
    ("two $a$ and $b$", [("a", False), ("b", False)]),
    ("prices $5 and $6, not maths", []),
    ("an escaped \\$ dollar and $x$", [("x", False)]),
    ("in code `$x$` and $y$", [("y", False)]),
    ("```python\ncost = '$a$'\n```\nthen $z$", [("z", False)]),
    ("a $ spaced$ one", []),
    ("I paid $5.\n\nThen $x$ and\n$y\nz$", [("x", False), ("y\nz", False)]),
    ("$$a$$ then \\$ and $b\\$c$", [("a", True), ("b\\$c", False)]),
])
def test_split_math_finds_formulas_but_not_code_or_prices(text, formulas):
    stripped, found = offline.split_math(text)
    assert list(found.values()) == formulas
    for token in found:
        assert token in stripped and re.fullmatch(r"[A-Za-z0-9]+", token)
    if not formulas:
        assert stripped == text


def test_split_math_tokens_differ_between_calls():
    a, _ = offline.split_math("$x$")
    b, _ = offline.split_math("$x$")
    assert a != b    # a page's own text cannot guess a token


# ---- MathML that carries nothing but maths ---------------------------------------------
@needs_latex2mathml
@pytest.mark.parametrize("tex, display", [
    ("\\nabla_W L = \\frac{1}{N} X^\\top (P - Y) + 2\\lambda W", True),
    ("\\boxed{a} \\mathbb{1}[j = y_i] \\text{one-hot} \\left(p\\right) \\Longrightarrow", False),
    ("a < b \\le c", False),
    ("\\text{<script>alert(1)</script>}", False),
    ("\\href{javascript:alert(1)}{x}", False),
    ("\\style{background:url(http://x)}{y} \\color{red}{z}", False),
])
def test_tex_to_mathml_is_well_formed_and_allow_listed(tex, display):
    out = offline.tex_to_mathml(tex, display)
    root = ET.fromstring(out)               # well-formed XML: every text is escaped
    assert root.tag == f"{{{MATHML}}}math"
    assert root.get("display") == ("block" if display else "inline")
    for el in root.iter():
        assert el.tag.startswith(f"{{{MATHML}}}")
        assert el.tag.split("}")[1] in offline.MATHML_ELEMENTS
        for name, value in el.attrib.items():
            assert name in offline.MATHML_ATTRIBUTES | {"display"}, name
            assert ":" not in value and "(" not in value
    assert "<script" not in out and "href" not in out and "style=" not in out


@needs_latex2mathml
def test_tex_to_mathml_keeps_the_symbols():
    out = offline.tex_to_mathml("\\nabla_W L \\le 2\\lambda")
    text = "".join(ET.fromstring(out).itertext())
    assert "\u2207" in text and "\u2264" in text and "\u03bb" in text


@needs_latex2mathml
def test_unreadable_tex_is_shown_as_code():
    out = offline.tex_to_mathml("\\frac{1}{", display=False)
    assert out.startswith("<math") or out == '<code class="tex">$\\frac{1}{$</code>'


# ---- alt text ----------------------------------------------------------------------------
@pytest.mark.parametrize("tag, kept", [
    ('<img src="a.png">', False), ('<img alt="" src="a.png">', False),
    ("<img alt='  ' src=a.png>", False), ('<IMG SRC="a.png" ALT="a cat">', True),
    ('<img src="a.png" alt=cat>', True),
])
def test_with_alt_text(tag, kept):
    out = offline.with_alt_text(f"<p>x</p>{tag}{tag}", lambda n: f"picture {n}")
    alts = page_facts(out).alts
    assert len(alts) == 2 and all(a and a.strip() for a in alts)
    if not kept:
        assert alts == ["picture 1", "picture 2"]
    else:
        assert out == f"<p>x</p>{tag}{tag}"


# ---- the pages ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def committed_notebook_page():
    nb = nbformat.read(REPO / "softmax.ipynb", as_version=4)
    return nb, offline.notebook_html(nb)


def notebook_formulas(nb):
    return [f for c in nb.cells if c.cell_type == "markdown"
            for f in offline.split_math(c.source)[1].values()]


@needs_latex2mathml
def test_notebook_page_has_every_formula_as_mathml_and_no_cdn(committed_notebook_page):
    nb, page = committed_notebook_page
    facts = page_facts(page)
    assert facts.remote == []
    assert "mathjax" not in page.lower() and "require.min.js" not in page
    formulas = notebook_formulas(nb)
    assert len(formulas) > 20
    assert page.count("<math ") == len(formulas)
    assert 'class="tex"' not in page     # every formula could be read
    assert not re.search(r"MATH[0-9a-f]{8}N\d+X", page)
    # The answered gradient derivation, as maths.
    assert "<mo>\u2207</mo>" in page or "\u2207" in page
    assert "$$" not in re.sub(r"<pre.*?</pre>|<code.*?</code>", "", page, flags=re.S)


@needs_latex2mathml
def test_notebook_page_gives_every_image_an_alt_text():
    nb = notebook_with("$a^2$", figures=3)
    page = offline.notebook_html(nb)
    facts = page_facts(page)
    assert len(facts.alts) == 5 and all(a and a.strip() for a in facts.alts)
    assert [a for a in facts.alts if a.startswith("Figure")] == [
        f"Figure {i + 1}: the plot drawn by cell {i + 2} (plot({i})), in the section "
        "\u201cA section\u201d"
        for i in range(3)]
    assert facts.remote == [] and page.count("<math ") == 1
    assert "image/png" in nb.cells[1].outputs[0].data    # the notebook itself is unchanged
    assert "alt" not in nb.cells[1].outputs[0].get("metadata", {}).get("image/png", {})


@needs_latex2mathml
def test_feedback_page_shows_maths_and_described_figures():
    nb = notebook_with("**Your answer:** $\\nabla_W L = X^\\top (P - Y)$ and $a < b$", figures=2)
    page = render_feedback(nb, "s1", [Score("test_naive_loss", 1.0, 1.0, "passed", "")],
                           [ManualAnswer("q1_answer", 1.0, True)], [], 1, 1)
    facts = page_facts(page)
    assert facts.scripts == 0 and facts.remote == []
    assert "default-src 'none'" in page
    assert page.count("<math ") == 2 and "<mo>&lt;</mo>" in page
    assert [a for a in facts.alts if a.startswith("Figure")] == [
        "Figure 1: a plot drawn by cell 2 of the notebook",
        "Figure 2: a plot drawn by cell 3 of the notebook"]


@needs_latex2mathml
def test_feedback_page_maths_of_an_inert_notebook_reads_the_escaped_text():
    from instructor.feedback.inert import make_inert
    nb = make_inert(notebook_with("$a < b$ <script>x</script>", figures=0))
    page = render_feedback(nb, "s1", [], [], [], 0, 0)
    assert "<mo>&lt;</mo>" in page and "<script>x" not in page


# ---- in a browser: the formula is laid out as maths -----------------------------------
@pytest.mark.slow
@pytest.mark.browser
@needs_latex2mathml
def test_a_formula_renders_as_maths_in_chromium(tmp_path):
    """Chromium, offline, with scripts off: the fraction of the gradient formula has its
    numerator above its denominator, and a superscript sits above the baseline."""
    import browser
    reason = browser.missing_browser()
    if reason:
        pytest.skip(f"browser test skipped: {reason}")
    from playwright.sync_api import sync_playwright
    nb = notebook_with("$$\\nabla_W L = \\frac{1}{N} X^\\top (P - Y) + 2\\lambda W$$", figures=0)
    page_path = tmp_path / "page.html"
    page_path.write_text(offline.notebook_html(nb), encoding="utf-8")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser.chromium_path(), headless=True,
                                     args=browser.CHROMIUM_FLAGS)
        try:
            context = chromium.new_context(java_script_enabled=False, offline=True)
            page = context.new_page()
            page.goto(page_path.as_uri())
            box = lambda sel: page.locator(sel).first.bounding_box()
            numerator, denominator = box("mfrac > :first-child"), box("mfrac > :last-child")
            base, sup = box("msup > :first-child"), box("msup > :last-child")
            page.screenshot(path=str(tmp_path / "formula.png"))
        finally:
            chromium.close()
    assert numerator["y"] + numerator["height"] <= denominator["y"] + 1
    assert abs((numerator["x"] + numerator["width"] / 2)
               - (denominator["x"] + denominator["width"] / 2)) < 3   # centred, one above the other
    assert sup["y"] < base["y"] and sup["x"] >= base["x"] + base["width"] - 1


@pytest.mark.parametrize("source, said", [
    ("x = 1\nplt.imshow(m)\nplt.title('mean image')\nplt.show()", " (titled \u201cmean image\u201d)"),
    ("ax.set_title(\"Loss\")\nplt.show()", " (titled \u201cLoss\u201d)"),
    ("# plot it\nvis_utils.plot_loss(h)\nplt.show()\ndel h", " (vis_utils.plot_loss(h))"),
    ("vis_utils.plot_sweep(results)", " (vis_utils.plot_sweep(results))"),
    ("f(" + "x" * 100 + ")\nplt.show()", ""),
    ("plt.show()", ""),
])
def test_figure_alt_text_says_what_drew_it(source, said):
    assert offline._drawn_by(source) == said
