"""Loading CIFAR-10 from the official pickle format, and preprocessing."""
import os
import pickle
import shutil

import numpy as np
import pytest

from cifar_fixture import py2_batch_bytes, write_cifar
from cs231n import data_utils
from cs231n.data_utils import DatasetError, get_CIFAR10_data, load_CIFAR10, load_CIFAR_batch


def hwc(rows):
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_cifar(tmp_path_factory.mktemp("c"), n_per_batch=50, n_test=40, seed=1)


def test_load_batch_reads_the_python2_format(small):
    folder, raw = small
    X, y = load_CIFAR_batch(os.path.join(folder, "data_batch_2"))
    data, labels = raw["data_batch_2"]
    assert X.shape == (50, 32, 32, 3) and X.dtype == np.uint8
    np.testing.assert_array_equal(X, hwc(data))      # R, G, B planes -> (h, w, rgb)
    np.testing.assert_array_equal(y, labels)


def test_load_cifar10_concatenates_batches_in_order(small):
    folder, raw = small
    Xtr, Ytr, Xte, Yte = load_CIFAR10(folder)
    assert Xtr.shape == (250, 32, 32, 3) and Xte.shape == (40, 32, 32, 3)
    np.testing.assert_array_equal(Xtr[50:100], hwc(raw["data_batch_2"][0]))
    np.testing.assert_array_equal(Yte, raw["test_batch"][1])


