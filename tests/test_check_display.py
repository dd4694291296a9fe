"""How a failing check reads where students see it: a notebook, Validate, the terminal.

The diagnosis comes first, with none of the checks' own frames, and every line
fits nbgrader validate's 90 columns (it cuts longer ones), so the whole
message shows in a terminal.
"""
import os
import re
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from cs231n import checks
from cs231n.check_messages import WIDTH, wrap
from cs231n.checks import CheckFailed
from helpers import REPO
from instructor.checks import mistakes

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHECK_FILES = ("checks.py", "diagnosis.py", "check_messages.py")


def test_every_test_cell_says_what_it_checks():
    nb = nbformat.read(str(REPO / "softmax.ipynb"), as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and c.cell_type == "code"]
    assert len(tests) >= 5
    for cell in tests:
        first = cell.source.splitlines()[0]
        assert first.startswith('"""Check that '), first
        # nbgrader validate shows the failing cell's lines indented by 4, cut at 87.
        assert len(first) <= 83, first


@pytest.mark.parametrize("mistake", sorted(mistakes.LOSS_MISTAKES))
def test_each_named_mistake_renders_first_and_within_the_width(mistake):
    with pytest.raises(CheckFailed) as info:
        checks.check_softmax_loss(mistakes.LOSS_MISTAKES[mistake], "softmax_loss_vectorized")
    lines = [ANSI.sub("", line) for line in info.value._render_traceback_()]
    assert lines[0].startswith("CheckFailed: softmax_loss_vectorized: ")
    assert all(len(line) <= WIDTH + 2 for line in lines), max(lines, key=len)
    # Wrapping changes only where lines break.
    assert " ".join(" ".join(lines).split()).startswith(
        "CheckFailed: " + " ".join(str(info.value).split()))


@pytest.mark.parametrize("text", [
    "short",
    "word " * 40,
    "Look at: " + "x" * 120 + " and then more words after it " * 3,
    "line one\n  indented line that goes on " * 5,
])
def test_wrap_keeps_every_word_and_fits(text):
    wrapped = wrap(text)
    assert wrapped.split() == text.split()
    assert all(len(line) <= WIDTH or " " not in line.strip() for line in wrapped.splitlines())


# ---------------------------------------------------------------- in a real kernel

STUDENT_CELL = '''\
import numpy as np
from cs231n.checks import check_softmax_loss


def softmax_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    probs = e / e.sum(axis=0, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(N), y])) + reg * np.sum(W * W)
    probs[np.arange(N), y] -= 1
    return loss, X.T @ probs / N + 2 * reg * W
'''
TEST_CELL = '''\
"""Check that softmax_loss_vectorized is right."""
check_softmax_loss(softmax_loss_vectorized, name="softmax_loss_vectorized", parts=("loss",))
'''


def _student_function():
    namespace = {}
    exec(STUDENT_CELL, namespace)
    return namespace["softmax_loss_vectorized"]


def _cell(source, grade_id, graded):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": graded, "grade_id": grade_id, "locked": graded,
                                 "schema_version": 3, "solution": not graded, "task": False,
                                 **({"points": 1} if graded else {})}
    return cell


@pytest.fixture(scope="session")
def failing_notebook(tmp_path_factory):
    """A folder with a notebook whose test cell fails with a structural diagnosis."""
    folder = tmp_path_factory.mktemp("display")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [_cell(STUDENT_CELL, "student", False), _cell(TEST_CELL, "test_loss", True)]
    nbformat.write(nb, str(folder / "display.ipynb"))
    with pytest.raises(CheckFailed) as info:
        checks.check_softmax_loss(_student_function(), name="softmax_loss_vectorized",
                                  parts=("loss",))
    assert info.value.mistake == "axis"
    env = dict(os.environ, PYTHONPATH=str(REPO),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
               JUPYTER_CONFIG_DIR=str(folder / "no-user-config"))
    env.pop("JUPYTER_CONFIG_PATH", None)
    return folder, info.value, env


@pytest.mark.slow
def test_a_failing_check_shows_the_diagnosis_and_no_checks_frame(failing_notebook):
    from nbclient import NotebookClient
    folder, err, env = failing_notebook
    nb = nbformat.read(str(folder / "display.ipynb"), as_version=4)
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(REPO)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    assert not [o for o in nb.cells[0].outputs if o.output_type == "error"]
    (error,) = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert error.ename == "CheckFailed"
    lines = ANSI.sub("", "\n".join(error.traceback)).splitlines()
    assert lines[0].startswith("CheckFailed: softmax_loss_vectorized: your loss on")
    frames = [line for line in lines if re.search(r"File .*\.py|\.py:\d+|^-*> *\d+ ", line)]
    assert not [line for line in frames if any(name in line for name in CHECK_FILES)], lines
    assert lines[:len(wrap(f"CheckFailed: {err}").splitlines())] == \
        wrap(f"CheckFailed: {err}").splitlines()


@pytest.mark.slow
def test_terminal_validate_shows_the_whole_diagnosis(failing_notebook):
    folder, err, env = failing_notebook
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", "display.ipynb"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert "VALIDATION FAILED ON 1 CELL(S)" in proc.stdout, proc.stdout
    shown = wrap(f"CheckFailed: {err}").splitlines()
    for line in shown:
        assert "    " + line in out, (line, proc.stdout)
    error_block = proc.stdout.split("The error was:", 1)[1]
    assert not [line for line in error_block.splitlines() if line.endswith("...")]
    # The diagnosis comes first in the error.
    assert error_block.strip().startswith(shown[0])
