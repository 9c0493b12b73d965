"""The rows of a class run: plain data that the gradebooks and the class page are written from.

The core of class grading: `grader.classroom` fills these rows; `grader.gradebook` and
`grader.classview` only read them (neither imports the other, nor `grader.classroom`).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from grader.results import GradingRun

GRADEBOOK, CLASS_VIEW = "gradebook.csv", "class.html"
# what the feedback says of an expected file that was not handed in
MISSING_FILE = re.compile(r"\b([\w.]+\.(?:py|ipynb|md|pt))(?: \(or [\w.]+\))? is not in the submission")


@dataclass(frozen=True)
class StudentIdentity:
    """Who a class member is on the platform their submission came from (an export's file names)."""

    platform: str  # "canvas" | "moodle"
    number: str  # Canvas user id / Moodle participant number
    name: str  # as the export writes it (Canvas: the login-like name; Moodle: the full name)


@dataclass(frozen=True)
class ClassRow:
    student: str
    run: GradingRun | None  # with the instructor's scores merged (None: not graded)
    error: str = ""  # why the submission was not graded
    reused: bool = False  # results of an earlier run: files, grader, rubric and settings unchanged
    why: str = ""  # why it was graded this time ("not graded before", "the submission changed", "--force", ...)
    untouched: bool = False  # the expected files are the student template's, unchanged (`grader.template`)
    identity: StudentIdentity | None = None

    @property
    def missing_files(self) -> list[str]:
        """The expected files the feedback says are not in the submission (a module once, as `.py`)."""
        if self.run is None:
            return []
        found = (m.group(1) for r in self.run.results for m in [MISSING_FILE.search(r.output[:300])] if m)
        return sorted(set(found))

    @property
    def pending_items(self) -> list[str]:
        return [] if self.run is None else [r.id for r in self.run.results if r.score is None]


@dataclass(frozen=True)
class ClassResult:
    rows: list[ClassRow]
    notes: list[str] = field(default_factory=list)  # about the class as a whole (e.g. an export's unmapped files)

    def summary(self) -> str:
        """One line: how many were graded, re-used (and why) or not graded."""
        graded = [r for r in self.rows if r.run is not None and not r.reused]
        reused = sum(r.reused for r in self.rows)
        failed = sum(r.run is None for r in self.rows)
        reasons = Counter(r.why for r in graded if r.why)
        why = "; ".join(f"{reason}: {count}" for reason, count in reasons.most_common())
        parts = [f"graded {len(graded)} of {len(self.rows)} submissions" + (f" ({why})" if why else "")]
        if reused:
            parts.append(f"skipped {reused} unchanged (files, grader, rubric and settings as in their last grading: re-rendered "
                         "from their stored results with the current manual scores, no student code ran; --force re-grades)")
        if failed:
            parts.append(f"{failed} not graded (see {CLASS_VIEW})")
        return ", ".join(parts)


def row_status(row: ClassRow) -> str:
    """'graded', 'pending written' (some points await a person), 'no work' (the untouched template) or 'not graded'."""
    if row.run is None:
        return "not graded"
    if row.untouched:
        return "no work"
    return "pending written" if row.run.pending_points else "graded"
