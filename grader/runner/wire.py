"""The data-only message format between the grader and the student's child process.

A frame is `MAGIC`, two little-endian uint32 lengths (JSON header, binary payload), the UTF-8
JSON header and the payload. Arrays travel as raw bytes in the payload, described in the header
by dtype (from a fixed whitelist), shape and byte offset. Reading a frame never executes code:
no pickle, no `eval`, no object hooks beyond building dicts, lists and numpy arrays.

What the grader reads from a child is capped *before* anything is allocated (`REPLY_CAPS`):
a frame larger than the caps, an array with too many elements, descriptors that overlap or
leave gaps in the payload (they must tile it, in order) are refused as a `WireError`. Arrays
are views of one payload buffer, never copies. Every read and write has a deadline
when the caller gives one (the grader always does), so a child that stops cannot block it.
An integer of more than `MAX_INT_DIGITS` digits in a header is read as a float (±inf beyond
1e308): no legitimate reply holds one, and Python refuses to turn more than 4,300 digits into
an `int` (its int/str conversion limit), so a 5,000-digit number must be data, not an error.

This module is loaded both by the grader and, by file path, by the child's worker script; it
imports only the standard library and numpy.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"PS4W"
_LENGTHS = struct.Struct("<II")
MAX_INT_DIGITS = 40  # an int64 has at most 19 digits; a longer integer arrives as a float
ALLOWED_DTYPES = frozenset(
    ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
)


@dataclass(frozen=True)
class Caps:
    """Limits on one frame: header and payload bytes, arrays per frame, elements per array."""

    header_bytes: int
    payload_bytes: int
    arrays: int
    array_elements: int
    ndim: int = 8


# What the grader accepts from a child. The largest legitimate reply is a batch of images
# (1,000 x 28 x 28 float32, 3 MB); an array of 2**23 elements is at most 64 MB once the
# grader converts it to float64, so one reply costs the parent at most about 200 MB.
REPLY_CAPS = Caps(header_bytes=4 * 2**20, payload_bytes=128 * 2**20, arrays=1024, array_elements=2**23)
# What the child accepts from the grader (training data, e.g. full MNIST as float32).
REQUEST_CAPS = Caps(header_bytes=16 * 2**20, payload_bytes=1024 * 2**20, arrays=4096, array_elements=2**28)


class WireError(Exception):
    """A frame that is malformed, too large, or did not arrive in time."""


class ChannelClosed(WireError):
    """The other end closed its pipe (the child exited or was killed)."""


class ReadTimeout(WireError):
    """No complete frame arrived (or could be sent) before the deadline."""


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
    if len(header) >= 2**32 or len(payload) >= 2**32:
        raise WireError("message too large")
    return MAGIC + _LENGTHS.pack(len(header), len(payload)) + header + payload


def unpack(header: bytes, payload: bytes | bytearray, caps: Caps = REPLY_CAPS) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Parse a frame's header and payload into the message and its arrays (validated views of `payload`)."""
    try:
        message = json.loads(header.decode(), parse_int=_bounded_int)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise WireError(f"header is not JSON: {type(error).__name__}") from None
    if not isinstance(message, dict) or not isinstance(message.get("arrays"), list):
        raise WireError("header is not a message")
    specs = message.pop("arrays")
    if len(specs) > caps.arrays:
        raise WireError(f"more than {caps.arrays} arrays in one frame")
    buffer = memoryview(payload)  # writable when it is a bytearray; tiling keeps the arrays apart
    arrays, offset = [], 0
    for spec in specs:
        dtype, shape, start = _descriptor(spec, caps)
        count = 1
        for n in shape:
            count *= n
        if count > caps.array_elements:
            raise WireError(f"an array of {count} elements (the limit is {caps.array_elements})")
        if start != offset:
            raise WireError("array descriptors overlap or leave gaps (they must tile the payload in order)")
        offset += count * np.dtype(dtype).itemsize
        if offset > len(buffer):
            raise WireError("array runs past the payload")
        arrays.append(np.frombuffer(buffer, dtype=dtype, count=count, offset=start).reshape(shape))
    if offset != len(buffer):
        raise WireError("payload bytes that no array describes")
    return message, arrays


def _bounded_int(text: str) -> int | float:
    """A JSON integer: an `int` up to `MAX_INT_DIGITS` digits, else the nearest float (never an error, never quadratic)."""
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else float(text)


def _descriptor(spec: Any, caps: Caps) -> tuple[str, tuple[int, ...], int]:
    try:
        dtype, shape, offset = spec["dtype"], spec["shape"], spec["offset"]
    except (TypeError, KeyError):
        raise WireError("bad array descriptor") from None
    if (dtype not in ALLOWED_DTYPES or not isinstance(shape, list) or len(shape) > caps.ndim
            or not all(type(n) is int and n >= 0 for n in shape) or type(offset) is not int or offset < 0):
        raise WireError("bad array descriptor")
    return dtype, tuple(shape), offset


def write_frame(fd: int, frame: bytes, deadline: float | None = None) -> None:
    """Write `frame`; with a `deadline` (`time.monotonic()`), `fd` must be non-blocking."""
    view = memoryview(frame)
    while view:
        if deadline is not None:
            _wait(fd, deadline, write=True)
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[written:]


def read_frame(fd: int, deadline: float | None = None, caps: Caps = REPLY_CAPS) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Read one frame from `fd`; `deadline` is a `time.monotonic()` value (None waits forever)."""
    head = _read_exact(fd, len(MAGIC) + _LENGTHS.size, deadline)
    if head[: len(MAGIC)] != MAGIC:
        raise WireError("frame does not start with the protocol's magic bytes")
    header_len, payload_len = _LENGTHS.unpack(head[len(MAGIC):])
    if header_len > caps.header_bytes or payload_len > caps.payload_bytes:
        raise WireError(f"frame too large ({header_len} + {payload_len} bytes; the limits are "
                        f"{caps.header_bytes} + {caps.payload_bytes})")
    header = _read_exact(fd, header_len, deadline)
    payload = _read_exact(fd, payload_len, deadline)
    return unpack(bytes(header), payload, caps)


def _wait(fd: int, deadline: float, write: bool = False) -> None:
    wait = deadline - time.monotonic()
    ready = select.select([], [fd], [], max(wait, 0))[1] if write else select.select([fd], [], [], max(wait, 0))[0]
    if wait <= 0 or not ready:
        raise ReadTimeout("no reply before the deadline" if not write else "the child stopped reading before the deadline")


def _read_exact(fd: int, n: int, deadline: float | None) -> bytearray:
    buffer, filled = bytearray(n), 0
    view = memoryview(buffer)
    while filled < n:
        if deadline is not None:
            _wait(fd, deadline)
        try:
            got = os.readv(fd, [view[filled:filled + (1 << 20)]])
        except BlockingIOError:
            continue
        if not got:
            raise ChannelClosed("the channel closed")
        filled += got
    return buffer
