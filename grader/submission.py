"""Find the pieces of a submission folder and stage a private copy for the child processes.

A submission holds any of the modules `p1_change_of_variables`, `p3_ebm`, `p4_realnvp` (as
`.py`, or as `.ipynb` turned into a `.py` of its definitions), `answers.md` and `p3_energy.pt`.
Children import from the staged copy, never from the original folder, so nothing they write
reaches the student's files.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MODULES = {"p1_change_of_variables": 1, "p3_ebm": 3, "p4_realnvp": 4}
OTHER_FILES = ("answers.md", "p3_energy.pt")
_SKIP = shutil.ignore_patterns(".git", "__pycache__", ".ipynb_checkpoints", "*.pyc")
MAX_FILE_BYTES = 100 * 2**20


class SubmissionError(Exception):
    """The folder cannot be graded at all (missing, or none of the expected files)."""


@dataclass(frozen=True)
class ModuleSource:
    name: str
    path: Path  # the staged .py the child imports
    origin: str  # the file it came from, as the student named it
    notes: tuple[str, ...] = ()  # e.g. notebook cells that were dropped


@dataclass
class Submission:
    root: Path
    staged: Path
    modules: dict[str, ModuleSource] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def file(self, name: str) -> Path | None:
        """The staged path of `answers.md` / `p3_energy.pt`, or None if it was not handed in."""
        path = self.staged / name
        return path if path.is_file() else None

    def cleanup(self) -> None:
        shutil.rmtree(self.staged, ignore_errors=True)


def load_submission(folder: str | Path) -> Submission:
    """Stage `folder` and find its modules; raises SubmissionError when nothing gradable is there."""
    root = Path(folder).expanduser().resolve()
    if not root.exists():
        raise SubmissionError(f"submission folder {folder} does not exist")
    if not root.is_dir():
        raise SubmissionError(f"{folder} is not a folder (give the folder that holds the .py/.ipynb files)")
    expected = [f"{m}{ext}" for m in MODULES for ext in (".py", ".ipynb")] + list(OTHER_FILES)
    if not any((root / name).is_file() for name in expected):
        raise SubmissionError(f"{folder} holds none of the expected files ({', '.join(expected)})")
    staged = Path(tempfile.mkdtemp(prefix="ps4-submission-"))
    notes: list[str] = []

    def copy_small(src: str, dst: str) -> str:
        if Path(src).stat().st_size > MAX_FILE_BYTES:
            notes.append(f"skipped {Path(src).name}: larger than {MAX_FILE_BYTES // 2**20} MB")
            return dst
        return shutil.copy2(src, dst)

    shutil.copytree(root, staged, ignore=_SKIP, copy_function=copy_small, dirs_exist_ok=True, symlinks=False)
    submission = Submission(root, staged, notes=notes)
    for name in MODULES:
        source = _module_source(staged, name, notes)
        if source is not None:
            submission.modules[name] = source
    return submission


def _module_source(staged: Path, name: str, notes: list[str]) -> ModuleSource | None:
    script, notebook = staged / f"{name}.py", staged / f"{name}.ipynb"
    if script.is_file():
        if notebook.is_file():
            notes.append(f"both {name}.py and {name}.ipynb were handed in; graded {name}.py")
        return ModuleSource(name, script, script.name)
    if notebook.is_file():
        from grader.notebooks import notebook_to_module  # noqa: PLC0415 - only when a notebook is graded

        code, cell_notes = notebook_to_module(notebook)
        script.write_text(code)
        return ModuleSource(name, script, notebook.name, tuple(cell_notes))
    return None
