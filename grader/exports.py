"""A learning platform's export zip mapped to a class folder: one submission folder per student.

Layouts understood (`grade EXPORT.zip --class`):

- **Moodle, in folders**: `Jane Doe_12345_assignsubmission_file_/p1_change_of_variables.py`
  (one folder per student; the student is the display name and participant id before
  `_assignsubmission_<plugin>_`);
- **Moodle, flat**: `Jane Doe_12345_assignsubmission_file_p1_change_of_variables.py`;
- **Canvas**: `doejane_12345_67890_p1_change_of_variables.py` (name, user id, file id, then the
  file's name), with `LATE` or `late` after the name for a late submission
  (`doejane_LATE_12345_67890_answers.md`), and `anon_<id>` instead of name and user id when the
  assignment is graded anonymously (`anon_x7Yq2_67890_answers.md`). Canvas adds `-1`, `-2` to a
  re-submitted file's name, and the highest number, the latest, is kept;
- plain folders, one per student (a zipped class folder).

A student may hand in a zip: it is unpacked into their folder (one level of nesting). If their
files sit in a subfolder (`lab4/p1_change_of_variables.py`), grading finds it by the rule every
upload follows (`grader.layout`). Whatever cannot be attributed to a student is listed in `ExportMapping.unmapped`.

One student never changes another's folder or row:

- **Names.** A Moodle display name is the student's own text, so it can imitate the layout
  (`Jane Doe_12345_assignsubmission_file_` as a name). A name that holds the Moodle marker more
  than once could be read as more than one student: it is refused (`ExportMapping.refused`: a
  "not graded" row with the reason, and a warning) and its files go nowhere. Two different
  names that would become the same folder name are kept apart: in sorted order the first keeps
  it, the others get `~2`, `~3` and a warning.
- **Archives.** Every student's files are extracted under that student's budget (entries,
  bytes, each file's size, and each member's compression ratio, counted while reading; the
  sizes a zip declares are not trusted), and a student's own zip is unpacked in a helper process
  with time and memory limits (`grader.bounded`: a crafted central directory cannot swell the
  grader). A member over a limit, or an archive that cannot be read, refuses that student only.
  A member whose path clashes with what is already there (`x` and `x/y`), or that the file
  system cannot hold, is skipped with a note.
- Extraction is safe: no member is written outside the target (absolute paths, `..`, drive
  letters refused), links and special files are skipped. Only the export zip itself can fail the
  whole export (not a zip, more than `MAX_ENTRIES` members, or the grader's disk full).
"""
from __future__ import annotations

import errno
import hashlib
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.bounded import run_bounded
from grader.layout import EXPECTED, find_work_folder

MAX_ENTRIES = 20_000  # members of the export zip itself
STUDENT_ENTRIES = 2_000  # files one student's folder may receive, from the export and their own zips
STUDENT_BYTES = 256 * 2**20  # bytes unpacked for one student
MAX_FILE_BYTES = 100 * 2**20  # one file
MAX_RATIO = 200  # unpacked / compressed bytes of one member, once it passes RATIO_FLOOR
RATIO_FLOOR = 2**20
UNPACK_SECONDS = 60.0  # a student's own zip, in its helper process
UNPACK_MEMORY_BYTES = 2**30
MAX_NAME_CHARS = 80
_MOODLE_MARK = re.compile(r"_(?P<id>\d+)_assign(?:submission|feedback)_[a-z]+_")
_CANVAS = re.compile(r"^(?P<name>.+?)(?:_(?:LATE|late))?_(?P<id>\d+)_(?P<file_id>\d+)_(?P<file>.+)$", re.DOTALL)
_CANVAS_ANONYMOUS = re.compile(r"^(?:(?:LATE|late)_)?(?P<anon>anon_[A-Za-z0-9]+)(?:_(?:LATE|late))?_(?P<file_id>\d+)_(?P<file>.+)$", re.DOTALL)
_RESUBMITTED = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)(?P<ext>\.[A-Za-z0-9]+)$")
_GRADER_TROUBLE = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}


