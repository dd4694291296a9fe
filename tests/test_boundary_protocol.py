"""The data-only message format: what it carries exactly, and what it refuses."""
import io
import json
import pickle
import struct

import numpy as np
import pytest

from instructor.boundary import protocol
from instructor.boundary.protocol import MessageLimits, ProtocolError


def frame_body(frame):
    assert frame[:4] == protocol.MAGIC
    (n,) = struct.unpack(">Q", frame[4:12])
    assert n == len(frame) - 12
    return frame[12:]


def npy_bytes(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def body_with(npy, meta=None, name="a"):
    """A frame body holding one raw .npy blob, to hand-craft hostile messages."""
    header = json.dumps({"meta": meta or {}, "arrays": [name]}).encode()
    return struct.pack(">I", len(header)) + header + struct.pack(">Q", len(npy)) + npy


@pytest.mark.parametrize("dtype", ["bool", "int8", "int64", "uint16", "uint64", "float32",
                                   "float64", ">f8", "<i4"])
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 0, 4), (2, 3, 4, 2)])
def test_arrays_round_trip_exactly(dtype, shape):
    rng = np.random.default_rng(sum(shape) + len(dtype))
    a = np.asarray(rng.standard_normal(shape) * 100).astype(dtype)
    meta, arrays = protocol.decode(frame_body(protocol.encode({"k": 1}, {"a": a})))
    b = arrays["a"]
    assert meta == {"k": 1}
    assert b.shape == a.shape and b.dtype == a.dtype.newbyteorder("=")
    np.testing.assert_array_equal(b, a)
    assert b.flags.writeable and b.dtype.isnative


def test_fortran_order_and_views_keep_their_values():
    a = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    view = np.arange(20).reshape(4, 5)[::2, 1::2]
    _, arrays = protocol.decode(frame_body(protocol.encode({}, {"f": a, "v": view})))
    np.testing.assert_array_equal(arrays["f"], a)
    np.testing.assert_array_equal(arrays["v"], view)


def test_header_values_round_trip():
    meta = {"s": "é", "i": 2 ** 100, "f": 0.1, "b": True, "n": None, "l": [1, [2, {"x": 3}]],
            "nan": float("nan"), "inf": float("-inf")}
    got, _ = protocol.decode(frame_body(protocol.encode(meta)))
    assert got["i"] == 2 ** 100 and got["l"] == [1, [2, {"x": 3}]] and got["s"] == "é"
    assert np.isnan(got["nan"]) and got["inf"] == float("-inf")


@pytest.mark.parametrize("value", [b"bytes", {1: "int key"}, (1, 2), {1.5}, object(),
                                   np.float64(1.0), np.arange(3)])
def test_header_refuses_non_json_types(value):
    with pytest.raises(ProtocolError):
        protocol.encode({"x": value})


@pytest.mark.parametrize("a", [np.array([object()]), np.array(["text"]), np.array([1 + 2j]),
                               np.zeros(2, dtype=[("x", "f8")]), np.array([1], dtype="M8[s]")])
def test_encode_refuses_non_numeric_arrays(a):
    with pytest.raises(ProtocolError, match="not allowed"):
        protocol.encode({}, {"a": a})


def test_encode_refuses_non_arrays():
    with pytest.raises(ProtocolError, match="numpy array"):
        protocol.encode({}, {"a": [1, 2, 3]})


@pytest.mark.parametrize("descr", ["|O", "<c16", "<U3", "|S4", "|V8", "<M8[s]"])
def test_decode_refuses_dtypes_in_npy_headers(descr):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }" % descr
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 16
    with pytest.raises(ProtocolError):
        protocol.decode(body_with(npy))


def test_decode_never_evaluates_code_in_an_npy_header(tmp_path):
    marker = tmp_path / "ran"
    header = "__import__('pathlib').Path(%r).touch()" % str(marker)
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    with pytest.raises(ProtocolError, match="unreadable .npy header"):
        protocol.decode(body_with(npy))
    assert not marker.exists()


def test_decode_refuses_a_pickle_in_place_of_an_array(tmp_path):
    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))
    with pytest.raises(ProtocolError, match="not .npy"):
        protocol.decode(body_with(pickle.dumps(Boom())))
    assert not (tmp_path / "ran").exists()


