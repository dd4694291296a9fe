"""Only the files students edit come from a hand-in; every other package file is the
release's, in the kernel's folder and in the grader's worker alike (fast: no kernel)."""
import os

import pytest

from instructor.grade.trusted import copy_package
from instructor.handin.repair import Notes, restore_given_files

STUDENT = ["cs231n/classifiers/softmax.py", "cs231n/classifiers/linear_classifier.py"]
RELEASE = {
    "cs231n/__init__.py": "",
    "cs231n/classifiers/__init__.py": "from .softmax import *\n",
    "cs231n/classifiers/softmax.py": "# starter\n",
    "cs231n/classifiers/linear_classifier.py": "# starter\n",
    "cs231n/data_utils.py": "def load():\n    pass\n",
    "cs231n/checks.py": "CHECKS = 1\n",
}


def write(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def read_all(root):
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                out[os.path.relpath(path, root).replace(os.sep, "/")] = f.read()
    return out


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "release"
    write(root, RELEASE)
    return str(root)


MINE = {"cs231n/classifiers/softmax.py": "# mine\n",
        "cs231n/classifiers/linear_classifier.py": "# mine too\n"}
HANDINS = {
    "full": (dict(RELEASE, **MINE), [], []),
    "minimal": (dict(MINE), [], []),
    "own_classifiers_init": (dict(RELEASE, **MINE, **{
        "cs231n/classifiers/__init__.py": "from .softmax import softmax_loss_naive as "
                                          "softmax_loss_vectorized\n"}),
        ["cs231n/classifiers/__init__.py"], []),
    "weights_as_py": (dict(MINE, **{"cs231n/classifiers/weights.py": "W = [[0.0]]\n",
                                    "cs231n/extra/deep/w.py": "W = 1\n"}),
                      [], ["cs231n/classifiers/weights.py", "cs231n/extra/deep/w.py"]),
    "edited_given_and_extra": (dict(MINE, **{"cs231n/checks.py": "CHECKS = 0\n",
                                             "cs231n/sitecustomize.py": "x = 1\n"}),
                               ["cs231n/checks.py"], ["cs231n/sitecustomize.py"]),
}


@pytest.mark.parametrize("case", sorted(HANDINS))
def test_the_folder_holds_the_release_and_the_students_files(case, release, tmp_path):
    files, replaced, removed = HANDINS[case]
    folder = tmp_path / "handin"
    write(folder, files)
    notes = Notes()
    got = restore_given_files(str(folder), release, STUDENT, notes)
    assert got == (replaced, removed)
    assert read_all(folder) == dict(RELEASE, **MINE)
    assert not os.path.exists(folder / "cs231n" / "extra")
    text = " | ".join(notes)
    for rel in replaced + removed:
        assert rel in text
    assert bool(notes) == bool(replaced or removed) and notes.problems == 0


@pytest.mark.parametrize("case", sorted(HANDINS))
def test_the_worker_gets_the_release_and_the_students_files(case, release, tmp_path):
    files, _, _ = HANDINS[case]
    folder = tmp_path / "handin"
    write(folder, files)
    dest = tmp_path / "worker"
    sources = copy_package(str(folder), str(dest), release_dir=release, student_files=STUDENT)
    assert sources == dict(RELEASE, **MINE)
    assert read_all(dest) == dict(RELEASE, **MINE)


def test_full_and_minimal_hand_ins_end_up_the_same(release, tmp_path):
    results = []
    for case in ("full", "minimal"):
        folder = tmp_path / case
        write(folder, HANDINS[case][0])
        restore_given_files(str(folder), release, STUDENT, Notes())
        results.append(read_all(folder))
    assert results[0] == results[1]
