"""Build submissions from the reference plus a corpus patch, and grade them in-process."""
from __future__ import annotations

import shutil
from pathlib import Path

from grader.checks.registry import select
from grader.engine import grade_submission
from grader.options import GradingOptions
from grader.results import CheckResult, GradingRun
from grader.runner.sandbox import Limits

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"
TEMPLATE = ROOT / "student_template"
CORPUS = ROOT / "tests" / "corpus"


def patched_submission(folder: Path, module: str, patch: Path | tuple[Path, ...] | None,
                       substitutions: dict[str, str] | None = None, also: tuple[str, ...] = ()) -> Path:
    """`folder` holding the reference `module` with the code of `patch` (or of several, in order) appended, plus the
    reference files `also`."""
    folder.mkdir(parents=True, exist_ok=True)
    source = (REFERENCE / f"{module}.py").read_text()
    for path in (patch,) if isinstance(patch, Path) else patch or ():
        code = path.read_text()
        for key, value in (substitutions or {}).items():
            code = code.replace("{" + key + "}", value)
        source += "\n\n# ---- corpus patch ----\n" + code
    (folder / f"{module}.py").write_text(source)
    for name in also:
        shutil.copy(REFERENCE / name, folder / name)
    return folder


def grade(folder: Path, out: Path, problems: set[int] | None = None, ids: set[str] | None = None,
          limits: Limits = Limits(memory_mb=2048)) -> GradingRun:
    return grade_submission(folder, out, select(problems, ids), GradingOptions(limits=limits, progress=False))


def by_id(run: GradingRun) -> dict[str, CheckResult]:
    return {r.id: r for r in run.results}
