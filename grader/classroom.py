"""Grade a whole class: every subfolder of CLASS_DIR is one submission, graded into OUT/<name>/.

Manual scores are read and checked whole before anything is written (`grader.manual`): a bad
file stops the run with its reason, it never turns students into "not graded". One student's
broken or empty folder becomes a row with its reason; the rest still grade. `jobs` submissions
grade at once, each in its own grader process (`grader.parallel`), each isolated exactly as a
single grading is; rows come back in folder order, so the gradebook is the same whatever `jobs`
is. A submission whose files, grader, rubric and settings did not change since its last grading
(`grader.fingerprint`) is not run again unless `force`: its stored run (`grading-run.json`) is
re-rendered with the current manual scores, which runs no student code and takes well under a
second per student.

The class scores file merged last is kept as OUT/manual-scores.toml and merged again when a
later run gives no --manual-scores, so a plain re-run never drops the instructor's scores.

Outputs: OUT/<name>/ (the student's reports), OUT/gradebook.csv (and the LMS's import file for
an export: `grader.gradebook`), OUT/class.html (`grader.classview`). The rows are
`grader.class_results` data; the writers of the outputs read them and import nothing from here.
"""
from __future__ import annotations

import json
import sys
import traceback
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from grader.checks.registry import Check, by_ids
from grader.class_results import CLASS_VIEW, GRADEBOOK, ClassResult, ClassRow, StudentIdentity
from grader.classview import write_class_view
from grader.engine import grade_submission
from grader.fingerprint import (
    FINGERPRINT_FILE,
    Fingerprint,
    for_submission,
    grader_digest,
    read_fingerprint,
    run_fingerprint,
    write_fingerprint,
)
from grader.gradebook import LmsGradebook, write_gradebook, write_lms_gradebook
from grader.manual import Scores, apply_scores, load_class_scores, load_own_scores, load_rubric
from grader.names import is_shown_as_is, shown_name
from grader.options import GradingOptions
from grader.report import RUN_FILE, write_reports
from grader.report.safe import FIELD_CHARS, cut
from grader.results import GradingRun
from grader.runner.sandbox import GraderSetupError
from grader.submission import SubmissionError
from grader.template import is_untouched_template

if TYPE_CHECKING:
    from tqdm import tqdm

KEPT_SCORES = "manual-scores.toml"  # OUT's copy of the class scores file last merged
RESERVED_NAMES = {GRADEBOOK, CLASS_VIEW, "gradebook-canvas.csv", "gradebook-moodle.csv", KEPT_SCORES}  # OUT/<name>/ is never a class file


@dataclass(frozen=True)
class _Task:
    """One submission to grade in a grader process of the pool (plain data, so it can travel)."""

    folder: Path
    student: str  # the row's name, and OUT/<student>/: the folder's name as valid text (`grader.names`)
    out: Path
    check_ids: tuple[str, ...]
    options: GradingOptions
    manual: Scores
    fingerprint: Fingerprint
    workers: int
    why: str
    rubric_released: bool = False


def load_scores_for_class(names: list[str], out: Path, manual_file: Path | None) -> dict[str, Scores]:
    """Every student's manual scores (the class file's table, overridden by OUT/<name>/manual_scores.toml),
    all checked before anything is written; raises `ManualScoreError` (one line) for the first bad file."""
    rubric = load_rubric()
    from_class = load_class_scores(manual_file, set(names), rubric) if manual_file is not None else {}
    return {name: {**from_class.get(name, {}), **load_own_scores(out / name, rubric)} for name in names}


