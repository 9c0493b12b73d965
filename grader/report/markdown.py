"""report.md: what the score contains, what to fix first, a per-problem table, then each check's feedback.

Every string from the run is written through `safe.markdown_text`, so it renders literally; the
anchors and links are the grader's own (`feedback.anchor`: letters, digits, '.', '-', '_').
"""
from __future__ import annotations

from itertools import groupby

from grader.report.feedback import anchor, cause, fix_first, lost_points, rename_notes, score_details, status_label
from grader.report.safe import bounded, markdown_text
from grader.results import CheckResult, GradingRun


def _score(result: CheckResult) -> str:
    return "pending" if result.score is None else f"{result.score:g} / {result.max_score:g}"


def fix_first_markdown(run: GradingRun) -> list[str]:
    """The 'What to fix first' section: rename hints, then one line per check that lost points (most first)."""
    md = markdown_text
    failed = fix_first(run)
    renames = rename_notes(run)
    if not failed and not renames:
        return ["## What to fix first", "", "Nothing: every check passed." if not run.pending_points
                else "Nothing in your code: every check passed; written answers await the instructor's score.", ""]
    lines = ["## What to fix first", ""]
    lines += [f"- **Rename**: {md(note)}" for note in renames]
    lines += [f"- [{md(r.id)}](#{anchor(r)}) (−{lost_points(r):g} of {r.max_score:g}): {md(cause(r))}" for r in failed]
    return lines + [""]


def report_markdown(run: GradingRun, notebooks: tuple[str, ...] | list[str] = ()) -> str:
    run = bounded(run)
    md = markdown_text
    lines = ["# Problem Set 4: grading report", "", f"Submission: {md(run.submission)}  ",
             f"Score: **{run.score:g} / {run.max_score:g}** ({score_details(run)})  ", f"Time: {run.seconds:.1f} s", ""]
    lines += fix_first_markdown(run)
    if run.notes:
        lines += ["## Notes", ""] + [f"- {md(note)}" for note in run.notes] + [""]
    if notebooks:  # rendered by grader.notebook_html; the names are the grader's own (notebooks/<module>.html)
        lines += ["Notebooks as handed in: " + ", ".join(f"[{md(n)}]({n})" for n in notebooks), ""]
    for problem, group in groupby(run.results, key=lambda r: r.problem):
        results = list(group)
        got = sum(r.score or 0 for r in results)
        lines += [f"## Problem {problem} ({got:g} / {sum(r.max_score for r in results):g})", "",
                  "| check | part | score | status |", "|---|---|---|---|"]
        lines += [f"| [{md(r.id)}](#{anchor(r)}): {md(r.title)} | {md(r.part)} | {_score(r)} | {status_label(r)} |" for r in results]
        lines.append("")
        for r in results:
            lines += [f'<a id="{anchor(r)}"></a>', "", f"### {md(r.id)} ({_score(r)}, {status_label(r)})", "", md(r.output), ""]
            lines += [f"![{md(r.id)}]({figure})" for figure in r.figures]  # figures: `figures/<safe name>` only
            lines.append("")
    return "\n".join(lines)
