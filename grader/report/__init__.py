"""Report writers: functions over a `GradingRun`, one module per format."""
from __future__ import annotations

import json
from pathlib import Path

from grader.report.gradescope import write_results_json
from grader.report.html import write_html
from grader.report.markdown import write_markdown
from grader.results import GradingRun

RUN_FILE = "grading-run.json"  # the full results, read back when manual scores are merged


def write_reports(run: GradingRun, out: Path) -> None:
    """Write results.json, report.md, report.html and grading-run.json into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    write_results_json(run, out / "results.json")
    write_markdown(run, out / "report.md")
    write_html(run, out / "report.html")
    (out / RUN_FILE).write_text(json.dumps(run.to_dict(), indent=1) + "\n")
