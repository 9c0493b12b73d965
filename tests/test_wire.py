"""The frame format: round trips, and refusal of anything that is not plain data."""
from __future__ import annotations

import json
import os
import struct
import time

import numpy as np
import pytest

from grader.runner import wire
from grader.runner.normalize import WrongOutput, as_array
from grader.runner.sandbox import ArrayValue, ForeignObject, _decode_reply, decode


def test_round_trip_of_arrays_and_json():
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([True, False]), np.zeros((0, 4))]
    frame = wire.pack({"value": [1, "a", None]}, arrays)
    header_len, payload_len = struct.unpack("<II", frame[4:12])
    message, back = wire.unpack(frame[12:12 + header_len], frame[12 + header_len:])
    assert message == {"value": [1, "a", None]}
    for original, returned in zip(arrays, back):
        assert returned.dtype == original.dtype and np.array_equal(returned, original)


def test_reading_from_a_pipe_with_deadline():
    read_fd, write_fd = os.pipe()
    wire.write_frame(write_fd, wire.pack({"x": 1}, [np.ones(3)]))
    message, arrays = wire.read_frame(read_fd, deadline=None)
    assert message == {"x": 1} and arrays[0].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(wire.ReadTimeout):
        wire.read_frame(read_fd, deadline=time.monotonic() + 0.05)
    os.close(write_fd)
    with pytest.raises(wire.ChannelClosed):
        wire.read_frame(read_fd)
    os.close(read_fd)


@pytest.mark.parametrize("descriptor", [
    {"dtype": "object", "shape": [1], "offset": 0},  # pickled objects would hide here
    {"dtype": "float64", "shape": [100], "offset": 0},  # runs past the payload
    {"dtype": "float64", "shape": [-1], "offset": 0},
])
def test_array_descriptors_outside_the_whitelist_are_refused(descriptor):
    header = json.dumps({"arrays": [descriptor]}).encode()
    with pytest.raises(wire.WireError):
        wire.unpack(header, b"\0" * 8)


def test_garbage_and_wrong_magic_are_refused():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"hello world, not a frame")
    with pytest.raises(wire.WireError):
        wire.read_frame(read_fd)
    os.close(read_fd), os.close(write_fd)
    with pytest.raises(wire.WireError):
        wire.unpack(b"not json", b"")


def test_decoding_makes_only_data():
    arrays = [np.ones(2)]
    node = {"$t": "tuple", "items": [{"$t": "array", "i": 0, "torch": True, "dtype": "float64"}, {"$t": "object", "type": "Evil"}]}
    value = decode(node, arrays)
    assert isinstance(value[0], ArrayValue) and value[0].torch and value[1] == ForeignObject("Evil")
    with pytest.raises(wire.WireError):
        decode({"$t": "array", "i": 5}, arrays)
    with pytest.raises(wire.WireError):
        decode({"$t": "pickle", "data": "..."}, arrays)


def _frame(descriptors: list[dict], payload: bytes, message: dict | None = None) -> tuple[bytes, bytes]:
    return json.dumps({**(message or {}), "arrays": descriptors}).encode(), payload


def test_overlapping_or_gapped_descriptors_are_refused():
    size = 1000
    overlapping = _frame([{"dtype": "uint8", "shape": [size], "offset": 0}] * 40, bytes(size))
    with pytest.raises(wire.WireError, match="tile"):
        wire.unpack(*overlapping)
    gap = _frame([{"dtype": "uint8", "shape": [10], "offset": 5}], bytes(15))
    with pytest.raises(wire.WireError, match="tile"):
        wire.unpack(*gap)
    unused = _frame([{"dtype": "uint8", "shape": [10], "offset": 0}], bytes(11))
    with pytest.raises(wire.WireError, match="no array describes"):
        wire.unpack(*unused)


def test_reply_caps_apply_before_anything_is_allocated():
    read_fd, write_fd = os.pipe()
    caps = wire.REPLY_CAPS
    os.write(write_fd, wire.MAGIC + struct.pack("<II", 100, caps.payload_bytes + 1))  # claims more than the cap
    with pytest.raises(wire.WireError, match="too large"):
        wire.read_frame(read_fd, deadline=None)
    os.close(read_fd), os.close(write_fd)
    too_many = _frame([{"dtype": "bool", "shape": [caps.array_elements + 1], "offset": 0}], b"")
    with pytest.raises(wire.WireError, match="elements"):
        wire.unpack(*too_many)
    huge_shape = _frame([{"dtype": "float64", "shape": [2**40, 2**40], "offset": 0}], b"")
    with pytest.raises(wire.WireError, match="elements"):
        wire.unpack(*huge_shape)
    nested = b'{"arrays": [], "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(wire.WireError):
        wire.unpack(nested, b"")


def test_arrays_are_views_of_the_payload_not_copies():
    frame = wire.pack({}, [np.arange(4, dtype=np.int32), np.ones(3)])
    header_len = struct.unpack("<II", frame[4:12])[0]
    payload = bytearray(frame[12 + header_len:])
    _, arrays = wire.unpack(frame[12:12 + header_len], payload)
    assert all(not a.flags.owndata for a in arrays) and arrays[0].tolist() == [0, 1, 2, 3]


def test_a_write_to_a_reader_that_stopped_has_a_deadline():
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    started = time.monotonic()
    with pytest.raises(wire.ReadTimeout):
        wire.write_frame(write_fd, wire.pack({}, [np.zeros(2**20)]), deadline=time.monotonic() + 0.2)  # 8 MB > a pipe's buffer
    assert time.monotonic() - started < 2
    os.close(read_fd), os.close(write_fd)


def test_shapes_are_checked_before_conversion():
    import tracemalloc

    raw = np.zeros(20 * 2**20, dtype=np.uint8)  # 20 MB; as float64 it would be 160 MB
    tracemalloc.start()
    with pytest.raises(WrongOutput, match="shape"):
        as_array(ArrayValue(raw, True, "uint8"), "density", (100,))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20


def test_a_huge_integer_in_a_reply_is_read_as_a_float_not_an_error():
    """Python refuses to convert more than 4,300 digits to an int; a child's reply may hold 5,000."""
    digits = "7" * 5000
    header = ('{"value": [' + digits + ', -' + digits + ', 12345678901234567890], "arrays": []}').encode()
    message, _ = wire.unpack(header, b"")
    assert message["value"][0] == float("inf") and message["value"][1] == float("-inf")
    assert message["value"][2] == 12345678901234567890 and type(message["value"][2]) is int
    with pytest.raises(wire.WireError, match="bad array descriptor"):  # a huge shape is not an int any more
        wire.unpack(('{"arrays": [{"dtype": "uint8", "shape": [' + digits + '], "offset": 0}]}').encode(), b"")


def test_a_handle_id_too_large_for_an_int_is_a_malformed_reply():
    message, _ = wire.unpack(('{"value": {"$t": "handle", "id": ' + "9" * 5000 + '}, "arrays": []}').encode(), b"")
    with pytest.raises(wire.WireError, match="not well-formed"):
        _decode_reply(message["value"], [])
