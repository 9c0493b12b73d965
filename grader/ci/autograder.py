"""What the Gradescope zip's `run_autograder` runs: grade ROOT/submission into ROOT/results/results.json.

It is `grade SUBMISSION --private assets/private_inputs.toml` (the private file when the zip
carries one), so Gradescope's scores are `grade`'s. The student's output stays in the stdout log,
which results.json keeps hidden from students (`stdout_visibility: hidden`). A submission that
cannot be graded at all still gets a results.json, with a score of 0 and the reason.
GRADE_ARGS in the environment adds `grade` arguments (the project's tests grade a subset).
"""
from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import sys
import tempfile
from contextlib import redirect_stderr
from pathlib import Path

from grader import cli
from grader.submission import MODULES, OTHER_FILES

SOURCE = Path(__file__).resolve().parents[2]  # the unzipped autograder: grader/, assets/, ...
PRIVATE_FILE = Path("assets") / "private_inputs.toml"  # under assets/, which student code cannot read
EXPECTED = {f"{m}{ext}" for m in MODULES for ext in (".py", ".ipynb")} | set(OTHER_FILES)


def submission_folder(submitted: Path) -> Path:
    """The folder holding the files: `submitted`, or its only subfolder when a folder was zipped."""
    if any((submitted / name).is_file() for name in EXPECTED):
        return submitted
    folders = [p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))] if submitted.is_dir() else []
    return folders[0] if len(folders) == 1 else submitted


class _Tee(io.StringIO):
    """Keeps what `grade` prints to stderr (for results.json) and still shows it in the log."""

    def write(self, text: str) -> int:
        sys.__stderr__.write(text)
        return super().write(text)


def run(root: Path) -> dict:
    """Grade ROOT/submission, write ROOT/results/results.json and return it."""
    out = Path(tempfile.mkdtemp(prefix="ps4-gradescope-"))
    private = SOURCE / PRIVATE_FILE
    args = [str(submission_folder(root / "submission")), "--out", str(out), "--quiet"]
    args += ["--private", str(private)] if private.is_file() else []
    args += shlex.split(os.environ.get("GRADE_ARGS", ""))
    errors = _Tee()
    with redirect_stderr(errors):
        cli.main(args)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    if (out / "results.json").is_file():
        results = json.loads((out / "results.json").read_text())
    else:
        reason = "\n".join(line.removeprefix("grade: ") for line in errors.getvalue().splitlines() if line.startswith("grade: "))
        results = {"score": 0.0, "output": "The autograder could not grade this submission: "
                   f"{reason or 'see the autograder log'}\n\nUpload the files ({', '.join(sorted(EXPECTED))}), "
                   "or one folder that holds them.",
                   "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
    (results_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    return results


if __name__ == "__main__":
    run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/autograder"))
