"""One submission never changes another's grade: each hostile submission is graded beside correct
classmates, and every classmate's row must be exactly the row of a class run without it.

The class runs grade two quick Problem 1 checks (`IDS`) in this process (`jobs=1`), so the limits
lowered here (the disk budget, the rendering time) apply, and the grader's own peak memory during
the run can be read (`/proc/self/status` VmHWM, reset before the run).
"""
from __future__ import annotations

import csv
import errno
import json
import os
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from helpers import CORPUS, REFERENCE, patched_submission

from grader import fingerprint, notebook_html, submission
from grader.bounded import Bounded, run_bounded
from grader.checks.registry import select
from grader.classroom import GRADEBOOK, grade_class
from grader.exports import map_export
from grader.names import shown_name
from grader.options import GradingOptions
from grader.report import RUN_FILE
from grader.runner import disk
from grader.runner.sandbox import Limits
from grader.submission import StagingError, load_submission

P1 = "p1_change_of_variables"
IDS = {"1a.instance", "1a.dtype"}
OPTIONS = GradingOptions(Limits(memory_mb=2048, time_scale=0.5), progress=False)
CLASSMATES = ("alice", "bob")
GRADER_MEMORY_BYTES = int(1.5 * 2**30)
DISK_BUDGET = 16 * 2**20  # fills_disk.py writes 64 MB, then waits


def correct_class(root: Path) -> Path:
    for name in CLASSMATES:
        patched_submission(root / name, P1, None)
    return root


def classmates_rows(out: Path) -> dict[str, tuple[dict, list]]:
    """Each correct classmate's gradebook row and per-check results (everything but timings)."""
    book = {row["student"]: row for row in csv.DictReader((out / GRADEBOOK).open(encoding="utf-8"))}
    rows = {}
    for name in CLASSMATES:
        tests = json.loads((out / name / "results.json").read_text())["tests"]
        untimed = [{**{k: v for k, v in t.items() if k != "execution_time"},
                    "extra_data": {k: v for k, v in t.get("extra_data", {}).items() if k != "seconds"}} for t in tests]
        rows[name] = (book[name], untimed)
    return rows


def reset_peak_memory() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from the current RSS
        return True
    except OSError:
        return False


def peak_memory_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def run_class(class_dir: Path, out: Path, refused: dict[str, str] | None = None):
    measured = reset_peak_memory()
    started = time.monotonic()
    result = grade_class(class_dir, out, select(None, IDS), OPTIONS, progress=False, refused=refused)
    seconds = time.monotonic() - started
    if measured:
        assert peak_memory_bytes() < GRADER_MEMORY_BYTES
    return {row.student: row for row in result.rows}, seconds


@pytest.fixture(scope="module")
def control(tmp_path_factory):
    """The class without any hostile member: the rows every other run must reproduce."""
    root = tmp_path_factory.mktemp("control")
    rows, seconds = run_class(correct_class(root / "class"), root / "out")
    assert all(rows[name].run.score == rows[name].run.max_score for name in CLASSMATES)
    return classmates_rows(root / "out"), seconds


def crafted_notebook(folder: Path) -> None:
    """The correct module as a notebook, after a Markdown table that keeps nbconvert busy for tens of seconds
    (an 80 KB table takes 11-17 s on a busy machine; this one, 320 KB, far longer than the limits set in these tests)."""
    table = "|a" * 200 + "|\n" + "|-" * 200 + "|\n" + ("|x" * 200 + "|\n") * 800
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(table),
                      nbformat.v4.new_code_cell((REFERENCE / f"{P1}.py").read_text())]
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{P1}.ipynb")


def _fills_disk(class_dir, monkeypatch):
    monkeypatch.setattr(disk, "BUDGET_BYTES", DISK_BUDGET)
    patched_submission(class_dir / "m_disk", P1, CORPUS / "hostile" / "fills_disk.py")
    return "m_disk", "disk limit"


def _huge_integer(class_dir, monkeypatch):
    patched_submission(class_dir / "m_integer", P1, CORPUS / "hostile" / "huge_integer_reply.py")
    return "m_integer", "has shape ()"


def _slow_markdown(class_dir, monkeypatch):
    monkeypatch.setattr(notebook_html, "RENDER_SECONDS", 8.0)
    crafted_notebook(class_dir / "m_markdown")
    return "m_markdown", "shown as plain text"


