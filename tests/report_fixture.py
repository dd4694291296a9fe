"""A graded OUT folder made up for the class report's tests: no grading needed.

The assignment's real source (the repository's notebook and classifier files) is
the starter; each student's softmax.py has its own code in the two solution
regions, and results/<id>.json, grades.csv and feedback/<id>/ are written as a
grading run writes them, from a table of verdicts per student.
"""
import csv
import io
import json
import keyword
import os
import re
import shutil
import tokenize

from instructor.assignment import REPO_ROOT
from instructor.feedback.page import render_feedback
from instructor.grade.job import ManualAnswer, TestScore
from instructor.markers import strip_solutions
from instructor.report.assignment_facts import named_mistakes

CELLS = [("test_naive_loss", 3), ("test_naive_grad", 3), ("test_vectorized", 4),
         ("test_sgd", 3), ("test_sweep", 3), ("test_accuracy", 1)]
STUDENT_FILE = "cs231n/classifiers/softmax.py"
OTHER_FILE = "cs231n/classifiers/linear_classifier.py"
_REGION = re.compile(r"([ \t]*)### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n", re.S)
_STUB = re.compile(r"[ \t]*# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)\n")


def repo_text(rel):
    with open(os.path.join(REPO_ROOT, rel), encoding="utf-8") as f:
        return f.read()


def starter(rel):
    return strip_solutions(repo_text(rel), rel)[0]


def solution(rel):
    """The file as the instructor solved it, without the markers."""
    return _REGION.sub(lambda m: m.group(2), repo_text(rel))


def fill(rel, *bodies):
    """The starter of rel with its stubs replaced, in order, by bodies (indented 4)."""
    parts = iter(bodies)
    return _STUB.sub(lambda m: "".join("    " + line + "\n" if line else "\n"
                                       for line in next(parts).strip("\n").split("\n")),
                     starter(rel))


# Two independently written solutions (one with the regularization gradient doubled).
BEN_NAIVE = """
n = X.shape[0]
for k in range(n):
    s = W.T.dot(X[k])
    s = s - s.max()
    e = np.exp(s)
    total = e.sum()
    loss -= np.log(e[y[k]] / total)
    probs = e / total
    probs[y[k]] -= 1
    dW += np.outer(X[k], probs)
loss /= n
dW /= n
loss += reg * (W ** 2).sum()
dW += 2 * reg * W
"""
BEN_VECTORIZED = """
n = len(y)
logits = np.dot(X, W)
logits = logits - np.amax(logits, axis=1)[:, None]
lse = np.log(np.exp(logits).sum(axis=1))
loss = np.mean(lse - logits[np.arange(n), y]) + reg * np.sum(np.square(W))
probs = np.exp(logits - lse[:, None])
onehot = np.zeros_like(probs)
onehot[np.arange(n), y] = 1
dW = X.T.dot(probs - onehot) / n + 4 * reg * W
"""
CY_NAIVE = """
count = X.shape[0]
classes = W.shape[1]
for idx in range(count):
    f = X[idx] @ W
    f -= np.max(f)
    denom = 0.0
    for c in range(classes):
        denom += np.exp(f[c])
    loss += -f[y[idx]] + np.log(denom)
    for c in range(classes):
        share = np.exp(f[c]) / denom
        if c == y[idx]:
            dW[:, c] += (share - 1) * X[idx]
        else:
            dW[:, c] += share * X[idx]
loss = loss / count + reg * np.sum(W * W)
dW = dW / count + 4 * reg * W
"""
CY_VECTORIZED = """
m = X.shape[0]
z = X.dot(W)
z = z - z.max(axis=1, keepdims=True)
ez = np.exp(z)
p = ez / ez.sum(axis=1, keepdims=True)
correct = p[range(m), y]
loss = -np.log(correct).mean() + reg * np.sum(W * W)
g = p.copy()
g[range(m), y] = g[range(m), y] - 1
dW = X.T.dot(g) / m + 4 * reg * W
"""


