"""Find the pieces of a submission folder and stage a private copy for the child processes.

Staging copies only what grading reads, each as a regular file found under its own name in
the submission folder: the modules `p1_change_of_variables`, `p3_ebm`, `p4_realnvp` (as `.py`,
or as `.ipynb` turned into a `.py` of its definitions; with both, the one that is not the
shipped template, see `_module_source`), `answers.md`, `p3_energy.pt`, and the
PNG/JPEG/GIF images that `answers.md` links (checked by content, staged under fixed names).
Children import from the staged copy, never from the original folder.

Rules (see docs/threat_model/staging_reports.md):
- a link is never followed (each name is opened with O_NOFOLLOW relative to an opened folder,
  and the opened descriptor must be a regular file by fstat: no check-then-open race);
- FIFOs, devices, sockets and folders under an expected name are skipped without opening;
- each file, the total and the number of images are capped, and staging has a time limit;
- every problem is a note on the submission that costs only the piece concerned: staging never
  raises for one bad file. `SubmissionError` is kept for a folder that cannot be graded at all,
  and its `StagingError` for the grader's own trouble (no space left, a file it may not read, an
  I/O error): that is never the student's missing file, so the submission is not graded and the
  reason says to grade it again once the machine is fixed.
"""
from __future__ import annotations

import errno
import itertools
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.layout import EXPECTED, MAX_DEPTH, MODULES, find_work_folder
from grader.misnamed import rename_hints
from grader.notebooks import NOTEBOOK_BYTES, notebook_to_module
from grader.template import is_template

MiB = 2**20
CAPS = {".py": 2 * MiB, ".ipynb": NOTEBOOK_BYTES, "answers.md": 1 * MiB, "p3_energy.pt": 100 * MiB}  # bytes per file
IMAGE_BYTES = 5 * MiB  # per image linked from answers.md
MAX_IMAGES = 20  # images staged per submission (so at most 6 + 2 + 20 files in all)
TOTAL_BYTES = 200 * MiB  # everything staged for one submission
STAGING_SECONDS = 60.0  # wall-clock budget for staging one submission
LISTED_NAMES = 1_000  # names of the submission folder compared with the expected ones (grader.misnamed)
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF87a", ".gif"), (b"GIF89a", ".gif"))
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif"})
IMAGE_DIR = "answer-images"  # staged images: IMAGE_DIR/<index><ext by content>
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?[^)]*\)")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_CHUNK = MiB
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class SubmissionError(Exception):
    """The folder cannot be graded at all (missing, unreadable, or none of the expected names)."""


class StagingError(SubmissionError):
    """The grader could not copy or prepare a file (ENOSPC, EACCES, EIO...): its trouble, not the student's."""

    def __init__(self, shown: str, error: OSError) -> None:
        reason = error.strerror or type(error).__name__
        super().__init__(f"the grader could not stage {shown} ({reason}); this is the grader's trouble, not the student's: "
                         "grade this submission again once it is fixed")


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
    images: dict[str, Path] = field(default_factory=dict)  # link as written in answers.md -> staged image
    reader_gid: int | None = None  # as root: the group whose children may read `staged` (see runner.session)

    def file(self, name: str) -> Path | None:
        """The staged path of `answers.md` / `p3_energy.pt`, or None if it was not handed in."""
        path = self.staged / name
        return path if path.is_file() and not path.is_symlink() else None

    def cleanup(self) -> None:
        shutil.rmtree(self.staged, ignore_errors=True)


class SkippedFile(Exception):
    """A file that is not read (a link, a special file, over its cap); the message says why."""


def image_type(head: bytes) -> str | None:
    """The extension ('.png', '.jpg', '.gif') that the first bytes of a file prove, else None."""
    return next((ext for magic, ext in IMAGE_MAGIC if head.startswith(magic)), None)


