"""Class runs: re-grading only what changed, a gradebook that a spreadsheet cannot execute, outputs that cannot clash."""
from __future__ import annotations

import csv
import shutil
from dataclasses import replace

import pytest
from helpers import CORPUS, REFERENCE, patched_submission

from grader.checks.registry import select
from grader.classroom import GRADEBOOK, grade_class, safe_cell
from grader.fingerprint import for_submission, grader_digest, run_fingerprint
from grader.options import GradingOptions
from grader.private import PrivateInputs
from grader.runner.sandbox import Limits
from grader.submission import SubmissionError

P1 = "p1_change_of_variables"
IDS = {"1a.instance", "1a.dtype", "2b.written"}
OPTIONS = GradingOptions(Limits(memory_mb=2048, time_scale=2), progress=False)


def small_class(root):
    for name in ("ann", "ben"):
        patched_submission(root / name, P1, None, also=("answers.md",))
    patched_submission(root / "dan", P1, CORPUS / "p1a" / "forgets_det.py")
    return root


def gradebook(out):
    return {row["student"]: row for row in csv.DictReader((out / GRADEBOOK).open())}


def test_second_run_regrades_only_the_changed_submission(tmp_path):
    class_dir, out = small_class(tmp_path / "class"), tmp_path / "out"
    first = grade_class(class_dir, out, select(None, IDS), OPTIONS, progress=False)
    assert [r.why for r in first.rows] == ["first grading"] * 3 and not any(r.reused for r in first.rows)
    before = gradebook(out)
    assert float(before["dan"]["1a.instance"]) < 1.5 and before["ann"]["1a.instance"] == "1.5"
    shutil.copy(REFERENCE / f"{P1}.py", class_dir / "dan" / f"{P1}.py")  # dan fixes his bug
    second = grade_class(class_dir, out, select(None, IDS), OPTIONS, progress=False)
    rows = {r.student: r for r in second.rows}
    assert not rows["dan"].reused and rows["dan"].why == "the submission changed"
    assert rows["ann"].reused and rows["ben"].reused
    assert "graded 1 of 3" in second.summary() and "skipped 2 unchanged" in second.summary()
    after = gradebook(out)
    assert after["dan"]["1a.instance"] == "1.5"
    assert {k: v for k, v in after.items() if k != "dan"} == {k: v for k, v in before.items() if k != "dan"}
    forced = grade_class(class_dir, out, select(None, IDS), OPTIONS, force=True, progress=False)
    assert [r.why for r in forced.rows] == ["--force"] * 3 and gradebook(out) == after


def test_manual_scores_reach_a_reused_submission_without_regrading(tmp_path):
    class_dir, out = small_class(tmp_path / "class"), tmp_path / "out"
    grade_class(class_dir, out, select(None, IDS), OPTIONS, progress=False)
    assert gradebook(out)["ann"]["2b.written"] == "pending"
    scores = tmp_path / "scores.toml"
    scores.write_text('[ann."2b"]\nscore = 3\n')
    result = grade_class(class_dir, out, select(None, IDS), OPTIONS, scores, progress=False)
    assert all(r.reused for r in result.rows)
    book = gradebook(out)
    assert book["ann"]["2b.written"] == "3.0" and float(book["ann"]["pending"]) == 0 and book["ann"]["status"] == "graded"


def test_a_changed_rubric_or_private_input_changes_every_fingerprint(tmp_path):
    folder = patched_submission(tmp_path / "ann", P1, None)
    grader = grader_digest()
    base = for_submission(run_fingerprint(select(None, IDS), OPTIONS, grader), folder)
    assert base.changes(base) is None
    private = for_submission(run_fingerprint(select(None, IDS), replace(OPTIONS, private=PrivateInputs(source="p.toml", digest="abc123")), grader), folder)
    assert private.changes(base) == "the rubric or the private inputs changed"
    rubric = for_submission(run_fingerprint(select(None, IDS | {"1a.random"}), OPTIONS, grader), folder)
    assert rubric.changes(base) == "the rubric or the private inputs changed"
    settings = for_submission(run_fingerprint(select(None, IDS), replace(OPTIONS, limits=Limits(time_scale=5)), grader), folder)
    assert settings.changes(base) == "the grading settings changed"
    (folder / "answers.md").write_text("new")
    assert for_submission(run_fingerprint(select(None, IDS), OPTIONS, grader), folder).changes(base) == "the submission changed"
    assert for_submission(run_fingerprint(select(None, IDS), OPTIONS, "other"), folder).changes(base) == "the grader changed"


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(text):
    assert safe_cell(text) == "'" + text


def test_ordinary_cells_and_numbers_pass_unchanged():
    assert safe_cell("alice") == "alice" and safe_cell(3.5) == 3.5 and safe_cell("") == ""


def test_reserved_output_names_and_bad_output_folders(tmp_path):
    class_dir = tmp_path / "class"
    for name in ("gradebook.csv", "class.html", "=cmd|' /C calc'!A0"):
        (class_dir / name).mkdir(parents=True)
        (class_dir / name / "notes.txt").write_text("")
    out = tmp_path / "out"
    result = grade_class(class_dir, out, select(None, {"1a.dtype"}), OPTIONS, progress=False)
    notes = {r.student: r.error for r in result.rows}
    assert "clashes" in notes["gradebook.csv"] and "clashes" in notes["class.html"]
    assert (out / GRADEBOOK).is_file() and (out / "class.html").is_file()
    rows = list(csv.reader((out / GRADEBOOK).open()))
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    with pytest.raises(SubmissionError, match="inside the class folder"):
        grade_class(class_dir, class_dir, select(None, {"1a.dtype"}), OPTIONS, progress=False)
    with pytest.raises(SubmissionError, match="inside the class folder"):
        grade_class(class_dir, class_dir / "class.html" / "out", select(None, {"1a.dtype"}), OPTIONS, progress=False)
    (out / GRADEBOOK).unlink()
    (out / GRADEBOOK).mkdir()
    with pytest.raises(SubmissionError, match="is a folder or a link"):
        grade_class(class_dir, out, select(None, {"1a.dtype"}), OPTIONS, progress=False)
