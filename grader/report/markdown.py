"""report.md: a per-problem table of every check, then each check's feedback and figures."""
from __future__ import annotations

from itertools import groupby
from pathlib import Path

from grader.notebook_html import rendered_notebooks
from grader.results import CheckResult, GradingRun


def _score(result: CheckResult) -> str:
    return "pending" if result.score is None else f"{result.score:g} / {result.max_score:g}"


def report_markdown(run: GradingRun, notebooks: list[str] = ()) -> str:
    lines = ["# Problem Set 4: grading report", "", f"Submission: `{run.submission}`  ",
             f"Score: **{run.score:g} / {run.max_score:g}**" + (f" ({run.pending_points:g} points pending)" if run.pending_points else "") + "  ",
             f"Time: {run.seconds:.1f} s", ""]
    if run.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in run.notes] + [""]
    if notebooks:  # rendered by grader.notebook_html
        lines += ["Notebooks as handed in: " + ", ".join(f"[{n}]({n})" for n in notebooks), ""]
    for problem, group in groupby(run.results, key=lambda r: r.problem):
        results = list(group)
        got = sum(r.score or 0 for r in results)
        lines += [f"## Problem {problem} ({got:g} / {sum(r.max_score for r in results):g})", "",
                  "| check | part | score | status |", "|---|---|---|---|"]
        lines += [f"| {r.id}: {r.title} | {r.part} | {_score(r)} | {r.status} |" for r in results]
        lines.append("")
        for r in results:
            lines += [f"### {r.id} ({_score(r)})", "", r.output, ""]
            lines += [f"![{r.id}]({figure})" for figure in r.figures]
            lines.append("")
    return "\n".join(lines)


def write_markdown(run: GradingRun, path: Path) -> None:
    path.write_text(report_markdown(run, rendered_notebooks(path.parent)))
