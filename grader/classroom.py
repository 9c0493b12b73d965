"""Grade a whole class: every subfolder of CLASS_DIR is one submission, graded into OUT/<name>/.

One student's broken or empty folder becomes a row with its reason; the rest still grade.
`jobs` submissions grade at once, each in its own grader process (`grader.parallel`), each
isolated exactly as a single grading is; rows come back in folder order, so the gradebook is
the same whatever `jobs` is. A submission whose files, grader, rubric and settings did not
change since its last grading (`grader.fingerprint`) is not run again unless `force`: its
stored results are reused, and only its written answers are merged again with the current
manual scores (no student code runs for that).

Outputs: OUT/<name>/ (the student's reports), OUT/gradebook.csv, OUT/class.html.
"""
from __future__ import annotations

import csv
import json
import sys
import traceback
from collections import Counter
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from grader.checks.registry import Check, by_ids
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
from grader.manual import ManualScoreError, load_manual_scores
from grader.names import is_shown_as_is, shown_name
from grader.options import GradingOptions
from grader.report import RUN_FILE, write_reports
from grader.report.safe import FIELD_CHARS, cut
from grader.results import GradingRun
from grader.runner.sandbox import GraderSetupError
from grader.submission import SubmissionError

if TYPE_CHECKING:
    from tqdm import tqdm

GRADEBOOK, CLASS_VIEW = "gradebook.csv", "class.html"
RESERVED_NAMES = {GRADEBOOK, CLASS_VIEW}  # OUT/<name>/ must never be one of the class's own files
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ClassRow:
    student: str
    run: GradingRun | None
    error: str = ""  # why the submission was not graded
    reused: bool = False  # results of an earlier run: files, grader, rubric and settings unchanged
    why: str = ""  # why it was graded this time ("not graded before", "the submission changed", "--force", ...)


@dataclass(frozen=True)
class ClassResult:
    rows: list[ClassRow]
    notes: list[str] = field(default_factory=list)  # about the class as a whole (e.g. an export's unmapped files)

    def summary(self) -> str:
        """One line: how many were graded, re-used (and why) or not graded."""
        graded = [r for r in self.rows if r.run is not None and not r.reused]
        reused = sum(r.reused for r in self.rows)
        failed = sum(r.run is None for r in self.rows)
        reasons = Counter(r.why for r in graded)
        why = "; ".join(f"{reason}: {count}" for reason, count in reasons.most_common())
        parts = [f"graded {len(graded)} of {len(self.rows)} submissions" + (f" ({why})" if why else "")]
        if reused:
            parts.append(f"skipped {reused} unchanged (files, grader, rubric and settings as in their last grading; --force re-grades)")
        if failed:
            parts.append(f"{failed} not graded (see {CLASS_VIEW})")
        return ", ".join(parts)


@dataclass(frozen=True)
class _Task:
    """One submission to grade in a grader process of the pool (plain data, so it can travel)."""

    folder: Path
    student: str  # the row's name, and OUT/<student>/: the folder's name as valid text (`grader.names`)
    out: Path
    check_ids: tuple[str, ...]
    options: GradingOptions
    manual_file: Path | None
    fingerprint: Fingerprint
    workers: int
    why: str


def grade_class(class_dir: Path, out: Path, checks: list[Check], options: GradingOptions, manual_file: Path | None = None, *,
                jobs: int = 1, workers: int = 1, force: bool = False, progress: bool = True, notes: list[str] | None = None,
                refused: dict[str, str] | None = None) -> ClassResult:
    """Grade every submission folder of `class_dir` into `out`; `jobs` at once, `workers` modules at once within each.

    `refused` (student -> why) adds a "not graded" row for each submission that could not even be
    made a folder (e.g. an export's archive over its caps).
    """
    folders, rows = _submission_folders(class_dir, out, expect_some=not refused)
    rows += [ClassRow(student, None, why) for student, why in sorted((refused or {}).items())]
    out.mkdir(parents=True, exist_ok=True)
    options = replace(options, progress=False)  # one progress bar for the class instead of per-check lines
    base = run_fingerprint(checks, options, grader_digest())
    tasks, reuse = [], []
    for folder, student in folders:
        fingerprint = for_submission(base, folder)
        why = "--force" if force else fingerprint.changes(read_fingerprint(out / student))
        if why is None and (out / student / RUN_FILE).is_file():
            reuse.append((folder, student, fingerprint))
        else:
            task = _Task(folder, student, out / student, tuple(c.id for c in checks), options, manual_file, fingerprint, workers,
                         why or "results missing")
            tasks.append(task)
    bar = _progress_bar(len(folders), progress)
    try:
        for folder, student, fingerprint in reuse:
            rows.append(_reuse(folder, student, out / student, checks, options, manual_file, fingerprint))
            _advance(bar, rows[-1])
        if jobs <= 1 or len(tasks) <= 1:
            for task in tasks:
                rows.append(grade_one(task))
                _advance(bar, rows[-1])
        else:
            rows += _grade_in_pool(tasks, jobs, bar)
    finally:
        if bar is not None:
            bar.close()
    rows.sort(key=lambda row: row.student)
    result = ClassResult(rows, list(notes or []))
    write_gradebook(rows, checks, out / GRADEBOOK)
    from grader.classview import write_class_view  # noqa: PLC0415 - the page's writer, after the grading

    write_class_view(result, checks, out / CLASS_VIEW)
    return result


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
        manual = load_manual_scores(task.out, name, task.manual_file)
        checks = task.options.private.apply(by_ids(task.check_ids))
        run = grade_submission(task.folder, task.out, checks, replace(task.options, manual_scores=manual), workers=task.workers)
        write_reports(run, task.out)
        write_fingerprint(task.fingerprint, task.out)
        return ClassRow(name, run, why=task.why)
    except (SubmissionError, ManualScoreError) as error:
        return ClassRow(name, None, str(error), why=task.why)
    except GraderSetupError:
        raise  # the installation's fault, the same for every student: the class run stops
    except Exception as error:  # noqa: BLE001 - a grader bug costs this student's row, with the reason, not the class
        print(f"internal error grading {name}:\n{traceback.format_exc()}", file=sys.stderr)
        return ClassRow(name, None, f"internal grader error: {type(error).__name__}: {error}", why=task.why)


