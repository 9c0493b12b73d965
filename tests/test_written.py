"""Written answers: pending until scored, manual scores merged into the total, bad scores refused."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from grader.checks.written import answer_section
from grader.manual import ManualScore, ManualScoreError, apply_scores, load_class_scores, load_manual_scores, pending_scores_file
from grader.results import CheckResult, GradingRun
from helpers import REFERENCE, TEMPLATE

WRITTEN = "1b4.written,1b5.written,2a.written,2b.written"


def grade_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", "--quiet", *args], capture_output=True, text=True, timeout=300)


def results(out) -> dict[str, dict]:
    return {t["extra_data"]["check_id"]: t for t in json.loads((out / "results.json").read_text())["tests"]}


def test_answers_are_pending_until_scored_then_merged(tmp_path):
    out = tmp_path / "out"
    assert grade_cli(str(REFERENCE), "--out", str(out), "--check", WRITTEN).returncode == 0
    tests = results(out)
    # pending: neither failed nor zero for Gradescope (no score, max_score or status to derive "failed" from)
    assert all(t["extra_data"]["pending"] and "[pending" in t["name"] for t in tests.values())
    assert not any({"score", "max_score", "status"} & set(t) for t in tests.values())
    assert "proof" in tests["2a.written"]["output"].lower() or "Z_" in tests["2a.written"]["output"]
    assert not any("Rubric" in t["output"] for t in tests.values())  # the rubric is the instructor's until released
    summary = json.loads((out / "results.json").read_text())
    assert summary["score"] == 0 and "14 points pending an instructor's score" in summary["output"]
    assert "Autograded" not in summary["output"]

    (out / "manual_scores.toml").write_text('["2a"]\nscore = 5\ncomment = "Regularity assumption missing."\n\n["1b5"]\nscore = 2\n')
    assert grade_cli(str(REFERENCE), "--out", str(out), "--check", WRITTEN).returncode == 0
    tests = results(out)
    assert tests["2a.written"]["score"] == 5 and "Regularity assumption missing." in tests["2a.written"]["output"]
    assert "status" not in tests["2a.written"] and "[scored by the instructor: 5 / 6]" in tests["2a.written"]["name"]  # 5/6 is not "failed"
    assert tests["1b5.written"]["score"] == 2 and not tests["1b5.written"]["extra_data"]["pending"]
    assert tests["2b.written"]["extra_data"]["pending"]
    summary = json.loads((out / "results.json").read_text())
    assert summary["score"] == 7 and "written answers scored by the instructor 7 / 8" in summary["output"]
    report = (out / "report.md").read_text()
    assert "6 points pending" in report and "scored by the instructor" in report
    stored = json.loads((out / "grading-run.json").read_text())  # the run as graded: what every later merge starts from
    assert all(r["score"] is None for r in stored["results"])


def test_merge_only_rerenders_the_stored_run_without_running_student_code(tmp_path, monkeypatch):
    import grader.cli  # noqa: PLC0415

    submission = shutil.copytree(REFERENCE, tmp_path / "alice", ignore=shutil.ignore_patterns("*.pt", "figures"))
    out = tmp_path / "out"
    assert grader.cli.main([str(submission), "--out", str(out), "--check", "2a.written,2b.written", "--quiet"]) == 0
    monkeypatch.setattr(grader.cli, "grade_submission", lambda *a, **k: pytest.fail("student code ran during a merge"))
    (submission / "answers.md").write_text("## 2a\nchanged after grading\n")
    (out / "manual_scores.toml").write_text('["2a"]\nscore = 6\n')
    assert grader.cli.main([str(submission), "--out", str(out), "--quiet", "--merge-only"]) == 0
    tests = results(out)
    assert tests["2a.written"]["score"] == 6 and "changed after grading" not in tests["2a.written"]["output"]
    assert tests["2b.written"]["extra_data"]["pending"]
    assert grader.cli.main([str(submission), "--out", str(tmp_path / "nothing-here"), "--quiet", "--merge-only"]) == 2


def test_the_rubric_is_shown_only_once_released(tmp_path):
    out = tmp_path / "out"
    assert grade_cli(str(REFERENCE), "--out", str(out), "--check", "2a.written", "--release-rubric").returncode == 0
    output = results(out)["2a.written"]["output"]
    assert "Rubric" in output and "regularity assumption" in output
    assert "Rubric" not in json.loads((out / "grading-run.json").read_text())["results"][0]["output"]


def test_class_wide_file_is_keyed_by_submission_folder(tmp_path):
    submission = tmp_path / "alice"
    shutil.copytree(REFERENCE, submission)
    scores = tmp_path / "class.toml"
    scores.write_text('[alice."2b"]\nscore = 3\n\n[bob."2b"]\nscore = 1\n')
    out = tmp_path / "out"
    assert grade_cli(str(submission), "--out", str(out), "--check", "2b.written", "--manual-scores", str(scores)).returncode == 0
    assert results(out)["2b.written"]["score"] == 3


@pytest.mark.parametrize("content, message", [
    ('["2a"]\nscore = 7\n', "outside [0, 6]"),
    ('["2a"]\nscore = nan\n', "outside [0, 6]"),
    ('["3x"]\nscore = 1\n', "unknown question '3x'"),
    ('["2a"]\nscroe = 5\n', "unknown key(s) scroe"),
    ('["2a"]\nscore = "5"\n', "outside [0, 6]"),
    ('["2a"\n', "not valid TOML"),
])
def test_bad_manual_scores_are_refused_before_anything_is_written(tmp_path, content, message, capsys):
    import grader.cli  # noqa: PLC0415 - in-process: the refusal comes before any grading

    (tmp_path / "manual_scores.toml").write_text(content)
    with pytest.raises(ManualScoreError, match=re.escape(message)):
        load_manual_scores(tmp_path, "alice")
    assert grader.cli.main([str(REFERENCE), "--out", str(tmp_path), "--check", "2a.written", "--quiet"]) == 2
    stderr = capsys.readouterr().err
    assert message in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and "nothing was written" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manual_scores.toml"]


def test_a_table_without_a_score_stays_pending(tmp_path):
    (tmp_path / "manual_scores.toml").write_text('["2a"]\ncomment = "to do"\n["2b"]\nscore = 4\n')
    assert load_manual_scores(tmp_path, "alice") == {"2b": ManualScore(4.0)}


def test_a_class_file_is_checked_whole_and_names_every_problem(tmp_path):
    path = tmp_path / "class.toml"
    path.write_text('[alcie."2a"]\nscore = 3\n[bob."2a"]\nscore = 9\n[bob."2c"]\nscore = 1\n[carol."2b"]\nscore = 2\n')
    with pytest.raises(ManualScoreError) as error:
        load_class_scores(path, {"alice", "bob", "carol"})
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: 3 problems")
    assert "[alcie] is not a submission of this class (did you mean alice?)" in message
    assert "[bob][2a] score 9 is outside [0, 6]" in message and "unknown question '2c'" in message
    assert load_class_scores(_valid(tmp_path), {"alice"}) == {"alice": {"2a": ManualScore(3.0, "ok")}}
    with pytest.raises(ManualScoreError, match="does not exist"):
        load_class_scores(tmp_path / "missing.toml", {"alice"})
    with pytest.raises(ManualScoreError, match="is not a file"):
        load_class_scores(tmp_path, {"alice"})


def _valid(folder):
    path = folder / "valid.toml"
    path.write_text('[alice."2a"]\nscore = 3\ncomment = "ok"\n')
    return path


def _run(items: dict[str, float | None], answer: str = "Answer:\n\nmy answer") -> GradingRun:
    results = tuple(CheckResult(f"{qid}.written", qid, "written", 6.0, score, "pending" if score is None else "failed", answer, "visible")
                    for qid, score in items.items())
    return GradingRun("sub", (CheckResult("1a.instance", "1a", "density", 1.5, 1.5, "passed", "ok", "visible"),) + results, 1.0)


def test_merging_is_idempotent_and_labels_a_persons_score():
    graded = _run({"2a": None, "2b": None})
    merged = apply_scores(graded, {"2a": ManualScore(5.0, "good")})
    assert apply_scores(graded, {"2a": ManualScore(5.0, "good")}) == merged  # from the stored run, whatever came before
    result = {r.id: r for r in merged.results}
    assert result["2a.written"].score == 5 and result["2a.written"].status == "scored" and "good" in result["2a.written"].output
    assert result["2b.written"].score is None and merged.pending_points == 6 and merged.score == 6.5
    assert apply_scores(merged, {}) == merged and apply_scores(graded, {}) == graded


def test_pending_file_lists_every_pending_item_and_is_valid_toml_whatever_the_answer(tmp_path):
    hostile = 'Answer:\n\n"""\n[evil]\nscore = 6\n\x0b\x7f\u2028 end'
    runs = {"alice": _run({"2a": None, "2b": 4.0}), 'bo"b\\': _run({"2a": None}, hostile)}
    text = pending_scores_file(runs)
    data = tomllib.loads(text)
    assert set(data) == {"alice", 'bo"b\\'} and set(data["alice"]) == {"2a"} and "evil" not in data
    assert all(entry == {"comment": ""} for tables in data.values() for entry in tables.values())  # nothing scored yet
    assert "# > my answer" in text and "Rubric" in text
    path = tmp_path / "todo.toml"
    path.write_text(text.replace('["alice"."2a"]\n# score =', '["alice"."2a"]\nscore = 4 #'))
    assert load_class_scores(path, set(runs)) == {"alice": {"2a": ManualScore(4.0)}, 'bo"b\\': {}}


