"""What a hostile notebook costs the grader's own process, rendered in-process (before) and in the bounded helper (now).

    python benchmarks/bench_containment.py [ROWS]

A notebook whose only Markdown cell is a table of 200 columns and ROWS rows (default 200, about
81 KB) is rendered twice: by `notebook_page` in this process, as the grader used to, and by
`render_submission_notebooks`, which runs nbconvert in a helper process limited to
`RENDER_SECONDS` and `RENDER_MEMORY_BYTES`. For each it prints the wall time, this process's
peak memory during the step (Linux: VmHWM, reset before each step) and the note the report gets.
Numbers taken on a busy machine are only indicative.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from grader.notebook_html import RENDER_MEMORY_BYTES, RENDER_SECONDS, notebook_page, render_submission_notebooks  # noqa: E402
from grader.submission import load_submission  # noqa: E402


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def peak_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def main(rows: int) -> None:
    table = "|a" * 200 + "|\n" + "|-" * 200 + "|\n" + ("|x" * 200 + "|\n") * rows
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(table),
                      nbformat.v4.new_code_cell((ROOT / "reference" / "p1_change_of_variables.py").read_text())]
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "submission"
        folder.mkdir()
        nbformat.write(notebook, folder / "p1_change_of_variables.ipynb")
        print(f"Markdown table of {len(table) / 1024:.0f} KB; helper limits {RENDER_SECONDS:g} s, {RENDER_MEMORY_BYTES / 2**20:g} MB")
        notebook_page(nbformat.v4.new_notebook(), "warm-up")  # nbconvert imported once, outside the measurement
        reset_peak()
        started = time.monotonic()
        notebook_page(notebook, "in process")
        print(f"in the grader's process: {time.monotonic() - started:6.1f} s, peak {peak_mb():7.0f} MB")
        submission = load_submission(folder)
        try:
            reset_peak()
            started = time.monotonic()
            notes = render_submission_notebooks(submission, Path(work) / "out")
            print(f"in the bounded helper:   {time.monotonic() - started:6.1f} s, peak {peak_mb():7.0f} MB  ({notes[0][:110]})")
        finally:
            submission.cleanup()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
