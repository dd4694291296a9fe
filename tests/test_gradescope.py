"""Tests for the Gradescope autograder (`python -m instructor gradescope`).

The autograder zip is built once and unpacked into a Gradescope-like root
(source/, submission/, results/, run_autograder copied next to them, as
Gradescope does); run_autograder then runs with AUTOGRADER_ROOT,
AUTOGRADER_PYTHON (this Python) and CIFAR10_DIR (the synthetic data set),
without this repository on the path: the zip must hold all it needs.

Three uploads run the notebook (about half a minute each, two at a time):

    files    the solution as files, inside one folder       -> full marks
    zip      the solution as the zip collectSubmission.sh makes -> full marks
    bug      the regularization gradient of softmax_loss_vectorized doubled
                                                             -> loses test_vectorized

Broken uploads (empty, not a zip, a zip bomb, no notebook) and failures on the
grader's side are told without running a notebook. Every results.json is
checked against Gradescope's specification, and for hidden-test text.

The second assignment of tests/fixtures/mini goes through the same package: its
zip (built once with --assignment) grades its solution and its known mistake.
"""
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import (AUTO_MAX, REPO, STUDENT_PY, TESTS, _regions, cell, handin, hidden_secrets,
                     instructor, package, replace_once, student_notebook, write_zip)

VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
NUMBER = (int, float)
# Gradescope's results.json: the fields it defines, and their types.
TOP_FIELDS = {"score": NUMBER, "execution_time": NUMBER, "output": str, "output_format": str,
              "test_output_format": str, "test_name_format": str, "visibility": str,
              "stdout_visibility": str, "extra_data": dict, "tests": list, "leaderboard": list}
TEST_FIELDS = {"score": NUMBER, "max_score": NUMBER, "status": str, "name": str,
               "name_format": str, "number": str, "output": str, "output_format": str,
               "tags": list, "visibility": str, "extra_data": dict}
TESTS_WITH_HIDDEN_PARTS = {"test_naive_loss", "test_naive_grad", "test_vectorized", "test_sgd",
                           "test_sweep"}


def validate_results(data, tests=TESTS):
    """Check a results.json (dict) against Gradescope's specification and what we promise;
    tests: {name: points} of the assignment's auto-graded test cells, in order."""
    assert isinstance(data, dict)
    for key, value in data.items():
        assert key in TOP_FIELDS, f"unknown top-level field {key}"
        assert isinstance(value, TOP_FIELDS[key]) and not isinstance(value, bool), key
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert data.get(key, "text") in FORMATS
    for key in ("visibility", "stdout_visibility"):
        assert data.get(key, "visible") in VISIBILITIES
    assert "score" in data and data["stdout_visibility"] == "hidden" and data["output"].strip()
    for test in data["tests"]:
        for key, value in test.items():
            assert key in TEST_FIELDS, f"unknown test field {key}"
            assert isinstance(value, TEST_FIELDS[key]) and not isinstance(value, bool), key
        for key in ("name", "score", "max_score", "status", "output"):
            assert key in test, key
        assert test["status"] in ("passed", "failed")
        assert test.get("visibility", "visible") in VISIBILITIES
        assert test.get("output_format", "text") in FORMATS
        assert 0 <= test["score"] <= test["max_score"]
        assert (test["status"] == "passed") == (test["score"] == test["max_score"])
    if data["tests"]:
        assert [t["name"] for t in data["tests"]] == list(tests)
        assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))


def hidden_test_lines():
    """The distinctive lines of the hidden checks (instructor/checks/hidden.py)."""
    lines = sorted(hidden_secrets())
    assert len(lines) > 20
    return lines


def assert_no_hidden_text(data):
    text = json.dumps(data)
    plain = json.dumps(data, ensure_ascii=False)
    for line in hidden_test_lines():
        assert line not in text and line not in plain, line
        assert json.dumps(line)[1:-1] not in text, line
    assert "HIDDEN TESTS" not in text