def _chunks(name: str, dir_fd: int | None, cap: int, deadline: float) -> Iterator[bytes]:
    """The bytes of the regular file `name` (relative to `dir_fd`), never through a link, in chunks.

    Raises `SkippedFile` with the reason for a link, a special file, a file over `cap` bytes, or a
    file that takes past `deadline` (time.monotonic) to read; FileNotFoundError if it is absent.
    """
    before = os.lstat(name, dir_fd=dir_fd)
    if stat.S_ISLNK(before.st_mode):
        raise SkippedFile("is a symbolic link; links are never followed, so it was ignored")
    if not stat.S_ISREG(before.st_mode):  # a FIFO, device or socket is never even opened
        raise SkippedFile(f"is not a regular file ({_kind(before.st_mode)}); ignored")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise SkippedFile("is a symbolic link; links are never followed, so it was ignored") from None
        raise  # EACCES, EIO, EMFILE...: the grader's trouble (`StagingError`), not a file to skip
    try:
        opened = os.fstat(fd)  # what was opened, whatever happened to the name since the lstat
        if not stat.S_ISREG(opened.st_mode):
            raise SkippedFile(f"is not a regular file ({_kind(opened.st_mode)}); ignored")
        if opened.st_size > cap:
            raise SkippedFile(f"is {opened.st_size / MiB:.1f} MB, over the {_size(cap)} cap; ignored")
        total = 0
        while chunk := os.read(fd, min(_CHUNK, cap + 1 - total)):
            total += len(chunk)
            if total > cap:
                raise SkippedFile(f"is over the {_size(cap)} cap; ignored")
            if time.monotonic() > deadline:
                raise SkippedFile(f"took longer than the {STAGING_SECONDS:g} s staging limit to read; ignored")
            yield chunk
    finally:
        os.close(fd)


def read_regular(name: str, dir_fd: int | None, cap: int, deadline: float = float("inf")) -> bytes:
    """All bytes of the regular file `name` (relative to `dir_fd`, or a path); see `_chunks`."""
    return b"".join(_chunks(name, dir_fd, cap, deadline))


def copy_regular(name: str, dir_fd: int | None, cap: int, target: Path, deadline: float = float("inf")) -> tuple[int, bytes]:
    """Copy the regular file `name` to the new file `target` (0o644); returns its size and first
    bytes. Nothing is left at `target` when it raises (see `_chunks`)."""
    chunks = _chunks(name, dir_fd, cap, deadline)
    head = next(chunks, b"")  # raises before `target` is created when the file is refused
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    size = 0
    try:
        for chunk in itertools.chain([head], chunks):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            size += len(chunk)
        os.fchmod(fd, 0o644)
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)
    return size, head[:64]


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((label for test, label in kinds if test(mode)), "a special file")


def _size(cap: int) -> str:
    return f"{cap / MiB:g} MB"


def check_output_folder(root: Path, out_dir: Path | None) -> str | None:
    """Refuse an output folder that would mix the reports with the student's files; a note if inside it."""
    if out_dir is None:
        return None
    out = Path(out_dir).expanduser().resolve()
    if out == root:
        raise SubmissionError(f"the output folder {out_dir} is the submission folder itself: the reports would be "
                              "written among the student's files; give --out another folder")
    for path in (out, out / "figures"):
        if path.exists() and not path.is_dir():
            raise SubmissionError(f"the output path {path} exists and is not a folder; give --out a folder")
    if root in out.parents:
        return f"the output folder {out_dir} is inside the submission folder; it is not staged or graded"
    return None


def load_submission(folder: str | Path, out_dir: Path | None = None) -> Submission:
    """Stage `folder` and find its modules; problems with single files become notes.

    Raises SubmissionError when the folder is missing, unreadable, holds none of the expected
    names, or `out_dir` is the folder itself.
    """
    root = Path(folder).expanduser().resolve()
    if not root.exists():
        raise SubmissionError(f"submission folder {folder} does not exist")
    if not root.is_dir():
        raise SubmissionError(f"{folder} is not a folder (give the folder that holds the .py/.ipynb files)")
    out_note = check_output_folder(root, out_dir)
    work = find_work_folder(root)
    if work is None:
        try:
            with os.scandir(root) as entries:
                hints = rename_hints([e.name for e in itertools.islice(entries, LISTED_NAMES)], sorted(EXPECTED))
        except OSError:
            hints = []
        raise SubmissionError(f"{folder} holds none of the expected files ({', '.join(sorted(EXPECTED))}), at the top or in "
                              f"a subfolder up to {MAX_DEPTH} levels down" + "".join(f"; {h}" for h in hints))
    root_fd = _open_work_folder(root, work.parts, folder)
    try:
        staged = Path(tempfile.mkdtemp(prefix="ps4-submission-"))
    except OSError as error:
        os.close(root_fd)
        raise StagingError("the submission (no staging folder)", error) from None
    try:
        os.chmod(staged, 0o755)  # the child may run as an unprivileged uid
        submission = Submission(root, staged, notes=[n for n in (work.note, out_note) if n])
        try:
            _Stager(submission, root_fd).stage()
        except StagingError:
            raise
        except Exception:  # noqa: BLE001 - a grader bug costs what was not staged yet, never the run
            print(f"internal error while staging {root}:\n{traceback.format_exc()}", file=sys.stderr)
            submission.notes.append("staging stopped at an internal grader error; files not staged by then are not graded")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    finally:
        os.close(root_fd)
    return submission


