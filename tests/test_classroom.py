"""Class runs: re-grading only what changed, a gradebook that a spreadsheet cannot execute, outputs that cannot clash."""
from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace

import pytest
from helpers import CORPUS, REFERENCE, patched_submission

from grader.checks.registry import select
import grader.classroom
from grader.classroom import GRADEBOOK, grade_class
from grader.cli import main
from grader.fingerprint import for_submission, grader_digest, run_fingerprint
from grader.gradebook import safe_cell
from grader.manual import ManualScoreError
from grader.report import write_reports
from grader.results import CheckResult, GradingRun
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


def snapshot(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


BAD_SCORES = [
    (None, "does not exist"),
    ('[ann."2b"\nscore = 3\n', "not valid TOML"),
    ('[ann."2b"]\nscore = 3\n[bne."2b"]\nscore = 1\n', "[bne] is not a submission of this class (did you mean ben?)"),
    ('[ann."2c"]\nscore = 3\n', "unknown question '2c'"),
    ('[ann."2b"]\nscore = 30\n', "score 30 is outside [0, 4]"),
]


def stored_class(class_dir, out):
    """OUT as a class run leaves it, built from stored runs (no grading): reports, gradebook, page."""
    for folder in class_dir.iterdir():
        results = (CheckResult("1a.instance", "1a", "t", 1.5, 1.5, "passed", "ok", "visible"),
                   CheckResult("2b.written", "2b", "t", 4.0, None, "pending", "Answer:\n\nmine", "visible"))
        write_reports(GradingRun(str(folder), results, 1.0), out / folder.name)
    grade_class(class_dir, out, select(None, {"1a.instance", "2b.written"}), OPTIONS, progress=False, merge_only=True)


def test_a_bad_scores_file_changes_nothing_and_exits_2(tmp_path, capsys):
    class_dir, out = small_class(tmp_path / "class"), tmp_path / "out"
    stored_class(class_dir, out)
    before = snapshot(out)
    assert {"gradebook.csv", "class.html"} <= {p.name for p in out.iterdir()} and len(before) > 10
    for content, message in BAD_SCORES:
        scores = tmp_path / "scores.toml"
        scores.unlink(missing_ok=True)
        if content is not None:
            scores.write_text(content)
        with pytest.raises(ManualScoreError) as error:
            grade_class(class_dir, out, select(None, IDS), OPTIONS, scores, progress=False)
        assert message in str(error.value) and "\n" not in str(error.value) and "nothing was written" in str(error.value)
        assert main([str(class_dir), "--class", "--out", str(out), "--check", "1a.instance,2b.written", "--manual-scores", str(scores), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
        assert snapshot(out) == before, message  # no gradebook, page, report or stored run touched
    (out / "ben" / "manual_scores.toml").write_text('["2b"]\nscore = -1\n')  # a student's own file is checked first too
    with pytest.raises(ManualScoreError, match="outside"):
        grade_class(class_dir, out, select(None, IDS), OPTIONS, progress=False)


def test_merging_scores_runs_no_student_code_and_the_pending_file_round_trips(tmp_path, monkeypatch, capsys):
    class_dir, out = small_class(tmp_path / "class"), tmp_path / "out"
    args = [str(class_dir), "--class", "--out", str(out), "--check", ",".join(sorted(IDS)), "--quiet", "--time-scale", "2"]
    assert main(args) == 0
    todo = tmp_path / "todo.toml"

    def no_grading(*args, **kwargs):
        raise AssertionError("student code ran during a merge")

    monkeypatch.setattr(grader.classroom, "grade_submission", no_grading)
    assert main(args + ["--pending", str(todo)]) == 0
    text = todo.read_text()
    assert text.count('."2b"]') == 2 and "# > " in text  # ann and ben (dan has no answers.md: 0, not pending), answers quoted
    todo.write_text(text.replace('["ann"."2b"]\n# score =', '["ann"."2b"]\nscore = 4 #'))
    assert main(args + ["--manual-scores", str(todo)]) == 0
    assert "skipped 3 unchanged" in capsys.readouterr().out
    book = gradebook(out)
    assert book["ann"]["2b.written"] == "4.0" and book["ann"]["status"] == "graded" and book["ben"]["2b.written"] == "pending"
    tests = {t["extra_data"]["check_id"]: t for t in json.loads((out / "ann" / "results.json").read_text())["tests"]}
    assert tests["2b.written"]["score"] == 4 and "scored by the instructor" in tests["2b.written"]["name"]
    assert main(args + ["--pending", str(todo)]) == 0  # never overwrites the file being filled
    assert todo.with_name("todo.new.toml").read_text().count('."2b"]') == 1
    shutil.copy(REFERENCE / f"{P1}.py", class_dir / "dan" / f"{P1}.py")  # dan changed: a plain run would grade him again
    (out / "manual-scores.toml").write_text('[ben."2b"]\nscore = 2\n')
    assert main(args + ["--merge-only"]) == 0  # ... but --merge-only grades nothing
    assert gradebook(out)["ben"]["2b.written"] == "2.0" and float(gradebook(out)["dan"]["1a.instance"]) < 1.5
    assert "--merge-only: 1 stored result(s) re-rendered although" in (out / "class.html").read_text()


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
