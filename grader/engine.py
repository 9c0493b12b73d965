"""Grade one submission: run every selected check, each failure contained in its own result."""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from grader.checks.context import CheckContext
from grader.checks.registry import Check, Outcome
from grader.options import GradingOptions
from grader.results import CheckResult, GradingRun
from grader.runner.normalize import WrongOutput
from grader.runner.sandbox import StudentCodeError
from grader.runner.session import StudentModules
from grader.submission import load_submission


def grade_submission(folder: str | Path, out_dir: Path, checks: list[Check], options: GradingOptions = GradingOptions()) -> GradingRun:
    """Run `checks` on the submission in `folder`; figures go to `out_dir/figures`."""
    started = time.monotonic()
    submission = load_submission(folder, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    modules = StudentModules(submission, options.limits)
    modules.prestart({c.module for c in checks if c.module})
    results = []
    try:
        for number, check in enumerate(checks, start=1):
            ctx = CheckContext(check, modules, submission, out_dir, options)
            result = run_check(check, ctx)
            results.append(result)
            if options.progress:
                shown = "pending" if result.score is None else f"{result.score:g}/{result.max_score:g}"
                print(f"[{number:>2}/{len(checks)}] {check.id:<28} {shown:>12}  {result.seconds:5.1f}s", file=sys.stderr, flush=True)
    finally:
        modules.close()
        submission.cleanup()
    notes = [options.private.note] + list(submission.notes) + [n for source in submission.modules.values() for n in source.notes]
    graded = [f"{name}: graded {source.origin}" for name, source in submission.modules.items()]
    return GradingRun(str(submission.root), tuple(results), round(time.monotonic() - started, 2), tuple(graded + notes))


def run_check(check: Check, ctx: CheckContext) -> CheckResult:
    """One check, whatever happens: a failure of the student's code or of the check is a result."""
    started = time.monotonic()
    try:
        outcome = check.run(ctx)
    except StudentCodeError as error:
        outcome = Outcome(0.0, student_message(error))
    except WrongOutput as error:
        outcome = Outcome(0.0, str(error))
    except Exception:  # noqa: BLE001 - a grader bug must cost this check only, and be visible
        print(f"internal error in check {check.id}:\n{traceback.format_exc()}", file=sys.stderr)
        outcome = Outcome(0.0, "internal grader error in this check (reported to the instructor); scored 0")
    seconds = round(time.monotonic() - started, 2)
    if outcome.fraction is None:
        return CheckResult(check.id, check.part, check.title, check.points, None, "pending", outcome.message, check.visibility, seconds, outcome.figures)
    score = round(check.points * outcome.fraction, 4)
    status = "passed" if outcome.fraction >= 1.0 - 1e-9 else "failed"
    return CheckResult(check.id, check.part, check.title, check.points, score, status, outcome.message, check.visibility, seconds, outcome.figures)


def student_message(error: StudentCodeError) -> str:
    if error.error_type == "NotImplementedError":
        return f"not implemented yet ({error})"
    prefix = {"timeout": "timed out", "crash": "crashed", "memory": "ran out of memory", "protocol": "broke the grader's channel"}.get(error.kind)
    return f"{prefix}: {error}" if prefix else str(error)