class ExportError(Exception):
    """The export cannot be used at all (not a zip, too many members, or the grader's disk full)."""


class _Refused(Exception):
    """One student's files cannot be unpacked within their limits; the message says why."""


@dataclass
class ExportMapping:
    root: Path  # a temporary class folder: one subfolder per student
    students: dict[str, Path] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)  # archive members that belong to no student, with why
    notes: list[str] = field(default_factory=list)
    versions: dict[Path, int] = field(default_factory=dict)  # Canvas re-submission number of each file written
    refused: dict[str, str] = field(default_factory=dict)  # student -> why their files were not unpacked (a "not graded" row)
    # student key -> (platform "canvas" | "moodle", Canvas user id | Moodle participant number, name as the export writes it)
    platform_ids: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def refuse(self, key: str, reason: str) -> None:
        """Drop `key`'s folder and record why: that student's row says it, nobody else's changes."""
        folder = self.students.pop(key, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        self.refused.setdefault(key, reason)
        self.notes.append(f"{key}: not graded: {reason}")


@dataclass
class _Budget:
    """What one student's folder has received so far."""

    entries: int = 0
    total: int = 0


@dataclass(frozen=True)
class _Owner:
    """Who an export member belongs to, as the platform wrote it, and the member's path in their folder."""

    identity: str  # the student as written (display name and id, login and id, or folder name)
    wanted: str  # the folder name it asks for, before `student_key`
    inner: PurePosixPath  # the member's path inside the student's folder
    version: int = 0  # Canvas re-submission number (-N), 0 otherwise
    ambiguous: str = ""  # why the name could be read as more than one student
    platform: tuple[str, str, str] | None = None  # (platform, its id for the student, the name as written), for LMS gradebooks


def student_key(name: str) -> str:
    """A folder name for a student: letters, digits, '.', '-' and '_' kept, anything else '_', no leading dot."""
    cleaned = re.sub(r"[^\w.\-]+", "_", name, flags=re.UNICODE).strip("._-")
    return (cleaned or "student")[:MAX_NAME_CHARS]


def safe_member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None if it could escape the target (absolute, `..`, drive letters)."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name) or any(part in ("..", "") for part in path.parts if part != "."):
        return None
    parts = [part for part in path.parts if part != "."]
    return PurePosixPath(*parts) if parts else None


def safe_file_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.\-]+", "_", name).lstrip(".")
    return cleaned[:200] or "file"


def map_export(zip_path: Path) -> ExportMapping:
    """Unpack `zip_path` into a temporary class folder, one subfolder per student (see the module docstring)."""
    if not zipfile.is_zipfile(zip_path):
        raise ExportError(f"{zip_path} is not a zip file")
    mapping = ExportMapping(Path(tempfile.mkdtemp(prefix="ps4-export-")))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            if len(archive.infolist()) > MAX_ENTRIES:
                raise ExportError(f"{zip_path.name} has more than {MAX_ENTRIES} entries")
            members = _readable_members(archive.infolist(), mapping.unmapped)
            top = _single_top_folder(members)
            owned = []
            for info, path in members:
                relative = PurePosixPath(*path.parts[1:]) if top else path
                owner = _owner(relative) if relative.parts else None
                if owner is None:
                    mapping.unmapped.append(f"{info.filename}: not a Canvas or Moodle submission file name, and not in a student's folder")
                else:
                    owned.append((info, owner))
            keys = _assign_keys([owner for _, owner in owned], mapping)
            budgets: dict[str, _Budget] = {}
            for info, owner in owned:
                key = keys[owner.identity]
                if owner.platform is not None and not owner.ambiguous:
                    mapping.platform_ids.setdefault(key, owner.platform)
                if key not in mapping.refused:
                    _place(archive, info, owner, key, mapping, budgets.setdefault(key, _Budget()))
        for key, folder in sorted(mapping.students.items()):
            _unpack_nested(folder, mapping, budgets[key], key)
            if key in mapping.students:
                _note_if_no_work(folder, mapping, key)
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError) as error:
        mapping.cleanup()
        raise ExportError(f"cannot read {zip_path}: {error}") from None
    except ExportError:
        mapping.cleanup()
        raise
    return mapping


