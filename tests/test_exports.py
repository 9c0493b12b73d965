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
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def nested_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
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


def test_an_archive_over_a_limit_costs_only_its_student(tmp_path, monkeypatch):
    """A zip bomb, a file over the cap, too many files, or `x` beside `x/y`: that student's row only."""
    monkeypatch.setattr(exports, "MAX_FILE_BYTES", 300_000)  # the export's own members are read in this process
    export = make_zip(tmp_path / "class.zip", {
        f"alice_1_2_{P1}": CODE,
        f"bob_3_4_{P1}": CODE,
        "mallory_5_6_handin.zip": nested_zip({"zeros.bin": "\0" * (8 * 2**20), P1: "# stub"}),  # about 1000:1
        "eve_7_8_answers.md": "x" * 400_000,
        "zed_9_10_handin.zip": nested_zip({f"f{i}.txt": "" for i in range(exports.STUDENT_ENTRIES + 1)}),
        "trudy_11_12_handin.zip": nested_zip({"x": "file", "x/y": "under a file", P1: CODE}),
        "oscar_13_14_handin.zip": "not a zip at all",
    })
    mapping = map_export(export)
    try:
        assert set(mapping.students) == {"alice_1", "bob_3", "trudy_11", "oscar_13"}
        assert (mapping.students["alice_1"] / P1).read_text() == CODE and (mapping.students["bob_3"] / P1).read_text() == CODE
        assert "compressed more than" in mapping.refused["mallory_5"]
        assert "larger than" in mapping.refused["eve_7"]
        assert f"more than {exports.STUDENT_ENTRIES} files" in mapping.refused["zed_9"]
        assert graded_file(mapping.students["trudy_11"], P1).read_text() == CODE  # the clash is skipped, the rest is unpacked
        assert any(note.startswith("trudy_11: x/y skipped: its path clashes with x") for note in mapping.notes)
        assert (mapping.students["oscar_13"] / "handin.zip").is_file()  # not an archive: kept as a file
        assert not (mapping.root / "mallory_5").exists() and not (mapping.root / "zed_9").exists()
    finally:
        mapping.cleanup()
    (tmp_path / "plain.zip").write_text("not a zip")
    with pytest.raises(ExportError, match="not a zip"):
        map_export(tmp_path / "plain.zip")


def test_a_crafted_moodle_name_never_reaches_another_students_folder(tmp_path):
    """A display name that contains Moodle's `_<id>_assignsubmission_file_` could be read as Jane's: refused, with a row."""
    export = make_zip(tmp_path / "moodle.zip", {
        f"Jane Doe_12345_assignsubmission_file_/{P1}": CODE,
        f"Jane Doe_12345_assignsubmission_file__999_assignsubmission_file_/{P1}": "# stub",
        f"Jane Doe_12345_assignsubmission_file_x_998_assignsubmission_file_{P1}": "# stub",
        f"Ali Reza_678_assignsubmission_file_/{P1}": CODE,
    })
    mapping = map_export(export)
    try:
        assert set(mapping.students) == {"Jane_Doe_12345", "Ali_Reza_678"}
        assert (mapping.students["Jane_Doe_12345"] / P1).read_text() == CODE
        assert [p.name for p in mapping.students["Jane_Doe_12345"].iterdir()] == [P1]
        assert len(mapping.refused) == 2 and all("~refused-" in key for key in mapping.refused)
        assert all("could be read as more than one student" in why for why in mapping.refused.values())
        assert sum("not graded" in note for note in mapping.notes) == 2
    finally:
        mapping.cleanup()


def test_canvas_late_in_either_case_and_anonymous_names(tmp_path):
    export = make_zip(tmp_path / "canvas.zip", {
        f"doejane_late_12345_67890_{P1}": CODE,
        "doejane_late_12345_67891_answers.md": "mine",
        f"anon_x7Yq2_555_{P1}": CODE,
        "LATE_anon_Ab3dE_556_p1_change_of_variables-2.py": "# latest",
        f"LATE_anon_Ab3dE_557_{P1}": "# first",
        "van_der_berg_42_77_answers.md": "underscores in a name",
    })
    mapping = map_export(export)
    try:
        assert set(mapping.students) == {"doejane_12345", "anon_x7Yq2", "anon_Ab3dE", "van_der_berg_42"}
        assert (mapping.students["doejane_12345"] / "answers.md").read_text() == "mine"
        assert (mapping.students["anon_Ab3dE"] / P1).read_text() == "# latest"
        assert not mapping.unmapped and not mapping.refused
    finally:
        mapping.cleanup()


def test_two_names_for_one_folder_are_kept_apart(tmp_path):
    export = make_zip(tmp_path / "plain.zip", {f"a_b/{P1}": CODE, f"a b/{P1}": "# other", f"c/{P1}": CODE})
    mapping = map_export(export)
    try:
        assert set(mapping.students) == {"a_b", "a_b~2", "c"}
        assert (mapping.students["a_b"] / P1).read_text() == CODE and (mapping.students["a_b~2"] / P1).read_text() == "# other"
        assert any("kept apart as a_b~2" in note for note in mapping.notes)
    finally:
        mapping.cleanup()


def test_grade_an_export_zip_as_a_class(tmp_path):
    export = make_zip(tmp_path / "canvas.zip", {f"doejane_12345_67890_{P1}": CODE, "smithjohn_222_333_notes.txt": "oops", "readme.txt": "?",
                                                "bomb_444_555_handin.zip": nested_zip({P1: "\0" * (4 * 2**20)})})
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "grader.cli", str(export), "--class", "--out", str(out), "--check", "1a.dtype", "--quiet"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    rows = {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["doejane_12345"]["total"] == "0.5"
    assert rows["smithjohn_222"]["status"] == "not graded"
    assert rows["bomb_444"]["status"] == "not graded" and "compressed more than" in rows["bomb_444"]["note"]
    assert "could not be mapped" in done.stderr and "readme.txt" in (out / "class.html").read_text()