# ---- the zip ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradescope-build")
    proc = instructor("gradescope", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = out / "autograder.zip"
    assert path.is_file()
    return path


def unpack_into(zip_path, folder):
    """Extract with the file modes the zip records (zipfile alone drops them)."""
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            target = folder / info.filename
            z.extract(info, folder)
            mode = info.external_attr >> 16
            if mode:
                os.chmod(target, stat.S_IMODE(mode))


def gradescope_root(base, zip_path):
    root = base / "autograder"
    for name in ("source", "submission", "results"):
        (root / name).mkdir(parents=True)
    unpack_into(zip_path, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    return root


def run_autograder(root, data_dir, python=sys.executable, timeout=900, container=False,
                   tests=TESTS, env=None):
    """container: run it in a simulated Docker-like container (tests/container_sim.py);
    data_dir: the data set (None: the assignment reads none); tests: {name: points} of
    the assignment's test cells; env: more environment variables."""
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "PYTHONPATH"}
    env.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=str(python))
    if data_dir is not None:
        env["CIFAR10_DIR"] = str(data_dir)
    wrap = [sys.executable, str(REPO / "tests" / "container_sim.py")] if container else []
    proc = subprocess.run([*wrap, str(root / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)
    path = root / "results" / "results.json"
    assert path.is_file(), proc.stdout + proc.stderr
    data = json.loads(path.read_text())
    validate_results(data, tests)
    assert_no_hidden_text(data)
    return proc, data


def test_zip_has_the_scripts_at_its_root(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as z:
        infos = {i.filename: i for i in z.infolist()}
        names = set(infos)
        for name in ("setup.sh", "run_autograder"):
            assert name in names
            assert (infos[name].external_attr >> 16) & 0o111, f"{name} is not executable"
            assert z.read(name).startswith(b"#!/usr/bin/env bash\n")
            assert b"@" + b"PYTHON_VERSION@" not in z.read(name)
        assert {"autograder.json", "requirements.txt", "get_datasets.sh",
                "assignment/gradebook.db", "assignment/release/softmax/softmax.ipynb",
                "instructor/gradescope/run.py", "instructor/grade/one.py"} <= names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert not any(n.startswith(("softmax.ipynb", "tests/")) for n in names)
        # cs231n/ at the root is the release's package, for the grader's own checks:
        # the files students edit are the starter stubs.
        package = sorted(n for n in names if n.startswith("cs231n/"))
        assert "cs231n/checks.py" in package and "cs231n/check_data.json" in package
        for name in package:
            assert z.read(name) == z.read(f"assignment/release/softmax/{name}"), name


def test_zip_holds_no_solution(autograder_zip):
    """The grader needs the release and the gradebook, never the solutions."""
    solutions = set()
    for rel in STUDENT_PY:
        solutions.update(_regions((REPO / rel).read_text(), "BEGIN SOLUTION", "END SOLUTION"))
    nb = json.loads((REPO / "softmax.ipynb").read_text())
    for c in nb["cells"]:
        src = "".join(c["source"])
        solutions.update(_regions(src, "BEGIN SOLUTION", "END SOLUTION"))
        if c["metadata"].get("nbgrader", {}).get("solution") and c["cell_type"] == "markdown":
            solutions.update(line.strip() for line in src.splitlines())
    # A generic line that the grader's own code also has (say, "start =
    # time.perf_counter()") is not the solution.
    grader = "\n".join(p.read_text() for p in sorted((REPO / "instructor").rglob("*.py"))
                       if p.name not in ("mistakes.py", "fingerprints.py"))
    solutions = {s for s in solutions if len(s) >= 20 and s not in grader}
    assert len(solutions) > 10
    with zipfile.ZipFile(autograder_zip) as z:
        for name in z.namelist():
            text = z.read(name).decode("latin1")
            for s in solutions:
                assert s not in text, f"{name}: {s}"


def test_scripts_are_valid_bash(autograder_zip, tmp_path):
    unpack_into(autograder_zip, tmp_path)
    for name in ("setup.sh", "run_autograder"):
        proc = subprocess.run(["bash", "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_setup_installs_python_beside_the_system_one_and_checks_the_data(autograder_zip, tmp_path):
    unpack_into(autograder_zip, tmp_path)
    setup = (tmp_path / "setup.sh").read_text()
    official = next(line.split('"')[1] for line in (REPO / "get_datasets.sh").read_text().splitlines()
                    if line.startswith("DEFAULT_MD5="))
    # The spec's fetch script, as the repository has it (pinned to the official md5), is
    # what setup.sh runs, in the zip's root: this repository's assignment is at its root.
    fetch = tmp_path / "get_datasets.sh"
    assert fetch.read_bytes() == (REPO / "get_datasets.sh").read_bytes() and os.access(fetch, os.X_OK)
    assert f'DEFAULT_MD5="{official}"' in fetch.read_text()
    assert 'DATASET_FETCH="get_datasets.sh"' in setup and 'ASSIGNMENT_FOLDER=""' in setup
    assert re.search(r"^fetch_dataset$", setup, re.M)
    assert "python3.11" in setup.replace('python$PYTHON_VERSION', "python3.11") and 'PYTHON_VERSION="3.11"' in setup
    assert "bubblewrap" in setup and "-r \"$SOURCE/requirements.txt\"" in setup
    for replacing in ("update-alternatives", "ln -s", "/usr/bin/python3"):
        assert replacing not in setup
    config = json.loads((tmp_path / "autograder.json").read_text())
    assert config["hidden_visibility"] == "after_published"
    assert set(config["hidden_tests"]) == TESTS_WITH_HIDDEN_PARTS


def test_setup_fetches_the_data_set_with_no_inherited_override(autograder_zip, tmp_path):
    """setup.sh runs the fetch script without the environment it inherited: an md5, URL or
    folder set there cannot weaken or redirect the download (the script's own official
    md5 applies)."""
    unpack_into(autograder_zip, tmp_path)
    setup = (tmp_path / "setup.sh").read_text()
    # setup.sh up to its first command that changes the machine, then its fetch step,
    # with the fetch script replaced by one that records what it was given.
    head = setup[:setup.index("\napt-get update\n")]
    (tmp_path / "setup_head.sh").write_text(head + "\nfetch_dataset\n")
    seen = tmp_path / "seen.txt"
    (tmp_path / "get_datasets.sh").write_text(f"#!/bin/sh\n{{ pwd; env; }} > {seen}\n")
    env = dict(os.environ, CIFAR10_MD5="0" * 32, CIFAR10_DIR=str(tmp_path / "elsewhere"),
               CIFAR10_URL="http://example.invalid/cifar.tgz", CIFAR10_ARCHIVE="/tmp/x.tgz",
               https_proxy="http://proxy.invalid:3128")
    proc = subprocess.run(["bash", str(tmp_path / "setup_head.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = seen.read_text().splitlines()
    assert lines[0] == str(tmp_path)                   # run in the assignment's folder
    names = {line.partition("=")[0] for line in lines[1:]}
    assert not {n for n in names if n.startswith("CIFAR10")}, names
    assert "https_proxy" in names and "PATH" in names  # the route may be set, nothing else


def test_the_zips_grader_checks_itself_and_refuses_another_spec(autograder_zip, tmp_path):
    """`run --check code` (what the build and setup.sh ask): the zip's spec and checks load
    from the zip alone; a spec other than the one the zip was built for is refused."""
    unpack_into(autograder_zip, tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ASSIGNMENT_DIR")}
    env["PYTHONPATH"] = str(tmp_path)
    command = [sys.executable, "-m", "instructor.gradescope.run", "--check", "code"]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "softmax can be graded" in proc.stdout, proc.stderr
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=dict(env, ASSIGNMENT_DIR=str(REPO / "tests" / "fixtures" / "mini")))
    assert proc.returncode == 1
    assert "built for the assignment 'softmax'" in proc.stderr and "'mini'" in proc.stderr


# ---- uploads graded by run_autograder -----------------------------------------------------------
def solved_files(dist):
    nb = student_notebook(dist)
    return {"softmax.ipynb": json.dumps(nb), **package(dist)}


def write_files(folder, files):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def kernel_sees_autograder_cell(root):
    """A notebook cell that kills its kernel if it can see the autograder's files under
    root (its configuration, its results, the upload's folder)."""
    return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": (
                "import os\n"
                f"if any(os.path.exists(p) for p in [{str(root / 'source' / 'autograder.json')!r}, "
                f"{str(root / 'results')!r}, {str(root / 'submission')!r}]):\n"
                "    os._exit(1)")}


def make_upload(kind, submission, dist):
    if kind == "files":       # one folder deep, as a drag-and-dropped folder may arrive
        write_files(submission / "softmax", solved_files(dist))
    elif kind == "zip":       # what collectSubmission.sh writes
        # With a cell that kills its kernel if it can see the autograder's files.
        nb = student_notebook(dist)
        root = submission.parent
        nb["cells"].append(kernel_sees_autograder_cell(root))
        handin(submission / "softmax_ada.zip", dist, notebook=nb)
    elif kind == "bug":
        files = solved_files(dist)
        files["cs231n/classifiers/softmax.py"] = replace_once(
            files["cs231n/classifiers/softmax.py"], "dW += 2 * reg * W", "dW += 4 * reg * W")
        write_files(submission, files)


def run_each(roots, **kw):
    """run_autograder on each root, two at a time (each grades one upload on one core, as
    Gradescope runs one container per upload): {key: run_autograder's answer}."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(run_autograder, root, **kw) for key, root in roots.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.fixture(scope="module")
def graded(autograder_zip, synthetic_cifar, dist, tmp_path_factory):
    """{kind: (process, results.json)}: the three uploads, each graded once in its own root."""
    roots = {}
    for kind in ("files", "zip", "bug"):
        roots[kind] = gradescope_root(tmp_path_factory.mktemp(f"gs-{kind}"), autograder_zip)
        make_upload(kind, roots[kind] / "submission", dist)
    done = run_each(roots, data_dir=synthetic_cifar)
    return done.__getitem__


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["files", "zip"])
def test_solution_gets_full_marks(graded, kind):
    proc, data = graded(kind)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert data["score"] == AUTO_MAX, (data["output"], data["tests"])
    assert {t["name"]: t["score"] for t in data["tests"]} == TESTS
    assert all(t["status"] == "passed" for t in data["tests"])
    assert data["extra_data"]["status"] == "graded"
    # The score is not told above the tests while tests with hidden parts wait for publishing.
    assert str(AUTO_MAX) not in data["output"] and "inline questions" in data["output"]
    for t in data["tests"]:
        expected = "after_published" if t["name"] in TESTS_WITH_HIDDEN_PARTS else None
        assert t.get("visibility") == expected, t["name"]
    if kind == "files":
        assert "inside a folder 'softmax/'" in data["output"]
    if kind == "zip" and "sandbox: none" not in proc.stdout:
        # the kernel saw none of the autograder's folders (else it would have died)
        assert "kernel died" not in data["output"]
        assert data["extra_data"]["status"] == "graded"


@pytest.fixture(scope="module")
def in_container(autograder_zip, synthetic_cifar, dist, tmp_path_factory):
    """{kind: (process, results.json, root)} for honest, starter and thief uploads graded
    by run_autograder in a simulated Gradescope container (root, namespaces refused)."""
    import container_sim
    why = container_sim.usable()
    if why:
        pytest.skip(f"cannot simulate a container here: {why}")
    roots = {}
    for kind in ("honest", "starter", "thief"):
        root = gradescope_root(tmp_path_factory.mktemp(f"gs-box-{kind}"), autograder_zip)
        sub = root / "submission"
        if kind == "honest":
            write_files(sub, solved_files(dist))
        else:
            files = {"softmax.ipynb": json.dumps(student_notebook(dist)),
                     **package(dist, solved=False)}
            if kind == "thief":   # reads the autograder's files, and forges the results
                files["cs231n/classifiers/softmax.py"] += (
                    "\nimport os as _os\n"
                    "_seen = []\n"
                    "for _root, _dirs, _names in _os.walk(" + repr(str(root)) + "):\n"
                    "    for _n in _names:\n"
                    "        try:\n"
                    "            _seen.append((_n, len(open(_os.path.join(_root, _n), 'rb').read())))\n"
                    "        except OSError:\n"
                    "            pass\n"
                    "print('THIEF read', _seen)\n"
                    "try:\n"
                    "    open(" + repr(str(root / "results" / "results.json")) + ", 'w').write("
                    "'{\"score\": 17, \"tests\": []}')\n"
                    "    print('THIEF wrote results')\n"
                    "except OSError:\n"
                    "    pass\n")
            write_files(sub, files)
        roots[kind] = root
    graded = run_each(roots, data_dir=synthetic_cifar, container=True)
    return {kind: (*graded[kind], roots[kind]) for kind in roots}


@pytest.mark.slow
@pytest.mark.jail
def test_graded_right_inside_a_simulated_container(in_container):
    for kind, (proc, data, _) in in_container.items():
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "sandbox: uid" in proc.stdout, kind
        assert data["extra_data"]["status"] in ("graded", "graded-with-problems"), data["output"]
    honest = in_container["honest"][1]
    assert honest["score"] == AUTO_MAX, (honest["output"], honest["tests"])
    starter = {t["name"]: t["score"] for t in in_container["starter"][1]["tests"]}
    thief = {t["name"]: t["score"] for t in in_container["thief"][1]["tests"]}
    assert starter.keys() == thief.keys() == TESTS.keys()
    assert all(thief[t] <= starter[t] for t in TESTS), (thief, starter)
    # The results file is the grader's, not the forged one.
    assert len(in_container["thief"][1]["tests"]) == len(TESTS)


def test_make_gradescope_runs_the_command():
    proc = subprocess.run(["make", "-n", "gradescope", "PY=python"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "python -m instructor gradescope --out dist/gradescope" in proc.stdout


@pytest.mark.slow
def test_a_bug_loses_its_test(graded):
    proc, data = graded("bug")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scores = {t["name"]: t["score"] for t in data["tests"]}
    assert scores["test_vectorized"] == 0, data["tests"]
    assert data["score"] == AUTO_MAX - TESTS["test_vectorized"]
    failed = next(t for t in data["tests"] if t["name"] == "test_vectorized")
    assert failed["status"] == "failed" and failed["output"] not in ("", "Passed.")


def zip_bomb():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("softmax.ipynb", "{}")
        z.writestr("cs231n/classifiers/softmax.py", b"\0" * (120 << 20))  # over the 100 MB per file
    return buf.getvalue()


BROKEN = {
    "empty": ({}, "empty"),
    "not-a-zip": ({"softmax_ada.zip": b"this is not a zip file\n"}, "not a readable zip"),
    "zip-bomb": ({"softmax_ada.zip": zip_bomb()}, "zip bomb"),
    "no-notebook": ({"cs231n/classifiers/softmax.py": b"x = 1\n", "notes.txt": b"hi\n"},
                    "no notebook"),
    "zip-without-notebook": ({"softmax_ada.zip": None}, "no notebook"),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_upload_gets_0_and_a_message(autograder_zip, synthetic_cifar, tmp_path, kind):
    files, message = BROKEN[kind]
    root = gradescope_root(tmp_path, autograder_zip)
    for name, data in files.items():
        path = root / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            write_zip(path, {"cs231n/classifiers/softmax.py": "x = 1\n"})
        else:
            path.write_bytes(data)
    proc, data = run_autograder(root, synthetic_cifar)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert data["score"] == 0 and all(t["score"] == 0 for t in data["tests"])
    assert len(data["tests"]) == len(TESTS)
    assert data["extra_data"]["status"] == "not-graded"
    assert "could not be graded" in data["output"] and message in data["output"]
    assert "collectSubmission.sh" in data["output"]   # what to upload instead
    assert "sandbox:" in proc.stdout   # no notebook ran, but the grader got that far


@pytest.mark.slow
def test_grader_side_failures_are_reported_as_such(autograder_zip, tmp_path, dist):
    root = gradescope_root(tmp_path, autograder_zip)
    write_files(root / "submission", solved_files(dist))
    # no data set: the grader's fault, not the student's
    proc, data = run_autograder(root, tmp_path / "nowhere")
    assert proc.returncode == 1
    assert data["score"] == 0 and data["extra_data"]["status"] == "grader-error"
    assert "not because of your submission" in data["output"]
    assert "CIFAR-10 not found" in proc.stdout and "nowhere" not in data["output"]
    # no Python where setup.sh puts it
    proc, data = run_autograder(root, tmp_path, python=tmp_path / "no-python")
    assert proc.returncode == 1 and "no Python at" in proc.stderr
    assert data["extra_data"]["status"] == "grader-error"


# ---- the pieces, without running a notebook ---------------------------------------------------
def names_in(data):
    return sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())


@pytest.mark.parametrize("prefix", ["", "my work/"])
def test_uploaded_files_become_a_handin_zip(tmp_path, prefix):
    from instructor.grade.job import Limits
    from instructor.gradescope.upload import upload_as_zip
    sub = tmp_path / "submission"
    write_files(sub, {f"{prefix}softmax.ipynb": "{}", f"{prefix}cs231n/classifiers/softmax.py": "x = 1\n",
                      f"{prefix}cs231n/__pycache__/softmax.cpython-311.pyc": "junk",
                      f"{prefix}datasets/README.md": "data", "__MACOSX/._softmax.ipynb": "junk"})
    (sub / f"{prefix}cs231n" / "passwd_alias.py").symlink_to("/etc/passwd")
    data, name, notes = upload_as_zip(str(sub), Limits().unpack())
    assert names_in(data) == ["cs231n/classifiers/softmax.py", "softmax.ipynb"]
    assert name == "upload"
    assert any("ignored" in n for n in notes)
    assert any("inside a folder" in n for n in notes) == bool(prefix)


def test_an_uploaded_zip_is_passed_on_as_it_is(tmp_path, dist):
    from instructor.grade.job import Limits
    from instructor.gradescope.upload import upload_as_zip
    from instructor.handin.unpack import HandinError
    sub = tmp_path / "submission"
    sub.mkdir()
    handin(sub / "softmax_ada.zip", dist)
    data, name, _ = upload_as_zip(str(sub), Limits().unpack())
    assert data == (sub / "softmax_ada.zip").read_bytes() and name == "softmax_ada.zip"
    handin(sub / "softmax_ada(1).zip", dist)
    with pytest.raises(HandinError, match="several zips"):
        upload_as_zip(str(sub), Limits().unpack())
    (sub / "softmax_ada(1).zip").unlink()
    with pytest.raises(HandinError, match="more than the limit"):
        upload_as_zip(str(sub), Limits(max_handin=100).unpack())


@pytest.mark.parametrize("visibility", ["hidden", "after_due_date", "after_published", "visible"])
def test_results_follow_the_visibility_chosen_at_build_time(visibility):
    from instructor.grade.job import GradeCell, Result, TestScore
    from instructor.gradescope.results import results_json
    cells = [GradeCell(t, float(p), "auto") for t, p in TESTS.items()]
    cells.insert(1, GradeCell("q1_answer", 1.0, "manual"))
    secret = "assert _hidden_check(W) < 1e-7, 'secret'"
    result = Result(student_id="student", handin_name="upload", sha256="x", mtime=0.0,
                    fingerprint="f", status="graded-with-problems", seconds=12.3,
                    notes=["test_sgd: stopped after the time limit of 300 s per cell"],
                    tests=[TestScore(t, float(p), float(p), "passed") for t, p in TESTS.items()])
    result.tests[2] = TestScore("test_vectorized", 7.0, 4.0, "failed", f"AssertionError: {secret}")
    result.tests[3] = TestScore("test_sgd", 0.0, 3.0, "failed", "TimeoutError: cell timed out")
    data = results_json(result, cells, {"test_vectorized", "test_sgd"}, [secret], visibility)
    validate_results(data)
    by_name = {t["name"]: t for t in data["tests"]}
    assert "q1_answer" not in by_name
    assert by_name["test_vectorized"]["score"] == 4          # clamped to its points
    assert secret not in json.dumps(data) and "hidden test" in by_name["test_vectorized"]["output"]
    assert by_name["test_sgd"]["visibility"] == visibility and "visibility" not in by_name["test_sweep"]
    assert by_name["test_sgd"]["output"] == "TimeoutError: cell timed out"
    # Students see the text above the tests at once: nothing about a test shown later.
    assert ("test_sgd: stopped after the time limit" in data["output"]) == (visibility == "visible")
    assert data["score"] == AUTO_MAX - 3
    assert (f"{AUTO_MAX - 3} / {AUTO_MAX}" in data["output"]) == (visibility == "visible")
    with pytest.raises(ValueError):
        results_json(result, cells, set(), [], "sometimes")


def test_the_command_has_help_and_refuses_bad_options(tmp_path):
    top = instructor("--help")
    assert top.returncode == 0 and "gradescope" in top.stdout
    proc = instructor("gradescope", "--help")
    assert proc.returncode == 0 and "--hidden-visibility" in proc.stdout
    for bad in (["--hidden-visibility", "sometimes"], ["--python-version", "3"],
                ["--timeout", "5"]):
        proc = instructor("gradescope", "--out", tmp_path, *bad)
        assert proc.returncode == 2, bad
        assert "error" in proc.stderr
    assert not (tmp_path / "autograder.zip").exists()


# ---- a second assignment (tests/fixtures/mini) through the same Gradescope package -------------
MINI = REPO / "tests" / "fixtures" / "mini"


@pytest.fixture(scope="module")
def mini_spec():
    from instructor.assignment.model import load_spec
    return load_spec(str(MINI))


@pytest.fixture(scope="module")
def mini_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradescope-mini")
    proc = instructor("--assignment", MINI, "gradescope", "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "autograder.zip"


def test_the_fixture_zip_carries_its_own_spec_and_checks(mini_zip, mini_spec):
    """Its spec, check module, nbgrader settings and released package in a folder of its
    own; none of its solution-bound files, its solution, nor this repository's own
    assignment's instructor-only code."""
    from instructor.assignment import spec
    home = spec(str(REPO))
    folder = "assignment-folder"
    with zipfile.ZipFile(mini_zip) as z:
        names = set(z.namelist())
        release = f"assignment/release/{mini_spec.assignment_id}"
        package = sorted(n for n in names if n.startswith(f"{release}/{mini_spec.package}/"))
        assert package
        for name in package:      # the grader's checks import the release's package
            assert z.read(name) == z.read(f"{folder}/{name[len(release) + 1:]}"), name
        for rel in ("assignment_spec.py", "mini_checks.py", mini_spec.nbgrader_config):
            assert z.read(f"{folder}/{rel}") == (MINI / rel).read_bytes(), rel
        for rel in mini_spec.student_files:   # the starter, never the solution
            assert b"NotImplementedError" in z.read(f"{folder}/{rel}")
            assert z.read(f"{folder}/{rel}") != (MINI / rel).read_bytes()
        assert not any(n.endswith(tuple(mini_spec.solution_bound)) for n in names)
        assert not any(n.startswith(tuple(f"{p}/" for p in home.secret_code)) or n in
                       home.solution_bound for n in names)
        assert not any(n.endswith(mini_spec.notebook) and not n.startswith(release)
                       for n in names)
        config = json.loads(z.read("autograder.json"))
        setup = z.read("setup.sh").decode()
        runner = z.read("run_autograder").decode()
    assert config["assignment_id"] == "mini" and config["assignment_folder"] == folder
    assert config["hidden_tests"] == ["test_double"]
    assert "uniform(10, 1000)" in " ".join(config["hidden_lines"])
    assert f'ASSIGNMENT_FOLDER="{folder}"' in setup and f'ASSIGNMENT_FOLDER="{folder}"' in runner
    assert 'DATASET_FETCH=""' in setup      # it reads no data set


def test_a_zip_whose_checks_need_a_file_left_home_is_not_written(tmp_path):
    """A check that imports a solution-bound file (kept out of the zip) would fail at every
    submission: the build asks the zip's own grader first, and stops saying why."""
    folder = tmp_path / "mini"
    shutil.copytree(MINI, folder, ignore=shutil.ignore_patterns("__pycache__"))
    checks = folder / "mini_checks.py"
    checks.write_text(checks.read_text().replace(
        "from minipkg.checks import check_double",
        "from minipkg.checks import check_double\nimport mini_mistakes  # noqa: F401"))
    out = tmp_path / "out"
    proc = instructor("--assignment", folder, "gradescope", "--out", out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not grade" in proc.stderr and "No module named 'mini_mistakes'" in proc.stderr
    assert "mini_checks:double_visible does not load" in proc.stderr
    assert not out.exists() or not any(out.iterdir())


MINI_FORGER = '''
import os as _os
_root = {root!r}
for _path, _text in [(_os.path.join(_root, "source", "assignment-folder", "mini_checks.py"),
                      "def double_visible(subject): pass\\ndef double_hidden(subject): pass\\n"),
                     (_os.path.join(_root, "results", "results.json"), '{{"score": 2}}')]:
    try:
        with open(_path, "w") as _f:
            _f.write(_text)
        print("FORGED", _path)
    except OSError:
        pass
'''


def mini_upload(kind, root, release):
    """Into root/submission: the solution ("solved", with a notebook cell that kills its
    kernel if it sees the autograder's files), or the known mistake with code that tries to
    replace the grader's check and write the results ("mistake")."""
    sub = root / "submission"
    made = root / "solved.zip"
    proc = instructor("--assignment", MINI, "solved-handin", release, made)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with zipfile.ZipFile(made) as z:
        files = {n: z.read(n).decode() for n in z.namelist()}
    made.unlink()
    nb = json.loads(files["mini.ipynb"])
    if kind == "solved":
        nb["cells"].append(kernel_sees_autograder_cell(root))
    else:
        files["minipkg/ops.py"] = ((MINI / "mini_mistakes.py").read_text()
                                   + MINI_FORGER.format(root=str(root)))
    files["mini.ipynb"] = json.dumps(nb)
    write_files(sub, files)


@pytest.mark.slow
@pytest.mark.jail
def test_the_fixture_assignment_is_graded_by_its_gradescope_zip(mini_zip, mini_spec,
                                                                  tmp_path_factory):
    """The fixture's zip, unpacked as Gradescope does, grades the solution 2/2 and the
    known mistake 0 with the mistake named; the grader's checks and results cannot be
    forged, the kernel sees none of the autograder, and an ASSIGNMENT_DIR inherited from
    the environment does not change which spec grades."""
    from instructor.assignment.model import resolve
    tests = mini_spec.points
    catalogue = resolve(mini_spec.mistakes.catalogue, mini_spec.root)
    graded = {}
    for kind in ("solved", "mistake"):
        root = gradescope_root(tmp_path_factory.mktemp(f"gs-mini-{kind}"), mini_zip)
        mini_upload(kind, root, root / "source" / "assignment" / "release")
        proc, data = run_autograder(root, None, tests=tests, env={"ASSIGNMENT_DIR": str(REPO)},
                                    timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "sandbox: none" not in proc.stdout
        text = json.dumps(data)
        assert "double_hidden" not in text and "uniform(10, 1000)" not in text
        with zipfile.ZipFile(mini_zip) as z:      # nothing of the grader was changed
            for name in z.namelist():
                assert (root / "source" / name).read_bytes() == z.read(name), name
        graded[kind] = data
    solved, mistake = graded["solved"], graded["mistake"]
    assert solved["extra_data"]["status"] == "graded", solved["output"]
    assert solved["score"] == mini_spec.max_points == 2, solved["tests"]
    assert "kernel died" not in json.dumps(solved)
    # No answers are graded by hand in this assignment: no word about them.
    assert "inline questions" not in solved["output"]
    assert mistake["score"] == 0, mistake["tests"]
    (test,) = mistake["tests"]
    assert test["name"] == "test_double" and test["status"] == "failed"
    assert catalogue["plus_one"] in test["output"], test["output"]