def _readable_members(infos: list[zipfile.ZipInfo], unmapped: list[str]) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The members to extract: regular files with safe paths; the rest are reported in `unmapped`."""
    members = []
    for info in infos:
        if info.is_dir():
            continue
        path = safe_member_path(info.filename)
        file_type = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip did not record one (a plain file)
        if path is None:
            unmapped.append(f"{info.filename}: refused (a path outside the export)")
        elif file_type and file_type != stat.S_IFREG:
            unmapped.append(f"{info.filename}: refused (a link or special file)")
        elif path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        else:
            members.append((info, path))
    return members


def _single_top_folder(members: list[tuple[zipfile.ZipInfo, PurePosixPath]]) -> bool:
    """True if every member is inside one top folder, not a Moodle student's, that holds only folders (a zipped class folder)."""
    tops = {path.parts[0] for _, path in members}
    if len(tops) != 1 or _MOODLE_MARK.search(next(iter(tops)) + "_"):
        return False
    return all(len(path.parts) >= 3 for _, path in members)


def _owner(relative: PurePosixPath) -> _Owner | None:
    """Whose member this is (Moodle folder or flat name, Canvas name, plain folder), or None."""
    if len(relative.parts) >= 2:  # a folder per student (Moodle in folders, or plain folders)
        folder = relative.parts[0]
        inner = PurePosixPath(*relative.parts[1:])
        marks = list(_MOODLE_MARK.finditer(folder + ("" if folder.endswith("_") else "_")))
        if not marks:
            return _Owner(folder, folder, inner)
        last = marks[-1]
        identity = f"{folder[:last.start()]}_{last['id']}"
        return _Owner(_apart(identity, marks, folder), identity, inner, ambiguous=_ambiguity(marks, folder),
                      platform=("moodle", last["id"], folder[:last.start()]))
    name = relative.name
    marks = list(_MOODLE_MARK.finditer(name))
    if marks and name[marks[0].end():]:
        first = marks[0]
        identity = f"{name[:first.start()]}_{first['id']}"
        inner = PurePosixPath(safe_file_name(name[first.end():]))
        return _Owner(_apart(identity, marks, name), identity, inner, ambiguous=_ambiguity(marks, name),
                      platform=("moodle", first["id"], name[:first.start()]))
    for pattern in (_CANVAS_ANONYMOUS, _CANVAS):
        match = pattern.match(name)
        if match:
            identity = match["anon"] if pattern is _CANVAS_ANONYMOUS else f"{match['name']}_{match['id']}"
            file_name, version = _canvas_original_name(match["file"])
            platform = None if pattern is _CANVAS_ANONYMOUS else ("canvas", match["id"], match["name"])
            return _Owner(identity, identity, PurePosixPath(safe_file_name(file_name)), version, platform=platform)
    return None


def _apart(identity: str, marks: list[re.Match], name: str) -> str:
    """The identity of a member: the student's, or for an ambiguous name the whole name, shared with nobody."""
    return identity if len(marks) < 2 else f"ambiguous:{name[:marks[-1].end()]}"


def _ambiguity(marks: list[re.Match], name: str) -> str:
    if len(marks) < 2:
        return ""
    readings = ", ".join(f"participant {m['id']}" for m in marks[:4])
    return (f"the Moodle name {name[:120]!r} could be read as more than one student ({readings}); "
            "refused so that it cannot land in another student's folder: check it by hand")


def _canvas_original_name(name: str) -> tuple[str, int]:
    """A Canvas file name without the `-N` Canvas adds to a re-submitted expected file, and N (0 if none)."""
    match = _RESUBMITTED.match(name)
    if match and f"{match['stem']}{match['ext']}" in EXPECTED:
        return f"{match['stem']}{match['ext']}", int(match["n"])
    return name, 0


