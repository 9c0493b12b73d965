"""Where the work is in what a student handed in: one rule for every way of handing in.

An upload may be the files themselves, one folder holding them, or a repository with the work
in a subfolder beside others (`figures/`, `data/`). The same rule maps a Gradescope upload, a
student's folder of an LMS export and `grade FOLDER`:

    the work folder is the shallowest folder, at most MAX_DEPTH levels down, that holds one of
    the expected names; among several at that depth, the one holding the most of them, then
    the first by name.

Hidden folders (`.git`, `.venv`, `.ipynb_checkpoints`), `__MACOSX`, `__pycache__` and
virtual environments are not searched, and links are never followed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MODULES = {"p1_change_of_variables": 1, "p3_ebm": 3, "p4_realnvp": 4}  # module name -> problem
OTHER_FILES = ("answers.md", "p3_energy.pt")
EXPECTED = frozenset({f"{m}{ext}" for m in MODULES for ext in (".py", ".ipynb")} | set(OTHER_FILES))
MAX_DEPTH = 4
MAX_FOLDERS = 2000  # folders looked at before giving up (a repository with a huge tree)
SKIPPED = frozenset({"__MACOSX", "__pycache__", "node_modules", "site-packages", "venv", "env"})


@dataclass(frozen=True)
class WorkFolder:
    """The folder to grade, as path parts below the upload (empty: the upload itself)."""

    parts: tuple[str, ...]
    others: tuple[str, ...] = ()  # other folders that hold expected names, not graded

    @property
    def note(self) -> str | None:
        """What a report says when the work was not at the top of the upload."""
        if not self.parts:
            return None
        where = PurePosixPath(*self.parts).as_posix()
        also = f" (also found expected files in {', '.join(self.others)}/, not graded)" if self.others else ""
        return f"graded the files in {where}/{also}"


def find_work_folder(upload: Path) -> WorkFolder | None:
    """The work folder under `upload` by the rule above; None when no folder holds an expected name."""
    level: list[tuple[str, ...]] = [()]
    seen = 0
    for _ in range(MAX_DEPTH + 1):
        holding = []
        deeper = []
        for parts in level:
            names, folders = _listing(upload.joinpath(*parts))
            count = len(EXPECTED & names)
            if count:
                holding.append((-count, parts))
            deeper += [(*parts, name) for name in sorted(folders)]
        if holding:
            holding.sort()
            others = tuple(PurePosixPath(*parts).as_posix() or "." for _, parts in holding[1:])
            return WorkFolder(holding[0][1], others)
        seen += len(deeper)
        if not deeper or seen > MAX_FOLDERS:
            return None
        level = deeper
    return None


def _listing(folder: Path) -> tuple[set[str], list[str]]:
    """The entry names of `folder` and its subfolders worth searching (no links, nothing skipped)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return set(), []
    folders = [e.name for e in entries
               if e.is_dir(follow_symlinks=False) and not e.name.startswith(".") and e.name not in SKIPPED]
    return {e.name for e in entries}, folders
