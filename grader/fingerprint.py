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

import fnmatch
import hashlib
import itertools
import json
import os
import stat
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from grader.checks.registry import Check
from grader.names import name_bytes
from grader.options import GradingOptions

FINGERPRINT_FILE = "fingerprint.json"
HASHED_ENTRIES = 100_000  # files and folders walked in one submission folder
HASHED_FILE_BYTES = 256 * 2**20  # larger files count by size and modification time (staging copies at most 100 MB)
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
    """A hash of every file under `root` whose name matches `pattern` (relative path and bytes), in a fixed order.

    A symbolic link counts by its target's name, never followed. Names are hashed as their bytes,
    so a name that is not UTF-8 is hashed like any other (`grader.names`); a file that cannot be
    read counts by its name, size and error. The walk is bounded, so a folder of millions of
    files costs the grader little: a file over `HASHED_FILE_BYTES` (larger than anything staging
    copies) counts by its size and modification time, and past `HASHED_ENTRIES` entries the
    digest is made unique (such a submission is graded again on every run, never wrongly reused).
    """
    hasher = hashlib.sha256()
    budget = HASHED_ENTRIES
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(itertools.islice(scan, budget + 1), key=lambda entry: name_bytes(entry.name))
        except OSError as error:
            hasher.update(b"unreadable folder\0" + name_bytes(folder.relative_to(root).as_posix()) + str(error.errno).encode())
            continue
        budget -= len(entries)
        if budget < 0:
            hasher.update(b"too many entries\0" + os.urandom(16))
            break
        for entry in reversed(entries):  # popped in sorted order
            if entry.name in _SKIPPED_PARTS:
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif fnmatch.fnmatchcase(entry.name, pattern) and not entry.name.endswith(".pyc"):
                _hash_entry(hasher, path, name_bytes(path.relative_to(root).as_posix()))
    return hasher.hexdigest()[:32]


def _hash_entry(hasher, path: Path, relative: bytes) -> None:
    """One file or link into `hasher`: links by their target's name, files by size and content, never blocking."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        hasher.update(b"link\0" + relative + b"\0" + name_bytes(os.readlink(path)) + b"\0")
        return
    if not stat.S_ISREG(info.st_mode):
        return
    hasher.update(b"file\0" + relative + b"\0" + info.st_size.to_bytes(8, "little"))
    if info.st_size > HASHED_FILE_BYTES:
        hasher.update(b"large\0" + info.st_mtime_ns.to_bytes(8, "little", signed=True))
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:  # a file the grader cannot read counts as such, never stops the class
        hasher.update(b"unreadable\0" + str(error.errno).encode())
        return
    with os.fdopen(fd, "rb") as handle:
        while block := handle.read(2**20):
            hasher.update(block)


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