def test_batches_of_any_size(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    sizes = [7, 0, 13, 1, 4]
    for b, n in enumerate(sizes, 1):
        (folder / f"data_batch_{b}").write_bytes(
            py2_batch_bytes(rng.integers(0, 256, (n, 3072)), rng.integers(0, 10, n)))
    (folder / "test_batch").write_bytes(
        py2_batch_bytes(rng.integers(0, 256, (5, 3072)), rng.integers(0, 10, 5)))
    Xtr, Ytr, _, _ = load_CIFAR10(folder)
    assert Xtr.shape[0] == Ytr.shape[0] == sum(sizes)
    d = get_CIFAR10_data(num_training=20, num_validation=5, num_test=5, num_dev=3,
                         cifar10_dir=folder)
    np.testing.assert_array_equal(np.concatenate([d["y_train"], d["y_val"]]), Ytr)


def test_preprocessing(small):
    folder, raw = small
    d = get_CIFAR10_data(num_training=200, num_validation=30, num_test=40, num_dev=16,
                         cifar10_dir=folder, dtype=np.float64)
    all_train = np.concatenate([hwc(raw[f"data_batch_{b}"][0]) for b in range(1, 6)])
    all_train = all_train.reshape(-1, 3072).astype(np.float64)
    mean = all_train[:200].mean(axis=0)
    for key, n in [("X_train", 200), ("X_val", 30), ("X_test", 40), ("X_dev", 16)]:
        assert d[key].shape == (n, 3073) and d[key].dtype == np.float64
        np.testing.assert_array_equal(d[key][:, -1], 1.0)           # bias trick
    np.testing.assert_allclose(d["X_train"][:, :3072], all_train[:200] - mean, atol=1e-9)
    np.testing.assert_allclose(d["X_val"][:, :3072], all_train[200:230] - mean, atol=1e-9)
    np.testing.assert_allclose(d["mean_image"].reshape(-1), mean)
    # the dev set is a subset of the training set, without repeats
    rows = {r.tobytes(): y for r, y in zip(d["X_train"], d["y_train"])}
    assert len({r.tobytes() for r in d["X_dev"]}) == 16
    for r, y in zip(d["X_dev"], d["y_dev"]):
        assert rows[r.tobytes()] == y


def test_defaults_scale_to_a_small_copy_and_are_float32(small):
    folder, _ = small
    d = get_CIFAR10_data(cifar10_dir=folder)
    assert d["X_train"].shape == (245, 3073) and d["X_val"].shape == (5, 3073)
    assert d["X_test"].shape == (4, 3073) and d["X_dev"].shape == (2, 3073)
    assert d["X_train"].dtype == np.float32 and d["y_train"].dtype == np.int64


def test_dev_split_is_seeded(small):
    folder, _ = small
    runs = [get_CIFAR10_data(num_training=200, num_validation=5, num_test=4, num_dev=20,
                             cifar10_dir=folder, seed=s)["y_dev"] for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_no_mean_subtraction(small):
    folder, raw = small
    d = get_CIFAR10_data(num_training=10, num_validation=0, num_test=1, num_dev=1,
                         cifar10_dir=folder, subtract_mean=False)
    np.testing.assert_array_equal(d["X_train"][:, :3072],
                                  hwc(raw["data_batch_1"][0][:10]).reshape(10, -1))


def test_environment_variable_selects_the_folder(small, monkeypatch):
    folder, _ = small
    monkeypatch.setenv("CIFAR10_DIR", str(folder))
    assert data_utils.dataset_dir() == str(folder)
    assert get_CIFAR10_data()["X_train"].shape[0] == 245


def test_missing_folder_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    with pytest.raises(DatasetError, match="get_datasets.sh.*set the environment variable "
                                           "CIFAR10_DIR to its cifar-10-batches-py folder"):
        get_CIFAR10_data(cifar10_dir=tmp_path / "nope")
    with pytest.raises(DatasetError, match="CIFAR10_DIR is not set.*get_datasets.sh"):
        load_CIFAR10(tmp_path / "nope")


def test_missing_folder_named_by_cifar10_dir_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(DatasetError) as e:
        get_CIFAR10_data()
    assert f"the folder CIFAR10_DIR names ({tmp_path / 'elsewhere'})" in str(e.value)


def copy_of(small, tmp_path):
    dst = tmp_path / "cifar-10-batches-py"
    shutil.copytree(small[0], dst)
    return dst


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "missing", "wrong_shape"])
def test_corrupt_files_raise_dataset_error(small, tmp_path, damage):
    dst = copy_of(small, tmp_path)
    target = dst / "data_batch_3"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:5000])
    elif damage == "garbage":
        target.write_bytes(b"not a pickle at all" * 100)
    elif damage == "empty":
        target.write_bytes(b"")
    elif damage == "missing":
        target.unlink()
    else:
        target.write_bytes(py2_batch_bytes(np.zeros((4, 3072 - 1), np.uint8), [0, 1, 2, 3]))
    with pytest.raises(DatasetError, match="data_batch_3.*get_datasets.sh|get_datasets.sh"):
        get_CIFAR10_data(cifar10_dir=dst)


def test_malicious_pickle_is_refused(small, tmp_path):
    dst = copy_of(small, tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (dst / "test_batch").write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}, protocol=2))
    with pytest.raises(DatasetError, match="unexpected object"):
        load_CIFAR10(dst)
    assert not (tmp_path / "pwned").exists()


def test_python3_pickles_also_load(small, tmp_path):
    dst = copy_of(small, tmp_path)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (6, 3072)).astype(np.uint8)
    for proto in (2, 4):
        (dst / "test_batch").write_bytes(pickle.dumps(
            {"data": data, "labels": [1, 2, 3, 4, 5, 6]}, protocol=proto))
        X, y = load_CIFAR_batch(dst / "test_batch")
        np.testing.assert_array_equal(X, hwc(data))


def test_bad_sizes(small):
    folder, _ = small
    with pytest.raises(ValueError, match="fewer"):
        get_CIFAR10_data(num_training=300, num_validation=10, num_test=1, num_dev=1,
                         cifar10_dir=folder)
    with pytest.raises(ValueError, match="num_dev"):
        get_CIFAR10_data(num_training=10, num_validation=1, num_test=1, num_dev=11,
                         cifar10_dir=folder)
    with pytest.raises(TypeError, match="floating"):
        get_CIFAR10_data(cifar10_dir=folder, dtype=np.int32)