def _reuse(folder: Path, student: str, out: Path, checks: list[Check], options: GradingOptions, manual_file: Path | None,
           fingerprint: Fingerprint) -> ClassRow:
    """The stored results of an unchanged submission, with its written answers merged again (manual scores may have changed)."""
    try:
        stored = GradingRun.from_dict(json.loads((out / RUN_FILE).read_text()))
        manual = load_manual_scores(out, student, manual_file)
        written = [c for c in checks if c.module is None]
        fresh = {r.id: r for r in grade_submission(folder, out, written, replace(options, manual_scores=manual)).results} if written else {}
        run = replace(stored, results=tuple(fresh.get(r.id, r) for r in stored.results))
        write_reports(run, out)
        write_fingerprint(fingerprint, out)
        return ClassRow(student, run, reused=True)
    except (OSError, ValueError, KeyError, TypeError, SubmissionError):
        return grade_one(_Task(folder, student, out, tuple(c.id for c in checks), options, manual_file, fingerprint, 1, "stored results unreadable"))
    except ManualScoreError as error:
        return ClassRow(student, None, str(error))


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


def safe_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never runs: text starting with =, +, -, @, tab or CR
    gets a leading apostrophe (OWASP's rule for CSV injection); numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def gradebook_columns(checks: list[Check]) -> list[str]:
    """The gradebook's header: student, status, totals, then per problem, per part and per rubric item."""
    problems = sorted({c.problem for c in checks})
    parts = list(dict.fromkeys(c.part for c in checks))
    return (["student", "status", "total", "max", "pending"] + [f"problem {p}" for p in problems]
            + [f"part {p}" for p in parts] + [c.id for c in checks] + ["note"])


def row_status(row: ClassRow) -> str:
    """'graded', 'pending written' (some points await a person) or 'not graded'."""
    if row.run is None:
        return "not graded"
    return "pending written" if row.run.pending_points else "graded"


def gradebook_row(row: ClassRow, checks: list[Check]) -> list[object]:
    """One student's cells, in `gradebook_columns` order (pending items read 'pending'; scores are the scored points)."""
    problems = sorted({c.problem for c in checks})
    parts = list(dict.fromkeys(c.part for c in checks))
    if row.run is None:
        return [row.student, row_status(row)] + [""] * (3 + len(problems) + len(parts) + len(checks)) + [row.error]
    results = {r.id: r for r in row.run.results}

    def total(keep) -> float:
        return round(sum(r.score or 0.0 for r in row.run.results if keep(r)), 4)

    return ([row.student, row_status(row), row.run.score, row.run.max_score, row.run.pending_points]
            + [total(lambda r, p=p: r.problem == p) for p in problems]
            + [total(lambda r, p=p: r.part == p) for p in parts]
            + [("pending" if results[c.id].score is None else results[c.id].score) if c.id in results else "" for c in checks]
            + [""])


def write_gradebook(rows: list[ClassRow], checks: list[Check], path: Path) -> None:
    """OUT/gradebook.csv: one row per student (see `gradebook_columns`), every text cell neutralised."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(gradebook_columns(checks))
        for row in rows:
            writer.writerow([safe_cell(cell) for cell in gradebook_row(row, checks)])
