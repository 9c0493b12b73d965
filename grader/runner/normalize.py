"""Normalise what the student's code returned, in one place, so checks never branch on it.

`as_array` turns a returned tensor / numpy array / number / list into a float64 numpy array
of the expected shape, or raises `WrongOutput` with a message a student can act on. Shape and
dtype are checked on what arrived, before it is converted, so the conversion never costs more
than an array of the expected shape (see `wire.REPLY_CAPS` for the size of anything that
arrives).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from grader.runner.sandbox import ArrayValue, ForeignObject, Handle


class WrongOutput(Exception):
    """The student's code returned something of the wrong kind, shape or value range."""


def describe(value: Any) -> str:
    if isinstance(value, ArrayValue):
        kind = "tensor" if value.torch else "numpy array"
        return f"a {value.dtype} {kind} of shape {tuple(value.array.shape)}"
    if isinstance(value, ForeignObject):
        return f"an object of type {value.type_name}"
    if isinstance(value, Handle):
        return f"an object of type {value.type_name}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return f"a {type(value).__name__}"


def as_array(value: Any, name: str, shape: tuple[int | None, ...] | None = None, allow_nan: bool = False) -> np.ndarray:
    """`value` as float64 of `shape` (None entries match any size); `name` labels the messages."""
    if isinstance(value, ArrayValue):
        array = value.array
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        array = np.asarray(value)
    elif isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
        array = np.asarray(value)
    else:
        raise WrongOutput(f"{name} should be a tensor but was {describe(value)}")
    if array.dtype == bool:
        raise WrongOutput(f"{name} should hold numbers but was a boolean tensor")
    if shape is not None:  # before any conversion: a wrong-shaped reply must not cost memory
        matches = len(shape) == array.ndim and all(e is None or e == n for e, n in zip(shape, array.shape))
        if not matches:
            wanted = "(" + ", ".join("*" if e is None else str(e) for e in shape) + ("," if len(shape) == 1 else "") + ")"
            raise WrongOutput(f"{name} has shape {tuple(array.shape)} but the contract says {wanted}")
    if array.dtype.kind not in "iuf":
        raise WrongOutput(f"{name} should hold real numbers but had dtype {array.dtype}")
    array = array.astype(np.float64)
    if not allow_nan and not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise WrongOutput(f"{name} contains {bad} NaN/inf value(s) out of {array.size}")
    return array


def as_tuple(value: Any, name: str, length: int) -> tuple:
    """`value` as a tuple/list of `length` items (what a function returning `(a, b)` gave back)."""
    if not isinstance(value, (tuple, list)) or len(value) != length:
        raise WrongOutput(f"{name} should return a tuple of {length} but returned {describe(value)}")
    return tuple(value)
