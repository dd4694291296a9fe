"""Load CIFAR-10 from the official "python version" files and preprocess it.

The data set folder (cifar-10-batches-py) holds data_batch_1 .. data_batch_5
(training) and test_batch, each a Python 2 pickle of a dict with
  'data':   uint8 array (n, 3072), each row an image as R, G, B planes of 32x32
  'labels': list of n ints in [0, 10)

Where the folder is: the CIFAR10_DIR environment variable if set, otherwise
datasets/cifar-10-batches-py next to the cs231n package. get_datasets.sh puts
it there.
"""
import codecs
import os
import pickle

import numpy as np

from .contract import ContractError, pair

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CIFAR10_DIR = os.path.join(os.path.dirname(_HERE), "datasets", "cifar-10-batches-py")
TRAIN_FILES = [f"data_batch_{b}" for b in range(1, 6)]
TEST_FILE = "test_batch"
CLASSES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_FIX = ("Run ./get_datasets.sh to download (or repair) it; or, if CIFAR-10 is already on this "
        "machine, set the environment variable CIFAR10_DIR to its cifar-10-batches-py folder "
        "(export CIFAR10_DIR=/path/to/cifar-10-batches-py) and restart the kernel.")


class DatasetError(RuntimeError):
    """The CIFAR-10 files are missing, truncated or not what they should be."""


def dataset_dir(root=None):
    """The data set folder: root if given, else $CIFAR10_DIR, else the default."""
    return os.fspath(root or os.environ.get("CIFAR10_DIR") or DEFAULT_CIFAR10_DIR)


try:  # numpy >= 2 keeps its internals in numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct


class _BatchUnpickler(pickle.Unpickler):
    """Unpickle only what a CIFAR-10 batch holds: plain containers and numpy arrays.

    pickle can run arbitrary code; a batch file only ever needs these few
    callables, so anything else is refused. Mapping them by hand also
    avoids numpy 2's deprecation warning for the old numpy.core path.
    """
    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
                ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
                ("numpy", "ndarray"): np.ndarray,
                ("numpy", "dtype"): np.dtype,
                # Python 3 writes bytes in protocol 2 as _codecs.encode(str, 'latin1')
                ("_codecs", "encode"): codecs.encode}

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}") from None


def _read_batch(filename):
    """Read one batch file; returns (data uint8 (n, 3072) CHW rows, labels int64 (n,))."""
    if not os.path.isfile(filename):
        raise DatasetError(f"CIFAR-10 file not found: {filename}. {_FIX}")
    try:
        with open(filename, "rb") as f:
            d = _BatchUnpickler(f, encoding="latin1").load()
        data = np.asarray(d["data"])
        labels = np.asarray(d["labels"], dtype=np.int64)
    except Exception as e:  # truncated, not a pickle, wrong content
        raise DatasetError(f"CIFAR-10 file {filename} is corrupt or truncated "
                           f"({type(e).__name__}: {e}). {_FIX}") from e
    if (data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072
            or labels.shape != (data.shape[0],)
            or (labels.size and (labels.min() < 0 or labels.max() > 9))):
        raise DatasetError(f"CIFAR-10 file {filename} does not hold uint8 images (n, 3072) "
                           f"with labels 0..9 (got data {data.dtype} {data.shape}, "
                           f"{labels.shape[0]} labels). {_FIX}")
    return data, labels


def _to_hwc(rows):
    """(n, 3072) rows of R, G, B planes -> (n, 32, 32, 3) images (a view, no copy)."""
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _read_batches(root, names):
    """[(data, labels)] of the named batch files, the raw uint8 rows (see _read_batch)."""
    batches = []
    for name in names:
        batches.append(_read_batch(os.path.join(root, name)))
    return batches


def load_CIFAR_batch(filename):
    """
    Load a single batch of CIFAR-10.

    Returns a tuple of:
    - X: uint8 array of shape (n, 32, 32, 3), the images (height, width, RGB)
    - Y: int64 array of shape (n,), the labels
    """
    data, labels = _read_batch(filename)
    return np.ascontiguousarray(_to_hwc(data)), labels


def _stack_hwc(batches):
    """Images (n, 32, 32, 3) and labels (n,) of a list of raw batches, emptying the list:
    each raw batch is freed once copied, so the peak is about the output plus
    the raw batches not yet copied."""
    n = sum(labels.shape[0] for _, labels in batches)
    X = np.empty((n, 32, 32, 3), dtype=np.uint8)
    Y = np.empty(n, dtype=np.int64)
    start = 0
    while batches:
        data, labels = batches.pop(0)
        X[start:start + labels.shape[0]] = _to_hwc(data)
        Y[start:start + labels.shape[0]] = labels
        start += labels.shape[0]
        del data, labels
    return X, Y


