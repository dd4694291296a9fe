"""HTML pages that read well offline: maths as MathML, an alt text on every image.

Every HTML page the project writes (the executed notebook of `make run`, the
feedback pages, the class report) shows the notebook's formulas. Instead of
loading MathJax from a CDN when the page opens (raw LaTeX offline, and no
script may run in a feedback page at all), the LaTeX is turned into MathML when
the page is built, by latex2mathml. Browsers draw MathML themselves (MathML
Core: Chromium and Edge 109+, Firefox, Safari), with no script and no network.

For a page that renders markdown:

    from instructor.feedback.offline import MATH_CSS, markdown_with_math
    body = markdown_with_math(source, my_markdown_to_html)   # put MATH_CSS in the <style>

markdown_with_math() takes the maths ($...$, $$...$$, \\(...\\), \\[...\\]) out of the
markdown (leaving code spans and fenced code alone), lets the page's own
renderer make the HTML, and puts MathML in its place. The MathML is rebuilt from
an allow-list of MathML elements and attributes with every text escaped, so
LaTeX written by a student cannot bring markup, links or styles into a page.
notebook_html() is nbconvert's HTML export of a notebook made the same way, with
no script or stylesheet from the network. with_alt_text() gives every <img>
without an alt text one.
"""
import html
import re
import secrets
import warnings

# MathML Core's elements and the few others latex2mathml writes (menclose for
# \boxed, mstyle for colours and sizes), which browsers treat as mrow.
MATHML_ELEMENTS = frozenset("""
    math mrow mi mn mo ms mtext mspace mfrac msqrt mroot msub msup msubsup munder mover
    munderover mmultiscripts mprescripts none mtable mtr mtd mpadded mphantom merror
    semantics annotation menclose mstyle mfenced
""".split())
MATHML_ATTRIBUTES = frozenset("""
    display mathvariant stretchy fence form separator lspace rspace width height depth
    largeop movablelimits accent accentunder symmetric minsize maxsize linethickness
    scriptlevel displaystyle columnalign rowalign columnspacing rowspacing columnlines
    rowlines frame notation open close separators mathsize mathcolor mathbackground
    rowspan columnspan voffset linebreak
""".split())
# Attribute values: words, numbers and units, colours by name or #hex; nothing else.
_SAFE_VALUE = re.compile(r"[A-Za-z0-9 .,#%+-]{0,64}\Z")

MATH_CSS = """
math { font-size: 1.1em; }
math[display="block"] { margin: 0.6em 0; }
menclose[notation~="box"] { border: 1px solid currentColor; padding: 0.15em 0.3em; }
code.tex { color: #a00; }
"""

# Maths in markdown: $$...$$, \[...\], \(...\) and $...$ (an opening $ not followed by a
# space, a closing $ not preceded by a space nor followed by a digit, as Pandoc reads it;
# inline maths does not cross a blank line).
_MATH = re.compile(
    r"(?<!\\)\$\$(?P<d1>.+?)(?<!\\)\$\$"
    r"|\\\[(?P<d2>.+?)\\\]"
    r"|\\\((?P<i2>.+?)\\\)"
    r"|(?<![\\$])\$(?P<i1>[^\s$](?:\\\$|[^$\n]|\n(?![ \t]*\n))*?(?<![\s\\]))\$(?!\d)",
    re.S)
# What markdown shows as code: fenced blocks and inline code spans.
_CODE = re.compile(r"(?m)^( {0,3})(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\2[`~]*[ \t]*$|\Z)"
                   r"|(`+)(?!`).+?(?<!`)\3(?!`)", re.S)


def tex_to_mathml(tex, display=False):
    """MathML (HTML text) for one formula; LaTeX that cannot be read is shown as code."""
    delim = "$$" if display else "$"
    as_code = f'<code class="tex">{html.escape(delim + tex + delim)}</code>'
    try:
        from latex2mathml.converter import convert_to_element
    except ImportError:
        # A page is still worth writing (a grading run must not stop for it): the
        # formulas show as LaTeX, and the warning says what to install.
        warnings.warn("latex2mathml is not installed (pip install -r requirements-dev.txt): "
                      "formulas are shown as LaTeX", RuntimeWarning, stacklevel=2)
        return as_code
    try:
        root = convert_to_element(tex, display="block" if display else "inline")
    except Exception:   # latex2mathml raises many kinds of error on malformed input
        return as_code
    return _serialize(root)


def _serialize(element):
    tag = str(element.tag).rsplit("}", 1)[-1]
    inner = _text(element.text) + "".join(_serialize(child) + _text(child.tail)
                                          for child in element)
    if tag not in MATHML_ELEMENTS:
        tag = "mrow"   # unknown elements (and their attributes) become plain groups
        attrs = {}
    else:
        attrs = {k: v for k, v in element.attrib.items()
                 if k in MATHML_ATTRIBUTES and _SAFE_VALUE.match(str(v))}
    if tag == "math":
        attrs = {"xmlns": "http://www.w3.org/1998/Math/MathML",
                 "display": "block" if element.get("display") == "block" else "inline"}
    attr_text = "".join(f' {k}="{html.escape(str(v))}"' for k, v in attrs.items())
    return f"<{tag}{attr_text}>{inner}</{tag}>"


