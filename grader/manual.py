"""Scores a person gives to the written answers: read, checked as a whole, merged into a stored run.

Per submission: `OUT/manual_scores.toml`; for a whole class: one file given with
`--manual-scores FILE` whose top-level tables are submission folder names (README: "Scoring
the written answers"):

    [alice."2a"]
    score = 5
    comment = "Step 3 needs the regularity assumption."

    [alice."2b"]          # no score yet: stays pending
    # score =             (0 to 8)

A file is read and checked whole before anything is written (`load_class_scores`,
`load_own_scores`): a missing file, a TOML syntax error, an unknown student (with the nearest
known names), an unknown question, a key other than `score`/`comment`, or a score outside
[0, max] is a `ManualScoreError` naming the file and every problem, on one line.

Scores are merged into a stored run (`apply_scores`): no student code runs for that. A scored
item gets status "scored" (a person's score, whatever its value: neither "passed" nor "failed").
`pending_scores_file` writes the file above for every item still pending, with the answer quoted.
"""
from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from assets import ASSETS_DIR
from grader.results import CheckResult, GradingRun

RUBRIC_FILE = ASSETS_DIR / "written_rubric.toml"
SCORES_FILE = "manual_scores.toml"
WRITTEN_SUFFIX = ".written"  # check id of question "2a": "2a.written"
SCORED = "scored"  # status of an item a person scored
MAX_PROBLEMS_SHOWN = 5
QUOTED_ANSWER_CHARS = 1_500  # of each answer quoted in the pending file
ANSWER_PREFIX = "Answer:\n\n"  # how a written item's output starts (grader.checks.written)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


class ManualScoreError(Exception):
    """A manual-scores file that cannot be used as it is (the message is one line)."""


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


Scores = dict[str, ManualScore]  # written question id -> a person's score


def load_rubric(path: Path = RUBRIC_FILE) -> dict[str, WrittenQuestion]:
    data = tomllib.loads(path.read_text())
    return {qid: WrittenQuestion(qid, q["title"], float(q["points"]), tuple((float(p), str(t)) for p, t in q["levels"]))
            for qid, q in data.items()}


def rubric_text(question: WrittenQuestion) -> str:
    """The rubric's levels of `question`, one line each (an instructor's document: see `grader.report.rubric_shown`)."""
    return "\n".join(f"- {points:g} / {question.points:g}: {criterion}" for points, criterion in question.levels)


def _read(path: Path) -> dict:
    if not path.exists():
        raise ManualScoreError(f"manual scores file {path} does not exist; nothing was written")
    if not path.is_file():
        raise ManualScoreError(f"manual scores file {path} is not a file; nothing was written")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ManualScoreError(f"manual scores file {path} cannot be read ({error}); nothing was written") from None
    except tomllib.TOMLDecodeError as error:
        raise ManualScoreError(f"{path}: not valid TOML ({error}); nothing was written") from None


