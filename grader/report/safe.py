"""Student-controlled text made safe for the reports: bounded first, then inert in each format.

Much of what a report shows can carry text the submission chose: exception messages and their
locations (a file name passed to `compile` can be megabytes of `<img onerror=...>`), type
names, notebook notes, answers.md text, the submission folder's name. Every report writer
takes its run through `bounded` (idempotent) and writes text only through `markdown_text`,
`html_text`/`html_attr` or `json_text`: no string from a run is ever written as Markdown or
HTML markup, the grader's own feedback included (it is plain text by convention).

Caps, in characters, after control and bidi-override characters are removed:
- `OUTPUT_CHARS` per check's feedback, and `RUN_OUTPUT_CHARS` for all feedback of a run
  (each check keeps at least `MIN_OUTPUT_CHARS` once the run's budget is spent);
- `NOTE_CHARS` per note, at most `MAX_NOTES` notes (the last one then says how many more); `PATH_CHARS` for the submission's path;
  `FIELD_CHARS` for ids, titles and the other short fields; `MAX_FIGURES` per check, each a
  path `figures/<safe name>`.
Escaping grows a character to at most 6 bytes (`<` -> `\\u003c` in JSON, `&` -> `&amp;`, 4-byte
UTF-8), so with 34 checks every report file stays well under 1 MB whatever the input.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from typing import Any

from grader.results import CheckResult, GradingRun

OUTPUT_CHARS = 16_000
RUN_OUTPUT_CHARS = 80_000
MIN_OUTPUT_CHARS = 300
NOTE_CHARS = 500
MAX_NOTES = 30
PATH_CHARS = 300
FIELD_CHARS = 200
MAX_FIGURES = 8
STATUSES = frozenset({"passed", "failed", "pending", "scored"})

_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_FIGURE = re.compile(r"figures/[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.(png|jpg|gif)")
_MD_CHARS = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "`": "\\`", "*": "\\*",
                           "[": "\\[", "]": "\\]", "|": "\\|", "~": "\\~", "$": "\\$"})
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")  # `a_b` cannot open or close emphasis
_MD_LINE_START = re.compile(r"^([ \t]*)([#+=-])", flags=re.MULTILINE)
_MD_ORDERED = re.compile(r"^([ \t]*\d+)([.)])", flags=re.MULTILINE)
_EMAIL_AT = re.compile(r"(?<=[\w.+-])@")  # a zero-width space before it: no e-mail autolink
_MENTION = re.compile(r"([@#])(?=[\w-])")  # a zero-width space after it breaks mentions, e-mail autolinks and issue references


def clean(text: object) -> str:
    """`text` as a string without control (except newline and tab), bidi-override or lone
    surrogate characters, so every writer can encode it as UTF-8."""
    text = str(text).encode("utf-8", errors="replace").decode("utf-8")
    return _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def cut(text: object, limit: int, one_line: bool = False) -> str:
    """`clean(text)` in at most `limit` characters, saying how much was cut (only the part that
    can be shown is cleaned, so a huge string costs no more than a short one)."""
    raw = str(text)
    shown = clean(raw[:limit + 1])
    if one_line:
        shown = " ".join(shown.split("\n"))
    if len(raw) <= limit:
        return shown
    marker = f" ... [cut: {len(raw):,} characters in all]"
    return shown[:max(limit - len(marker), 0)] + marker


def _bounded_result(result: CheckResult, limit: int) -> CheckResult:
    figures = tuple(f for f in result.figures if isinstance(f, str) and _FIGURE.fullmatch(f))[:MAX_FIGURES]
    status = result.status if result.status in STATUSES else "failed"
    return replace(result, id=cut(result.id, FIELD_CHARS, True), part=cut(result.part, FIELD_CHARS, True),
                   title=cut(result.title, FIELD_CHARS, True), status=status,
                   visibility=cut(result.visibility, FIELD_CHARS, True), output=cut(result.output, limit), figures=figures)


def bounded(run: GradingRun) -> GradingRun:
    """`run` with every string cut to its cap (see the module's docstring); idempotent."""
    budget, results = RUN_OUTPUT_CHARS, []
    for result in run.results:
        limit = max(MIN_OUTPUT_CHARS, min(OUTPUT_CHARS, budget))
        results.append(_bounded_result(result, limit))
        budget -= len(results[-1].output)
    notes = [cut(note, NOTE_CHARS, True) for note in run.notes]
    if len(notes) > MAX_NOTES:
        notes[MAX_NOTES - 1:] = [f"... and {len(notes) - MAX_NOTES + 1} more notes, not shown"]
    return GradingRun(cut(run.submission, PATH_CHARS, True), tuple(results), run.seconds, tuple(notes))


def markdown_text(text: str) -> str:
    """`text` as Markdown that renders literally: no HTML, link, image, emphasis, code, heading,
    list, table or math construct can form, bare URLs and e-mail addresses are not auto-linked,
    and on GitHub no @mention or #reference forms (a zero-width space follows `@`/`#`); line breaks kept."""
    escaped = _MD_UNDERSCORE.sub(r"\\_", clean(text).translate(_MD_CHARS))
    escaped = _MD_LINE_START.sub(r"\1\\\2", escaped)
    escaped = _MD_ORDERED.sub(r"\1\\\2", escaped)
    escaped = escaped.replace("://", "\\://").replace("www.", "www\\.")
    escaped = _MENTION.sub("\\1\u200b", _EMAIL_AT.sub("\u200b@", escaped))  # GitHub: no @user mention, e-mail link or #123 reference
    return "  \n".join(escaped.split("\n"))


def html_text(text: str) -> str:
    """`text` as HTML element content."""
    return html.escape(clean(text), quote=False)


def html_attr(text: str) -> str:
    """`text` as an HTML attribute value (in quotes)."""
    return html.escape(clean(text), quote=True)


def json_text(data: Any, indent: int = 1) -> str:
    """JSON of `data` in UTF-8 with `<`, `>` and the JavaScript line separators escaped, so no
    string in it can be read as an HTML tag wherever the file is shown or embedded."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
