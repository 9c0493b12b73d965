"""The data-only message format between the grader and the student's child process.

A frame is `MAGIC`, two little-endian uint32 lengths (JSON header, binary payload), the UTF-8
JSON header and the payload. Arrays travel as raw bytes in the payload, described in the header
by dtype (from a fixed whitelist), shape and byte offset. Reading a frame never executes code:
no pickle, no `eval`, no object hooks beyond building dicts, lists and numpy arrays.

This module is loaded both by the grader and, by file path, by the child's worker script; it
imports only the standard library and numpy.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

import numpy as np

MAGIC = b"PS4W"
_LENGTHS = struct.Struct("<II")
MAX_HEADER_BYTES = 16 * 2**20
MAX_PAYLOAD_BYTES = 512 * 2**20
ALLOWED_DTYPES = frozenset(
    ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
)


class WireError(Exception):
    """A frame that is malformed, too large, or did not arrive in time."""


class ChannelClosed(WireError):
    """The other end closed its pipe (the child exited or was killed)."""


class ReadTimeout(WireError):
    """No complete frame arrived before the deadline."""


def pack(message: dict[str, Any], arrays: list[np.ndarray]) -> bytes:
    """Frame a JSON-able `message` whose "arrays" entry will describe `arrays`."""
    descriptors, chunks, offset = [], [], 0
    for array in arrays:
        array = np.ascontiguousarray(array)
        if array.dtype.name not in ALLOWED_DTYPES:
            raise WireError(f"dtype {array.dtype} cannot cross the process boundary")
        raw = array.tobytes()
        descriptors.append({"dtype": array.dtype.name, "shape": list(array.shape), "offset": offset})
        chunks.append(raw)
        offset += len(raw)
    header = json.dumps({**message, "arrays": descriptors}, allow_nan=True).encode()
    payload = b"".join(chunks)
    if len(header) > MAX_HEADER_BYTES or len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError("message too large")
    return MAGIC + _LENGTHS.pack(len(header), len(payload)) + header + payload


def unpack(header: bytes, payload: bytes) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Parse a frame's header and payload into the message and its arrays (validated)."""
    try:
        message = json.loads(header.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WireError(f"header is not JSON: {error}") from None
    if not isinstance(message, dict) or not isinstance(message.get("arrays"), list):
        raise WireError("header is not a message")
    arrays = []
    for spec in message.pop("arrays"):
        try:
            dtype, shape, offset = spec["dtype"], tuple(int(n) for n in spec["shape"]), int(spec["offset"])
        except (TypeError, KeyError, ValueError):
            raise WireError("bad array descriptor") from None
        if dtype not in ALLOWED_DTYPES or any(n < 0 for n in shape) or offset < 0:
            raise WireError("bad array descriptor")
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if offset + nbytes > len(payload):
            raise WireError("array runs past the payload")
        flat = np.frombuffer(payload, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=offset)
        arrays.append(flat.reshape(shape).copy())
    return message, arrays


def write_frame(fd: int, frame: bytes) -> None:
    view = memoryview(frame)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_frame(fd: int, deadline: float | None = None) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Read one frame from `fd`; `deadline` is a `time.monotonic()` value (None waits forever)."""
    head = _read_exact(fd, len(MAGIC) + _LENGTHS.size, deadline)
    if head[: len(MAGIC)] != MAGIC:
        raise WireError("frame does not start with the protocol's magic bytes")
    header_len, payload_len = _LENGTHS.unpack(head[len(MAGIC):])
    if header_len > MAX_HEADER_BYTES or payload_len > MAX_PAYLOAD_BYTES:
        raise WireError("frame too large")
    header = _read_exact(fd, header_len, deadline)
    payload = _read_exact(fd, payload_len, deadline)
    return unpack(header, payload)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, remaining = [], n
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise ReadTimeout("no reply before the deadline")
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise ChannelClosed("the channel closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