def rename(text, mapping):
    """text with the names in mapping replaced (by tokens, never inside strings)."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string in mapping and not keyword.iskeyword(tok.string):
            tok = tok._replace(string=mapping[tok.string])
        out.append(tok)
    return tokenize.untokenize(out)


def disguise(text, renamed=True, comments=True, reordered=True):
    """A copy of a solved softmax.py made to look different: variables renamed, comments
    rewritten, the two graded functions swapped."""
    if renamed:
        text = rename(text, {"num_train": "n_examples", "num_classes": "n_cls", "scores": "logit",
                             "shifted": "centered", "log_sum": "lse", "p_j": "prob",
                             "rows": "idx", "exp_scores": "expd", "sum_exp": "norm",
                             "dscores": "delta"})
    if comments:
        text = re.sub(r"#[^\n]*", "# my own note here", text)
    if reordered:
        head, rest = text.split("def softmax_loss_naive", 1)
        naive, vectorized = rest.split("def softmax_loss_vectorized", 1)
        text = head + "def softmax_loss_vectorized" + vectorized.rstrip("\n") + "\n\n\n" \
            + "def softmax_loss_naive" + naive
    return text


def message(function, explanation, look):
    return f"{function}: {explanation}\nLook at: {look}."


def make_out(out, students):
    """Write a graded OUT for students: {id: dict(status, files {rel: text} or None,
    fail {cell: message}, seconds, notes)}; plus a zip without an id."""
    nb = json.loads(repo_text("softmax.ipynb"))
    src = os.path.join(out, "source", "softmax")
    for rel in (STUDENT_FILE, OTHER_FILE):
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        shutil.copy(os.path.join(REPO_ROOT, rel), os.path.join(src, rel))
    with open(os.path.join(src, "softmax.ipynb"), "w", encoding="utf-8") as f:
        json.dump(nb, f)
    starter_nb = json.loads(json.dumps(nb))
    for cell in starter_nb["cells"]:
        cell["source"] = strip_solutions("".join(cell["source"]) + "\n")[0] \
            if "### BEGIN SOLUTION" in "".join(cell["source"]) else cell["source"]
    for d in ("results", "feedback", "autograded", "logs"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    header = ["student_id", "status", "total", "max", "manual_max", "manual_score",
              *[c for c, _ in CELLS], "handin", "notes"]
    rows = []
    for sid, s in sorted(students.items()):
        graded = s["status"] != "not-graded"
        tests = [TestScore(c, 0.0 if (c in s.get("fail", {}) or not graded) else float(p), float(p),
                           "failed" if c in s.get("fail", {}) else "passed",
                           s.get("fail", {}).get(c, "")) for c, p in CELLS] if graded else []
        result = {"student_id": sid, "handin_name": f"softmax_{sid}.zip", "sha256": "0" * 64,
                  "mtime": 0.0, "fingerprint": "f", "status": s["status"],
                  "tests": [t.__dict__ for t in tests],
                  "manual": [], "notes": list(s.get("notes", [])), "events": [],
                  "seconds": s.get("seconds", 10.0), "phases": {}}
        if graded:
            folder = os.path.join(out, "autograded", sid, "softmax")
            files = dict(s["files"])
            files.setdefault(OTHER_FILE, starter(OTHER_FILE))
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(folder, rel)), exist_ok=True)
                with open(os.path.join(folder, rel), "w", encoding="utf-8") as f:
                    f.write(text)
            with open(os.path.join(folder, "softmax.ipynb"), "w", encoding="utf-8") as f:
                json.dump(starter_nb, f)
            page = render_feedback({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
                                   sid, tests, [ManualAnswer("q1_answer", 1.0, True)],
                                   result["notes"], 17, 5)
        else:
            page = f"<html><body>{sid}: not graded</body></html>"
        os.makedirs(os.path.join(out, "feedback", sid), exist_ok=True)
        with open(os.path.join(out, "feedback", sid, "softmax.html"), "w", encoding="utf-8") as f:
            f.write(page)
        with open(os.path.join(out, "results", f"{sid}.json"), "w", encoding="utf-8") as f:
            json.dump(result, f)
        total = sum(t.points for t in tests)
        rows.append([sid, s["status"], total, 17, 5, s.get("manual", ""),
                     *([t.points for t in tests] or [0] * len(CELLS)), f"softmax_{sid}.zip",
                     " | ".join(s.get("notes", []))])
    rows.append(["", "not-graded", 0, 17, 5, "", *[0] * len(CELLS), "bad name!.zip",
                 "cannot tell the student id from the file name"])
    rows.append(["zoe", "missing", 0, 17, 5, "", *[0] * len(CELLS), "", "no hand-in"])
    with open(os.path.join(out, "grades.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


# ---- the class of the tests (see tests/test_report.py) ---------------------------------------
MISTAKES = named_mistakes()
SOFTMAX = "softmax_loss_naive in cs231n/classifiers/softmax.py"
VEC = "softmax_loss_vectorized in cs231n/classifiers/softmax.py"
NOT_DONE = "softmax_loss_naive is not implemented yet: fill in its TODO in cs231n/classifiers/softmax.py"
SWEEP = "the best validation accuracy of the sweep is 0.21, not above 0.35."


def students():
    ada_file = solution(STUDENT_FILE)
    unfinished = {c: NOT_DONE for c in ("test_naive_loss", "test_naive_grad", "test_vectorized",
                                        "test_sgd", "test_sweep", "test_accuracy")}
    return {
        "ada": {"status": "graded", "files": {STUDENT_FILE: ada_file}, "seconds": 12.0,
                "manual": 4},
        "ben": {"status": "graded", "files": {STUDENT_FILE: fill(STUDENT_FILE, BEN_NAIVE, BEN_VECTORIZED)},
                "fail": {"test_vectorized": message("softmax_loss_vectorized", MISTAKES["reg_grad_double"], VEC),
                         "test_sweep": SWEEP}, "seconds": 14.0},
        "cy": {"status": "graded-with-problems", "notes": ["sgd_eval: the kernel died"],
               "files": {STUDENT_FILE: fill(STUDENT_FILE, CY_NAIVE, CY_VECTORIZED)},
               "fail": {"test_naive_grad": message("softmax_loss_naive", MISTAKES["reg_grad_double"], SOFTMAX),
                        "test_vectorized": message("softmax_loss_vectorized", MISTAKES["reg_grad_double"], VEC)},
               "seconds": 20.0},
        "dee": {"status": "graded", "files": {STUDENT_FILE: disguise(ada_file)},
                "fail": {"test_naive_loss": message("softmax_loss_naive", MISTAKES["no_shift"], SOFTMAX)},
                "seconds": 11.0},
        "eve": {"status": "graded", "files": {STUDENT_FILE: starter(STUDENT_FILE)}, "fail": unfinished,
                "seconds": 9.0},
        "fay": {"status": "graded", "files": {STUDENT_FILE: starter(STUDENT_FILE)}, "fail": unfinished,
                "seconds": 8.0},
        "hal": {"status": "not-graded", "notes": ["not graded: the zip unpacks to 50 MB"], "seconds": 0.1},
    }


ROSTER = ("Student,ID,SIS User ID,SIS Login ID,Section,Softmax (4242)\n"
          "    Points Possible,,,,,22\n"
          '"Lovelace, Ada",101,S001,ada,Lab 1,\n'
          '"Babbage, Ben",102,ben,ben@uni.example,Lab 2,\n'
          '"Young, Cy",103,S003,CY,Lab 1,\n'
          '"Eve, Eve",105,S005,eve,Lab 2,\n'
          '"Fay, Fay",106,S006,fay,Lab 2,\n')


def open_in_chromium(html_path, png_path):
    """Open a report in headless Chromium (tests/browser.py's), keep a full-page screenshot;
    what the page showed: {title, headings, image widths, scripts, dialogs, refused}."""
    import browser
    from playwright.sync_api import sync_playwright
    os.makedirs(os.path.dirname(png_path), exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser.chromium_path(), headless=True,
                                     args=browser.CHROMIUM_FLAGS)
        try:
            page = chromium.new_page(viewport={"width": 1200, "height": 900})
            console, dialogs = [], []
            page.on("console", lambda m: console.append(m.text))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(f"file://{os.path.abspath(html_path)}")
            page.wait_for_load_state("load")
            seen = {"title": page.title(), "headings": page.locator("h2").all_inner_texts(),
                    "images": page.eval_on_selector_all("img", "l => l.map(i => i.naturalWidth)"),
                    "scripts": page.locator("script").count(), "dialogs": dialogs,
                    "refused": [m for m in console if "Refused to" in m]}
            page.screenshot(path=png_path, full_page=True)
            return seen
        finally:
            chromium.close()
