"""A data-only message format between the trusted grader and an untrusted process.

A message is a JSON header (only str, int, float, bool, None, lists and dicts with
str keys) plus named numpy arrays, each stored as `.npy` bytes. Nothing is ever
unpickled and nothing in a message is executed: arrays are rebuilt from their
`.npy` header (read with numpy's literal parser) and raw bytes, and only plain
numeric dtypes are accepted (bool, signed and unsigned integers, floats).

On the wire a message is one frame:

    b"CSB1"                     magic (4 bytes)
    body length                 8 bytes, unsigned big-endian
    body:
        header length           4 bytes, unsigned big-endian
        header                  UTF-8 JSON: {"meta": <the header>, "arrays": [names]}
        for each array name:
            npy length          8 bytes, unsigned big-endian
            npy bytes           a version 1.0 / 2.0 / 3.0 .npy file

API:
- MessageLimits(max_frame, max_header, max_arrays, max_array_bytes, max_ndim, max_depth):
  the bounds every decoder enforces (defaults below).
- encode(meta, arrays=None, limits=MessageLimits()) -> bytes: one frame.
- decode(body, limits=MessageLimits()) -> (meta, arrays): a frame's body (after magic and
  length), arrays a dict name -> writable, native-byte-order ndarray.
- read_message(read_exact, limits=MessageLimits()) -> (meta, arrays): read_exact(n) must
  return exactly n bytes or b"" at a clean end of stream; raises Closed when the
  stream ended before a frame began.
- write_message(write_all, meta, arrays=None, limits=MessageLimits()).
- check_array(a, limits) -> a: raises ProtocolError unless a is a sendable array.
- decode_npy(raw, limits, where) -> ndarray: one .npy file's bytes, strictly checked.
- ProtocolError (ValueError): malformed or oversized input; Closed (ProtocolError):
  the other side closed the stream between frames.
"""
import ast
import dataclasses
import io
import json
import math
import struct

import numpy as np

MAGIC = b"CSB1"
_LEN8 = struct.Struct(">Q")
_LEN4 = struct.Struct(">I")
ALLOWED_KINDS = "biuf"   # bool, signed int, unsigned int, float
_NPY_MAGIC = b"\x93NUMPY"


class ProtocolError(ValueError):
    """A message that is malformed, too large or holds something other than plain data."""


class Closed(ProtocolError):
    """The stream ended cleanly before the next frame began."""


@dataclasses.dataclass(frozen=True)
class MessageLimits:
    max_frame: int = 1 << 31          # bytes in one frame
    max_header: int = 1 << 20         # bytes of JSON header
    max_arrays: int = 16              # arrays in one message
    max_array_bytes: int = 1 << 30    # bytes of data in one array (a data set's images)
    max_ndim: int = 4
    max_depth: int = 16               # nesting of lists/dicts in the header


# ---- JSON header ---------------------------------------------------------------------------
def _check_value(value, depth, limits, where="header"):
    if depth > limits.max_depth:
        raise ProtocolError(f"{where}: nested deeper than {limits.max_depth} levels")
    # Exact types: a subclass (numpy scalars, a str with its own methods) could
    # encode as something else than it claims.
    if value is None or type(value) in (bool, str, int, float):
        return
    if type(value) is list:
        for item in value:
            _check_value(item, depth + 1, limits, where)
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ProtocolError(f"{where}: dict keys must be strings, got {type(key).__name__}")
            _check_value(item, depth + 1, limits, where)
        return
    raise ProtocolError(f"{where}: {type(value).__name__} is not allowed "
                        "(only str, int, float, bool, None, list, dict)")


