"""The frame format: round trips, and refusal of anything that is not plain data."""
from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

from grader.runner import wire
from grader.runner.sandbox import ArrayValue, ForeignObject, decode


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
    import time
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