def _not_utf8_names(class_dir, monkeypatch):
    folder = patched_submission(class_dir / os.fsdecode(b"m_name\xff"), P1, None)
    (folder / os.fsdecode(b"notes-\xfe.txt")).write_text("from an old repository")
    (folder / os.fsdecode(b"data\xfd")).mkdir()
    return shown_name(os.fsdecode(b"m_name\xff")), "graded p1_change_of_variables.py"


def _staging_fails(class_dir, monkeypatch):
    patched_submission(class_dir / "m_staging", P1, None)
    copy = submission._Stager.copy

    def no_space_for_this_one(self, name, *args, **kwargs):
        if self.submission.root.name == "m_staging":
            raise submission.StagingError(name, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return copy(self, name, *args, **kwargs)

    monkeypatch.setattr(submission._Stager, "copy", no_space_for_this_one)
    return "m_staging", "the grader's trouble"


HOSTILE = (_fills_disk, _huge_integer, _slow_markdown, _not_utf8_names, _staging_fails)


@pytest.mark.slow
def test_hostile_classmates_change_no_other_row(tmp_path, monkeypatch, control):
    """Every attack beside the two correct classmates, in one class run (one run keeps the suite fast;
    each attack's own row proves it happened)."""
    class_dir = correct_class(tmp_path / "class")
    expected = dict(make(class_dir, monkeypatch) for make in HOSTILE)
    rows, seconds = run_class(class_dir, tmp_path / "out")
    assert set(rows) == {*CLASSMATES, *expected}  # a row for everyone
    assert classmates_rows(tmp_path / "out") == control[0]
    for name, reason in expected.items():
        row = rows[name]
        shown = row.error if row.run is None else "\n".join([r.output for r in row.run.results] + list(row.run.notes))
        assert reason in shown, (name, shown)
    named = shown_name(os.fsdecode(b"m_name\xff"))
    assert named == "m_name\\xff" and rows[named].run.score == 2.0
    assert json.loads((tmp_path / "out" / named / RUN_FILE).read_text())["submission"].endswith("/m_name\\xff")  # shown, not dropped
    # each attack costs at most its own limits: the render limit, and one call limit for each attacked call
    assert seconds < 3 * control[1] + notebook_html.RENDER_SECONDS + 4 * 30 * OPTIONS.limits.time_scale


@pytest.mark.slow
def test_a_bad_archive_in_an_export_costs_only_its_row(tmp_path, control):
    """A plain-folders export (same names as the control class) where one student handed in a zip bomb."""
    class_dir = correct_class(tmp_path / "class")
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(class_dir.rglob("*.py")):
            archive.write(path, path.relative_to(class_dir).as_posix())
        nested = tmp_path / "handin.zip"
        with zipfile.ZipFile(nested, "w", zipfile.ZIP_DEFLATED) as bomb:
            bomb.writestr(f"{P1}.py", "\0" * (8 * 2**20))
        archive.write(nested, "mallory/handin.zip")
        archive.writestr("trudy/x", "a file")
        archive.writestr("trudy/x/y", "under a file")
    mapping = map_export(export)
    try:
        rows, _ = run_class(mapping.root, tmp_path / "out", mapping.refused)
    finally:
        mapping.cleanup()
    assert set(rows) == {*CLASSMATES, "mallory", "trudy"}
    assert classmates_rows(tmp_path / "out") == control[0]
    assert "compressed more than" in rows["mallory"].error
    assert rows["trudy"].run is None and "none of the expected files" in rows["trudy"].error


def test_the_disk_budget_counts_bytes_and_entries(tmp_path):
    (tmp_path / "a").write_bytes(os.urandom(3 * 2**20))
    disk.check_budget(tmp_path, budget_bytes=4 * 2**20, max_entries=10)
    with pytest.raises(disk.OverBudget, match="more than 2 MB"):
        disk.check_budget(tmp_path, budget_bytes=2 * 2**20, max_entries=10)
    nested = tmp_path / "deep"
    for index in range(12):
        (nested / str(index)).mkdir(parents=True)
        nested = nested / str(index)
    with pytest.raises(disk.OverBudget, match="more than 10 files and folders"):
        disk.check_budget(tmp_path, budget_bytes=2**30, max_entries=10)


def test_a_locked_working_folder_is_measured_and_removed(tmp_path):
    locked = tmp_path / "work" / "locked"
    locked.mkdir(parents=True)
    (locked / "data.bin").write_bytes(b"x" * 5000)
    locked.chmod(0)
    used, entries = disk.folder_usage(tmp_path / "work")
    assert entries == 2 and used >= 5000  # as root the walk reads it; as a user the grader unlocks its own uid's folder
    locked.chmod(0)
    disk.remove_tree(tmp_path / "work")
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EIO])
def test_a_staging_error_is_the_graders_trouble_never_a_missing_file(tmp_path, monkeypatch, code):
    folder = patched_submission(tmp_path / "ann", P1, None, also=("answers.md",))

    def refuse(name, *args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(submission, "copy_regular", refuse)
    with pytest.raises(StagingError, match=f"could not stage {P1}.py \\({os.strerror(code)}\\); this is the grader's trouble"):
        load_submission(folder)


def test_rendering_that_runs_past_its_limit_falls_back_to_plain_text(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook_html, "RENDER_SECONDS", 5.0)
    crafted_notebook(tmp_path / "sub")
    staged = load_submission(tmp_path / "sub")
    try:
        started = time.monotonic()
        notes = notebook_html.render_submission_notebooks(staged, tmp_path / "out")
        assert time.monotonic() - started < 5.0 + notebook_html.PLAIN_SECONDS
    finally:
        staged.cleanup()
    assert len(notes) == 1 and "could not be rendered (it took longer than 5 s); shown as plain text" in notes[0], notes
    page = (tmp_path / "out" / "notebooks" / f"{P1}.html").read_text()
    assert "def density_linear" in page and "<script" not in page and "Content-Security-Policy" in page


def test_plain_page_escapes_everything():
    page = notebook_html.plain_page({"cells": [{"cell_type": "markdown", "source": ["<script>alert(1)</script>"]},
                                               {"cell_type": "code", "source": "x = 1", "outputs": [
                                                   {"output_type": "stream", "text": "<img src=x onerror=alert(1)>"}]},
                                               "not a cell", {"cell_type": 3, "source": 5}]}, "<b>nb</b>.ipynb")
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page and "&lt;b&gt;nb" in page



def test_a_class_whose_only_student_was_refused_still_gets_its_gradebook(tmp_path):
    (tmp_path / "class").mkdir()
    result = grade_class(tmp_path / "class", tmp_path / "out", select(None, IDS), OPTIONS, progress=False,
                         refused={"mallory_5": "handin.zip: the files unpack to more than 256 MB"})
    assert [(r.student, r.run, r.error) for r in result.rows] == [("mallory_5", None, "handin.zip: the files unpack to more than 256 MB")]
    book = list(csv.DictReader((tmp_path / "out" / GRADEBOOK).open(encoding="utf-8")))
    assert [(b["student"], b["status"]) for b in book] == [("mallory_5", "not graded")] and "256 MB" in book[0]["note"]


def test_fingerprints_take_any_name_and_stay_bounded(tmp_path, monkeypatch):
    folder = patched_submission(tmp_path / "ann", P1, None)
    (folder / os.fsdecode(b"notes-\xfe.txt")).write_text("from an old repository")
    os.mkfifo(folder / "pipe")  # never opened, so never blocks
    first = fingerprint.tree_digest(folder)
    assert fingerprint.tree_digest(folder) == first
    (folder / os.fsdecode(b"notes-\xfe.txt")).write_text("changed")
    assert fingerprint.tree_digest(folder) != first
    monkeypatch.setattr(fingerprint, "HASHED_ENTRIES", 50)
    for index in range(60):
        (folder / f"junk{index}").touch()
    assert fingerprint.tree_digest(folder) != fingerprint.tree_digest(folder)  # too many files: never reused, always graded


def test_a_bounded_helper_stops_at_its_time_and_memory_limits():
    assert run_bounded("builtins:len", ["abcd"], 20, 2**29) == Bounded(True, 4)
    slow = run_bounded("re:fullmatch", ["(a+)+$", "a" * 40 + "b"], 2, 2**29)  # catastrophic backtracking
    assert not slow.ok and "longer than 2 s" in slow.reason
    big = run_bounded("builtins:eval", ["len(bytearray(2**31))"], 20, 2**29)
    assert not big.ok and "more than 512 MB" in big.reason
