"""File and folder names: any bytes the file system allows, shown as valid text.

Python gives a name that is not valid UTF-8 (an old repository cloned with `git`, an archive
written on another system) as a `str` holding lone surrogates (`os.fsdecode`'s
`surrogateescape`). Such a string cannot be encoded as UTF-8: writing it to a CSV cell, a JSON
file or a hash raises. So the grader hashes names as the bytes they are (`name_bytes`) and
shows them, and names its own output folders, as `shown_name`: the same text with every byte
that is not UTF-8 written `\\xNN`.
"""
from __future__ import annotations

import os


def name_bytes(name: str) -> bytes:
    """The bytes of a file or folder name exactly as the file system holds them."""
    return os.fsencode(name)


def shown_name(name: str) -> str:
    """`name` as valid UTF-8 text: each byte that is not UTF-8 becomes `\\xNN` (e.g. b"caf\\xe9" -> "caf\\\\xe9")."""
    return name_bytes(name).decode("utf-8", "backslashreplace")


def is_shown_as_is(name: str) -> bool:
    """True if `name` is valid UTF-8, so `shown_name(name) == name`."""
    return shown_name(name) == name
