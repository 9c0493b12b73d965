"""The `grade` command as a user runs it: outputs, exit codes, clear one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from helpers import REFERENCE, TEMPLATE

SCHEMA = json.loads((Path(__file__).with_name("gradescope_results.schema.json")).read_text())


def grade_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True, timeout=600)


def test_reference_run_writes_valid_reports_and_exits_zero(tmp_path):
    done = grade_cli(str(REFERENCE), "--out", str(tmp_path), "--check", "1a.instance,1a.dtype")
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 2.0 and [t["number"] for t in results["tests"]] == ["1a", "1a"]
    assert "1a.instance" in done.stdout and "total" in done.stdout  # the summary table
    assert "[ 1/2]" in done.stderr  # progress lines
    html = (tmp_path / "report.html").read_text()
    assert "figures/1a.instance-density.png" in html and (tmp_path / "figures" / "1a.instance-density.png").stat().st_size > 1000
    assert "1a.instance" in (tmp_path / "report.md").read_text()


def test_fail_under_sets_the_exit_code_but_still_writes_reports(tmp_path):
    done = grade_cli(str(TEMPLATE), "--out", str(tmp_path), "--check", "1a.dtype", "--fail-under", "0.5")
    assert done.returncode == 1
    assert "below --fail-under" in done.stderr
    jsonschema.validate(json.loads((tmp_path / "results.json").read_text()), SCHEMA)


def test_missing_folder_is_one_clear_line(tmp_path):
    done = grade_cli(str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_folder_without_expected_files_is_one_clear_line(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    done = grade_cli(str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "holds none of the expected files" in done.stderr
    assert "Traceback" not in done.stderr


def test_list_prints_checks_and_points():
    done = grade_cli("--list", "--only", "1")
    assert done.returncode == 0
    assert "1a.instance" in done.stdout and "points" in done.stdout.splitlines()[-1]


def test_unknown_check_id_lists_the_known_ones():
    done = grade_cli("--list", "--check", "9z.nothing")
    assert done.returncode == 2 and "unknown check id(s) 9z.nothing" in done.stderr and "1a.instance" in done.stderr


def test_bad_only_value_is_a_usage_error():
    done = grade_cli("--list", "--only", "7")
    assert done.returncode == 2 and "problems are 1, 2, 3 and 4" in done.stderr


def test_class_grading_writes_one_report_per_student_and_a_gradebook(tmp_path):
    import csv
    import shutil

    class_dir = tmp_path / "class"
    shutil.copytree(REFERENCE, class_dir / "alice")
    shutil.copytree(TEMPLATE, class_dir / "bob")
    (class_dir / "carol").mkdir()
    (class_dir / "carol" / "notes.txt").write_text("empty hand-in")
    out = tmp_path / "out"
    done = grade_cli(str(class_dir), "--class", "--out", str(out), "--check", "1a.dtype,2b.written", "--quiet")
    assert done.returncode == 0, done.stderr
    rows = {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["alice"]["total"] == "0.5" and rows["alice"]["pending"] == "4.0"
    assert rows["bob"]["total"] == "0.0"
    assert "holds none of the expected files" in rows["carol"]["note"]
    for student in ("alice", "bob"):
        jsonschema.validate(json.loads((out / student / "results.json").read_text()), SCHEMA)


def test_a_child_that_cannot_import_torch_is_the_installations_fault_not_the_students(tmp_path, monkeypatch, capsys):
    """The grader's environment is broken (here: the child's import path lacks the site directory):
    one line to the instructor and exit 2, no report blaming the student."""
    from grader import cli
    from grader.runner import sandbox

    stdlib_only = [p for p in sandbox.child_sys_path() if "site-packages" not in p and "dist-packages" not in p]
    monkeypatch.setattr(sandbox, "child_sys_path", lambda: stdlib_only)
    status = cli.main([str(REFERENCE), "--out", str(tmp_path / "out"), "--check", "1a.dtype", "--jobs", "1", "--quiet"])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and not (tmp_path / "out" / "results.json").exists()
    assert error[-1].startswith("grade: setup problem, nothing was graded: a student process could not start")
    assert "No module named" in error[-1] and "not of the submission" in error[-1]
