"""Canvas and Moodle export zips map to one submission folder per student, safely."""
from __future__ import annotations

import csv
import io
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import REFERENCE

from grader import exports
from grader.exports import ExportError, map_export, safe_member_path
from grader.layout import find_work_folder

P1 = "p1_change_of_variables.py"
CODE = (REFERENCE / P1).read_text()


def make_zip(path, files: dict[str, bytes | str]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def nested_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def graded_file(student: Path, name: str) -> Path:
    """Where grading reads `name` in a student's folder (the rule every upload follows)."""
    return student.joinpath(*find_work_folder(student).parts) / name


def test_canvas_export_maps_prefixed_files_to_students(tmp_path):
    export = make_zip(tmp_path / "canvas.zip", {
        f"doejane_12345_67890_{P1}": CODE,
        "doejane_12345_67890_answers.md": "## 2a\nmine",
        f"smithjohn_LATE_222_333_{P1}": "# first try",
        "smithjohn_LATE_222_333_p1_change_of_variables-1.py": "# second try",  # Canvas renames a re-submission
        "leeann_444_555_handin.zip": nested_zip({f"hw4/{P1}": CODE, "hw4/answers.md": "x"}),
        "index.html": "<html>",
    })
    mapping = map_export(export)
    try:
        assert set(mapping.students) == {"doejane_12345", "smithjohn_222", "leeann_444"}
        jane = mapping.students["doejane_12345"]
        assert (jane / P1).read_text() == CODE and (jane / "answers.md").read_text() == "## 2a\nmine"
        assert (mapping.students["smithjohn_222"] / P1).read_text() == "# second try"
        assert graded_file(mapping.students["leeann_444"], P1).read_text() == CODE  # unpacked; graded in hw4/
        assert [u for u in mapping.unmapped if u.startswith("index.html")]
        assert all(path.parent == mapping.root for path in mapping.students.values())
    finally:
        mapping.cleanup()
    assert not mapping.root.exists()


def test_moodle_export_maps_folders_and_flat_files_to_students(tmp_path):
    export = make_zip(tmp_path / "moodle.zip", {
        f"Jane Doe_12345_assignsubmission_file_/{P1}": CODE,
        "Jane Doe_12345_assignsubmission_file_/answers.md": "a",
        "Ali Reza_678_assignsubmission_file_/submission.zip": nested_zip({f"ps4/code/{P1}": CODE}),
        "Bo Li_999_assignsubmission_file_answers.md": "b",
        f"Bo Li_999_assignsubmission_file_{P1}": CODE,
    })
    mapping = map_export(export)
    try:
        assert set(mapping.students) == {"Jane_Doe_12345", "Ali_Reza_678", "Bo_Li_999"}
        for student in mapping.students.values():
            assert graded_file(student, P1).read_text() == CODE
        assert (mapping.students["Bo_Li_999"] / "answers.md").read_text() == "b"
        assert not mapping.unmapped
    finally:
        mapping.cleanup()


def test_unsafe_members_are_refused_and_nothing_leaves_the_target(tmp_path):
    export = tmp_path / "evil.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("../escape.py", "x")
        archive.writestr("/abs/escape.py", "x")
        archive.writestr("C:/windows.py", "x")
        link = zipfile.ZipInfo(f"doejane_1_2_{P1}")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr(f"okstudent_3_4_{P1}", CODE)
    mapping = map_export(export)
    try:
        assert set(mapping.students) == {"okstudent_3"}
        assert len(mapping.unmapped) == 4 and all("refused" in u for u in mapping.unmapped)
        assert not (tmp_path / "escape.py").exists() and not list(mapping.root.rglob("*escape*"))
        assert not [p for p in mapping.root.rglob("*") if p.is_symlink()]
    finally:
        mapping.cleanup()
    assert safe_member_path("a/../../b") is None and str(safe_member_path("./a/b.py")) == "a/b.py"


def test_size_caps_hold_while_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "MAX_FILE_BYTES", 1000)
    export = make_zip(tmp_path / "big.zip", {f"doejane_1_2_{P1}": "x" * 5000})
    with pytest.raises(ExportError, match="larger than"):
        map_export(export)
    monkeypatch.setattr(exports, "MAX_FILE_BYTES", 10**6)
    monkeypatch.setattr(exports, "MAX_TOTAL_BYTES", 3000)
    export = make_zip(tmp_path / "many.zip", {f"s{i}_1_2_{P1}": "x" * 1000 for i in range(5)})
    with pytest.raises(ExportError, match="unpacks to more than"):
        map_export(export)
    (tmp_path / "plain.zip").write_text("not a zip")
    with pytest.raises(ExportError, match="not a zip"):
        map_export(tmp_path / "plain.zip")


def test_grade_an_export_zip_as_a_class(tmp_path):
    export = make_zip(tmp_path / "canvas.zip", {f"doejane_12345_67890_{P1}": CODE, "smithjohn_222_333_notes.txt": "oops", "readme.txt": "?"})
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "grader.cli", str(export), "--class", "--out", str(out), "--check", "1a.dtype", "--quiet"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    rows = {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["doejane_12345"]["total"] == "0.5"
    assert rows["smithjohn_222"]["status"] == "not graded"
    assert "could not be mapped" in done.stderr and "readme.txt" in (out / "class.html").read_text()