def _assign_keys(owners: list[_Owner], mapping: ExportMapping) -> dict[str, str]:
    """The folder (and row) name of every identity: refused when ambiguous; distinct identities never share one."""
    keys: dict[str, str] = {}
    taken: dict[str, str] = {}  # key -> identity
    by_identity = {o.identity: o for o in owners}  # a name that is already a folder name keeps it; then sorted order
    for identity, owner in sorted(by_identity.items(), key=lambda item: (student_key(item[1].wanted) != item[1].wanted, item[0])):
        key = student_key(owner.wanted)
        if owner.ambiguous:  # its own row, named after it, never a folder anyone else's files reach
            digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:6]
            key = keys[identity] = f"{key[:MAX_NAME_CHARS - 16]}~refused-{digest}"
            mapping.refuse(key, owner.ambiguous)
            continue
        number = 1
        while key in taken:
            number += 1
            key = f"{student_key(owner.wanted)[:MAX_NAME_CHARS - 4]}~{number}"
        if number > 1:
            mapping.notes.append(f"warning: {identity[:120]!r} and {taken[student_key(owner.wanted)][:120]!r} would share the folder "
                                 f"{student_key(owner.wanted)}; kept apart as {key}")
        taken[key] = identity
        keys[identity] = key
    return keys


def _place(archive: zipfile.ZipFile, info: zipfile.ZipInfo, owner: _Owner, key: str, mapping: ExportMapping, budget: _Budget) -> None:
    """Write one member into its student's folder under that student's budget; refuse the student when it is broken."""
    folder = mapping.students.get(key)
    if folder is None:
        folder = mapping.students[key] = mapping.root / key
        folder.mkdir()
    target = folder / owner.inner
    if mapping.versions.get(target, -1) > owner.version:
        return
    try:
        with archive.open(info) as source:
            note = _extract(source, info, target, folder, budget, replace=target in mapping.versions)
    except _Refused as refused:
        mapping.refuse(key, str(refused))
        return
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as error:
        mapping.refuse(key, f"{info.filename[:120]} could not be read ({type(error).__name__})")
        return
    if note:
        mapping.notes.append(f"{key}: {note}")
    else:
        mapping.versions[target] = owner.version


def _extract(source, info: zipfile.ZipInfo, target: Path, folder: Path, budget: _Budget, replace: bool = False) -> str:
    """Copy one member from `source` to `target` inside `folder`, counting what is read against `budget`.

    Returns a note when the member is skipped (its path clashes with what is there, or the file
    system refuses its name); raises `_Refused` past a limit, `ExportError` for the grader's trouble.
    """
    shown = info.filename[:120]
    budget.entries += 1
    if budget.entries > STUDENT_ENTRIES:
        raise _Refused(f"more than {STUDENT_ENTRIES} files")
    clash = next((p for p in [*reversed(target.relative_to(folder).parents[:-1])] if (folder / p).exists() and not (folder / p).is_dir()), None)
    if clash is not None or target.is_dir() or (target.exists() and not replace):
        return f"{shown} skipped: its path clashes with {(clash or target.relative_to(folder)).as_posix()} already unpacked"
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as sink:
            while block := source.read(2**20):
                written += len(block)
                budget.total += len(block)
                if written > MAX_FILE_BYTES:
                    raise _Refused(f"{shown} is larger than {MAX_FILE_BYTES / 2**20:g} MB")
                if budget.total > STUDENT_BYTES:
                    raise _Refused(f"the files unpack to more than {STUDENT_BYTES // 2**20} MB")
                if written > RATIO_FLOOR and written > MAX_RATIO * max(info.compress_size, 1):
                    raise _Refused(f"{shown} is compressed more than {MAX_RATIO}:1 (an archive bomb?)")
                sink.write(block)
    except OSError as error:
        if target.is_file():
            target.unlink()
        if error.errno in _GRADER_TROUBLE:
            raise ExportError(f"the grader could not unpack the export ({error.strerror}); free space and run again") from None
        return f"{shown} skipped: the file system refused it ({error.strerror})"
    except _Refused:
        target.unlink(missing_ok=True)
        raise
    return ""


