"""Report writers: functions over a `GradingRun`, one module per format, all through `safe`.

`write_reports` takes the run as graded (stored as `RUN_FILE`, the input of every later merge of
manual scores: `grader.manual.apply_scores`), merges the instructor's scores, adds the written
rubric only when the instructor released it (`feedback.with_rubric`), bounds the run once
(`safe.bounded`), renders each format, and writes each file by a new file and a rename, so an existing link at a report's name is replaced, never followed.
A report that cannot be written (its name is taken by a folder, the folder is read-only) is
reported on stderr and returned; the other reports are still written.
"""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from grader.manual import ManualScore, apply_scores
from grader.notebook_html import rendered_notebooks
from grader.report.feedback import with_rubric
from grader.report.gradescope import results_json
from grader.report.html import report_html
from grader.report.markdown import report_markdown
from grader.report.safe import bounded, json_text
from grader.results import GradingRun

RUN_FILE = "grading-run.json"  # the run as graded, before any person's score: what later merges start from


def write_reports(run: GradingRun, out: Path, manual: Mapping[str, ManualScore] | None = None, *,
                  rubric_released: bool = False) -> list[str]:
    """Write results.json, report.md, report.html (with the `manual` scores merged) and grading-run.json
    (`run` as graded) into `out`; returns the problems (empty when every file was written)."""
    graded = bounded(run)
    shown = bounded(with_rubric(apply_scores(graded, manual or {}), rubric_released))
    notebooks = rendered_notebooks(out)
    files = {"results.json": lambda: json_text(results_json(shown), indent=2) + "\n",
             "report.md": lambda: report_markdown(shown, notebooks),
             "report.html": lambda: report_html(shown, notebooks),
             RUN_FILE: lambda: json_text(graded.to_dict()) + "\n"}
    problems = []
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problems.append(f"could not create the output folder {out}: {error.strerror or error}")
    else:
        for name, render in files.items():
            try:
                _replace(out / name, render())
            except OSError as error:
                problems.append(f"could not write {out / name}: {error.strerror or error}")
    for problem in problems:
        print(f"grade: {problem}", file=sys.stderr)
    return problems


def _replace(path: Path, text: str) -> None:
    """Write `text` to a new file beside `path`, then rename it over `path` (a link there is replaced)."""
    if path.is_dir() and not path.is_symlink():
        raise IsADirectoryError(21, "a folder has that name", str(path))
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        temporary = Path(handle.name)
        try:
            handle.write(text)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
    try:
        temporary.chmod(0o644)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
