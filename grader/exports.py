"""A learning platform's export zip mapped to a class folder: one submission folder per student.

Layouts understood (`grade EXPORT.zip --class`):

- **Moodle, in folders**: `Jane Doe_12345_assignsubmission_file_/p1_change_of_variables.py`
  (one folder per student; the student is the part before `_assignsubmission_`);
- **Moodle, flat**: `Jane Doe_12345_assignsubmission_file_p1_change_of_variables.py`;
- **Canvas**: `doejane_12345_67890_p1_change_of_variables.py`, `doejane_LATE_12345_67890_answers.md`
  (login, user id, submission id, then the file's name; Canvas adds `-1`, `-2` to a re-submitted
  file's name, and the highest number, the latest, is kept);
- plain folders, one per student (a zipped class folder).

A student may hand in a zip: it is unpacked into their folder (one level of nesting), and if
their files sit in a subfolder (`lab4/p1_change_of_variables.py`) that folder becomes the
submission. Whatever cannot be attributed to a student is listed in `ExportMapping.unmapped`.

Extraction is safe: no member is written outside the target (absolute paths, `..`, drive
letters refused), links and special files are skipped, and the entry count, each file's size
and the total size are capped while reading (the sizes a zip declares are not trusted).
"""
from __future__ import annotations

import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.submission import MODULES, OTHER_FILES

MAX_ENTRIES = 20_000
MAX_FILE_BYTES = 100 * 2**20
MAX_TOTAL_BYTES = 4 * 2**30
MAX_NAME_CHARS = 80
EXPECTED = {f"{m}{ext}" for m in MODULES for ext in (".py", ".ipynb")} | set(OTHER_FILES)
_MOODLE = re.compile(r"^(?P<student>.+?)_(?P<id>\d+)_assign(?:submission|feedback)_[a-z]+_(?P<file>.*)$", re.DOTALL)
_CANVAS = re.compile(r"^(?P<login>[^_/]+)_(?:LATE_)?(?P<id>\d+)_(?P<sub>\d+)_(?P<file>.+)$", re.DOTALL)
_RESUBMITTED = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)(?P<ext>\.[A-Za-z0-9]+)$")


class ExportError(Exception):
    """The export cannot be used at all (not a zip, or over a cap)."""


@dataclass
class ExportMapping:
    root: Path  # a temporary class folder: one subfolder per student
    students: dict[str, Path] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)  # archive members that belong to no student, with why
    notes: list[str] = field(default_factory=list)
    versions: dict[Path, int] = field(default_factory=dict)  # Canvas re-submission number of each file written
    # student key -> (platform "canvas" | "moodle", Canvas user id | Moodle participant number, name as the export writes it)
    platform_ids: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class _Budget:
    entries: int = 0
    total: int = 0


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


def map_export(zip_path: Path) -> ExportMapping:
    """Unpack `zip_path` into a temporary class folder, one subfolder per student."""
    if not zipfile.is_zipfile(zip_path):
        raise ExportError(f"{zip_path} is not a zip file")
    mapping = ExportMapping(Path(tempfile.mkdtemp(prefix="ps4-export-")))
    budget = _Budget()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = _readable_members(archive, mapping, budget, zip_path.name)
            top = _single_top_folder(members)
            for info, path in members:
                relative = PurePosixPath(*path.parts[1:]) if top else path
                if relative.parts:
                    _place(archive, info, relative, mapping, budget)
        for key, folder in sorted(mapping.students.items()):
            _unpack_nested(folder, mapping, budget, key)
            mapping.students[key] = _submission_root(folder, mapping, key)
    except (zipfile.BadZipFile, OSError) as error:
        mapping.cleanup()
        raise ExportError(f"cannot read {zip_path}: {error}") from None
    except ExportError:
        mapping.cleanup()
        raise
    return mapping


def _readable_members(archive: zipfile.ZipFile, mapping: ExportMapping, budget: _Budget, label: str) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """The members to extract: regular files with safe paths; the rest are reported as unmapped."""
    members = []
    for info in archive.infolist():
        budget.entries += 1
        if budget.entries > MAX_ENTRIES:
            raise ExportError(f"{label} has more than {MAX_ENTRIES} entries")
        if info.is_dir():
            continue
        path = safe_member_path(info.filename)
        file_type = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip did not record one (a plain file)
        if path is None:
            mapping.unmapped.append(f"{info.filename}: refused (a path outside the export)")
        elif file_type and file_type != stat.S_IFREG:
            mapping.unmapped.append(f"{info.filename}: refused (a link or special file)")
        elif path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        else:
            members.append((info, path))
    return members


