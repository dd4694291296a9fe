"""softmax.ipynb: committed clean, well-formed for nbgrader, and runs top to bottom."""
import ast
import json
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "softmax.ipynb")
# What OpenBLAS, MKL, BLIS and OpenMP read for their number of threads.
BLAS_THREAD_VARIABLES = ["OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                         "OMP_NUM_THREADS"]
STUDENT_PY = ["cs231n/classifiers/softmax.py", "cs231n/classifiers/linear_classifier.py"]


def load():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_committed_without_outputs_and_with_python3_kernel():
    nb = load()
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_nbgrader_metadata():
    nb = load()
    ids, points = [], 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        assert meta is not None, f"cell without nbgrader metadata: {cell.source[:60]!r}"
        assert meta["schema_version"] == 3
        ids.append(meta["grade_id"])
        if meta["grade"]:
            assert meta["points"] > 0
            points += meta["points"]
        if meta["grade"] and not meta["solution"]:       # autograded test cell
            assert meta["locked"] and cell.cell_type == "code"
            first = cell.source.lstrip().splitlines()[0]
            assert first.startswith('"""') and first.endswith('"""'), "test cells open with a docstring"
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    assert points >= 20


@pytest.mark.parametrize("path", STUDENT_PY + ["softmax.ipynb"])
def test_solution_markers_are_balanced(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    begins = [m.start() for m in re.finditer("### BEGIN SOLUTION", text)]
    ends = [m.start() for m in re.finditer("### END SOLUTION", text)]
    assert begins and len(begins) == len(ends)
    assert all(b < e for b, e in zip(begins, ends))
    assert all(e < b for e, b in zip(ends, begins[1:]))


PROBE = """
import json
print("PROBE " + json.dumps({
    "naive_loss": loss_naive, "vectorized_loss": loss_vectorized,
    "grad_difference": float(grad_difference),
    "gradcheck_max": float(max(errors.max(), errors_reg.max())),
    "loss_first": float(np.mean(loss_hist[:10])), "loss_last": float(np.mean(loss_hist[-100:])),
    "n_results": len(results), "best_val": float(best_val), "test_accuracy": float(test_accuracy),
    "result_keys": sorted([float(lr), float(reg)] for lr, reg in results),
    "best_of_results": float(max(val for _, val in results.values())),
    "best_softmax_val": float(np.mean(best_softmax.predict(X_val) == y_val)),
    "fresh_softmax": type(best_softmax).__name__,
    "shapes": {k: list(v.shape) for k, v in data.items()},
}))
"""


@pytest.fixture(scope="module")
def executed(synthetic_cifar, tmp_path_factory):
    """The notebook run in a real kernel on the synthetic data set, plus probed values."""
    nb = load()
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    env = dict(os.environ, CIFAR10_DIR=str(synthetic_cifar), MPLBACKEND="Agg")
    # One BLAS thread, as `make run` gives the kernel: thousands of small SGD
    # products on two threads crawl whenever the machine is busy.
    env.update({var: "1" for var in BLAS_THREAD_VARIABLES})
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": ROOT}})
    old = dict(os.environ)
    os.environ.update(env)        # the kernel inherits the environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    probe = json.loads(text.split("PROBE ", 1)[1])
    return nb, probe


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(executed):
    nb, _ = executed
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert out.output_type != "error", f"{cell.source[:80]!r} raised {out.get('ename')}"
            if cell.metadata.get("nbgrader", {}).get("grade"):
                assert out.get("name") != "stderr", "a test cell wrote to stderr"


@pytest.mark.slow
def test_notebook_values(executed):
    _, p = executed
    assert abs(p["naive_loss"] - 2.302585) < 0.1
    assert abs(p["naive_loss"] - p["vectorized_loss"]) < 1e-10
    assert p["grad_difference"] < 1e-8
    assert p["gradcheck_max"] < 1e-6
    assert p["loss_last"] < 0.9 * p["loss_first"]
    assert p["n_results"] >= 9
    assert p["best_val"] >= 0.37 and p["test_accuracy"] > 0.33
    assert p["shapes"]["X_train"] == [1960, 3073] and p["shapes"]["X_dev"] == [20, 3073]


@pytest.mark.slow
def test_the_solution_sweep_fills_results_and_reports_each_setting(executed):
    nb, p = executed
    sweep = next(c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == "sweep")
    assert "Softmax(" in sweep.source and "for lr in" in sweep.source
    printed = "".join(o.get("text", "") for o in sweep.outputs)
    per_setting = [line for line in printed.splitlines() if "val accuracy" in line]
    assert len(per_setting) == p["n_results"], printed
    assert len({tuple(k) for k in p["result_keys"]}) == p["n_results"]
    assert p["best_val"] == p["best_of_results"] == p["best_softmax_val"]
    assert p["fresh_softmax"] == "Softmax"


def code_cells(kind):
    return [c for c in load().cells if c.cell_type == "code"
            and c.metadata["nbgrader"]["grade"] == (kind == "test")]


@pytest.mark.parametrize("cell", code_cells("test"),
                         ids=lambda c: c.metadata["nbgrader"]["grade_id"])
def test_test_cells_leave_warnings_alone_and_time_nothing(cell):
    """A test cell may silence warnings only inside `with warnings.catch_warnings()`,
    and no verdict may depend on how fast the machine is."""
    tree = ast.parse(cell.source)
    for node in tree.body:               # top-level statements only
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                    and call.func.attr in ("simplefilter", "filterwarnings", "resetwarnings"):
                assert isinstance(node, ast.With), \
                    f"warnings.{call.func.attr} outside a `with warnings.catch_warnings()`"
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"perf_counter", "time", "process_time", "monotonic", "timeit"}


@pytest.mark.slow
def test_notebook_plots_rendered(executed):
    nb, _ = executed
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if "image/png" in o.get("data", {}))
    assert images >= 5   # samples, mean image, loss curve, sweep heatmap, templates