def test_decoding_uses_no_pickle_and_no_np_load(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("the decoder must not unpickle or np.load")
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(np, "load", forbidden)
    _, arrays = protocol.decode(frame_body(protocol.encode({}, {"a": np.arange(6.0)})))
    np.testing.assert_array_equal(arrays["a"], np.arange(6.0))


@pytest.mark.parametrize("shape,data", [((4,), 8 * 3), ((4,), 8 * 5), ((2, 2), 0)])
def test_decode_refuses_data_of_the_wrong_length(shape, data):
    npy = npy_bytes(np.zeros(shape))
    npy = npy[:len(npy) - 8 * int(np.prod(shape))] + b"\0" * data
    with pytest.raises(ProtocolError, match="bytes of data"):
        protocol.decode(body_with(npy))


def test_limits_on_dimensions_array_bytes_count_and_depth():
    small = MessageLimits(max_ndim=2, max_array_bytes=800, max_arrays=2, max_depth=3, max_header=200)
    with pytest.raises(ProtocolError, match="dimensions"):
        protocol.decode(body_with(npy_bytes(np.zeros((1, 1, 1)))), small)
    # A huge declared shape is refused from the header alone, before any data.
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000), }"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    with pytest.raises(ProtocolError, match="bytes of data"):
        protocol.decode(body_with(npy))
    with pytest.raises(ProtocolError, match="bytes of data"):
        protocol.encode({}, {"a": np.zeros(101)}, small)
    with pytest.raises(ProtocolError, match="arrays in one message"):
        protocol.encode({}, {k: np.zeros(1) for k in "abc"}, small)
    with pytest.raises(ProtocolError, match="nested deeper"):
        protocol.encode({"a": [[[[[1]]]]]}, None, small)
    with pytest.raises(ProtocolError, match="header of"):
        protocol.encode({"a": "x" * 300}, None, small)


@pytest.mark.parametrize("body", [b"", b"\0\0\0\x05{}", b"\0\0\0\x02[]", b"\0\0\0\x04\xff\xfe{}",
                                  b"\0\0\0\x0e" + b'{"meta": null}',
                                  b"\0\0\0\x1c" + b'{"meta": {}, "arrays": [1]}  '])
def test_decode_refuses_malformed_headers(body):
    with pytest.raises(ProtocolError):
        protocol.decode(body)


def test_decode_refuses_truncation_and_stray_bytes():
    body = frame_body(protocol.encode({"x": 1}, {"a": np.arange(10)}))
    for cut in (3, 10, len(body) - 1):
        with pytest.raises(ProtocolError):
            protocol.decode(body[:cut])
    with pytest.raises(ProtocolError, match="stray bytes"):
        protocol.decode(body + b"\0")


def reader(data):
    stream = io.BytesIO(data)
    calls = []

    def read_exact(n):
        calls.append(n)
        return stream.read(n)
    return read_exact, calls


def test_read_message_reads_frames_in_sequence_then_reports_closed():
    frames = protocol.encode({"n": 1}) + protocol.encode({"n": 2}, {"a": np.ones(3)})
    read_exact, _ = reader(frames)
    assert protocol.read_message(read_exact)[0] == {"n": 1}
    meta, arrays = protocol.read_message(read_exact)
    assert meta == {"n": 2} and arrays["a"].tolist() == [1, 1, 1]
    with pytest.raises(protocol.Closed):
        protocol.read_message(read_exact)


def test_read_message_refuses_an_oversized_frame_before_reading_it():
    head = protocol.MAGIC + struct.pack(">Q", 1 << 40)
    read_exact, calls = reader(head + b"\0" * 100)
    with pytest.raises(ProtocolError, match="larger than"):
        protocol.read_message(read_exact, MessageLimits(max_frame=1 << 20))
    assert calls == [12]


@pytest.mark.parametrize("data", [b"XXXX" + b"\0" * 8, b"CSB1\0\0", b"CSB1" + struct.pack(">Q", 50)
                                  + b"short"])
def test_read_message_refuses_bad_magic_and_truncated_frames(data):
    read_exact, _ = reader(data)
    with pytest.raises(ProtocolError) as info:
        protocol.read_message(read_exact)
    assert not isinstance(info.value, protocol.Closed)
