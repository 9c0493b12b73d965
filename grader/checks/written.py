"""The written questions (1b4, 1b5, 2a, 2b): the answer is shown, a person scores it.

One check per question in `assets/written_rubric.toml`. The check is pending (not zero and not
full) until the instructor's score is merged into the stored run (`grader.manual.apply_scores`,
which runs no student code). An answer that is missing altogether scores 0 with that message
(an instructor's score still overrides it). The rubric is not in the result: it is an
instructor's document, shown by the report writers only once released (`grader.report`).

The answer is shown as plain text (the reports render it literally, see `grader.report.safe`),
cut to `ANSWER_CHARS`; the images it links are shown only if staging found them to be PNG,
JPEG or GIF by their content, and are copied next to the report under the grader's own names.
"""
from __future__ import annotations

import re

from grader.checks.context import CheckContext
from grader.checks.registry import Outcome, check
from grader.manual import ANSWER_PREFIX, WrittenQuestion, load_rubric
from grader.submission import CAPS, IMAGE_BYTES, IMAGE_LINK, SkippedFile, image_type, read_regular

PLACEHOLDER = "_Write your answer here._"
ANSWER_CHARS = 12_000  # per answer shown in the report (the instructor reads answers.md for more)


def answer_section(markdown: str, question_id: str) -> str:
    """The text under `## <question_id>` up to the next `## ` heading, without the quoted
    question (`> ` lines) and the template's placeholder."""
    match = re.search(rf"^##\s+{re.escape(question_id)}\b[^\n]*\n(.*?)(?=^##\s|\Z)", markdown, flags=re.MULTILINE | re.DOTALL)
    if match is None:
        return ""
    kept = [line for line in match.group(1).splitlines() if not line.startswith(">")]
    return "\n".join(kept).replace(PLACEHOLDER, "").strip()


def _copy_images(ctx: CheckContext, answer: str) -> tuple[str, ...]:
    """Copy the staged images the answer links next to the report, as `figures/<check>-answer<i>.<ext>`.

    The staged copy is read again without following links and its content checked again: the
    name and the extension are the grader's, never the student's.
    """
    figures = []
    for link in dict.fromkeys(IMAGE_LINK.findall(answer)):
        staged = ctx.submission.images.get(link)
        if staged is None:
            continue
        try:
            data = read_regular(str(staged), None, IMAGE_BYTES)
        except (OSError, SkippedFile):
            continue
        ext = image_type(data[:16])
        if ext is None:
            continue
        path, relative = ctx.figure_path(f"answer{len(figures)}")
        path.with_suffix(ext).write_bytes(data)
        figures.append(relative.removesuffix(".png") + ext)
    return tuple(figures)


def _read_answers(ctx: CheckContext) -> str | None:
    path = ctx.submission.file("answers.md")
    if path is None:
        return None
    try:
        return read_regular(str(path), None, CAPS["answers.md"]).decode("utf-8", errors="replace")
    except (OSError, SkippedFile):
        return None


def _written_check(question: WrittenQuestion):
    def run(ctx: CheckContext) -> Outcome:
        text = _read_answers(ctx)
        answer = answer_section(text, question.id) if text else ""
        if len(answer) > ANSWER_CHARS:
            answer = answer[:ANSWER_CHARS] + f"\n[... cut at {ANSWER_CHARS:,} characters; the full answer is in answers.md]"
        if text is None:
            return Outcome(0.0, "answers.md is not in the submission; written answers go in answers.md under their headings.")
        if not answer:
            return Outcome(0.0, f"No answer under the heading '## {question.id}' in answers.md.")
        return Outcome(None, ANSWER_PREFIX + answer, _copy_images(ctx, answer))

    run.__name__ = f"written_{question.id}"
    return run


for _question in load_rubric().values():
    check(f"{_question.id}.written", part=_question.id, points=_question.points, module=None,
          title=f"written: {_question.title}")(_written_check(_question))
