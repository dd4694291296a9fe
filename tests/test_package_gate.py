"""In grading, a hand-in imports only the packages of the assignment's requirements.txt
(and what they need): anything else installed fails with a message naming them."""
import json
import os

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from instructor.assignment import REPO_ROOT
from instructor.boundary.client import StudentError, WorkerClient
from instructor.grade.execute import (GuardedExecute, allowed_modules, package_gate,
                                      package_gate_code, requirement_names)
from instructor.grade.trusted import worker_gate


def test_the_requirements_are_read_by_name():
    names = requirement_names(os.path.join(REPO_ROOT, "requirements.txt"))
    assert {"numpy", "matplotlib", "tqdm", "ipykernel"} <= set(names)


def test_allowed_modules_follow_the_requirements_dependencies():
    numpy_only = allowed_modules(["numpy"])
    assert "numpy" in numpy_only and "matplotlib" not in numpy_only
    with_mpl = allowed_modules(["numpy", "matplotlib"])
    assert {"numpy", "matplotlib", "PIL", "dateutil"} <= set(with_mpl)   # and its needs
    everything = allowed_modules(requirement_names(os.path.join(REPO_ROOT, "requirements.txt")))
    for grader_only in ("sklearn", "distributed", "dask", "pytest", "playwright"):
        assert grader_only not in everything


CELLS = {
    "numpy": "import numpy\nprint('ok')",
    "stdlib": "import json, collections.abc\nprint('ok')",
    "local": "import mylocal\nprint(mylocal.X)",
    "missing": "import surely_not_installed_anywhere",
    "blocked": "import matplotlib",
    "blocked_from": "from matplotlib import pyplot",
}


@pytest.mark.slow
def test_the_kernel_refuses_other_packages_with_a_message(tmp_path):
    (tmp_path / "mylocal.py").write_text("X = 'local ok'\n")
    req = tmp_path / "requirements.txt"
    req.write_text("numpy>=1.26\n")
    names = sorted(CELLS)
    nb = new_notebook(cells=[new_code_cell(CELLS[n]) for n in names])
    ex = GuardedExecute(kernel_name="python3", timeout=120, startup_timeout=120,
                        requirements_file=str(req), allow_errors=True)
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    out = {n: nb.cells[i].outputs for i, n in enumerate(names)}
    for n in ("numpy", "stdlib"):
        assert out[n][0]["text"] == "ok\n", out[n]
    assert out["local"][0]["text"] == "local ok\n"
    assert out["missing"][0]["ename"] == "ModuleNotFoundError"
    assert "in grading" not in out["missing"][0]["evalue"]
    for n in ("blocked", "blocked_from"):
        assert len(out[n]) == 1, out[n]        # the traceback itself imported fine
        error = out[n][0]
        assert error["ename"] == "ModuleNotFoundError", error
        assert "'matplotlib' in grading" in error["evalue"] and "numpy" in error["evalue"]
        assert "requirements.txt" in error["evalue"]


def test_the_gate_code_compiles_and_names_the_packages():
    code = package_gate_code(os.path.join(REPO_ROOT, "requirements.txt"))
    compile(code, "<gate>", "exec")
    assert "tqdm" in code and "'sklearn'" not in code


def test_the_trusted_worker_refuses_other_packages_as_the_kernel_does(tmp_path):
    """The checks call student functions in the worker: a function that imports a
    package grading does not have fails there with the kernel's message too."""
    package = tmp_path / "handin" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "ops.py").write_text("import importlib\n\n\ndef use(name):\n"
                                    "    return importlib.import_module(name).__name__\n")
    req = tmp_path / "requirements.txt"
    req.write_text("numpy>=1.26\n")
    with WorkerClient(str(tmp_path / "handin"), gate=package_gate(str(req))) as client:
        use = client.function("mypkg.ops", "use")
        assert [use(n) for n in ("numpy", "json", "mypkg")] == ["numpy", "json", "mypkg"]
        with pytest.raises(StudentError) as refused:
            use("matplotlib.pyplot")
        assert refused.value.type_name == "ModuleNotFoundError"
        assert "'matplotlib' in grading" in str(refused.value) and "numpy" in str(refused.value)
        with pytest.raises(StudentError, match="surely_not_installed") as missing:
            use("surely_not_installed_anywhere")
        assert "in grading" not in str(missing.value)
    with WorkerClient(str(tmp_path / "handin")) as client:    # no gate: anything installed
        assert client.function("mypkg.ops", "use")("matplotlib") == "matplotlib"


def test_the_worker_gets_the_assignments_requirements():
    allowed, message = worker_gate()
    assert {"numpy", "matplotlib", "tqdm"} <= set(allowed)
    assert "sklearn" not in allowed and "requirements.txt" in message