def test_template_answers_are_not_answers(tmp_path):
    out = tmp_path / "out"
    grade_cli(str(TEMPLATE), "--out", str(out), "--check", WRITTEN)
    tests = results(out)
    assert all(t["score"] == 0 and "No answer under the heading" in t["output"] for t in tests.values())
    assert not any(t["extra_data"]["pending"] for t in tests.values())


def test_missing_answers_file_costs_only_the_written_points(tmp_path):
    submission = tmp_path / "sub"
    submission.mkdir()
    shutil.copy(REFERENCE / "p1_change_of_variables.py", submission)
    out = tmp_path / "out"
    grade_cli(str(submission), "--out", str(out), "--check", "1a.dtype,2a.written")
    tests = results(out)
    assert tests["1a.dtype"]["score"] == 0.5
    assert tests["2a.written"]["score"] == 0 and "answers.md is not in the submission" in tests["2a.written"]["output"]


def test_section_parsing_stops_at_the_next_heading_and_drops_the_placeholder():
    text = "# title\n## 1b4\n> Q?\n\n_Write your answer here._\n## 1b5\n> Q?\nmine\n![d](x.png)\n## 2a\n"
    assert answer_section(text, "1b4") == ""
    assert answer_section(text, "1b5") == "mine\n![d](x.png)"
    assert answer_section(text, "2b") == ""
