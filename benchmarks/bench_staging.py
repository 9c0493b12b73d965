"""Cost of staging and of notebook parsing, and of the hostile inputs they refuse or bound.

    python benchmarks/bench_staging.py

Prints, for each case, the wall time in the grader's process and the peak memory (max RSS) of
the grader's process and of the notebook-parsing child. Cases: the reference folder; the
template's two notebooks; a 15 MB notebook (just under the 16 MB cap, parsed in the child);
a 40 MB notebook (refused before parsing); reports written for a run with 34 checks of 4 MB
of `<`. Numbers taken on a busy machine are only indicative.
"""
from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.report import write_reports
from grader.results import CheckResult, GradingRun
from grader.submission import load_submission


def peak_mb(who: int) -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(who).ru_maxrss * scale / 2**20


def notebook(folder: Path, module: str, padding: int) -> Path:
    """The template notebook of `module` with a markdown cell of `padding` bytes added."""
    data = json.loads((ROOT / "student_template" / f"{module}.ipynb").read_text())
    data["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "x" * padding})
    folder.mkdir()
    path = folder / f"{module}.ipynb"
    path.write_text(json.dumps(data))
    return path


def stage(label: str, folder: Path) -> None:
    started = time.perf_counter()
    submission = load_submission(folder)
    seconds = time.perf_counter() - started
    submission.cleanup()
    notes = "; ".join(n[:90] for n in submission.notes) or "-"
    print(f"{label:<34} {seconds:7.2f} s   grader peak {peak_mb(resource.RUSAGE_SELF):6.0f} MB   "
          f"parser peak {peak_mb(resource.RUSAGE_CHILDREN):6.0f} MB   notes: {notes}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        stage("reference/", ROOT / "reference")
        template = tmp / "template"
        template.mkdir()
        for name in ("p3_ebm.ipynb", "p4_realnvp.ipynb", "answers.md"):
            shutil.copy(ROOT / "student_template" / name, template)
        stage("template notebooks (p3, p4)", template)
        stage("15 MB notebook", notebook(tmp / "big", "p4_realnvp", 15 * 2**20).parent)
        stage("40 MB notebook (over the cap)", notebook(tmp / "huge", "p4_realnvp", 40 * 2**20).parent)
        text = "<" * 4 * 2**20
        run = GradingRun(text, tuple(CheckResult(f"1a.c{i}", "1a", "t", 1.0, 0.0, "failed", text, "visible") for i in range(34)),
                         1.0, (text,) * 100)
        started = time.perf_counter()
        write_reports(run, tmp / "out")
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KB" for p in sorted((tmp / "out").iterdir()))
        print(f"{'reports of 34 x 4 MB of <':<34} {time.perf_counter() - started:7.2f} s   {sizes}")


if __name__ == "__main__":
    main()
