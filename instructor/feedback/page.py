"""The feedback page a student gets for a graded hand-in.

render_feedback() is the page of a graded hand-in: the grader's notes, a table
of the trusted verdicts (points and the diagnosis of each failed test), then the
notebook with every test cell's verdict above it. Student content is inert:
markdown without raw HTML or script links, outputs as escaped text and PNG
images only (inert.py), tracebacks of test cells reduced to their message, and a
Content-Security-Policy that forbids every script. Formulas are MathML made
when the page is built (offline.py), so they show with no script and no network;
every figure has an alt text. simple_feedback() is the
page for a hand-in that could not be graded; feedback_leaks() is the last check
before a page is handed out.
"""
import html
import re

from nbgrader import utils as nbutils

from instructor.assignment import ASSIGNMENT_ID
from instructor.feedback.offline import MATH_CSS, markdown_with_math

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_test_cell(cell):
    """An autograded test: a grade cell that is not also a solution cell."""
    return nbutils.is_grade(cell) and not nbutils.is_solution(cell)


def _text_of_html(text):
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def feedback_leaks(html_text, secret_lines):
    plain = _text_of_html(html_text)
    return [s for s in secret_lines if len(s) >= 12 and s in plain]


def simple_feedback(student_id, score, max_score, manual_max, notes, headline):
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{ASSIGNMENT_ID} feedback for {html.escape(student_id)}</title></head>
<body style="font-family: sans-serif; max-width: 50em; margin: 2em auto">
<h1>{ASSIGNMENT_ID}: feedback for {html.escape(student_id)}</h1>
<p><strong>{html.escape(headline)}</strong></p>
<p>Automatic score: {score:g} / {max_score:g}. Inline answers (graded by hand): {manual_max:g} points.</p>
<ul>{items}</ul>
</body></html>
"""


# ---- the feedback page, rendered by the grader ---------------------------------------------
# No script may run in the page at all: student content is escaped, and the browser is
# told to refuse scripts, plugins, frames and remote loads even if something slipped through.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.4; }
.cell { border-left: 3px solid #ddd; margin: 1em 0; padding: 0.2em 0.8em; }
.test.passed { border-color: #2a2; } .test.failed { border-color: #c22; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; white-space: pre-wrap; }
pre.error { background: #fdd; } .verdict { font-weight: bold; }
table.scores td, table.scores th { padding: 0.2em 0.8em; text-align: left; }
.notes { background: #ffd; padding: 0.5em 1em; }
.knock-on { font-style: italic; }
""" + MATH_CSS


def _markdown_html(text):
    """Markdown as HTML with every piece of raw HTML escaped and unsafe links removed."""
    import mistune
    md = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])
    return md(text)


def _pre(text, cls=""):
    attr = f' class="{cls}"' if cls else ""
    return f"<pre{attr}>{html.escape(_ANSI.sub('', text))}</pre>"


def _outputs_html(outputs, test_cell, redact=lambda text: text, describe=lambda: "a plot"):
    """Outputs that make_inert() kept: text (through redact, then escaped), PNGs as
    data: images with describe() as their alt text."""
    from instructor.feedback.inert import inert_output, valid_png
    parts = []
    for raw in outputs:
        out = inert_output(raw)
        if out is None:
            continue
        kind = out["output_type"]
        if kind == "stream":
            parts.append(_pre(redact(out["text"])))
        elif kind == "error":
            frames = [] if test_cell else out["traceback"]
            # A test cell's traceback quotes the test's code: the verdict says enough.
            text = "\n".join(frames) if frames else f"{out['ename']}: {out['evalue']}"
            parts.append(_pre(redact(text), "error"))
        else:
            data = out["data"]
            if valid_png(data.get("image/png")):
                png = "".join(data["image/png"].split())
                parts.append(f'<img alt="{html.escape(describe())}" '
                             f'src="data:image/png;base64,{png}">')
            elif "text/plain" in data:
                parts.append(_pre(redact(data["text/plain"])))
    return "".join(parts)


