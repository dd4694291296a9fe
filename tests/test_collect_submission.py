"""Tests for collectSubmission.sh, on a small fake assignment folder."""
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "collectSubmission.sh"

STUDENT_FILES = [
    "cs231n/__init__.py",
    "cs231n/classifiers/__init__.py",
    "cs231n/classifiers/softmax.py",
    "cs231n/classifiers/linear_classifier.py",
    "cs231n/data_utils.py",
    "cs231n/gradient_check.py",
    "cs231n/vis_utils.py",
    "cs231n/checks.py",
    "cs231n/check_messages.py",
    "cs231n/diagnosis.py",
    "cs231n/contract.py",
]
EXTRA_PY = "cs231n/classifiers/helpers.py"   # any other .py in cs231n/ goes in too
EXPECTED = sorted(["softmax.ipynb", *STUDENT_FILES, EXTRA_PY])

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("python3") is None,
                                reason="needs bash and python3")


def write_notebook(path, executed=True):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Softmax"),
                nbformat.v4.new_code_cell("print(1 + 1)")]
    if executed:
        nb.cells[1].execution_count = 1
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nbformat.write(nb, str(path))


@pytest.fixture
def assignment(tmp_path):
    """An assignment folder: the script, an executed notebook, the cs231n files,
    plus things that must stay out of the zip."""
    root = tmp_path / "assignment"
    root.mkdir()
    shutil.copy2(SCRIPT, root / "collectSubmission.sh")
    write_notebook(root / "softmax.ipynb")
    for f in [*STUDENT_FILES, EXTRA_PY]:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text(f"# {f}\n")
    junk = [
        "cs231n/__pycache__/data_utils.cpython-311.pyc",
        "cs231n/classifiers/__pycache__/softmax.cpython-311.pyc",
        "cs231n/classifiers/__pycache__/stale.py",
        "cs231n/.ipynb_checkpoints/vis_utils-checkpoint.py",
        ".ipynb_checkpoints/softmax-checkpoint.ipynb",
        "cs231n/notes.txt",
        "cs231n/classifiers/softmax.py~",
        "datasets/cifar-10-batches-py/data_batch_1",
        "datasets/README.md",
        "tests/test_something.py",
        "get_datasets.sh",
        "other.py",
    ]
    for f in junk:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_bytes(b"not for the submission\n")
    return root


def run(root, *args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if k != "STUDENT_ID"}
    full_env.update(env or {})
    return subprocess.run([str(root / "collectSubmission.sh"), *args], env=full_env,
                          cwd=cwd or root, capture_output=True, text=True, check=False,
                          timeout=60)


def zips_in(root):
    """Every zip or temporary zip file in the assignment folder."""
    return sorted(p.name for p in root.iterdir() if ".zip" in p.name)


def test_help_prints_usage(assignment):
    r = run(assignment, "--help")
    assert r.returncode == 0
    assert "Usage" in r.stdout and "STUDENT_ID" in r.stdout
    assert zips_in(assignment) == []


def test_the_student_files_list_is_the_expected_one():
    text = SCRIPT.read_text()
    assert "STUDENT_FILES=(" in text
    listed = text.split("STUDENT_FILES=(", 1)[1].split(")", 1)[0].split()
    assert listed == STUDENT_FILES
    # every file of the package students receive, so that a new one is not forgotten
    shipped = sorted(str(p.relative_to(REPO)).replace(os.sep, "/")
                     for p in (REPO / "cs231n").rglob("*.py") if "__pycache__" not in p.parts)
    assert sorted(listed) == shipped


def test_success_writes_exactly_the_expected_files(assignment):
    r = run(assignment, "jdoe42")
    assert r.returncode == 0, r.stderr
    zip_path = assignment / "softmax_jdoe42.zip"
    assert zips_in(assignment) == ["softmax_jdoe42.zip"]
    with zipfile.ZipFile(zip_path) as z:
        assert z.testzip() is None
        assert sorted(z.namelist()) == EXPECTED
        assert z.read("softmax.ipynb") == (assignment / "softmax.ipynb").read_bytes()
        assert z.read("cs231n/classifiers/softmax.py") == b"# cs231n/classifiers/softmax.py\n"
    assert str(zip_path) in r.stdout
    for f in EXPECTED:
        assert f in r.stdout
    assert "__pycache__" not in r.stdout and "datasets" not in r.stdout


