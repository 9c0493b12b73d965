"""Grade a whole class: every subfolder of CLASS_DIR is one submission, graded into OUT/<name>/.

One student's broken or empty folder becomes a row with its reason; the rest still grade.
The gradebook (OUT/gradebook.csv) has one row per student: per-problem scores, total, pending.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from grader.checks.registry import Check
from grader.engine import grade_submission
from grader.manual import ManualScoreError, load_manual_scores
from grader.options import GradingOptions
from grader.report import write_reports
from grader.results import GradingRun
from grader.submission import SubmissionError


@dataclass(frozen=True)
class ClassRow:
    student: str
    run: GradingRun | None
    error: str = ""


def grade_class(class_dir: Path, out: Path, checks: list[Check], options: GradingOptions, manual_file: Path | None = None) -> list[ClassRow]:
    folders = sorted(p for p in class_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise SubmissionError(f"{class_dir} has no submission folders (one subfolder per student)")
    rows = []
    for number, folder in enumerate(folders, start=1):
        student_out = out / folder.name
        try:
            manual = load_manual_scores(student_out, folder.name, manual_file)
            run = grade_submission(folder, student_out, checks, replace(options, manual_scores=manual))
            write_reports(run, student_out)
            rows.append(ClassRow(folder.name, run))
            shown = f"{run.score:g}/{run.max_score:g}"
        except (SubmissionError, ManualScoreError) as error:
            rows.append(ClassRow(folder.name, None, str(error)))
            shown = f"not graded: {error}"
        print(f"[{number}/{len(folders)}] {folder.name}: {shown}", file=sys.stderr, flush=True)
    write_gradebook(rows, checks, out / "gradebook.csv")
    return rows


def write_gradebook(rows: list[ClassRow], checks: list[Check], path: Path) -> None:
    problems = sorted({c.problem for c in checks})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student"] + [f"problem {p}" for p in problems] + ["total", "max", "pending", "note"])
        for row in rows:
            if row.run is None:
                writer.writerow([row.student] + [""] * len(problems) + ["", "", "", row.error])
                continue
            per_problem = [round(sum(r.score or 0 for r in row.run.results if r.problem == p), 4) for p in problems]
            writer.writerow([row.student, *per_problem, row.run.score, row.run.max_score, row.run.pending_points, ""])