def render_feedback(nb, student_id, tests, manual, notes, auto_max, manual_max,
                    secret_lines=()):
    """The feedback page (HTML text) for a graded notebook.

    Inputs:
    - nb: the graded notebook (dict or NotebookNode); its content is the student's
      and is rendered inert (escaped text, markdown without raw HTML, PNGs only).
    - tests: [TestScore] (the trusted verdicts); manual: [ManualAnswer].
    - notes: the grader's remarks about the hand-in.
    - secret_lines: lines that must never appear (hidden-test code): any line of
      student output that contains one is replaced.
    Returns a complete HTML document that runs no script.
    """
    from nbformat import from_dict
    nb = from_dict(nb)
    secrets = [s for s in secret_lines if s.strip()]

    def redact(text):
        if not any(s in text for s in secrets):
            return text
        return "\n".join("[line of a hidden test removed]" if any(s in line for s in secrets)
                         else line for line in text.split("\n"))

    by_id = {t.name: t for t in tests}
    total = sum(t.points for t in tests)
    # A failure that an earlier failed test explains says so (the assignment's dependencies).
    from instructor.report.knock_on import knock_on, knock_on_sentence
    follows = knock_on(t.name for t in tests if t.points < t.max)
    rows = "".join(
        f"<tr><td>{html.escape(t.name)}</td><td>{t.points:g} / {t.max:g}</td>"
        f"<td>{html.escape(t.status)}</td><td>{html.escape(redact(t.message))}"
        + (f'<p class="knock-on">{html.escape(knock_on_sentence(follows[t.name]))}</p>'
           if t.name in follows else "") + "</td></tr>"
        for t in tests)
    rows += "".join(
        f"<tr><td>{html.escape(m.name)}</td><td>(by hand) / {m.max:g}</td>"
        f"<td>{'answered' if m.answered else 'no answer'}</td><td></td></tr>" for m in manual)
    parts = [f"<h1>{ASSIGNMENT_ID}: feedback for {html.escape(student_id)}</h1>",
             f"<p>Automatic score: <strong>{total:g} / {auto_max:g}</strong>. "
             f"Inline answers (graded by hand): {manual_max:g} points.</p>"]
    if notes:
        items = "".join(f"<li>{html.escape(redact(n))}</li>" for n in notes)
        parts.append(f'<div class="notes"><strong>Notes from the grader</strong><ul>{items}</ul></div>')
    parts.append('<table class="scores"><tr><th>test</th><th>points</th><th>status</th>'
                 f"<th>why</th></tr>{rows}</table>")
    figures = 0

    def describe(index):
        nonlocal figures
        figures += 1
        return f"Figure {figures}: a plot drawn by cell {index + 1} of the notebook"

    for index, cell in enumerate(nb.get("cells", [])):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        test = is_test_cell(cell)
        if cell.get("cell_type") == "markdown":
            # make_inert() wrote `<` as `&lt;`, also inside the maths: read it back.
            body = markdown_with_math(redact(source), _markdown_html, unescape=True)
        elif cell.get("cell_type") == "code":
            body = _pre(redact(source)) + _outputs_html(cell.get("outputs", []), test, redact,
                                                        lambda i=index: describe(i))
        else:
            body = _pre(redact(source))
        if test and gid in by_id:
            t = by_id[gid]
            verdict = (f'<p class="verdict">{html.escape(gid)}: {t.points:g} / {t.max:g} '
                       f"({html.escape(t.status)})</p>")
            if t.message:
                verdict += _pre(redact(t.message))
            if gid in follows:
                verdict += f'<p class="knock-on">{html.escape(knock_on_sentence(follows[gid]))}</p>'
            parts.append(f'<div class="cell test {html.escape(t.status)}">{verdict}{body}</div>')
        else:
            parts.append(f'<div class="cell">{body}</div>')
    title = html.escape(f"{ASSIGNMENT_ID} feedback for {student_id}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{title}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
