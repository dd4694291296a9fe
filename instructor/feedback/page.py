"""The feedback page a student gets for a graded hand-in.

FeedbackFilter runs in `nbgrader generate_feedback`: it removes the hidden tests
from the test cells, from every traceback (IPython prints the failing line and
its neighbours) and from any output that quotes them, and puts the grader's
notes about the hand-in at the top. simple_feedback() is the page for a hand-in
that could not be graded; feedback_leaks() is the last check before a page is
handed out.
"""
import html
import re

from nbformat.v4 import new_markdown_cell
from nbgrader import utils as nbutils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from instructor.assignment import ASSIGNMENT_ID
from instructor.markers import HIDDEN_BEGIN, hidden_lines, remove_hidden_region

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_test_cell(cell):
    """An autograded test: a grade cell that is not also a solution cell."""
    return nbutils.is_grade(cell) and not nbutils.is_solution(cell)


class FeedbackFilter(NbGraderPreprocessor):
    """Hide the hidden tests in the feedback and show the grader's notes on top."""

    notes = List(Unicode(), help="lines shown in a box at the top of the feedback").tag(config=True)
    extra_secrets = List(Unicode(), help="more lines never to show").tag(config=True)

    def preprocess(self, nb, resources):
        self._secrets = set(self.extra_secrets)
        for cell in nb.cells:
            self._secrets.update(hidden_lines(cell.source))
        nb, resources = super().preprocess(nb, resources)
        if self.notes:
            text = "**Notes from the grader**\n\n" + "\n".join(f"- {n}" for n in self.notes)
            nb.cells.insert(0, new_markdown_cell(text))
        return nb, resources

    def _redact(self, text):
        if not any(s in _ANSI.sub("", text) for s in self._secrets):
            return text
        kept = []
        for line in text.split("\n"):
            plain = _ANSI.sub("", line)
            kept.append("[line of a hidden test removed]" if any(s in plain for s in self._secrets)
                        else line)
        return "\n".join(kept)

    def preprocess_cell(self, cell, resources, index):
        if HIDDEN_BEGIN in cell.source:
            cell.source = remove_hidden_region(cell.source)
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                frames = []
                for frame in out.traceback:
                    plain = _ANSI.sub("", frame)
                    # IPython shows the test cell's code around the failing line: in a
                    # test cell that is (a part of) the hidden tests, so drop the frame.
                    if is_test_cell(cell) and re.search(r"Cell In\[\d+\]|<ipython-input-", plain):
                        frames.append("(in a test of this cell; its code is not shown)")
                    else:
                        frames.append(self._redact(frame))
                out.traceback = frames
                out.evalue = self._redact(out.evalue)
            elif out.output_type == "stream":
                out.text = self._redact(out.text)
            elif "data" in out:
                for mime, value in list(out.data.items()):
                    if isinstance(value, str) and mime.startswith("text/"):
                        out.data[mime] = self._redact(value)
        return cell, resources


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
