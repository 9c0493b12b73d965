"""Gradebooks an LMS imports, who each export's student is, the untouched template, misnamed files.

Cheap: synthetic rows and zips; one end-to-end class run of a Canvas export with a single check.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime

import nbformat
import pytest
from helpers import REFERENCE, TEMPLATE

from grader.checks.registry import select
from grader.class_results import ClassRow, StudentIdentity
from grader.exports import map_export
from grader.gradebook import CANVAS_COLUMNS, CANVAS_FILE, MOODLE_COLUMNS, MOODLE_FILE, write_lms_gradebook
from grader.misnamed import rename_hints
from grader.results import CheckResult, GradingRun
from grader.layout import MODULES, OTHER_FILES
from grader.template import is_untouched_template

P1 = "p1_change_of_variables.py"
CHECKS = select(None, {"1a.instance", "2a.written"})  # 1.5 + 6 points
EXPECTED = [f"{m}{ext}" for m in MODULES for ext in (".py", ".ipynb")] + list(OTHER_FILES)


def run(check_score: float, written: float | None) -> GradingRun:
    return GradingRun("x", (CheckResult("1a.instance", "1a", "t", 1.5, check_score, "passed", "", "visible"),
                            CheckResult("2a.written", "2a", "t", 6.0, written, "pending" if written is None else "scored", "", "visible")), 1.0)


def rows(platform: str) -> list[ClassRow]:
    return [ClassRow("doejane_12345", run(1.5, 4.0), identity=StudentIdentity(platform, "12345", "doejane")),
            ClassRow("roe_77", run(1.5, None), identity=StudentIdentity(platform, "77", "roe")),  # pending: no final grade yet
            ClassRow("x_9", None, "not graded", identity=StudentIdentity(platform, "9", "x")),
            ClassRow("=cmd_5", run(0.0, 0.0), identity=StudentIdentity(platform, "5", "=cmd"))]


def test_a_canvas_export_gets_canvas_gradebook_import_format(tmp_path):
    book = write_lms_gradebook(rows("canvas"), CHECKS, tmp_path, "Problem Set 4 (8812)")
    table = list(csv.reader((tmp_path / CANVAS_FILE).open(newline="")))
    assert book.path == tmp_path / CANVAS_FILE and book.written == 2 and book.left_out == ["roe_77", "x_9"]
    assert table[0] == CANVAS_COLUMNS + ["Problem Set 4 (8812)"] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Problem Set 4 (8812)"]
    assert table[1][0].strip() == "Points Possible" and table[1][5] == "7.5"
    assert table[2] == ["doejane", "12345", "", "", "", "5.5"] and table[3] == ["'=cmd", "5", "", "", "", "0.0"]
    assert len(table) == 4 and not (tmp_path / MOODLE_FILE).exists()


def test_a_moodle_export_gets_the_offline_grading_worksheet(tmp_path):
    write_lms_gradebook(rows("moodle"), CHECKS, tmp_path, now=datetime(2026, 12, 3, 16, 5))
    table = list(csv.DictReader((tmp_path / MOODLE_FILE).open(newline="")))
    assert list(table[0]) == MOODLE_COLUMNS and {"Identifier", "Grade", "Last modified (grade)"} <= set(MOODLE_COLUMNS)  # what Moodle's importer needs
    assert [r["Identifier"] for r in table] == ["Participant 12345", "Participant 5"]
    assert table[0]["Grade"] == "5.50" and table[0]["Maximum Grade"] == "7.50" and table[0]["Full name"] == "doejane"
    assert table[0]["Last modified (grade)"] == "Thursday, 3 December 2026, 4:05 PM"  # the date format Moodle's worksheet uses


def test_no_lms_file_without_an_export_or_with_a_mixed_one(tmp_path):
    plain = [ClassRow("alice", run(1.5, 4.0))]
    assert write_lms_gradebook(plain, CHECKS, tmp_path) is None
    assert write_lms_gradebook(rows("canvas") + rows("moodle"), CHECKS, tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def test_exports_record_each_students_platform_id(tmp_path):
    canvas = map_export(make_zip(tmp_path / "c.zip", {f"doejane_12345_67890_{P1}": "x", f"smithjohn_LATE_222_333_{P1}": "y"}))
    moodle = map_export(make_zip(tmp_path / "m.zip", {f"Jane Doe_4411_assignsubmission_file_/{P1}": "x",
                                                      "Li Wei_4412_assignsubmission_file_answers.md": "y"}))
    try:
        assert canvas.platform_ids == {"doejane_12345": ("canvas", "12345", "doejane"), "smithjohn_222": ("canvas", "222", "smithjohn")}
        assert moodle.platform_ids == {"Jane_Doe_4411": ("moodle", "4411", "Jane Doe"), "Li_Wei_4412": ("moodle", "4412", "Li Wei")}
        assert set(canvas.platform_ids) == set(canvas.students) and set(moodle.platform_ids) == set(moodle.students)
    finally:
        canvas.cleanup()
        moodle.cleanup()


def test_grading_a_canvas_export_writes_the_file_canvas_imports(tmp_path):
    export = make_zip(tmp_path / "canvas.zip", {f"doejane_12345_67890_{P1}": (REFERENCE / P1).read_text()})
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "grader.cli", str(export), "--class", "--out", str(out), "--check", "1a.dtype", "--quiet"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    table = list(csv.reader((out / CANVAS_FILE).open(newline="")))
    assert table[0][:2] == ["Student", "ID"] and table[2] == ["doejane", "12345", "", "", "", "0.5"]
    assert "gradebook-canvas.csv: 1 final grade(s)" in done.stdout


def test_the_untouched_template_is_recognised_whatever_the_editor_did(tmp_path):
    same = shutil.copytree(TEMPLATE, tmp_path / "same")
    assert is_untouched_template(same)
    (same / P1).write_bytes((TEMPLATE / P1).read_bytes().replace(b"\n", b"   \r\n"))  # CRLF and trailing spaces
    notebook = nbformat.read(TEMPLATE / "p3_ebm.ipynb", as_version=4)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, same / "p3_ebm.ipynb")  # opened and saved in Jupyter
    assert is_untouched_template(same)
    changed = shutil.copytree(TEMPLATE, tmp_path / "changed")
    (changed / P1).write_text((TEMPLATE / P1).read_text().replace("raise NotImplementedError", "return None", 1))
    assert not is_untouched_template(changed)
    answered = shutil.copytree(TEMPLATE, tmp_path / "answered")
    (answered / "answers.md").write_text((TEMPLATE / "answers.md").read_text() + "\nmy answer\n")
    assert not is_untouched_template(answered)
    assert not is_untouched_template(REFERENCE) and not is_untouched_template(tmp_path / "empty-does-not-exist")
    (tmp_path / "only-notes").mkdir()
    assert not is_untouched_template(tmp_path / "only-notes")


@pytest.mark.parametrize("found, fix", [
    ("p4_realnvp_final.py", "p4_realnvp.py"), ("P4_RealNVP.py", "p4_realnvp.py"), ("p4-realnvp (1).py", "p4_realnvp.py"),
    ("p1_change_of_variable.py", P1), ("answers.md.txt", "answers.md"), ("Answers.MD", "answers.md"), ("answer.md", "answers.md"),
    ("p3_energy (1).pt", "p3_energy.pt"), ("p3_ebm_v2.ipynb", "p3_ebm.ipynb"),
])
def test_a_close_name_is_named_with_its_fix(found, fix):
    (hint,) = rename_hints([found, "notes.txt"], EXPECTED)
    assert hint == f"{fix} is not in the submission, but {found} is: rename it to {fix}"


def test_unrelated_or_redundant_names_get_no_hint():
    p4 = ["p4_realnvp.py", "p4_realnvp.ipynb"]
    assert rename_hints(["p4_realnvp.py", "p4_realnvp_final.py"], p4) == []  # the expected one is there
    assert rename_hints(["p4_realnvp.ipynb", "p4_realnvp_old.py"], p4) == []  # the notebook counts for the module
    assert rename_hints(["p4_figures.py", "p1_figures.py", "p3_train.py", "p1_adjoint_demo.py", "notes.md", "p3_energy.npz"], EXPECTED) == []


def test_a_hostile_found_name_is_shown_as_safe_text():
    (hint,) = rename_hints(["p4_realnvp_\udcff\n## Score 100.py"], ["p4_realnvp.py"])
    assert "\n" not in hint and "\udcff" not in hint and "\\x0a## Score 100.py" in hint
    hint.encode("utf-8")  # writable anywhere
