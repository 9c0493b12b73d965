"""What a grading result depends on, as content hashes, so a class re-grade can skip what did not change.

Each student's output folder holds `fingerprint.json` with four hashes:

- `files`: every file of the submission folder (relative path and content; the same files the
  grader stages, so caches and `.git` do not count);
- `grader`: the grader's own code and shipped assets (`grader/**/*.py`, `assets/**`) and the
  package version: a fix to a check re-grades everyone;
- `rubric`: the selected checks (id, part, points, visibility, time limit) and the private
  inputs' digest (`grade --private`): another rubric or other hidden seeds re-grade everyone;
- `settings`: what else changes scores: device, time and memory limits, threads, --mnist-root.

Written-answer scores are not part of it: they are merged again on every run without
running student code (see `grader.classroom`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from grader.checks.registry import Check
from grader.names import name_bytes
from grader.options import GradingOptions

FINGERPRINT_FILE = "fingerprint.json"
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_SKIPPED_PARTS = {".git", "__pycache__", ".ipynb_checkpoints"}
_REASONS = {"grader": "the grader changed", "rubric": "the rubric or the private inputs changed",
            "settings": "the grading settings changed", "files": "the submission changed"}


@dataclass(frozen=True)
class Fingerprint:
    files: str
    grader: str
    rubric: str
    settings: str

    def changes(self, previous: Fingerprint | None) -> str | None:
        """Why a result with the `previous` fingerprint must be re-graded (None: it need not be)."""
        if previous is None:
            return "first grading"
        for name, reason in _REASONS.items():
            if getattr(self, name) != getattr(previous, name):
                return reason
        return None


def _digest(chunks: list[bytes]) -> str:
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(len(chunk).to_bytes(8, "little"))
        hasher.update(chunk)
    return hasher.hexdigest()[:32]


def tree_digest(root: Path, pattern: str = "*") -> str:
    """A hash of every file under `root` matching `pattern` (relative path and bytes), in a fixed order.

    A symbolic link counts by its target's name, never followed. Names are hashed as their bytes,
    so a name that is not UTF-8 is hashed like any other (`grader.names`); a file that cannot be
    read counts by its name, size and error.
    """
    hasher = hashlib.sha256()
    for path in sorted(root.rglob(pattern)):
        relative = path.relative_to(root)
        if _SKIPPED_PARTS & set(relative.parts) or path.suffix == ".pyc":
            continue
        if path.is_symlink():
            hasher.update(b"link\0" + name_bytes(relative.as_posix()) + b"\0" + name_bytes(str(path.readlink())) + b"\0")
        elif path.is_file():
            hasher.update(b"file\0" + name_bytes(relative.as_posix()) + b"\0" + path.stat().st_size.to_bytes(8, "little"))
            try:
                with path.open("rb") as handle:
                    while block := handle.read(2**20):
                        hasher.update(block)
            except OSError as error:  # a file the grader cannot read counts as such, never stops the class
                hasher.update(b"unreadable\0" + str(error.errno).encode())
    return hasher.hexdigest()[:32]


def grader_digest() -> str:
    """The grader's code and assets, and the installed package version."""
    try:
        version = metadata.version("ps4-autograder")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return _digest([version.encode(), tree_digest(_PACKAGE_ROOT / "grader", "*.py").encode(),
                    tree_digest(_PACKAGE_ROOT / "assets").encode()])


def run_fingerprint(checks: list[Check], options: GradingOptions, grader: str) -> Fingerprint:
    """The fingerprint of a class run with an empty `files` (filled per student by `for_submission`)."""
    rubric = [[c.id, c.part, c.points, c.visibility, c.timeout_s] for c in checks] + [options.private.digest]
    settings = [options.device, str(options.mnist_root), asdict(options.limits)]
    return Fingerprint("", grader, _digest([json.dumps(rubric).encode()]), _digest([json.dumps(settings, default=str).encode()]))


def for_submission(run: Fingerprint, folder: Path) -> Fingerprint:
    """`run` with the hash of the submission in `folder`."""
    return Fingerprint(tree_digest(folder), run.grader, run.rubric, run.settings)


def read_fingerprint(out_dir: Path) -> Fingerprint | None:
    """The fingerprint stored with a student's results (None: none, or unreadable)."""
    try:
        return Fingerprint(**json.loads((out_dir / FINGERPRINT_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_fingerprint(fingerprint: Fingerprint, out_dir: Path) -> None:
    (out_dir / FINGERPRINT_FILE).write_text(json.dumps(asdict(fingerprint), indent=1) + "\n")
