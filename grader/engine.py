"""Grade one submission: run every selected check, each failure contained in its own result.

The checks of one student module run in order in one grader process, against that module's
child (`StudentModules`). Different modules share nothing, so with `workers > 1` their groups
run in separate grader processes at once (`grader.parallel`), at most `workers` of them; the
written checks (no student code) run here meanwhile. Results are put back in rubric order, so
scores and reports are those of a serial run. Progress lines carry each check's rubric number
and id, and each is written in one piece, so interleaved lines stay readable.
"""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from grader.checks.context import CheckContext
from grader.checks.registry import Check, Outcome, by_ids
from grader.names import shown_name
from grader.options import GradingOptions
from grader.results import CheckResult, GradingRun
from grader.runner.normalize import WrongOutput
from grader.runner.sandbox import GraderSetupError, StudentCodeError
from grader.runner.session import StudentModules, share_staged_copy
from grader.submission import Submission, load_submission

Numbered = list[tuple[int, Check]]  # (position in the rubric, 1-based; check)
GroupRun = tuple[list[tuple[int, CheckResult]], list[str]]  # (rubric number, result) pairs; notes for the whole run


def grade_submission(folder: str | Path, out_dir: Path, checks: list[Check], options: GradingOptions = GradingOptions(),
                     workers: int = 1) -> GradingRun:
    """Run `checks` on the submission in `folder`; figures go to `out_dir/figures`.

    `workers` > 1 grades up to that many student modules at once (same results as 1).
    """
    started = time.monotonic()
    submission = load_submission(folder, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    numbered = list(enumerate(checks, start=1))
    groups = module_groups(numbered)
    try:
        share_staged_copy(submission)  # before the submission is copied to the grading processes
        if workers <= 1 or len(groups) <= 1:
            done, run_notes = run_group(submission, out_dir, numbered, options, len(checks))
        else:
            done, run_notes = _run_concurrently(submission, out_dir, groups, options, len(checks), workers)
        notebook_notes = _render_notebooks(submission, out_dir)
    finally:
        submission.cleanup()
    results = tuple(result for _, result in sorted(done, key=lambda pair: pair[0]))
    notes = ([options.private.note] + list(submission.notes) + [n for source in submission.modules.values() for n in source.notes]
             + list(dict.fromkeys(run_notes)) + notebook_notes)
    graded = [f"{name}: graded {source.origin}" for name, source in submission.modules.items()]
    return GradingRun(shown_name(str(submission.root)), results, round(time.monotonic() - started, 2), tuple(graded + notes))


def module_groups(numbered: Numbered) -> dict[str | None, Numbered]:
    """The checks of each student module (None: checks that run no student code), rubric order kept."""
    groups: dict[str | None, Numbered] = {}
    for number, check in numbered:
        groups.setdefault(check.module, []).append((number, check))
    return groups


def run_group(submission: Submission, out_dir: Path, numbered: Numbered, options: GradingOptions, total: int) -> GroupRun:
    """Run `numbered` checks in order with their own children."""
    modules = StudentModules(submission, options.limits)
    modules.prestart({c.module for _, c in numbered if c.module})
    done = []
    try:
        for number, check in numbered:
            result = run_check(check, CheckContext(check, modules, submission, out_dir, options))
            done.append((number, result))
            if options.progress:
                shown = "pending" if result.score is None else f"{result.score:g}/{result.max_score:g}"
                sys.stderr.write(f"[{number:>2}/{total}] {check.id:<28} {shown:>12}  {result.seconds:5.1f}s\n")
                sys.stderr.flush()  # one short line, one write: lines from concurrent groups do not mix
    finally:
        modules.close()
    return done, modules.notes


def _run_group_by_ids(submission: Submission, out_dir: Path, ids: list[tuple[int, str]], options: GradingOptions,
                      total: int) -> GroupRun:
    """`run_group` in a grader process of the pool (checks travel as ids, looked up in the registry there)."""
    numbers, checks = zip(*ids)
    return run_group(submission, out_dir, list(zip(numbers, options.private.apply(by_ids(checks)))), options, total)


def _run_concurrently(submission: Submission, out_dir: Path, groups: dict[str | None, Numbered], options: GradingOptions,
                      total: int, workers: int) -> GroupRun:
    from grader.parallel import process_pool  # noqa: PLC0415 - only when grading in parallel

    student = {module: group for module, group in groups.items() if module is not None}
    # longest first (the sum of the per-call limits is a fair proxy), so the last group to start is a short one
    order = sorted(student, key=lambda module: -sum(c.timeout_s for _, c in student[module]))
    done: list[tuple[int, CheckResult]] = []
    notes: list[str] = []
    with process_pool(min(workers, len(student))) as pool:
        futures = {module: pool.submit(_run_group_by_ids, submission, out_dir, [(n, c.id) for n, c in student[module]], options, total)
                   for module in order}
        if None in groups:
            group_done, group_notes = run_group(submission, out_dir, groups[None], options, total)
            done += group_done
            notes += group_notes
        for module, future in futures.items():
            try:
                group_done, group_notes = future.result()
                done += group_done
                notes += group_notes
            except GraderSetupError:
                raise
            except Exception as error:  # noqa: BLE001 - a dead grader process costs its module's checks, with the reason
                print(f"internal error grading {module}: {type(error).__name__}: {error}", file=sys.stderr)
                message = f"internal grader error ({type(error).__name__}) while grading {module}; scored 0"
                done += [(n, _result(c, Outcome(0.0, message), 0.0)) for n, c in student[module]]
    return done, notes


def _render_notebooks(submission: Submission, out_dir: Path) -> list[str]:
    """Each graded notebook rendered as the student saw it (never executed), beside the reports."""
    from grader.notebook_html import render_submission_notebooks  # noqa: PLC0415 - nbconvert only for notebooks

    return render_submission_notebooks(submission, out_dir)


def run_check(check: Check, ctx: CheckContext) -> CheckResult:
    """One check, whatever happens: a failure of the student's code or of the check is a result."""
    started = time.monotonic()
    try:
        outcome = check.run(ctx)
    except StudentCodeError as error:
        outcome = Outcome(0.0, student_message(error))
    except WrongOutput as error:
        outcome = Outcome(0.0, str(error))
    except GraderSetupError:
        raise  # the installation's fault: the run stops, no student is scored on it
    except Exception:  # noqa: BLE001 - a grader bug must cost this check only, and be visible
        print(f"internal error in check {check.id}:\n{traceback.format_exc()}", file=sys.stderr)
        outcome = Outcome(0.0, "internal grader error in this check (reported to the instructor); scored 0")
    return _result(check, outcome, round(time.monotonic() - started, 2))


def _result(check: Check, outcome: Outcome, seconds: float) -> CheckResult:
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
