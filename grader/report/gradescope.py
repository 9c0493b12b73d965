"""results.json in Gradescope's autograder schema.

Gradescope knows two test statuses, "passed" and "failed", and derives one from `score` and
`max_score` when `status` is absent. So an item a person has not scored yet carries no score,
no max_score and no status (Gradescope shows it as neither passed nor failed), `[pending]` in
its name, an explanation in its output and `extra_data.pending = true`; an item a person scored
carries its score and `[scored by the instructor: 5 / 6]` in its name, without max_score or status
(a partial human score is not a failure). The top-level `score` is the points given so far; the
top-level output says what it contains (checks, instructor's scores), how much is pending, and
what to fix first among the visible checks (a hidden check's feedback stays in its own test).
For Gradescope's own manual questions instead, see README ("Written answers on Gradescope").

Gradescope renders `output` as Markdown (`output_format: md`), so every string from the run
goes through `safe.markdown_text` and renders literally; `name` is the grader's id and title.
"""
from __future__ import annotations

from grader.manual import SCORED
from grader.report.feedback import cause, fix_first, lost_points, rename_notes, score_label
from grader.report.safe import bounded, markdown_text
from grader.results import CheckResult, GradingRun

FIX_FIRST_SHOWN = 10  # lines of "what to fix first" in the top-level output


def _test(result: CheckResult) -> dict:
    test = {"name": f"{result.id}: {result.title}", "number": result.part, "output": markdown_text(result.output),
            "output_format": "md", "visibility": result.visibility,
            "extra_data": {"check_id": result.id, "pending": result.score is None, "max_points": result.max_score, "seconds": result.seconds}}
    if result.score is None:
        test["name"] += " [pending: awaits the instructor's score]"
        test["output"] = f"PENDING: awaits the instructor's score (out of {result.max_score:g}); not counted as 0.\n\n" + test["output"]
    elif result.status == SCORED:
        test["name"] += f" [scored by the instructor: {result.score:g} / {result.max_score:g}]"
        test["score"] = result.score
    else:
        test.update(score=result.score, max_score=result.max_score, status=result.status)
    return test


def results_json(run: GradingRun) -> dict:
    run = bounded(run)
    summary = [markdown_text(score_label(run)) + "."]
    failed = [r for r in fix_first(run) if r.visibility == "visible"]  # the summary is always visible: no hidden check's cause in it
    if failed or rename_notes(run):
        summary += ["", "**What to fix first:**", ""] + [f"- Rename: {markdown_text(n)}" for n in rename_notes(run)]
        summary += [f"- {markdown_text(r.id)} (−{lost_points(r):g}): {markdown_text(cause(r))}" for r in failed[:FIX_FIRST_SHOWN]]
        if len(failed) > FIX_FIRST_SHOWN:
            summary.append(f"- … and {len(failed) - FIX_FIRST_SHOWN} more below")
    if run.notes:
        summary += [""] + [f"- {markdown_text(note)}" for note in run.notes]
    return {"score": run.score, "execution_time": run.seconds, "output": "\n".join(summary), "output_format": "md",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": [_test(r) for r in run.results]}