def _encode_header(meta, names, limits):
    _check_value(meta, 0, limits)
    try:
        text = json.dumps({"meta": meta, "arrays": names}, allow_nan=True, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ProtocolError(f"header cannot be encoded: {e}") from None
    raw = text.encode("utf-8")
    if len(raw) > limits.max_header:
        raise ProtocolError(f"header of {len(raw)} bytes is larger than {limits.max_header}")
    return raw


def _decode_header(raw, limits):
    if len(raw) > limits.max_header:
        raise ProtocolError(f"header of {len(raw)} bytes is larger than {limits.max_header}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ProtocolError(f"header is not valid UTF-8 JSON: {str(e)[:200]}") from None
    if not (isinstance(doc, dict) and set(doc) == {"meta", "arrays"}):
        raise ProtocolError("header must be an object with exactly 'meta' and 'arrays'")
    _check_value(doc["meta"], 0, limits)
    names = doc["arrays"]
    if not (isinstance(names, list) and all(isinstance(n, str) and 0 < len(n) <= 100
                                            for n in names)):
        raise ProtocolError("header 'arrays' must be a list of short non-empty names")
    if len(names) > limits.max_arrays:
        raise ProtocolError(f"{len(names)} arrays in one message; at most {limits.max_arrays}")
    if len(set(names)) != len(names):
        raise ProtocolError("array names repeat")
    return doc["meta"], names


# ---- arrays --------------------------------------------------------------------------------
def _check_dtype(dtype, where):
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ProtocolError(f"{where}: dtype {dtype} is not allowed (no objects, no records)")
    if dtype.kind not in ALLOWED_KINDS:
        raise ProtocolError(f"{where}: dtype {dtype} is not allowed "
                            "(only bool, int, uint and float)")


def _check_shape(shape, itemsize, limits, where):
    if len(shape) > limits.max_ndim:
        raise ProtocolError(f"{where}: {len(shape)} dimensions; at most {limits.max_ndim}")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ProtocolError(f"{where}: shape {shape} is not a tuple of non-negative ints")
    nbytes = math.prod(shape) * itemsize
    if nbytes > limits.max_array_bytes:
        raise ProtocolError(f"{where}: {nbytes} bytes of data; at most {limits.max_array_bytes}")
    return nbytes


def check_array(a, limits=MessageLimits(), where="array"):
    """Raise ProtocolError unless a is an ndarray this protocol can carry."""
    if not isinstance(a, np.ndarray):
        raise ProtocolError(f"{where}: expected a numpy array, got {type(a).__name__}")
    _check_dtype(a.dtype, where)
    _check_shape(a.shape, a.dtype.itemsize, limits, where)
    return a


def _encode_array(a, limits, where):
    """[.npy header bytes, data view]: the data is not copied when a is C-contiguous."""
    check_array(a, limits, where)
    if not a.flags.c_contiguous:
        a = np.array(a, order="C")
    head = io.BytesIO()
    np.lib.format.write_array_header_2_0(head, np.lib.format.header_data_from_array_1_0(a))
    return [head.getvalue(), memoryview(a.reshape(-1)).cast("B")]


def _decode_array(raw, limits, where):
    """Rebuild an array from .npy bytes without np.load: header first, data checked."""
    raw = memoryview(raw)   # slices below are views: 1 copy of the data in all
    if len(raw) < 10 or bytes(raw[:6]) != _NPY_MAGIC:
        raise ProtocolError(f"{where}: not .npy bytes")
    major = raw[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", raw[8:10]), 10
    elif major in (2, 3) and len(raw) >= 12:
        (hlen,), start = struct.unpack("<I", raw[8:12]), 12
    else:
        raise ProtocolError(f"{where}: unknown .npy version {major}")
    if hlen > 10000 or start + hlen > len(raw):
        raise ProtocolError(f"{where}: bad .npy header length {hlen}")
    try:
        text = bytes(raw[start:start + hlen]).decode("latin1" if major < 3 else "utf-8")
        # A Python literal (a dict of str, tuple, bool): literal_eval evaluates nothing.
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise ProtocolError(f"{where}: unreadable .npy header") from None
    if not (isinstance(header, dict) and set(header) == {"descr", "fortran_order", "shape"}):
        raise ProtocolError(f"{where}: .npy header must hold descr, fortran_order, shape")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str) or not isinstance(fortran, bool) or not isinstance(shape, tuple):
        raise ProtocolError(f"{where}: .npy header fields have the wrong types")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise ProtocolError(f"{where}: unknown dtype {descr[:40]!r}") from None
    _check_dtype(dtype, where)
    nbytes = _check_shape(shape, dtype.itemsize, limits, where)
    have = len(raw) - start - hlen
    if have != nbytes:
        raise ProtocolError(f"{where}: {have} bytes of data for shape {shape} of "
                            f"{dtype} (needs {nbytes})")
    a = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=start + hlen)
    a = a.reshape(shape, order="F" if fortran else "C")
    # A private, writable copy in native byte order.
    return np.array(a, dtype=dtype.newbyteorder("="), order="C", copy=True)


decode_npy = _decode_array


# ---- frames --------------------------------------------------------------------------------
def encode(meta, arrays=None, limits=MessageLimits()):
    """One frame (magic, length, body) holding meta and the named arrays."""
    arrays = dict(arrays or {})
    if len(arrays) > limits.max_arrays:
        raise ProtocolError(f"{len(arrays)} arrays in one message; at most {limits.max_arrays}")
    names = list(arrays)
    header = _encode_header(meta, names, limits)
    parts = [_LEN4.pack(len(header)), header]
    for name in names:
        npy = _encode_array(arrays[name], limits, f"array {name!r}")
        parts += [_LEN8.pack(sum(len(p) for p in npy)), *npy]
    size = sum(len(p) for p in parts)
    if size > limits.max_frame:
        raise ProtocolError(f"message of {size} bytes is larger than {limits.max_frame}")
    return b"".join([MAGIC, _LEN8.pack(size), *parts])


def decode(body, limits=MessageLimits()):
    """(meta, arrays) from the body of one frame; every length is checked."""
    view = memoryview(body)
    if len(view) < 4:
        raise ProtocolError("truncated message")
    (hlen,) = _LEN4.unpack(view[:4])
    if 4 + hlen > len(view):
        raise ProtocolError("truncated header")
    meta, names = _decode_header(bytes(view[4:4 + hlen]), limits)
    pos, arrays = 4 + hlen, {}
    for name in names:
        if pos + 8 > len(view):
            raise ProtocolError(f"truncated before array {name!r}")
        (n,) = _LEN8.unpack(view[pos:pos + 8])
        pos += 8
        if n > len(view) - pos:
            raise ProtocolError(f"truncated array {name!r}")
        arrays[name] = _decode_array(view[pos:pos + n], limits, f"array {name!r}")
        pos += n
    if pos != len(view):
        raise ProtocolError(f"{len(view) - pos} stray bytes after the last array")
    return meta, arrays


def read_message(read_exact, limits=MessageLimits()):
    """Read one frame with read_exact(n) and decode it."""
    head = read_exact(12)
    if not head:
        raise Closed("the other side closed the connection")
    if len(head) != 12 or head[:4] != MAGIC:
        raise ProtocolError("not a message frame (bad magic)")
    (n,) = _LEN8.unpack(head[4:])
    if n > limits.max_frame:
        raise ProtocolError(f"frame of {n} bytes is larger than {limits.max_frame}")
    body = read_exact(n)
    if len(body) != n:
        raise ProtocolError(f"truncated frame: {len(body)} of {n} bytes")
    return decode(body, limits)


def write_message(write_all, meta, arrays=None, limits=MessageLimits()):
    write_all(encode(meta, arrays, limits))
