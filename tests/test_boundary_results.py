"""Notebook-level results: saved as data in the kernel, validated on the trusted side.

The kernel is stood in for by exec() in a fresh namespace: results_code runs there
exactly as it would in the notebook's __main__."""
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

from instructor.assignment import spec
from instructor.boundary.results import load_results, results_code

FIELDS = [v.key for v in spec().values]


class Classifier:
    def __init__(self, W):
        self.W = W


def notebook_namespace(seed, D=7, C=4):
    rng = np.random.default_rng(seed)
    return {"best_val": np.float64(rng.uniform(0.3, 0.4)),
            "test_accuracy": float(rng.uniform(0.3, 0.4)),
            "loss_hist": [float(v) for v in rng.uniform(1, 2, size=15)],
            "softmax": Classifier(rng.standard_normal((D, C))),
            "best_softmax": Classifier(rng.standard_normal((D, C)).astype(np.float32)),
            "y_test_pred": rng.integers(0, C, size=11),
            "results": {(1e-7, 2.5e4): (0.31, 0.32), (5e-7, 1e3): (0.35, 0.36)},
            "unrelated": object()}


def run_in_kernel(namespace, path):
    before = set(namespace)
    exec(results_code(str(path)), namespace)
    assert set(namespace) - {"__builtins__"} == before - {"__builtins__"}, \
        "the saving code must leave no names behind"


@pytest.mark.parametrize("seed", [0, 1])
def test_everything_the_notebook_left_comes_back_exactly(tmp_path, seed):
    ns = notebook_namespace(seed)
    path = tmp_path / "results.npz"
    run_in_kernel(ns, path)
    res = load_results(path, w_shape=(7, 4))
    assert res.problems == {}
    assert res.best_val == ns["best_val"] and res.test_accuracy == ns["test_accuracy"]
    assert res.loss_hist.tolist() == ns["loss_hist"]
    np.testing.assert_array_equal(res.softmax_W, ns["softmax"].W)
    np.testing.assert_array_equal(res.best_W, ns["best_softmax"].W)
    assert res.best_W.dtype == np.float64
    np.testing.assert_array_equal(res.y_test_pred, ns["y_test_pred"])
    assert res.results == ns["results"]


def test_missing_and_wrong_typed_variables_are_recorded_and_the_rest_kept(tmp_path):
    ns = notebook_namespace(2)
    del ns["test_accuracy"]
    ns["best_val"] = "high"
    ns["best_softmax"] = None
    ns["results"] = [1, 2]
    ns["loss_hist"] = [1.0, float("nan")]
    path = tmp_path / "results.npz"
    run_in_kernel(ns, path)
    res = load_results(path, w_shape=(7, 4))
    assert res.test_accuracy is None and "not defined" in res.problems["test_accuracy"]
    assert res.best_val is None and "best_val" in res.problems
    assert res.best_W is None and "best_W" in res.problems
    assert res.results is None and "results" in res.problems
    assert res.loss_hist is None and "NaN" in res.problems["loss_hist"]
    np.testing.assert_array_equal(res.softmax_W, ns["softmax"].W)
    assert set(res.problems) == {"test_accuracy", "best_val", "best_W", "results", "loss_hist"}


def test_an_attribute_that_raises_is_recorded_not_fatal(tmp_path):
    class Hostile:
        @property
        def W(self):
            raise RuntimeError("no")
    ns = notebook_namespace(3)
    ns["best_softmax"] = Hostile()
    run_in_kernel(ns, tmp_path / "r.npz")
    res = load_results(tmp_path / "r.npz")
    assert res.best_W is None and "RuntimeError" in res.problems["best_W"]
    assert res.best_val is not None


@pytest.mark.parametrize("field,value,why", [
    ("best_val", 1.5, "not in"), ("test_accuracy", np.array([0.1, 0.2]), "one number"),
    ("best_W", np.ones((3, 2)), r"expected \(7, 4\)"), ("best_W", np.ones(5), "2-D"),
    ("softmax_W", np.full((7, 4), np.inf), "NaN or infinity"),
    ("y_test_pred", np.ones(4), "integer labels"),
])
def test_out_of_range_values_are_refused_field_by_field(tmp_path, field, value, why):
    ns = notebook_namespace(4)
    path = tmp_path / "r.npz"
    run_in_kernel(ns, path)
    with np.load(path) as f:
        arrays = dict(f)
    arrays[field] = value
    np.savez(path, **arrays)
    res = load_results(path, w_shape=(7, 4))
    assert getattr(res, field) is None
    assert re.search(why, res.problems[field])
    assert set(res.problems) == {field}


def every_field_unusable(res, text):
    return all(getattr(res, f) is None and text in res.problems[f] for f in FIELDS)


def test_a_missing_file_means_every_field_missing(tmp_path):
    assert every_field_unusable(load_results(tmp_path / "none.npz"), "not written")


def test_hostile_files_are_refused_without_running_anything(tmp_path):
    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))
    path = tmp_path / "r.npz"
    arr = np.empty(1, dtype=object)
    arr[0] = Boom()
    np.savez(path, best_W=arr)
    assert every_field_unusable(load_results(path), "unusable")
    assert not (tmp_path / "ran").exists()

    path.write_bytes(pickle.dumps(Boom()))
    assert every_field_unusable(load_results(path), "not an .npz")
    assert not (tmp_path / "ran").exists()

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:   # a zip bomb
        z.writestr("best_W.npy", b"\0" * (70 << 20))
    assert every_field_unusable(load_results(path), "declares")

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("../../etc/evil.npy", b"x")
    assert every_field_unusable(load_results(path), "unexpected member")


def test_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    assert every_field_unusable(load_results(fifo), "not a regular file")
    link = tmp_path / "link.npz"
    ns = notebook_namespace(5)
    run_in_kernel(ns, tmp_path / "real.npz")
    os.symlink(tmp_path / "real.npz", link)
    assert every_field_unusable(load_results(link), "symbolic link")


def test_results_code_needs_an_npz_path():
    with pytest.raises(ValueError, match=".npz"):
        results_code("out.pkl")