def load_CIFAR10(ROOT=None):
    """
    Load all of CIFAR-10 as raw pixels.

    Inputs:
    - ROOT: the cifar-10-batches-py folder (default: see dataset_dir).

    Returns a tuple of:
    - Xtr: uint8 array (50000, 32, 32, 3), training images
    - Ytr: int64 array (50000,), training labels
    - Xte: uint8 array (10000, 32, 32, 3), test images
    - Yte: int64 array (10000,), test labels
    (fewer rows if the files hold fewer images).
    """
    root = dataset_dir(ROOT)
    _check_folder(root)
    Xtr, Ytr = _stack_hwc(_read_batches(root, TRAIN_FILES))
    Xte, Yte = _stack_hwc(_read_batches(root, [TEST_FILE]))
    return Xtr, Ytr, Xte, Yte


def _check_folder(root):
    if not os.path.isdir(root):
        if os.environ.get("CIFAR10_DIR"):
            where = f"the folder CIFAR10_DIR names ({os.environ['CIFAR10_DIR']})"
        else:
            where = "the default folder (CIFAR10_DIR is not set)"
        raise DatasetError(f"CIFAR-10 folder not found: {root}, {where}. {_FIX}")


def _fill(batches, dest, mean=None, chunk=512):
    """Move images from a list of raw batches into dest = [(X_out, y_out), ...] in order.

    Each X_out is (n, 3073): its columns :3072 receive the pixels in (height,
    width, RGB) order, converted to X_out's dtype, minus mean (3072,) if given,
    and column 3072 the constant 1 (bias trick). Rows go in chunks small
    enough to stay in cache, so conversion, centring and the bias column cost
    one pass over the output. Batches are popped from the list and freed as
    they are used up, so the peak is the outputs plus the batches not yet used.
    The callers check beforehand that the batches hold enough images.
    """
    targets = [(X, y) for X, y in dest if X.shape[0] > 0]
    t, filled = 0, 0                   # the target being filled, and its rows done
    while t < len(targets) and batches:
        data, labels = batches.pop(0)
        start = 0
        while t < len(targets) and start < data.shape[0]:
            X, y = targets[t]
            take = min(chunk, X.shape[0] - filled, data.shape[0] - start)
            out = X[filled:filled + take]
            pixels = out[:, :3072]
            # A view of the same memory: only the contiguous last axis is split.
            pixels.reshape(take, 32, 32, 3)[...] = _to_hwc(data[start:start + take])
            if mean is not None:
                pixels -= mean
            out[:, 3072] = 1.0
            y[filled:filled + take] = labels[start:start + take]
            start += take
            filled += take
            if filled == X.shape[0]:
                t, filled = t + 1, 0
        del data, labels


def _pixel_sums(batches, n):
    """int64 (3072,): the sum of the first n raw images of a list of batches (exact)."""
    total = np.zeros(3072, dtype=np.int64)
    for data, _ in batches:
        take = min(n, data.shape[0])
        total += data[:take].sum(axis=0, dtype=np.int64)
        n -= take
    return total


