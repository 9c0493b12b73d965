"""This project's CI: the reference earns every autograded point, the untouched template none.

    grade reference/ --out reference-report && python -m grader.ci.expect full reference-report
    grade student_template/ --out template-report && python -m grader.ci.expect zero template-report

Reads OUT/grading-run.json; every check of the rubric must have run. Pending (written) items are
left out of both totals. Prints each check that breaks the expectation; exit 1 when any does.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from grader.checks.registry import all_checks
from grader.report import RUN_FILE
from grader.results import GradingRun


def problems(run: GradingRun, expectation: str) -> list[str]:
    """What keeps `run` from meeting `expectation` ("full" or "zero")."""
    found = [f"{c.id}: did not run" for c in all_checks() if c.id not in {r.id for r in run.results}]
    for r in run.results:
        if r.score is None:
            continue
        first_line = (r.output.strip().splitlines() or [""])[0][:200]
        if expectation == "full" and r.score < r.max_score:
            found.append(f"{r.id}: {r.score:g} / {r.max_score:g}: {first_line}")
        if expectation == "zero" and r.score > 0:
            found.append(f"{r.id}: {r.score:g} / {r.max_score:g} for code that should earn nothing")
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("full", "zero"):
        print("usage: python -m grader.ci.expect full|zero GRADE_OUT_DIR", file=sys.stderr)
        return 2
    run = GradingRun.from_dict(json.loads((Path(argv[1]) / RUN_FILE).read_text()))
    autograded = sum(r.max_score for r in run.results if r.score is not None)
    print(f"{run.submission}: {run.score:g} of {autograded:g} autograded points ({run.pending_points:g} pending)")
    found = problems(run, argv[0])
    for line in found:
        print(f"  {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
