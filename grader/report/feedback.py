"""What every report opens with: what the score contains, and what to fix first.

- `breakdown`: the score split by who gave it (the checks, the instructor), and what is pending;
  `score_label` says it in one line, so no output calls a total with human scores "autograded".
- `fix_first`: the checks that lost points, most points lost first, each with its cause in one
  line (`cause`), and the run's rename hints (`grader.misnamed`) before them.
- `cause`: the line of a check's feedback that says why points were lost. Feedback often opens
  with what was tested ("density_linear at the homework instance: ..."); the cause is the first
  line that reports a failure, and "not implemented" is recognised so it can be counted apart.
  `diagnosis` groups causes across students (context and numbers taken out) for the class page.
- `status_label` and `anchor`: the words and link targets every writer uses for a check;
  `with_rubric`: the written rubric appended to the answers, only once the instructor released it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from grader.manual import SCORED, load_rubric, rubric_text, written_question
from grader.misnamed import RENAME
from grader.results import CheckResult, GradingRun

CAUSE_CHARS = 160
NOT_IMPLEMENTED = "not implemented yet"
_FAILURE = re.compile(r"\b(expected|got|wrong|not |no |error|failed|fails|differ|mismatch|missing|crashed|timed out|"
                      r"out of memory|nan|inf|exceeds?|above|below|too |must|should|instead)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w/.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w/])", re.IGNORECASE)  # a number on its own, not in "1b4"
STATUS_LABELS = {"passed": "passed", "failed": "lost points", "pending": "pending: awaits the instructor", SCORED: "scored by the instructor"}


@dataclass(frozen=True)
class Breakdown:
    """Points of a run by who gave them: the grader's checks, the instructor, and those still pending."""

    checks: float
    checks_max: float
    instructor: float
    instructor_max: float
    pending: float


def breakdown(run: GradingRun) -> Breakdown:
    by_check = [r for r in run.results if r.score is not None and r.status != SCORED]
    by_person = [r for r in run.results if r.status == SCORED]
    return Breakdown(round(sum(r.score for r in by_check), 4), round(sum(r.max_score for r in by_check), 4),
                     round(sum(r.score for r in by_person), 4), round(sum(r.max_score for r in by_person), 4), run.pending_points)


def score_details(run: GradingRun) -> str:
    """What the total contains: 'checks 55 / 86; written answers scored by the instructor 6 / 6; 8 points pending ...'."""
    parts = breakdown(run)
    details = [f"checks {parts.checks:g} / {parts.checks_max:g}"]
    if parts.instructor_max:
        details.append(f"written answers scored by the instructor {parts.instructor:g} / {parts.instructor_max:g}")
    if parts.pending:
        details.append(f"{parts.pending:g} points pending an instructor's score (not counted as 0 or as full)")
    return "; ".join(details) if len(details) > 1 else "all from the grader's checks"


def score_label(run: GradingRun) -> str:
    """'Score 61 / 100 (checks 55 / 86; written answers scored by the instructor 6 / 6; 8 points pending ...)'."""
    return f"Score {run.score:g} / {run.max_score:g} ({score_details(run)})"


def is_not_implemented(result: CheckResult) -> bool:
    return NOT_IMPLEMENTED in result.output[:400] or "NotImplementedError" in result.output[:400]


def cause(result: CheckResult) -> str:
    """The line of the feedback that says why points were lost (see the module's docstring), cut to `CAUSE_CHARS`."""
    lines = [line.strip(" -•") for line in result.output.splitlines() if line.strip(" -•")]
    if not lines:
        return "(no feedback)"
    if is_not_implemented(result):
        return NOT_IMPLEMENTED
    failing = [line for line in lines if _FAILURE.search(line)]
    line = next((line for line in failing if not line.endswith(":")), failing[0] if failing else lines[0])
    return line if len(line) <= CAUSE_CHARS else line[:CAUSE_CHARS - 1] + "…"



def diagnosis(result: CheckResult) -> str:
    """The cause with its context and numbers taken out, so one mistake groups across students:
    "At the instance ...: off by a constant factor 0.24 = |det A|: the 1/|det A| Jacobian factor is missing"
    gives "the 1/|det A| Jacobian factor is missing"; "it gives 0.6417, not 1" gives "it gives #, not #"."""
    return _NUMBER.sub("#", failing_part(result))


def failing_part(result: CheckResult) -> str:
    """The last part of the cause (split at ': ') that reports the failure: the diagnosis with its numbers."""
    line = cause(result)
    segments = [s.strip() for s in line.split(": ") if s.strip()]
    failing = [s for s in segments if _FAILURE.search(s) and len(s) >= 12]
    return (failing[-1] if failing else line).rstrip(".")


def lost_points(result: CheckResult) -> float:
    return 0.0 if result.score is None or result.status == SCORED else round(result.max_score - result.score, 4)


def fix_first(run: GradingRun) -> list[CheckResult]:
    """The checks that lost points, most points lost first (rubric order among equals)."""
    failed = [r for r in run.results if lost_points(r) > 0]
    return sorted(failed, key=lambda r: -lost_points(r))


def rename_notes(run: GradingRun) -> list[str]:
    """The run's notes that name a misnamed file and its fix."""
    return [note for note in run.notes if RENAME in note]


def status_label(result: CheckResult) -> str:
    return STATUS_LABELS.get(result.status, result.status)


def anchor(result: CheckResult) -> str:
    """The id of a check's section in report.md / report.html (letters, digits, '.', '-', '_' only)."""
    return "check-" + re.sub(r"[^A-Za-z0-9._-]", "-", result.id)


def with_rubric(run: GradingRun, released: bool) -> GradingRun:
    """`run` with each written item's rubric after its answer when the instructor `released` it (else unchanged).

    The rubric is an instructor's document: students see it only once released (README: "Written answers").
    """
    if not released:
        return run
    rubric = load_rubric()
    results = tuple(replace(r, output=f"{r.output}\n\nRubric:\n\n{rubric_text(rubric[q])}") if (q := written_question(r)) in rubric else r
                    for r in run.results)
    return replace(run, results=results)
