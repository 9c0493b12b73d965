"""What the Gradescope zip's `run_autograder` runs: grade ROOT/submission into ROOT/results/results.json.

It is `grade SUBMISSION --private assets/private_inputs.toml` (the private file when the zip
carries one), so Gradescope's scores are `grade`'s, and the upload is mapped as `grade` maps any
folder (`grader.layout`: the files, one folder, or a repository with the work in a subfolder); an
upload of zips only is unpacked first, under an export student's limits.
The student's output stays in the stdout log, which results.json keeps hidden from students
(`stdout_visibility: hidden`). Each written item's rubric is added as a test that Gradescope shows
only after the due date (`with_rubrics_after_due_date`). When nothing could be graded there is still a results.json with a
score of 0 and the reason: the upload's (what to upload instead), or the installation's (a setup
problem, said to be no fault of the student; the script then exits 2 so the instructor sees it).
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
from grader.exports import STUDENT_BYTES, STUDENT_ENTRIES, unpack_zip
from grader.layout import EXPECTED, find_work_folder
from grader.manual import WRITTEN_SUFFIX, load_rubric, rubric_text
from grader.private import BUNDLED_FILE
from grader.report.safe import markdown_text

SOURCE = Path(__file__).resolve().parents[2]  # the unzipped autograder: grader/, assets/, ...


class _Tee(io.StringIO):
    """Keeps what `grade` prints to stderr (for results.json) and still shows it in the log."""

    def write(self, text: str) -> int:
        sys.__stderr__.write(text)
        return super().write(text)


def unpacked_upload(submitted: Path, scratch: Path) -> tuple[Path, list[str]]:
    """The folder to grade: the upload itself, or, when it holds no expected file but zips, those zips
    unpacked into `scratch` as an export's student's own zips are (bounded helper, the same limits)."""
    if find_work_folder(submitted) is not None:
        return submitted, []
    zips = sorted(p for p in submitted.glob("*.zip") if p.is_file() and not p.is_symlink()) if submitted.is_dir() else []
    notes = []
    for archive in zips:
        refused = unpack_zip(archive, scratch / archive.stem, STUDENT_ENTRIES, STUDENT_BYTES).get("refused")
        notes.append(f"{archive.name} could not be unpacked: {refused}" if refused else f"unpacked {archive.name}")
    return (scratch, notes) if zips else (submitted, [])


def run(root: Path) -> tuple[dict, bool]:
    """Grade ROOT/submission, write ROOT/results/results.json; the results, and whether the setup was at fault."""
    out = Path(tempfile.mkdtemp(prefix="ps4-gradescope-"))
    private = SOURCE / BUNDLED_FILE
    scratch = Path(tempfile.mkdtemp(prefix="ps4-upload-"))
    folder, unpack_notes = unpacked_upload(root / "submission", scratch)
    for note in unpack_notes:
        print(f"grade: {note}", file=sys.stderr)
    args = [str(folder), "--out", str(out), "--quiet"]
    args += ["--private", str(private)] if private.is_file() else []
    args += shlex.split(os.environ.get("GRADE_ARGS", ""))
    errors = _Tee()
    with redirect_stderr(errors):
        cli.main(args)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    reasons = [line.removeprefix("grade: ") for line in errors.getvalue().splitlines() if line.startswith("grade: ")]
    setup_fault = any(reason.startswith(cli.SETUP_PREFIX) for reason in reasons)
    if (out / "results.json").is_file():
        results = with_rubrics_after_due_date(json.loads((out / "results.json").read_text()))
    else:
        results = _not_graded(reasons)
    if unpack_notes:
        results["output"] = "\n".join(unpack_notes) + "\n\n" + results.get("output", "")
    (results_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return results, setup_fault


def with_rubrics_after_due_date(results: dict) -> dict:
    """`results` with one more test per written item: its rubric, of visibility "after_due_date", which Gradescope
    shows only once the assignment's due date has passed. Students read the rubric after the deadline, never before
    (an item whose output already holds it, `--release-rubric` in GRADE_ARGS, gets none). No score: it counts nothing."""
    rubric = load_rubric()
    added = []
    for test in results.get("tests", []):
        check_id = str(test.get("extra_data", {}).get("check_id", ""))
        question = check_id.removesuffix(WRITTEN_SUFFIX)
        if check_id.endswith(WRITTEN_SUFFIX) and question in rubric and "Rubric:" not in test.get("output", ""):
            added.append({"name": f"{check_id}: the rubric (shown after the due date)", "number": test.get("number"),
                          "output": markdown_text(rubric_text(rubric[question])), "output_format": "md",
                          "visibility": "after_due_date", "extra_data": {"rubric_of": check_id}})
    return {**results, "tests": results.get("tests", []) + added}


def _not_graded(reasons: list[str]) -> dict:
    """A results.json for an upload that could not be graded, saying whose fault it was."""
    setup = [r.removeprefix(cli.SETUP_PREFIX) for r in reasons if r.startswith(cli.SETUP_PREFIX)]
    if setup:
        text = ("The autograder is not set up correctly, so nothing was graded. This is not a problem with your "
                f"submission; your instructor has been told.\n\n{setup[0]}")
    else:
        text = (f"The autograder could not grade this submission: {'; '.join(reasons) or 'see the autograder log'}\n\n"
                f"Upload the files ({', '.join(sorted(EXPECTED))}), one folder that holds them, or your repository.")
    return {"score": 0.0, "output": text, "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


if __name__ == "__main__":
    _, setup_fault = run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/autograder"))
    sys.exit(cli.EXIT_USAGE if setup_fault else 0)