def grade_class(class_dir: Path, out: Path, checks: list[Check], options: GradingOptions, manual_file: Path | None = None, *,
                jobs: int = 1, workers: int = 1, force: bool = False, progress: bool = True, notes: list[str] | None = None,
                identities: dict[str, StudentIdentity] | None = None, rubric_released: bool = False,
                lms_assignment: str | None = None, merge_only: bool = False, refused: dict[str, str] | None = None) -> ClassResult:
    """Grade every submission folder of `class_dir` into `out`; `jobs` at once, `workers` modules at once within each.

    `refused` (student -> why) adds a "not graded" row for each submission that could not even be
    made a folder (e.g. an export's archive over its caps).

    `merge_only`: grade nothing; every stored run is re-rendered with the current manual scores,
    even one whose submission or grader changed since (the notes list those).

    Raises `ManualScoreError` before writing anything when a manual-scores file is wrong.
    """
    folders, rows = _submission_folders(class_dir, out, expect_some=not refused)
    rows += [ClassRow(student, None, why) for student, why in sorted((refused or {}).items())]
    kept = out / KEPT_SCORES
    if manual_file is None and kept.is_file() and not kept.is_symlink():
        manual_file = kept  # the scores merged last time: a run without --manual-scores does not drop them
    scores = load_scores_for_class([student for _, student in folders], out, manual_file)
    out.mkdir(parents=True, exist_ok=True)
    options = replace(options, progress=False)  # one progress bar for the class instead of per-check lines
    base = run_fingerprint(checks, options, grader_digest())
    tasks = [_Task(folder, student, out / student, tuple(c.id for c in checks), options, scores[student], for_submission(base, folder),
                   workers, "", rubric_released) for folder, student in folders]
    to_grade, to_reuse, stale, rows_unmerged = _plan(tasks, force, merge_only)
    rows += rows_unmerged
    bar = _progress_bar(len(folders), progress)
    try:
        for task in to_reuse:
            rows.append(_reuse(task))
            _advance(bar, rows[-1])
        if jobs <= 1 or len(to_grade) <= 1:
            for task in to_grade:
                rows.append(grade_one(task))
                _advance(bar, rows[-1])
        else:
            rows += _grade_in_pool(to_grade, jobs, bar)
    finally:
        if bar is not None:
            bar.close()
    rows = sorted((_describe(row, class_dir, identities or {}) for row in rows), key=lambda row: row.student)
    result = ClassResult(rows, list(notes or []))
    if stale:
        result.notes.append(f"--merge-only: {len(stale)} stored result(s) re-rendered although the submission, grader, rubric or "
                            f"settings changed since (grade without --merge-only to update them): {', '.join(stale)}")
    if manual_file is not None and manual_file != kept:
        _keep_scores(manual_file, kept)
        result.notes.append(f"manual scores merged from {manual_file.name}; a copy is kept as {KEPT_SCORES} and used when --manual-scores is not given")
    _write_class_outputs(result, checks, out, lms_assignment)
    return result


def _plan(tasks: list[_Task], force: bool, merge_only: bool) -> tuple[list[_Task], list[_Task], list[str], list[ClassRow]]:
    """(to grade, with why; to re-render from their stored run; names re-rendered although changed; rows merge_only cannot fill)."""
    to_grade, to_reuse, stale, rows = [], [], [], []
    for task in tasks:
        why = "--force" if force and not merge_only else task.fingerprint.changes(read_fingerprint(task.out))
        stored = (task.out / RUN_FILE).is_file()
        if merge_only and not stored:
            rows.append(ClassRow(task.student, None, "no stored results to merge into (--merge-only grades nothing)"))
        elif merge_only or (why is None and stored):
            to_reuse.append(task)
            if why is not None:
                stale.append(task.student)
        else:
            to_grade.append(replace(task, why=why or "results missing"))
    return to_grade, to_reuse, stale, rows


def _write_class_outputs(result: ClassResult, checks: list[Check], out: Path, lms_assignment: str | None) -> None:
    """OUT/gradebook.csv, the LMS's import file for an export (noted in `result`), and OUT/class.html."""
    write_gradebook(result.rows, checks, out / GRADEBOOK)
    lms = write_lms_gradebook(result.rows, checks, out, lms_assignment)
    if lms is not None:
        result.notes.append(_lms_note(lms))
    write_class_view(result, checks, out / CLASS_VIEW)


def _keep_scores(source: Path, kept: Path) -> None:
    """Copy the class scores file that was just merged into OUT (by a new file and a rename)."""
    temporary = kept.with_name(f".{kept.name}.new")
    temporary.write_bytes(source.read_bytes())
    temporary.replace(kept)


def _describe(row: ClassRow, class_dir: Path, identities: dict[str, StudentIdentity]) -> ClassRow:
    """`row` with whether it is the untouched template and who the student is on the LMS."""
    folder = class_dir / row.student
    untouched = row.run is not None and folder.is_dir() and not folder.is_symlink() and is_untouched_template(folder)
    return replace(row, untouched=untouched, identity=identities.get(row.student))


def _lms_note(lms: LmsGradebook) -> str:
    note = f"{lms.path.name}: {lms.written} final grade(s) in {lms.platform.capitalize()}'s import format (README: 'Grades back into the LMS')"
    if lms.left_out:
        note += f"; left out (pending written answers or not graded; the LMS keeps what it had): {', '.join(lms.left_out)}"
    return note