def _text(value):
    # latex2mathml leaves some characters as numeric references (&#x02207;) and
    # others raw (<, &): read both, then escape everything.
    return html.escape(html.unescape(value)) if value else ""


def split_math(text):
    """(markdown with every formula replaced by a token, {token: (tex, display)}).

    The tokens are letters and digits only, so markdown renderers leave them as
    they are. Maths inside code spans and fenced code blocks is not maths."""
    key = secrets.token_hex(4)
    found = {}

    def replace(m):
        tex = next(g for g in m.groups() if g is not None)
        token = f"MATH{key}N{len(found)}X"
        found[token] = (tex.strip(), m.group("d1") is not None or m.group("d2") is not None)
        return token

    pieces, last = [], 0
    for code in _CODE.finditer(text):
        pieces.append(_MATH.sub(replace, text[last:code.start()]))
        pieces.append(code.group(0))
        last = code.end()
    pieces.append(_MATH.sub(replace, text[last:]))
    return "".join(pieces), found


def put_math(html_text, found, unescape=False):
    """Replace the tokens of split_math() in rendered HTML by MathML.

    unescape: the LaTeX was HTML-escaped before it was split (a notebook made
    inert for a page has `&lt;` where the student wrote `<`)."""
    for token, (tex, display) in found.items():
        if unescape:
            tex = html.unescape(tex)
        html_text = html_text.replace(token, tex_to_mathml(tex, display))
    return html_text


def markdown_with_math(text, to_html, unescape=False):
    """HTML of markdown text with its formulas as MathML.

    to_html renders markdown (text with maths replaced by tokens) as HTML; the
    tokens it leaves are replaced by the formulas' MathML."""
    stripped, found = split_math(text)
    return put_math(to_html(stripped), found, unescape=unescape)


_IMG = re.compile(r"<img\b(?P<attrs>[^>]*)>", re.I)
_ALT = re.compile(r"""\balt\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s>]+))""", re.I)


def with_alt_text(html_text, describe=lambda n: f"Figure {n}"):
    """Every <img> of html_text that has no (or an empty) alt text gets describe(n),
    n counting the images of the page from 1."""
    count = 0

    def fix(m):
        nonlocal count
        count += 1
        attrs = m.group("attrs")
        alt = _ALT.search(attrs)
        if alt and (alt.group("dq") or alt.group("sq") or alt.group("bare") or "").strip():
            return m.group(0)
        if alt:
            attrs = attrs[:alt.start()] + attrs[alt.end():]
        return f'<img alt="{html.escape(describe(count))}"{attrs}>'

    return _IMG.sub(fix, html_text)


# nbconvert's "lab" page without what it loads from the network: require.js,
# MathJax and mermaid.js (the maths is MathML by then), and images with alt text.
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block data_png scoped -%}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img alt="{{ output.metadata.get('image/png', {}).get('alt', '') | escape_html }}" \
src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}">
</div>
{%- endblock data_png -%}
"""


def _section_titles(nb):
    """For each cell, the title of the markdown heading above it."""
    title, titles = "the notebook's start", []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            title = cell.source.lstrip().lstrip("#").strip().splitlines()[0]
        titles.append(title)
    return titles


def _drawn_by(source):
    """' (what drew it)' for an alt text: the title the cell gives its plot, else the
    cell's last line of code before plt.show() (or its last line); '' if too long."""
    title = re.search(r"""\b(?:plt\.title|set_title|suptitle)\(\s*(["'])(.{1,80}?)\1""", source)
    if title:
        return f" (titled \u201c{title.group(2)}\u201d)"
    lines = [line.strip() for line in source.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    shows = [i for i, line in enumerate(lines)
             if re.fullmatch(r"(plt|pyplot|matplotlib\.pyplot)\.show\(\)", line)]
    if shows:
        lines = lines[:shows[0]]
    if not lines or len(lines[-1]) > 80:
        return ""
    return f" ({lines[-1]})"


def notebook_html(nb):
    """A notebook (nbformat node) as one HTML page that needs no network: nbconvert's
    lab page with MathML maths, no script from a CDN, and alt text on its figures.
    nb is not changed."""
    import copy

    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    found = {}
    titles = _section_titles(nb)
    figure = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source, more = split_math(cell.source)
            found.update(more)
        elif cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if "image/png" in out.get("data", {}):
                    figure += 1
                    meta = out.setdefault("metadata", {}).setdefault("image/png", {})
                    if not str(meta.get("alt", "")).strip():
                        meta["alt"] = (f"Figure {figure}: the plot drawn by cell {index + 1}"
                                       f"{_drawn_by(cell.source)}, in the section "
                                       f"\u201c{titles[index]}\u201d")
    exporter = HTMLExporter(template_name="lab", template_file="offline.html.j2",
                            extra_loaders=[DictLoader({"offline.html.j2": _OFFLINE_TEMPLATE})])
    page, _ = exporter.from_notebook_node(nb)
    page = put_math(page, found)
    page = page.replace("</head>", f"<style>{MATH_CSS}</style>\n</head>", 1)
    return with_alt_text(page, lambda n: f"Image {n} of the notebook")
