"""Find solution and hidden-test text in a folder that students will receive.

    python -m instructor leaks FOLDER     # exit 1 and list the leaks, if any

The secrets are taken from the instructor's source: the lines inside solution
regions of the package's .py files and of the notebook's solution cells, the
instructor's answers to the inline questions, the hidden tests, the
instructor-only code the assignment's spec names (secret_code: hidden checks,
known mistakes, a data generator whose numbers alone ship), and the markers
themselves. Short or common lines (that also occur outside the secret parts of
the source) are not counted, since they prove nothing.
"""
import json
import os

from instructor.assignment import (ASSIGNMENT_ROOT, CHECK_DATA, NOTEBOOK, RELEASE_EXTRAS,
                                   package_sources, spec)
from instructor.markers import BEGIN, END, HIDDEN, MARKERS, between_markers, strip_solutions

MIN_LEN = 16  # shorter lines (`N = X.shape[0]`) are too generic to be evidence


def source_secrets(repo_root=ASSIGNMENT_ROOT):
    """The distinctive secret lines of the instructor's source (stripped of indentation)."""
    secret, public = set(), set()
    for rel, text in package_sources(repo_root).items():
        student, removed = strip_solutions(text, rel)
        secret.update(removed)
        public.update(student.splitlines())
    with open(os.path.join(repo_root, NOTEBOOK), encoding="utf-8") as f:
        nb = json.load(f)
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "markdown":
            secret.update(src.splitlines())       # the whole answer is replaced in the release
            continue
        inside, outside = between_markers(src, BEGIN, END)
        hidden, outside = between_markers("\n".join(outside), *HIDDEN)
        secret.update(inside)
        secret.update(hidden)
        public.update(outside)
    secret.update(_checks_lines(repo_root))
    public.update(_given_lines(repo_root))
    public = {line.strip() for line in public}
    secret = {line.strip() for line in secret}
    # A secret found inside a public line proves nothing either (the scan below matches
    # substrings: a TODO comment may quote the line it asks for).
    public_text = "\n".join(sorted(public))
    return sorted({s for s in secret if len(s) >= MIN_LEN and s not in public_text}
                  | set(MARKERS))


def _read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _checks_lines(repo_root):
    """Every line of the instructor-only check code (the spec's secret_code: .py files,
    or the .py files of a folder)."""
    lines = []
    for rel in spec().secret_code:
        path = os.path.join(repo_root, rel)
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(".py"):
                    lines.extend(_read_lines(os.path.join(path, name)))
        else:
            lines.extend(_read_lines(path))
    return lines


def _given_lines(repo_root):
    """Lines of the other files students receive as they are (README, scripts, config):
    a line they share with the check code proves nothing."""
    lines = []
    for rel in RELEASE_EXTRAS + ([CHECK_DATA] if CHECK_DATA else []):
        lines.extend(_read_lines(os.path.join(repo_root, rel)))
    release_data = spec().release_data
    data = os.path.join(repo_root, release_data) if release_data else None
    for root, _, names in os.walk(data) if data else ():
        for name in sorted(names):
            lines.extend(_read_lines(os.path.join(root, name)))
    return lines


def _texts(folder):
    """(relative path, text) of every file in folder; notebooks as their cells' text."""
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            with open(path, "rb") as f:
                data = f.read()
            text = data.decode("utf-8", errors="replace")
            if name.endswith(".ipynb"):
                try:  # JSON escapes quotes and newlines: search the decoded strings
                    text = "\n".join(_strings(json.loads(text)))
                except ValueError:
                    pass
            yield rel, text


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        if all(isinstance(x, str) for x in node):
            yield "".join(node)
        else:
            for x in node:
                yield from _strings(x)
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _strings(v)


def find_leaks(folder, secrets=None):
    """[(relative path, secret)] for every secret found in a file under folder."""
    secrets = source_secrets() if secrets is None else secrets
    found = []
    for rel, text in _texts(folder):
        found.extend((rel, s) for s in secrets if s in text)
    return found
