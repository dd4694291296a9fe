"""Small synthetic CIFAR-10 data sets in the official file format, for tests.

The official batches are Python 2 pickles: dict keys and the pixel buffer are
Python 2 byte strings (SHORT_BINSTRING / BINSTRING opcodes), the array is
rebuilt by numpy.core.multiarray._reconstruct. write_py2_batch() emits exactly
those opcodes, so the loader is tested on the real format, not on whatever the
running Python would write.

The images are learnable: each class has its own random template and every
image is its class template plus noise, so a linear classifier can score well
above chance, as it does on real CIFAR-10.
"""
import os
import pickle
import struct

import numpy as np

P = pickle  # opcode constants: P.PROTO, P.MARK, ...


def _str(s):
    """A Python 2 str (bytes) as SHORT_BINSTRING or BINSTRING."""
    b = s.encode("latin1") if isinstance(s, str) else bytes(s)
    if len(b) < 256:
        return P.SHORT_BINSTRING + bytes([len(b)]) + b
    return P.BINSTRING + struct.pack("<i", len(b)) + b


def _int(i):
    return P.BININT + struct.pack("<i", int(i))


def _glob(module, name):
    return P.GLOBAL + f"{module}\n{name}\n".encode()


def _array(a):
    """A uint8 ndarray the way Python 2 numpy pickled it."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    dtype = (_glob("numpy", "dtype") + _str("u1") + _int(0) + _int(1) + P.TUPLE3 + P.REDUCE
             + P.MARK + _int(3) + _str("|") + P.NONE + P.NONE + P.NONE
             + _int(-1) + _int(-1) + _int(0) + P.TUPLE + P.BUILD)
    shape = P.MARK + b"".join(_int(d) for d in a.shape) + P.TUPLE
    return (_glob("numpy.core.multiarray", "_reconstruct") + _glob("numpy", "ndarray")
            + _int(0) + P.TUPLE1 + _str("b") + P.TUPLE3 + P.REDUCE
            + P.MARK + _int(1) + shape + dtype + P.NEWFALSE + _str(a.tobytes())
            + P.TUPLE + P.BUILD)


def py2_batch_bytes(data, labels, batch_label="synthetic batch"):
    """The bytes of one batch file: {'batch_label', 'labels', 'data', 'filenames'}."""
    out = P.PROTO + b"\x02" + P.EMPTY_DICT + P.MARK
    out += _str("batch_label") + _str(batch_label)
    out += _str("labels") + P.EMPTY_LIST + P.MARK + b"".join(_int(v) for v in labels) + P.APPENDS
    out += _str("data") + _array(data)
    out += _str("filenames") + P.EMPTY_LIST + P.MARK + b"".join(
        _str(f"img_{i:05d}.png") for i in range(len(labels))) + P.APPENDS
    return out + P.SETITEMS + P.STOP


def make_images(n, rng, templates, noise=60):
    """n images (n, 3072) uint8 in R, G, B plane order, and their labels (n,)."""
    labels = rng.integers(0, templates.shape[0], size=n)
    imgs = templates[labels] + rng.normal(0, noise, size=(n, 3072))
    return np.clip(imgs, 0, 255).astype(np.uint8), labels


def write_cifar(root, n_per_batch=200, n_test=200, seed=0, num_batches=5, signal=4.0):
    """Write cifar-10-batches-py into root; returns its path and the raw arrays."""
    rng = np.random.default_rng(seed)
    # A common background plus a weak class-specific pattern: learnable by a
    # linear classifier, but not so easily that a wrong gradient still scores 100%.
    templates = rng.uniform(60, 195, size=3072) + rng.normal(0, signal, size=(10, 3072))
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    raw = {}
    for b in range(1, num_batches + 1):
        data, labels = make_images(n_per_batch, rng, templates)
        raw[f"data_batch_{b}"] = (data, labels)
        with open(os.path.join(folder, f"data_batch_{b}"), "wb") as f:
            f.write(py2_batch_bytes(data, labels, f"training batch {b} of {num_batches}"))
    data, labels = make_images(n_test, rng, templates)
    raw["test_batch"] = (data, labels)
    with open(os.path.join(folder, "test_batch"), "wb") as f:
        f.write(py2_batch_bytes(data, labels, "testing batch 1 of 1"))
    return folder, raw


if __name__ == "__main__":  # python tests/cifar_fixture.py OUT [n_per_batch n_test]
    import sys
    args = sys.argv[1:]
    folder, _ = write_cifar(args[0], *(int(a) for a in args[1:3]))
    print(folder)
