"""Written answers: pending until scored, manual scores merged into the total, bad scores refused."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from grader.checks.written import answer_section
from grader.manual import ManualScoreError, load_manual_scores
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
    assert all(t["extra_data"]["pending"] and t["name"].endswith("[pending]") for t in tests.values())
    assert "proof" in tests["2a.written"]["output"].lower() or "Z_" in tests["2a.written"]["output"]
    assert "Rubric" in tests["2a.written"]["output"]
    summary = json.loads((out / "results.json").read_text())
    assert summary["score"] == 0 and "14 points of written answers are pending" in summary["output"]

    (out / "manual_scores.toml").write_text('["2a"]\nscore = 5\ncomment = "Regularity assumption missing."\n\n["1b5"]\nscore = 2\n')
    assert grade_cli(str(REFERENCE), "--out", str(out), "--check", WRITTEN).returncode == 0
    tests = results(out)
    assert tests["2a.written"]["score"] == 5 and "Regularity assumption missing." in tests["2a.written"]["output"]
    assert tests["1b5.written"]["score"] == 2 and tests["1b5.written"]["status"] == "passed"
    assert tests["2b.written"]["extra_data"]["pending"]
    assert json.loads((out / "results.json").read_text())["score"] == 7
    assert "(6 points pending)" in (out / "report.md").read_text()


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
    ('["3x"]\nscore = 1\n', "unknown question '3x'"),
    ('["2a"]\ncomment = "no score"\n', "needs a `score = <number>` line"),
    ('["2a"\n', "not valid TOML"),
])
def test_bad_manual_scores_are_clear_errors(tmp_path, content, message):
    (tmp_path / "manual_scores.toml").write_text(content)
    with pytest.raises(ManualScoreError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_manual_scores(tmp_path, "alice")
    done = grade_cli(str(REFERENCE), "--out", str(tmp_path), "--check", "2a.written")
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


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
