"""results.json in Gradescope's autograder schema.

Pending items (written answers not yet scored) appear with score 0, `[pending]` in the name,
an explanation in the output and `extra_data.pending = true`, and the top-level output says
how many points are still pending: never silently zero.

Gradescope renders `output` as Markdown (`output_format: md`), so every string from the run
goes through `safe.markdown_text` and renders literally; `name` is the grader's id and title.
"""
from __future__ import annotations

from grader.report.safe import bounded, markdown_text
from grader.results import GradingRun


def results_json(run: GradingRun) -> dict:
    run = bounded(run)
    tests = []
    for result in run.results:
        pending = result.score is None
        tests.append({
            "name": f"{result.id}: {result.title}" + (" [pending]" if pending else ""),
            "number": result.part,
            "score": 0.0 if pending else result.score,
            "max_score": result.max_score,
            "status": "failed" if pending else result.status,
            "output": ("PENDING: awaiting the instructor's score.\n\n" if pending else "") + markdown_text(result.output),
            "output_format": "md",
            "visibility": result.visibility,
            "extra_data": {"check_id": result.id, "pending": pending, "seconds": result.seconds},
        })
    summary = f"Autograded score {run.score:g} / {run.max_score:g}."
    if run.pending_points:
        summary += f" {run.pending_points:g} points of written answers are pending an instructor's score."
    if run.notes:
        summary += "\n\n" + "\n".join(f"- {markdown_text(note)}" for note in run.notes)
    return {"score": run.score, "execution_time": run.seconds, "output": summary, "output_format": "md",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}
