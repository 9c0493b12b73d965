"""Report writers: functions over a `GradingRun`, one module per format, all through `safe`.

`write_reports` bounds the run once (`safe.bounded`), renders each format, and writes each file
by a new file and a rename, so an existing link at a report's name is replaced, never followed.
A report that cannot be written (its name is taken by a folder, the folder is read-only) is
reported on stderr and returned; the other reports are still written.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from grader.notebook_html import rendered_notebooks
from grader.report.gradescope import results_json
from grader.report.html import report_html
from grader.report.markdown import report_markdown
from grader.report.safe import bounded, json_text
from grader.results import GradingRun

RUN_FILE = "grading-run.json"  # the full results, read back when manual scores are merged


def write_reports(run: GradingRun, out: Path) -> list[str]:
    """Write results.json, report.md, report.html and grading-run.json into `out`; returns the
    problems (empty when every file was written)."""
    run = bounded(run)
    notebooks = rendered_notebooks(out)
    files = {"results.json": lambda: json_text(results_json(run), indent=2) + "\n",
             "report.md": lambda: report_markdown(run, notebooks),
             "report.html": lambda: report_html(run, notebooks),
             RUN_FILE: lambda: json_text(run.to_dict()) + "\n"}
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
