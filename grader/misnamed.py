"""Files handed in under a name close to an expected one: name the file and the fix.

A student who hands in `p4_realnvp_final.py`, `P4_RealNVP.py`, `p4-realnvp (1).py` or
`answers.md.txt` loses the points of the file the grader looks for; the note says which file
was found and what to rename it to, so the fix takes one step:

    >>> rename_hints(["p4_realnvp_final.py", "notes.txt"], ["p4_realnvp.py", "p4_realnvp.ipynb"])
    ['p4_realnvp.py is not in the submission, but p4_realnvp_final.py is: rename it to p4_realnvp.py']

Only names are compared (nothing is opened). A file is close to an expected name when, with case,
`-`/space/`_` differences, copy suffixes (` (1)`, `-2`, `_copy`) and an extra `.txt` ignored,
its stem equals or extends the expected stem (`p4_realnvp_final`) or differs from it by at most
one edit in five characters, and its extension is the expected one (for a module: `.py` or `.ipynb`).
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

RENAME = "rename it to"  # every hint carries it (the reports list hints first)
_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[-_ ]\d+|[-_ ]?(copy|final|v\d+|new|old|draft))+$")
SIMILARITY = 0.8  # difflib ratio of normalised stems at or above which a name is "close"
SHOWN_CHARS = 80
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _shown(name: str) -> str:
    """A found name as safe text: undecodable bytes and control characters escaped, at most `SHOWN_CHARS`."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name.encode("utf-8", "backslashreplace").decode("utf-8"))
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


def _normalised(name: str) -> tuple[str, str]:
    """(stem, extension) in lower case, `-`/space as `_`, without a trailing `.txt` added by an editor."""
    name = name.strip().lower()
    if name.endswith(".txt") and "." in name[:-4]:
        name = name[:-4]
    path = PurePosixPath(name)
    return re.sub(r"[\s\-]+", "_", path.stem), path.suffix


def _close(found: str, expected: str) -> bool:
    stem, ext = _normalised(found)
    want_stem, want_ext = _normalised(expected)
    if ext != want_ext:
        return False
    if stem == want_stem or stem.startswith(want_stem) or _COPY_SUFFIX.sub("", stem) == want_stem:
        return True
    return difflib.SequenceMatcher(None, stem, want_stem).ratio() >= SIMILARITY


def rename_hints(names: Iterable[str], expected: Iterable[str]) -> list[str]:
    """One hint per expected name that is absent from `names` while a close name is present.

    `expected` lists the accepted names of one piece after another; names of one module
    (`x.py`, `x.ipynb`) count as one piece, so a present `x.ipynb` means `x.py` is not missing.
    """
    names = [n for n in names if n and not n.startswith(".")]
    present = set(names)
    pieces: dict[str, list[str]] = {}
    for name in expected:
        pieces.setdefault(PurePosixPath(name).stem, []).append(name)
    hints = []
    for accepted in pieces.values():
        if any(name in present for name in accepted):
            continue
        for want in accepted:
            candidates = sorted(n for n in names if n not in accepted and _close(n, want))
            if candidates:
                shown = ", ".join(_shown(name) for name in candidates[:3])
                hints.append(f"{want} is not in the submission, but {shown} {'is' if len(candidates) == 1 else 'are'}: "
                             f"{RENAME} {want}" + (" (keep one)" if len(candidates) > 1 else ""))
                break
    return hints