def _submission_folders(class_dir: Path, out: Path, expect_some: bool = True) -> tuple[list[tuple[Path, str]], list[ClassRow]]:
    """The folders to grade with their students' names (`grader.names.shown_name`), and rows for those that
    cannot be (a name that clashes with the class's outputs, or whose shown form is another folder's name)."""
    if not class_dir.is_dir():
        raise SubmissionError(f"{class_dir} is not a folder (give the class folder: one subfolder per student)")
    out_resolved, class_resolved = out.resolve(), class_dir.resolve()
    inside_a_submission = class_resolved in out_resolved.parents and out_resolved.parent != class_resolved
    if out_resolved == class_resolved or inside_a_submission:  # OUT directly in CLASS is allowed: it is skipped below
        raise SubmissionError(f"--out {out} is inside the class folder's submissions; choose an output folder outside {class_dir}")
    for name in RESERVED_NAMES:
        if (out / name).is_dir() or (out / name).is_symlink():
            raise SubmissionError(f"cannot write {out / name}: it is a folder or a link; remove it or choose another --out")
    folders, rows = [], []
    taken = {path.name for path in class_dir.iterdir() if is_shown_as_is(path.name)}
    for path in sorted(class_dir.iterdir()):
        student = shown_name(path.name)
        if path.is_symlink() and path.is_dir():  # a link could point at anyone's folder: never followed
            rows.append(ClassRow(student, None, "the class member is a symbolic link; links are never followed"))
            continue
        if not path.is_dir() or path.name.startswith(".") or path.resolve() == out_resolved:
            continue
        if path.name.lower() in RESERVED_NAMES:
            rows.append(ClassRow(student, None, f"the folder name clashes with the class's own {student}; rename the folder"))
        elif student != path.name and student in taken:  # its shown form would share a classmate's row and OUT folder
            rows.append(ClassRow(f"{student} (not UTF-8)", None, f"the folder's name is not UTF-8 and reads like the folder {student}; rename it"))
        else:
            folders.append((path, student))
    if not folders and not rows and expect_some:
        raise SubmissionError(f"{class_dir} has no submission folders (one subfolder per student)")
    return folders, rows


def grade_one(task: _Task) -> ClassRow:
    """Grade one submission and write its reports and fingerprint; any failure is a row with its reason."""
    name = task.student
    (task.out / FINGERPRINT_FILE).unlink(missing_ok=True)  # an interrupted grading must not pass for a finished one
    try:
        checks = task.options.private.apply(by_ids(task.check_ids))
        run = grade_submission(task.folder, task.out, checks, task.options, workers=task.workers)
        write_reports(run, task.out, task.manual, rubric_released=task.rubric_released)
        write_fingerprint(task.fingerprint, task.out)
        return ClassRow(name, apply_scores(run, task.manual), why=task.why)
    except SubmissionError as error:
        return ClassRow(name, None, str(error), why=task.why)
    except GraderSetupError:
        raise  # the installation's fault, the same for every student: the class run stops
    except Exception as error:  # noqa: BLE001 - a grader bug costs this student's row, with the reason, not the class
        print(f"internal error grading {name}:\n{traceback.format_exc()}", file=sys.stderr)
        return ClassRow(name, None, f"internal grader error: {type(error).__name__}: {error}", why=task.why)


def _reuse(task: _Task) -> ClassRow:
    """The stored run of an unchanged submission, re-rendered with the current manual scores (no student code runs)."""
    try:
        stored = GradingRun.from_dict(json.loads((task.out / RUN_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return grade_one(replace(task, workers=1, why="stored results unreadable"))
    write_reports(stored, task.out, task.manual, rubric_released=task.rubric_released)
    write_fingerprint(task.fingerprint, task.out)
    return ClassRow(task.student, apply_scores(stored, task.manual), reused=True)


def _grade_in_pool(tasks: list[_Task], jobs: int, bar: tqdm | None) -> list[ClassRow]:
    from grader.parallel import process_pool  # noqa: PLC0415

    rows = []
    with process_pool(min(jobs, len(tasks))) as pool:
        futures: dict[Future, _Task] = {pool.submit(grade_one, task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                row = future.result()
            except GraderSetupError:
                raise
            except Exception as error:  # noqa: BLE001 - a grader process that died costs its student's row
                row = ClassRow(task.student, None, f"internal grader error: the grading process failed ({type(error).__name__})", why=task.why)
            rows.append(row)
            _advance(bar, row)
    return rows


def _progress_bar(total: int, shown: bool) -> tqdm | None:
    if not shown:
        return None
    from tqdm import tqdm  # noqa: PLC0415 - only for the class bar

    return tqdm(total=total, desc="grading the class", unit="student", file=sys.stderr, dynamic_ncols=True)


def _advance(bar: tqdm | None, row: ClassRow) -> None:
    if bar is None:
        return
    if row.run is None:
        shown = f"not graded: {row.error}"
    else:
        shown = f"{row.run.score:g}/{row.run.max_score:g}" + (" (unchanged, reused)" if row.reused else "")
    bar.write(cut(f"{row.student}: {shown}", FIELD_CHARS, one_line=True), file=sys.stderr)  # no terminal escapes from folder names
    bar.update(1)
