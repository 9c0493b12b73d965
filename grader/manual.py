"""Scores a person gives to the written answers, read back into the results.

Per submission: `OUT/manual_scores.toml`; for a whole class: one file given with
`--manual-scores FILE` whose top-level tables are submission folder names. Either way:

    ["2a"]
    score = 5
    comment = "Step 3 needs the regularity assumption."

A question without a score stays pending. A score outside [0, max] or for a question that is
not in the rubric is an error that names the file and the question.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from assets import ASSETS_DIR

RUBRIC_FILE = ASSETS_DIR / "written_rubric.toml"
SCORES_FILE = "manual_scores.toml"


class ManualScoreError(Exception):
    """A manual-scores file that cannot be used as it is."""


@dataclass(frozen=True)
class WrittenQuestion:
    id: str  # "1b4", "1b5", "2a", "2b": also the answers.md heading
    title: str
    points: float
    levels: tuple[tuple[float, str], ...]  # (points, what earns them), highest first


@dataclass(frozen=True)
class ManualScore:
    score: float
    comment: str = ""


def load_rubric(path: Path = RUBRIC_FILE) -> dict[str, WrittenQuestion]:
    data = tomllib.loads(path.read_text())
    return {qid: WrittenQuestion(qid, q["title"], float(q["points"]), tuple((float(p), str(t)) for p, t in q["levels"]))
            for qid, q in data.items()}


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ManualScoreError(f"{path}: not valid TOML ({error})") from None


def load_manual_scores(out_dir: Path, submission_name: str, class_file: Path | None = None) -> dict[str, ManualScore]:
    """Scores for one submission: the class file's table for it, overridden by OUT/manual_scores.toml."""
    rubric = load_rubric()
    tables: list[tuple[Path, dict]] = []
    if class_file is not None:
        if not class_file.is_file():
            raise ManualScoreError(f"manual scores file {class_file} does not exist")
        tables.append((class_file, _read(class_file).get(submission_name, {})))
    own = out_dir / SCORES_FILE
    if own.is_file():
        tables.append((own, _read(own)))
    scores: dict[str, ManualScore] = {}
    for path, table in tables:
        for qid, entry in table.items():
            if qid not in rubric:
                raise ManualScoreError(f"{path}: unknown question {qid!r}; the written questions are {', '.join(rubric)}")
            if not isinstance(entry, dict) or "score" not in entry:
                raise ManualScoreError(f"{path}: [{qid}] needs a `score = <number>` line")
            score = entry["score"]
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= rubric[qid].points:
                raise ManualScoreError(f"{path}: [{qid}] score {score!r} is outside [0, {rubric[qid].points:g}]")
            scores[qid] = ManualScore(float(score), str(entry.get("comment", "")))
    return scores