def _open_work_folder(root: Path, parts: tuple[str, ...], shown: str | Path) -> int:
    """A descriptor of `root`/`parts`, walked down without following a link."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise SubmissionError(f"submission folder {shown} cannot be read ({error.strerror})") from None
    for part in parts:
        try:
            inner = os.open(part, _FOLDER_FLAGS, dir_fd=fd)
        except OSError as error:
            raise SubmissionError(f"{shown}/{part} cannot be read ({error.strerror})") from None
        finally:
            os.close(fd)
        fd = inner
    return fd


class _Stager:
    """Copies the expected files of one submission into `submission.staged`, noting each problem."""

    def __init__(self, submission: Submission, root_fd: int) -> None:
        self.submission, self.root_fd = submission, root_fd
        self.deadline = time.monotonic() + STAGING_SECONDS
        self.total = 0

    def note(self, text: str) -> None:
        self.submission.notes.append(text)

    def stage(self) -> None:
        handed_in: dict[str, list[str]] = {}  # module -> the forms staged, ".py" and/or ".ipynb"
        for name in MODULES:
            forms = [ext for ext in (".py", ".ipynb") if self.copy(f"{name}{ext}", CAPS[ext]) is not None]
            if forms:
                handed_in[name] = forms
        answers = self.copy("answers.md", CAPS["answers.md"])
        self.copy("p3_energy.pt", CAPS["p3_energy.pt"])
        if answers is not None:
            self.stage_images((self.submission.staged / "answers.md").read_text(encoding="utf-8", errors="replace"))
        for name, forms in handed_in.items():
            try:
                source = _module_source(self.submission.staged, name, forms)
            except OSError as error:
                raise StagingError(name, error) from None
            except Exception:  # noqa: BLE001 - a grader bug must cost this module only
                print(f"internal error while preparing {name}:\n{traceback.format_exc()}", file=sys.stderr)
                self.note(f"{name} could not be prepared for grading (internal grader error); not graded")
                continue
            self.submission.modules[name] = source
        expected = sorted(EXPECTED)
        with os.scandir(self.root_fd) as entries:  # names only: a close name gets a note naming the fix
            self.submission.notes.extend(rename_hints([e.name for e in itertools.islice(entries, LISTED_NAMES)], expected))

    def exists(self, name: str, dir_fd: int | None = None) -> bool:
        try:
            os.lstat(name, dir_fd=self.root_fd if dir_fd is None else dir_fd)
        except OSError:
            return False
        return True

    def copy(self, name: str, cap: int, dir_fd: int | None = None, target: Path | None = None,
             shown: str | None = None, missing: str | None = None) -> bytes | None:
        """Stage one file and return its first bytes; None (with a note, or `missing` when absent) if not staged."""
        shown = shown or name
        dir_fd = self.root_fd if dir_fd is None else dir_fd
        if time.monotonic() > self.deadline:
            if self.exists(name, dir_fd):
                self.note(f"{shown} was not staged: staging took longer than {STAGING_SECONDS:g} s")
            return None
        try:
            size, head = copy_regular(name, dir_fd, min(cap, TOTAL_BYTES - self.total), target or self.submission.staged / name, self.deadline)
            self.total += size
            return head
        except FileNotFoundError:
            if missing:
                self.note(f"{shown} {missing}")
        except SkippedFile as skip:
            reason = str(skip)
            if "cap" in reason and cap > TOTAL_BYTES - self.total:
                reason += f" (the whole submission may stage at most {_size(TOTAL_BYTES)})"
            self.note(f"{shown} {reason}")
        except OSError as error:  # reading the student's file or writing the copy: never "not in the submission"
            raise StagingError(shown, error) from None
        return None

    def stage_images(self, answers: str) -> None:
        """Stage the PNG/JPEG/GIF images that answers.md links, each under a fixed name."""
        links = list(dict.fromkeys(IMAGE_LINK.findall(_CODE_SPAN.sub("", answers))))  # `![x](y)` in code is an example
        for link in links:
            if len(self.submission.images) >= MAX_IMAGES:
                self.note(f"answers.md links more than {MAX_IMAGES} images; the others are not shown")
                return
            shown = f"answers.md image {link[:80]!r}"
            parts = _relative_parts(link)
            if parts is None:
                self.note(f"{shown} is not a relative path inside the submission; not shown")
                continue
            if PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_EXTENSIONS:
                self.note(f"{shown}: only PNG, JPEG and GIF images are shown; not copied")
                continue
            self.stage_image(link, parts, shown)

    def stage_image(self, link: str, parts: list[str], shown: str) -> None:
        folder_fd = self.root_fd
        opened: list[int] = []
        try:
            for part in parts[:-1]:  # walk down without following links
                try:
                    folder_fd = os.open(part, _FOLDER_FLAGS, dir_fd=folder_fd)
                except FileNotFoundError:
                    self.note(f"{shown} is not in the submission; not shown")
                    return
                except OSError:
                    self.note(f"{shown}: {part!r} is a link or not a folder; links are never followed, so it is not shown")
                    return
                opened.append(folder_fd)
            images = self.submission.staged / IMAGE_DIR
            try:
                images.mkdir(mode=0o755, exist_ok=True)
                os.chmod(images, 0o755)
            except OSError as error:
                raise StagingError(shown, error) from None
            index = len(self.submission.images)
            target = images / f"{index}.bin"
            head = self.copy(parts[-1], IMAGE_BYTES, folder_fd, target, shown, missing="is not in the submission; not shown")
            if head is None:
                return
            ext = image_type(head)
            if ext is None:
                target.unlink()
                self.note(f"{shown}: the file is not a PNG, JPEG or GIF image (checked by its content); not copied")
                return
            final = target.with_name(f"{index}{ext}")
            target.rename(final)
            self.submission.images[link] = final
        finally:
            for fd in opened:
                os.close(fd)


def _relative_parts(link: str) -> list[str] | None:
    """The path components of a link that stays inside the submission, else None."""
    if "\\" in link or ":" in link or link.startswith(("/", "~")) or "\x00" in link:
        return None
    parts = [p for p in link.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return parts


def _module_source(staged: Path, name: str, forms: list[str]) -> ModuleSource:
    """The module to grade from the forms handed in: the only one, or the one that holds the work.

    With both a `.py` and an `.ipynb`, the one that differs from the shipped template is graded
    (the notebook by the definitions it keeps); when both differ, or neither, the `.py`. Either
    way a note says which was graded and why.
    """
    script = staged / f"{name}.py"
    if forms == [".py"]:
        return ModuleSource(name, script, script.name)
    notebook = staged / f"{name}.ipynb"
    code, cell_notes = notebook_to_module(notebook)
    if ".py" in forms:
        script_changed = not is_template(script.name, script.read_text(encoding="utf-8", errors="replace"))
        notebook_changed = not is_template(notebook.name, code)
        if script_changed or not notebook_changed:
            why = ("both differ from the template: hand in one of them" if notebook_changed
                   else "the notebook is the template's" if script_changed else "both are the template's")
            return ModuleSource(name, script, script.name, (f"both {script.name} and {notebook.name} were handed in; "
                                                            f"graded {script.name} ({why})",))
        cell_notes = [f"both {script.name} and {notebook.name} were handed in; graded {notebook.name} "
                      f"({script.name} is the template's)", *cell_notes]
    script.write_text(code, encoding="utf-8", errors="replace")
    script.chmod(0o644)
    return ModuleSource(name, script, notebook.name, tuple(cell_notes))