def _unpack_nested(folder: Path, mapping: ExportMapping, budget: _Budget, key: str) -> None:
    """Unpack the zips a student handed in, each in a bounded helper process (one level: zips inside them stay files)."""
    for nested in sorted(folder.rglob("*.zip")):
        if not nested.is_file() or nested.is_symlink():
            continue
        target = nested.with_suffix("")
        if target.exists():
            mapping.notes.append(f"{key}: {nested.name} not unpacked: {target.name} is already there")
            continue
        answer = unpack_zip(nested, target, STUDENT_ENTRIES - budget.entries, STUDENT_BYTES - budget.total)
        if answer.get("refused"):
            mapping.refuse(key, f"{nested.name}: {answer['refused']}")
            return
        budget.entries += int(answer.get("entries", 0))
        budget.total += int(answer.get("bytes", 0))
        mapping.notes += [f"{key}: {note}" for note in answer.get("notes", [])]
        if answer.get("unpacked"):
            nested.unlink()
            mapping.notes.append(f"{key}: unpacked {nested.name}")


def unpack_zip(archive: Path, target: Path, entries_left: int, bytes_left: int) -> dict[str, object]:
    """Unpack a student's zip into `target` in a bounded helper (`unpack_in_helper`'s answer; a failed helper is a refusal)."""
    done = run_bounded("grader.exports:unpack_in_helper", [str(archive), str(target), str(entries_left), str(bytes_left)],
                       UNPACK_SECONDS, UNPACK_MEMORY_BYTES)
    return done.value if done.ok and isinstance(done.value, dict) else {"refused": f"unpacking it failed: {done.reason}"}


def unpack_in_helper(zip_path: str, target: str, entries_left: str, bytes_left: str) -> dict[str, object]:
    """In a helper process (`grader.bounded`): unpack a student's zip into `target` within what is left of their budget.

    Returns {"unpacked": bool, "entries": n, "bytes": n, "notes": [...], "refused": reason or ""}.
    """
    budget = _Budget(STUDENT_ENTRIES - int(entries_left), STUDENT_BYTES - int(bytes_left))
    start_entries, start_total = budget.entries, budget.total
    notes: list[str] = []
    folder = Path(target)
    try:
        if not zipfile.is_zipfile(zip_path):
            return {"unpacked": False, "entries": 0, "bytes": 0, "notes": [], "refused": ""}
        with zipfile.ZipFile(zip_path) as archive:
            infos = archive.infolist()
            if len(infos) > STUDENT_ENTRIES - budget.entries:
                raise _Refused(f"more than {STUDENT_ENTRIES} files")
            unmapped: list[str] = []
            folder.mkdir()
            for info, path in _readable_members(infos, unmapped):
                with archive.open(info) as source:
                    note = _extract(source, info, folder / path, folder, budget)
                if note:
                    notes.append(note)
            notes += [f"{Path(zip_path).name}: {item}" for item in unmapped]
    except _Refused as refused:
        return {"unpacked": False, "entries": 0, "bytes": 0, "notes": [], "refused": str(refused)}
    except ExportError as error:
        return {"unpacked": False, "entries": 0, "bytes": 0, "notes": [], "refused": str(error)}
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError) as error:
        return {"unpacked": False, "entries": 0, "bytes": 0, "notes": [], "refused": f"the archive could not be read ({type(error).__name__})"}
    return {"unpacked": True, "entries": budget.entries - start_entries, "bytes": budget.total - start_total, "notes": notes, "refused": ""}


def _note_if_no_work(folder: Path, mapping: ExportMapping, key: str) -> None:
    """Note a student's folder with no expected file. The folder stays as handed in: grading finds the
    work in it by `grader.layout`'s rule, the same for Gradescope uploads and `grade FOLDER`."""
    if find_work_folder(folder) is None:
        mapping.notes.append(f"{key}: none of the expected files ({', '.join(sorted(EXPECTED))})")