def _entry(where: str, entry: object, question: WrittenQuestion | None, problems: list[str]) -> ManualScore | None:
    """One question's entry checked; None when it has no score yet (pending) or is wrong (a problem is added)."""
    if question is None:
        return None
    if not isinstance(entry, dict):
        problems.append(f"{where} must be a table with `score = <number>` (and an optional comment)")
        return None
    unknown = sorted(set(entry) - {"score", "comment"})
    if unknown:
        problems.append(f"{where} has unknown key(s) {', '.join(unknown)}; only score and comment are read")
    if "score" not in entry:
        return None
    score = entry["score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(score) or not 0 <= score <= question.points:
        problems.append(f"{where} score {score!r} is outside [0, {question.points:g}]")
        return None
    comment = entry.get("comment", "")
    if not isinstance(comment, str):
        problems.append(f"{where} comment must be a string")
        return None
    return ManualScore(float(score), comment)


def _questions(where: str, table: object, rubric: Mapping[str, WrittenQuestion], problems: list[str]) -> Scores:
    if not isinstance(table, dict):
        problems.append(f"{where} must be a table of questions ({', '.join(rubric)})")
        return {}
    scores = {}
    for qid, entry in table.items():
        question = rubric.get(qid)
        if question is None:
            problems.append(f"{where}: unknown question {qid!r}; the written questions are {', '.join(rubric)}")
        score = _entry(f"{where}[{qid}]", entry, question, problems)
        if score is not None:
            scores[qid] = score
    return scores


def _refuse(path: Path, problems: list[str]) -> None:
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN]) + (f"; and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else "")
        count = f"{len(problems)} problems: " if len(problems) > 1 else ""
        raise ManualScoreError(f"{path}: {count}{shown}; nothing was written")


def load_own_scores(out_dir: Path, rubric: Mapping[str, WrittenQuestion] | None = None) -> Scores:
    """`OUT/manual_scores.toml` (tables are question ids), checked whole; {} when there is none."""
    path = out_dir / SCORES_FILE
    if not path.exists() and not path.is_symlink():
        return {}
    rubric = rubric or load_rubric()
    problems: list[str] = []
    scores = _questions("", _read(path), rubric, problems)
    _refuse(path, problems)
    return scores


def load_class_scores(path: Path, students: Collection[str] | None = None,
                      rubric: Mapping[str, WrittenQuestion] | None = None) -> dict[str, Scores]:
    """The class file (top-level tables are submission folder names), checked whole.

    `students`: the class's folder names; a table for anyone else is an error naming the nearest
    known names (None: not checked, as when grading one submission).
    """
    rubric = rubric or load_rubric()
    data = _read(path)
    problems: list[str] = []
    scores = {}
    for student, table in data.items():
        if students is not None and student not in students:
            near = difflib.get_close_matches(student, list(students), n=3, cutoff=0.5)
            problems.append(f"[{student}] is not a submission of this class" + (f" (did you mean {', '.join(near)}?)" if near else ""))
            continue
        scores[student] = _questions(f"[{student}]", table, rubric, problems)
    _refuse(path, problems)
    return scores


def load_manual_scores(out_dir: Path, submission_name: str, class_file: Path | None = None) -> Scores:
    """Scores for one submission: the class file's table for it, overridden by OUT/manual_scores.toml."""
    rubric = load_rubric()
    from_class = load_class_scores(class_file, None, rubric).get(submission_name, {}) if class_file is not None else {}
    return {**from_class, **load_own_scores(out_dir, rubric)}


def written_question(result: CheckResult) -> str | None:
    """The question id of a written item ("2a" for "2a.written"), None for a check of code."""
    return result.id.removesuffix(WRITTEN_SUFFIX) if result.id.endswith(WRITTEN_SUFFIX) else None


def apply_scores(run: GradingRun, scores: Mapping[str, ManualScore]) -> GradingRun:
    """`run` (as graded, before any person's score) with `scores` merged into its written items."""
    results = []
    for result in run.results:
        score = scores.get(written_question(result) or "")
        if score is None:
            results.append(result)
            continue
        comment = f"\nComment: {score.comment}" if score.comment else ""
        output = f"Scored by the instructor: {score.score:g} / {result.max_score:g}.{comment}\n\n{result.output}"
        results.append(replace(result, score=round(score.score, 4), status=SCORED, output=output))
    return replace(run, results=tuple(results))


def _toml_key(text: str) -> str:
    """`text` as a TOML basic string (JSON's escapes are TOML's; DEL is escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _comment_lines(text: str, prefix: str = "# ") -> list[str]:
    """`text` as TOML comment lines (control characters, which a comment may not hold, removed)."""
    return [f"{prefix}{line}".rstrip() for line in _CONTROL.sub("", text).splitlines()] or [prefix.rstrip()]


def pending_scores_file(runs: Mapping[str, GradingRun], rubric: Mapping[str, WrittenQuestion] | None = None) -> str:
    """A class scores file with a table for every written item still pending in `runs` (student -> run, as
    graded), its answer quoted in comments and the rubric once at the top: uncomment `score` and fill it in."""
    rubric = rubric or load_rubric()
    lines = ["# Written answers awaiting a score. For each table: uncomment `score = ` and write the points",
             "# (a table left without a score stays pending). Then merge it (no student code runs):",
             "#     grade CLASS --class --out OUT --manual-scores THIS_FILE", "#", "# Rubric (the instructor's document):"]
    for question in rubric.values():
        lines += [f"#   {question.id} ({question.points:g} points): {question.title}"] + _comment_lines(rubric_text(question), "#     ")
    count = 0
    for student, run in sorted(runs.items()):
        for result in run.results:
            qid = written_question(result)
            if qid is None or result.score is not None or qid not in rubric:
                continue
            count += 1
            answer = result.output.removeprefix(ANSWER_PREFIX)
            answer = answer if len(answer) <= QUOTED_ANSWER_CHARS else answer[:QUOTED_ANSWER_CHARS] + " [... cut; see answers.md]"
            lines += ["", f"[{_toml_key(student)}.{_toml_key(qid)}]", f"# score =            # 0 to {rubric[qid].points:g}",
                      'comment = ""', "#"] + _comment_lines(answer, "# > ")
    lines.insert(0, f"# {count} pending written item(s) in {len(runs)} submission(s).")
    return "\n".join(lines) + "\n"
