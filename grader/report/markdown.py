"""report.md: a per-problem table of every check, then each check's feedback and figures.

Every string from the run is written through `safe.markdown_text`, so it renders literally.
"""
from __future__ import annotations

from itertools import groupby

from grader.report.safe import bounded, markdown_text
from grader.results import CheckResult, GradingRun


def _score(result: CheckResult) -> str:
    return "pending" if result.score is None else f"{result.score:g} / {result.max_score:g}"


def report_markdown(run: GradingRun, notebooks: tuple[str, ...] | list[str] = ()) -> str:
    run = bounded(run)
    md = markdown_text
    lines = ["# Problem Set 4: grading report", "", f"Submission: {md(run.submission)}  ",
             f"Score: **{run.score:g} / {run.max_score:g}**" + (f" ({run.pending_points:g} points pending)" if run.pending_points else "") + "  ",
             f"Time: {run.seconds:.1f} s", ""]
    if run.notes:
        lines += ["## Notes", ""] + [f"- {md(note)}" for note in run.notes] + [""]
    if notebooks:  # rendered by grader.notebook_html; the names are the grader's own (notebooks/<module>.html)
        lines += ["Notebooks as handed in: " + ", ".join(f"[{md(n)}]({n})" for n in notebooks), ""]
    for problem, group in groupby(run.results, key=lambda r: r.problem):
        results = list(group)
        got = sum(r.score or 0 for r in results)
        lines += [f"## Problem {problem} ({got:g} / {sum(r.max_score for r in results):g})", "",
                  "| check | part | score | status |", "|---|---|---|---|"]
        lines += [f"| {md(r.id)}: {md(r.title)} | {md(r.part)} | {_score(r)} | {r.status} |" for r in results]
        lines.append("")
        for r in results:
            lines += [f"### {md(r.id)} ({_score(r)})", "", md(r.output), ""]
            lines += [f"![{md(r.id)}]({figure})" for figure in r.figures]  # figures: `figures/<safe name>` only
            lines.append("")
    return "\n".join(lines)