def _single_top_folder(members: list[tuple[zipfile.ZipInfo, PurePosixPath]]) -> bool:
    """True if every member is inside one top folder, not a Moodle student's, that holds only folders (a zipped class folder)."""
    tops = {path.parts[0] for _, path in members}
    if len(tops) != 1 or _MOODLE.match(next(iter(tops)) + "_"):
        return False
    return all(len(path.parts) >= 3 for _, path in members)


def _place(archive: zipfile.ZipFile, info: zipfile.ZipInfo, relative: PurePosixPath, mapping: ExportMapping, budget: _Budget) -> None:
    """Write one member into its student's folder, or record it as unmapped."""
    if len(relative.parts) >= 2:  # a folder per student (Moodle in folders, or plain folders)
        folder_name = relative.parts[0]
        moodle = _MOODLE.match(folder_name + ("" if folder_name.endswith("_") else "_"))
        student = f"{moodle['student']}_{moodle['id']}" if moodle else folder_name
        if moodle:
            mapping.platform_ids.setdefault(student_key(student), ("moodle", moodle["id"], moodle["student"]))
        _extract(archive, info, _student_dir(mapping, student) / PurePosixPath(*relative.parts[1:]), budget)
        return
    name = relative.name
    for pattern, make in ((_MOODLE, lambda m: f"{m['student']}_{m['id']}"), (_CANVAS, lambda m: f"{m['login']}_{m['id']}")):
        match = pattern.match(name)
        if match and match["file"]:
            file_name, version = _canvas_original_name(match["file"]) if pattern is _CANVAS else (match["file"], 0)
            target = _student_dir(mapping, make(match)) / safe_file_name(file_name)
            platform, name = ("canvas", match["login"]) if pattern is _CANVAS else ("moodle", match["student"])
            mapping.platform_ids.setdefault(student_key(make(match)), (platform, match["id"], name))
            if mapping.versions.get(target, -1) > version:
                return
            _extract(archive, info, target, budget)
            mapping.versions[target] = version
            return
    mapping.unmapped.append(f"{info.filename}: not a Canvas or Moodle submission file name, and not in a student's folder")


def safe_file_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.\-]+", "_", name).lstrip(".")
    return cleaned[:200] or "file"


def _canvas_original_name(name: str) -> tuple[str, int]:
    """A Canvas file name without the `-N` Canvas adds to a re-submitted expected file, and N (0 if none)."""
    match = _RESUBMITTED.match(name)
    if match and f"{match['stem']}{match['ext']}" in EXPECTED:
        return f"{match['stem']}{match['ext']}", int(match["n"])
    return name, 0


def _student_dir(mapping: ExportMapping, student: str) -> Path:
    key = student_key(student)
    folder = mapping.students.get(key)
    if folder is None:
        folder = mapping.students[key] = mapping.root / key
        folder.mkdir()
    return folder


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: _Budget) -> None:
    """Copy one member to `target`, counting the bytes actually read against the caps."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as source, target.open("wb") as sink:
        while block := source.read(2**20):
            written += len(block)
            budget.total += len(block)
            if written > MAX_FILE_BYTES:
                raise ExportError(f"{info.filename} is larger than {MAX_FILE_BYTES // 2**20} MB")
            if budget.total > MAX_TOTAL_BYTES:
                raise ExportError(f"the export unpacks to more than {MAX_TOTAL_BYTES // 2**30} GB")
            sink.write(block)


def _unpack_nested(folder: Path, mapping: ExportMapping, budget: _Budget, key: str) -> None:
    """Unpack the zips a student handed in, into their folder (one level: zips inside them are left as files)."""
    for nested in sorted(folder.rglob("*.zip")):
        if not zipfile.is_zipfile(nested):
            continue
        target = nested.with_suffix("")
        try:
            with zipfile.ZipFile(nested) as archive:
                for info, path in _readable_members(archive, mapping, budget, f"{key}/{nested.name}"):
                    _extract(archive, info, target / path, budget)
        except zipfile.BadZipFile as error:
            mapping.notes.append(f"{key}: {nested.name} could not be unpacked ({error})")
            continue
        nested.unlink()
        mapping.notes.append(f"{key}: unpacked {nested.name}")


def _submission_root(folder: Path, mapping: ExportMapping, key: str) -> Path:
    """The shallowest folder under `folder` that holds an expected file (moved up to `folder`)."""
    if any((folder / name).is_file() for name in EXPECTED):
        return folder
    found = sorted((p for p in folder.rglob("*") if p.name in EXPECTED and p.is_file()), key=lambda p: (len(p.parts), str(p)))
    if not found:
        mapping.notes.append(f"{key}: none of the expected files ({', '.join(sorted(EXPECTED))})")
        return folder
    inner = found[0].parent
    for item in inner.iterdir():
        destination = folder / item.name
        if not destination.exists():
            shutil.move(str(item), destination)
    mapping.notes.append(f"{key}: graded the files in {inner.relative_to(folder).as_posix()}/")
    return folder