def test_works_from_another_folder_and_with_env_id(assignment, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = run(assignment, env={"STUDENT_ID": "Jane.Doe_1-2"}, cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert os.listdir(elsewhere) == []
    with zipfile.ZipFile(assignment / "softmax_Jane.Doe_1-2.zip") as z:
        assert sorted(z.namelist()) == EXPECTED


def test_argument_wins_over_env_id(assignment):
    r = run(assignment, "from_arg", env={"STUDENT_ID": "from_env"})
    assert r.returncode == 0, r.stderr
    assert zips_in(assignment) == ["softmax_from_arg.zip"]


def test_old_zip_is_replaced(assignment):
    old = assignment / "softmax_jdoe.zip"
    old.write_bytes(b"an old, broken zip")
    r = run(assignment, "jdoe")
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(old) as z:
        assert sorted(z.namelist()) == EXPECTED
    assert zips_in(assignment) == ["softmax_jdoe.zip"]


def test_missing_student_id_fails(assignment):
    r = run(assignment)
    assert r.returncode != 0
    assert "no student id" in r.stderr and "STUDENT_ID" in r.stderr
    assert zips_in(assignment) == []


@pytest.mark.parametrize("bad_id", ["../x", "a/b", "a b", ".hidden", "_x", "x" * 65, "é"])
def test_bad_student_id_fails(assignment, bad_id):
    r = run(assignment, bad_id)
    assert r.returncode != 0
    assert "invalid student id" in r.stderr
    assert zips_in(assignment) == []
    assert not (assignment.parent / "x.zip").exists()


def test_longest_id_is_accepted(assignment):
    r = run(assignment, "a" * 64)
    assert r.returncode == 0, r.stderr


def test_too_many_arguments_fail(assignment):
    r = run(assignment, "a", "b")
    assert r.returncode != 0
    assert "--help" in r.stderr
    assert zips_in(assignment) == []


def test_unexecuted_notebook_fails(assignment):
    write_notebook(assignment / "softmax.ipynb", executed=False)
    r = run(assignment, "jdoe")
    assert r.returncode != 0
    assert "run all cells and save (File > Save) before collecting" in r.stderr
    assert zips_in(assignment) == []


def test_executed_count_without_outputs_is_enough(assignment):
    nb = json.loads((assignment / "softmax.ipynb").read_text())
    nb["cells"][1]["outputs"] = []
    (assignment / "softmax.ipynb").write_text(json.dumps(nb))
    assert run(assignment, "jdoe").returncode == 0


def test_invalid_json_notebook_fails(assignment):
    (assignment / "softmax.ipynb").write_text('{"cells": [')
    r = run(assignment, "jdoe")
    assert r.returncode != 0
    assert "not valid JSON" in r.stderr
    assert zips_in(assignment) == []


def test_json_that_is_not_a_notebook_fails(assignment):
    (assignment / "softmax.ipynb").write_text("[1, 2, 3]")
    r = run(assignment, "jdoe")
    assert r.returncode != 0
    assert "not a Jupyter notebook" in r.stderr
    assert zips_in(assignment) == []


def test_missing_notebook_fails(assignment):
    (assignment / "softmax.ipynb").unlink()
    r = run(assignment, "jdoe")
    assert r.returncode != 0
    assert "softmax.ipynb not found" in r.stderr
    assert zips_in(assignment) == []


@pytest.mark.parametrize("missing", STUDENT_FILES)
def test_missing_student_file_fails_and_names_it(assignment, missing):
    (assignment / missing).unlink()
    r = run(assignment, "jdoe")
    assert r.returncode != 0
    assert "missing student files" in r.stderr and missing in r.stderr
    assert zips_in(assignment) == []


def test_all_missing_files_are_named(assignment):
    shutil.rmtree(assignment / "cs231n" / "classifiers")
    r = run(assignment, "jdoe")
    assert r.returncode != 0
    for f in STUDENT_FILES:
        if f.startswith("cs231n/classifiers/"):
            assert f in r.stderr
    assert zips_in(assignment) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_unwritable_folder_fails_without_leftovers(assignment):
    assignment.chmod(0o555)
    try:
        r = run(assignment, "jdoe")
    finally:
        assignment.chmod(0o755)
    assert r.returncode != 0
    assert "could not" in r.stderr
    assert zips_in(assignment) == []


def test_write_failure_leaves_no_temporary_file(assignment):
    (assignment / "softmax_jdoe.zip").mkdir()   # a folder in the way of the zip
    r = run(assignment, "jdoe")
    assert r.returncode != 0
    assert "could not write" in r.stderr
    assert zips_in(assignment) == ["softmax_jdoe.zip"]
    assert (assignment / "softmax_jdoe.zip").is_dir()


def test_real_package_files_are_collected(tmp_path):
    """With the repository's own cs231n/, every one of its .py files goes in."""
    root = tmp_path / "assignment"
    root.mkdir()
    shutil.copy2(SCRIPT, root / "collectSubmission.sh")
    write_notebook(root / "softmax.ipynb")
    shutil.copytree(REPO / "cs231n", root / "cs231n",
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    missing = [f for f in STUDENT_FILES if not (root / f).is_file()]
    if missing:
        pytest.skip(f"repository lacks {missing}")
    r = run(root, "jdoe")
    assert r.returncode == 0, r.stderr
    expected = sorted(["softmax.ipynb"] + [p.relative_to(root).as_posix()
                                           for p in (root / "cs231n").rglob("*.py")])
    with zipfile.ZipFile(root / "softmax_jdoe.zip") as z:
        assert sorted(z.namelist()) == expected
