"""Gradebooks of a class run: OUT/gradebook.csv always, and the LMS's own import file when the class came from one.

- `gradebook.csv`: every column the instructor may want (docs/class_runs.md).
- `gradebook-canvas.csv` (a Canvas export): Canvas's gradebook import format: `Student, ID,
  SIS User ID, SIS Login ID, Section`, a "Points Possible" row, then one assignment column. `ID`
  is the Canvas user id from the export's file names (`login_USERID_SUBMISSIONID_file`), which
  Canvas matches on; the SIS columns are left empty (the export does not carry them).
- `gradebook-moodle.csv` (a Moodle export): the assignment's offline grading worksheet:
  `Identifier` = "Participant N" (N from the export's `Full Name_N_assignsubmission_...`
  names), `Full name`, `Grade`, `Maximum Grade`, `Last modified (grade)`, `Feedback comments`;
  Moodle's "Upload grading worksheet" matches rows on `Identifier` and reads `Grade` and
  `Last modified (grade)`.

The LMS files hold only final grades: a student with written answers still pending, or who
was not graded, is left out (the LMS keeps what it had) and counted in `LmsGradebook.left_out`;
import again after scoring them. Every text cell goes through `safe_cell`.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from grader.checks.registry import Check
from grader.class_results import ClassRow, row_status

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CANVAS_FILE, MOODLE_FILE = "gradebook-canvas.csv", "gradebook-moodle.csv"
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)", "Feedback comments"]
DEFAULT_ASSIGNMENT = "Problem Set 4"


def safe_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never runs: text starting with =, +, -, @, tab or CR
    gets a leading apostrophe (OWASP's rule for CSV injection); numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def gradebook_columns(checks: list[Check]) -> list[str]:
    """The gradebook's header: student, status, totals, then per problem, per part and per rubric item."""
    problems = sorted({c.problem for c in checks})
    parts = list(dict.fromkeys(c.part for c in checks))
    return (["student", "status", "total", "max", "pending"] + [f"problem {p}" for p in problems]
            + [f"part {p}" for p in parts] + [c.id for c in checks] + ["note"])


def gradebook_row(row: ClassRow, checks: list[Check]) -> list[object]:
    """One student's cells, in `gradebook_columns` order (pending items read 'pending'; scores are the scored points)."""
    problems = sorted({c.problem for c in checks})
    parts = list(dict.fromkeys(c.part for c in checks))
    if row.run is None:
        return [row.student, row_status(row)] + [""] * (3 + len(problems) + len(parts) + len(checks)) + [row.error]
    results = {r.id: r for r in row.run.results}

    def total(keep) -> float:
        return round(sum(r.score or 0.0 for r in row.run.results if keep(r)), 4)

    note = "the student template, unchanged" if row.untouched else ""
    return ([row.student, row_status(row), row.run.score, row.run.max_score, row.run.pending_points]
            + [total(lambda r, p=p: r.problem == p) for p in problems]
            + [total(lambda r, p=p: r.part == p) for p in parts]
            + [("pending" if results[c.id].score is None else results[c.id].score) if c.id in results else "" for c in checks]
            + [note])


def write_gradebook(rows: list[ClassRow], checks: list[Check], path: Path) -> None:
    """OUT/gradebook.csv: one row per student (see `gradebook_columns`), every text cell neutralised."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(gradebook_columns(checks))
        for row in rows:
            writer.writerow([safe_cell(cell) for cell in gradebook_row(row, checks)])


@dataclass(frozen=True)
class LmsGradebook:
    path: Path
    platform: str
    written: int  # students with a final grade in the file
    left_out: list[str]  # students without one (pending written answers, not graded, no platform id)


def final_grade(row: ClassRow) -> float | None:
    """The grade an LMS may receive: the total once nothing is pending (None otherwise)."""
    if row.run is None or row.run.pending_points:
        return None
    return row.run.score


def _importable(rows: list[ClassRow], platform: str) -> tuple[list[tuple[ClassRow, float]], list[str]]:
    """(row, final grade) of the students `platform` knows and may receive a grade for; the names left out."""
    kept, left_out = [], []
    for row in rows:
        grade = final_grade(row)
        if grade is None or row.identity is None or row.identity.platform != platform:
            left_out.append(row.student)
        else:
            kept.append((row, grade))
    return kept, left_out


def _canvas(rows: list[ClassRow], maximum: float, assignment: str) -> tuple[list[list[object]], list[str]]:
    kept, left_out = _importable(rows, "canvas")
    table: list[list[object]] = [CANVAS_COLUMNS + [assignment], ["    Points Possible", "", "", "", ""] + [maximum]]
    table += [[row.identity.name, row.identity.number, "", "", "", grade] for row, grade in kept]
    return table, left_out


def _moodle(rows: list[ClassRow], maximum: float, now: datetime) -> tuple[list[list[object]], list[str]]:
    stamp = f"{now:%A}, {now.day} {now:%B %Y}, {now.hour % 12 or 12}:{now:%M} {'AM' if now.hour < 12 else 'PM'}"  # as Moodle writes it
    kept, left_out = _importable(rows, "moodle")
    table: list[list[object]] = [MOODLE_COLUMNS]
    table += [[f"Participant {row.identity.number}", row.identity.name, f"{grade:.2f}", f"{maximum:.2f}", stamp,
               f"Autograder: {grade:g} / {maximum:g}; details in the grading report"] for row, grade in kept]
    return table, left_out


def write_lms_gradebook(rows: list[ClassRow], checks: list[Check], out: Path, assignment: str | None = None,
                        now: datetime | None = None) -> LmsGradebook | None:
    """The platform's import file when the class came from a Canvas or Moodle export (None otherwise).

    `assignment`: Canvas's column title (default `DEFAULT_ASSIGNMENT`); `now`: Moodle's "Last modified (grade)".
    """
    platforms = {row.identity.platform for row in rows if row.identity is not None}
    if len(platforms) != 1:
        return None
    platform = platforms.pop()
    maximum = round(sum(c.points for c in checks), 4)
    if platform == "canvas":
        path, (table, left_out) = out / CANVAS_FILE, _canvas(rows, maximum, assignment or DEFAULT_ASSIGNMENT)
    else:
        path, (table, left_out) = out / MOODLE_FILE, _moodle(rows, maximum, now or datetime.now(timezone.utc).astimezone())
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([[safe_cell(cell) for cell in line] for line in table])
    return LmsGradebook(path, platform, len(rows) - len(left_out), left_out)

