"""The written questions (1b4, 1b5, 2a, 2b): shown beside their rubric, scored by a person.

One check per question in `assets/written_rubric.toml`. Until the instructor records a score
(`grader/manual.py`) the check is pending: not zero and not full. An answer that is missing
altogether scores 0 with that message (an instructor's score still overrides it).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from grader.checks.context import CheckContext
from grader.checks.registry import Outcome, check
from grader.manual import WrittenQuestion, load_rubric

PLACEHOLDER = "_Write your answer here._"
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def answer_section(markdown: str, question_id: str) -> str:
    """The text under `## <question_id>` up to the next `## ` heading, without the quoted
    question (`> ` lines) and the template's placeholder."""
    match = re.search(rf"^##\s+{re.escape(question_id)}\b[^\n]*\n(.*?)(?=^##\s|\Z)", markdown, flags=re.M | re.S)
    if match is None:
        return ""
    kept = [line for line in match.group(1).splitlines() if not line.startswith(">")]
    return "\n".join(kept).replace(PLACEHOLDER, "").strip()


def _rubric_text(question: WrittenQuestion) -> str:
    return "\n".join(f"- {points:g} / {question.points:g}: {criterion}" for points, criterion in question.levels)


def _copy_images(ctx: CheckContext, answer: str, question_id: str) -> tuple[str, ...]:
    """Copy images the answer links (inside the submission) next to the report."""
    figures = []
    for index, link in enumerate(_IMAGE.findall(answer)):
        source = (ctx.submission.staged / link).resolve()
        if source.is_file() and ctx.submission.staged in source.parents:
            path, relative = ctx.figure_path(f"answer{index}")
            path = path.with_suffix(source.suffix)
            shutil.copy(source, path)
            figures.append(str(Path(relative).with_suffix(source.suffix)))
    return tuple(figures)


def _written_check(question: WrittenQuestion):
    def run(ctx: CheckContext) -> Outcome:
        path = ctx.submission.file("answers.md")
        answer = answer_section(path.read_text(errors="replace"), question.id) if path else ""
        shown = f"**Answer**\n\n{answer}" if answer else "**Answer**: none"
        rubric = f"**Rubric**\n\n{_rubric_text(question)}"
        manual = ctx.options.manual_scores.get(question.id)
        if manual is not None:
            comment = f" Comment: {manual.comment}" if manual.comment else ""
            return Outcome(manual.score / question.points, f"Scored by the instructor: {manual.score:g} / {question.points:g}.{comment}\n\n{shown}\n\n{rubric}")
        if path is None:
            return Outcome(0.0, "answers.md is not in the submission; written answers go in answers.md under their headings.")
        if not answer:
            return Outcome(0.0, f"No answer under the heading '## {question.id}' in answers.md.")
        return Outcome(None, f"{shown}\n\n{rubric}", _copy_images(ctx, answer, question.id))

    run.__name__ = f"written_{question.id}"
    return run


for _question in load_rubric().values():
    check(f"{_question.id}.written", part=_question.id, points=_question.points, module=None,
          title=f"written: {_question.title}")(_written_check(_question))