def get_CIFAR10_data(num_training=None, num_validation=None, num_test=None, num_dev=None,
                     cifar10_dir=None, subtract_mean=True, dtype=np.float32, seed=0):
    """
    Load CIFAR-10 and preprocess it for a linear classifier.

    Splits: the first num_training training images are the training set, the
    next num_validation the validation set; the first num_test test images the
    test set; a seeded random subset of num_dev training images the dev set
    (for quick checks). None means the standard sizes 49000 / 1000 / 1000 / 500
    on the full data set; on a smaller copy (such as a test fixture) the same
    fractions of what it holds (98% / 2% of train, 10% of test, 1% of train).

    Preprocessing: every image is flattened to 3072 values in (height, width,
    RGB) order, the mean training image is subtracted (if subtract_mean), and a
    constant 1 is appended as column 3072 (the bias trick), so D = 3073.

    Inputs:
    - cifar10_dir: the cifar-10-batches-py folder (default: $CIFAR10_DIR or
      datasets/cifar-10-batches-py).
    - dtype: floating dtype of the X arrays. float32 halves the memory and the
      time of every matrix product, and is plenty for SGD.
    - seed: seed for choosing the dev subset.

    Returns a dict with
    - X_train (num_training, 3073), y_train (num_training,)
    - X_val (num_validation, 3073), y_val (num_validation,)
    - X_test (num_test, 3073), y_test (num_test,)
    - X_dev (num_dev, 3073), y_dev (num_dev,)
    - mean_image: float64 (32, 32, 3), the subtracted mean (zeros if not subtracted)
    Labels are int64.

    Memory: the raw training batches (uint8, a quarter of the size of the
    float32 result) are read first, since the default sizes depend on how many
    images they hold; each is freed as soon as it is converted, and the test
    batch is read after that. On full CIFAR-10 in float32 the process peaks at
    about 1.3 times the size of the result (some freed memory stays with the
    process for reuse), well under a gigabyte.
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"dtype must be a floating type, got {dtype}")
    root = dataset_dir(cifar10_dir)
    _check_folder(root)
    train = _read_batches(root, TRAIN_FILES)                  # raw uint8, see _read_batch
    n_train_all = sum(labels.shape[0] for _, labels in train)
    full = n_train_all >= 50000
    if num_validation is None:
        num_validation = 1000 if full else max(1, n_train_all // 50)
    if num_training is None:
        num_training = min(49000, n_train_all - num_validation)
    if num_dev is None:
        num_dev = 500 if full else max(1, n_train_all // 100)
    for name, n in [("num_training", num_training), ("num_validation", num_validation),
                    ("num_test", num_test), ("num_dev", num_dev)]:
        if n is not None and (int(n) != n or n < 0):
            raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
    if num_training < 1:
        raise ValueError("num_training must be at least 1")
    if num_dev > num_training:
        raise ValueError(f"num_dev ({num_dev}) cannot exceed num_training ({num_training})")
    if num_training + num_validation > n_train_all:
        raise ValueError(f"the training files hold {n_train_all} images, fewer than "
                         f"num_training + num_validation = {num_training + num_validation}")

    D = 3072
    if subtract_mean:
        sums = _to_hwc(_pixel_sums(train, num_training)).reshape(D)   # (h, w, RGB) order
        mean_image = sums / num_training
    else:
        mean_image = np.zeros(D)
    mean = mean_image.astype(dtype) if subtract_mean else None
    # np.empty takes no memory until written: the pages fill up as the raw batches go.
    X_train = np.empty((num_training, D + 1), dtype=dtype)
    y_train = np.empty(num_training, dtype=np.int64)
    X_val = np.empty((num_validation, D + 1), dtype=dtype)
    y_val = np.empty(num_validation, dtype=np.int64)
    _fill(train, [(X_train, y_train), (X_val, y_val)], mean)
    del train                        # what is left of it: images beyond the splits

    test = _read_batches(root, [TEST_FILE])
    n_test_all = test[0][1].shape[0]
    if num_test is None:
        num_test = 1000 if n_test_all >= 10000 else max(1, n_test_all // 10)
    if num_test > n_test_all:
        raise ValueError(f"the test file holds {n_test_all} images, fewer than "
                         f"num_test = {num_test}")
    X_test = np.empty((num_test, D + 1), dtype=dtype)
    y_test = np.empty(num_test, dtype=np.int64)
    _fill(test, [(X_test, y_test)], mean)

    dev_idx = np.random.default_rng(seed).choice(num_training, num_dev, replace=False)
    return {
        "X_train": X_train, "y_train": y_train,
        "X_val": X_val, "y_val": y_val,
        "X_test": X_test, "y_test": y_test,
        "X_dev": X_train[dev_idx], "y_dev": y_train[dev_idx],
        "mean_image": mean_image.reshape(32, 32, 3),
    }


def check_training_data(X, y):
    """
    Check a training set before SGD runs on it, with a clear error if it cannot be one.

    Inputs:
    - X: array-like of shape (N, D), floats.
    - y: array-like of shape (N,), integer labels >= 0.

    Returns (X, y) as numpy arrays (no copy when they already are).
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (N, D), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        raise TypeError(f"X must hold floats (float32 or float64), got {X.dtype}; "
                        "preprocess it with get_CIFAR10_data or X.astype(np.float32)")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("the training set is empty")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise ValueError("labels y must be non-negative integers")
    return X, y


def check_minibatch(batch, dim):
    """
    Check what LinearClassifier.sample_batch returned, so that a mistake there
    is reported where it is made rather than deep inside the loss.

    Inputs:
    - batch: the return value of sample_batch, expected (X_batch, y_batch) (a tuple,
      or any sequence of the two).
    - dim: D, the number of columns of the training data.

    Returns (X_batch, y_batch) unchanged, as a tuple.
    """
    try:
        # The contract's rule: any sequence of two items, a tuple or a list.
        X_batch, y_batch = pair(batch, "(X_batch, y_batch)")
    except ContractError as e:
        raise TypeError(f"sample_batch: {e}") from None
    if X_batch is None or y_batch is None:
        raise TypeError("sample_batch returned None for X_batch or y_batch: "
                        "fill in its TODO in linear_classifier.py")
    if (np.ndim(X_batch) != 2 or np.shape(X_batch)[1] != dim
            or np.shape(y_batch) != (np.shape(X_batch)[0],)):
        raise ValueError(f"sample_batch must return X_batch of shape (batch_size, {dim}) "
                         f"and y_batch of shape (batch_size,); got {np.shape(X_batch)} "
                         f"and {np.shape(y_batch)}")
    return X_batch, y_batch
