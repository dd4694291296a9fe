"""Find solution and hidden-test text in a folder that students will receive.

    python -m instructor leaks FOLDER     # exit 1 and list the leaks, if any

The secrets are taken from the instructor's source: the lines inside solution
regions of the package's .py files and of the notebook's solution cells, the
instructor's answers to the inline questions, the hidden tests, and the
markers themselves. Short or common lines (that also occur outside the secret
parts of the source) are not counted, since they prove nothing.
"""
import json
import os

from instructor.assignment import NOTEBOOK, REPO_ROOT, package_sources
from instructor.markers import BEGIN, END, HIDDEN, MARKERS, between_markers, strip_solutions

MIN_LEN = 16  # shorter lines (`N = X.shape[0]`) are too generic to be evidence


def source_secrets(repo_root=REPO_ROOT):
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
    public = {line.strip() for line in public}
    secret = {line.strip() for line in secret}
    # A secret line that the given text quotes (e.g. in a comment) is not evidence of a leak.
    given = "\n".join(public)
    return sorted({s for s in secret if len(s) >= MIN_LEN and s not in given} | set(MARKERS))


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
