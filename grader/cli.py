"""`grade`: the command line. Parses arguments and calls one function per verb, nothing else."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader.checks.registry import Check, select
from grader.class_results import StudentIdentity
from grader.classroom import grade_class
from grader.devices import DEVICES, DeviceError, device_limits, resolve_device
from grader.engine import grade_submission
from grader.exports import ExportError, map_export
from grader.manual import SCORES_FILE, ManualScoreError, apply_scores, load_manual_scores, pending_scores_file
from grader.options import GradingOptions
from grader.parallel import default_slots, use_grader_threads
from grader.private import PrivateInputsError, load_private_inputs
from grader.report import RUN_FILE, write_reports
from grader.report.feedback import score_details
from grader.results import GradingRun
from grader.runner.sandbox import GraderSetupError, Limits
from grader.submission import SubmissionError

EXIT_OK, EXIT_BELOW_MINIMUM, EXIT_USAGE = 0, 1, 2
SETUP_PREFIX = "setup problem, nothing was graded: "  # what run_autograder looks for to say it is not the student's fault


def _problems(text: str) -> set[int]:
    try:
        problems = {int(p) for p in text.split(",") if p.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"--only takes problem numbers like 1,4 (got {text!r})") from None
    if not problems <= {1, 2, 3, 4}:
        raise argparse.ArgumentTypeError(f"problems are 1, 2, 3 and 4 (got {text!r})")
    return problems


def build_parser() -> argparse.ArgumentParser:
    limits = Limits()
    parser = argparse.ArgumentParser(prog="grade", description="Grade a Problem Set 4 submission folder in isolated child processes.",
                                     epilog=f"other commands: {', '.join(f'grade {verb} --help' for verb in VERBS)}")
    parser.add_argument("submission", nargs="?", help="folder with p1_change_of_variables.py / p3_ebm.py / p4_realnvp.py (or .ipynb), answers.md, p3_energy.pt")
    parser.add_argument("--class", dest="whole_class", action="store_true",
                        help="SUBMISSION is a class: one subfolder per student (or a Canvas/Moodle export .zip), graded into OUT/<name>/, "
                             "with OUT/gradebook.csv and OUT/class.html")
    parser.add_argument("--jobs", type=int, help="with --class: submissions graded at once; for one submission: student modules graded "
                                                 f"at once (default: from the cores and memory, {default_slots()} here now)")
    parser.add_argument("--force", action="store_true", help="with --class: re-grade submissions whose files and grader did not change")
    parser.add_argument("--out", type=Path, default=Path("grading-out"), help="output folder for results.json, report.md, report.html, figures/ (default: %(default)s)")
    parser.add_argument("--only", type=_problems, help="comma-separated problem numbers to grade, e.g. 1,4")
    parser.add_argument("--check", dest="check_ids", help="comma-separated check ids to run (see --list)")
    parser.add_argument("--list", action="store_true", help="print the checks with their points and exit")
    parser.add_argument("--fail-under", type=float, help="exit with status 1 when the score is below this")
    parser.add_argument("--time-scale", type=float, default=limits.time_scale, help="multiply every time limit (slow machines), default %(default)s")
    parser.add_argument("--memory-mb", type=int, help=f"address-space limit per student process in MB (default {limits.memory_mb}; none with --device cuda)")
    parser.add_argument("--threads", type=int, default=limits.threads, help="torch threads per student process, default %(default)s")
    parser.add_argument("--mnist-root", type=Path, help="full MNIST in torchvision's layout (default: the embedded 5,000-digit subset)")
    parser.add_argument("--device", default="cpu", choices=DEVICES,
                        help="where the checkpoint sampling and the short trainings run; auto: cuda when available (default %(default)s)")
    parser.add_argument("--manual-scores", type=Path, help=f"class-wide scores for the written answers (TOML, one table per submission folder name; README: 'Written answers'); "
                             f"OUT/{SCORES_FILE} is read too; checked whole before anything is written")
    parser.add_argument("--pending", type=Path, metavar="FILE", help="after grading, write FILE: a scores file with every written answer "
                                                                     "still pending, answer quoted, ready to fill and pass to --manual-scores")
    parser.add_argument("--merge-only", action="store_true", help="run no student code: re-render OUT's reports (and, with --class, the "
                                                                  "gradebooks and class.html) from the stored grading-run.json with the manual scores")
    parser.add_argument("--release-rubric", action="store_true", help="show the written rubric in the reports (an instructor's document: "
                                                                      "hidden by default, e.g. until after the due date)")
    parser.add_argument("--lms-assignment", help="with --class on a Canvas export: the gradebook column's title, e.g. "
                                                 "'Problem Set 4 (123456)' to match an existing Canvas assignment (default: Problem Set 4)")
    parser.add_argument("--quiet", action="store_true", help="no per-check progress lines")
    parser.add_argument("--private", type=Path, help="the instructor's private inputs for the official grade (TOML: hidden seeds, "
                                                     "check visibility; docs/private_inputs.md); default: public defaults, said in the report")
    return parser


VERBS = ("gradescope-zip", "init-ci")  # a submission folder of one of these names is graded as ./NAME


def build_verb_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grade", description="Set up grading outside this machine (README: 'For instructors').")
    verbs = parser.add_subparsers(dest="verb", required=True)
    gradescope = verbs.add_parser("gradescope-zip", help="build the Gradescope autograder zip")
    gradescope.add_argument("--out", type=Path, default=Path("autograder.zip"), help="the zip to write (default: %(default)s)")
    gradescope.add_argument("--private", type=Path, help="private inputs to bundle (hidden seeds, check visibility); keep the zip private")
    init = verbs.add_parser("init-ci", help="write .github/workflows/grade.yml (the students' grading workflow) into a repository")
    init.add_argument("repo", type=Path, nargs="?", default=Path("."), help="the student repository or template folder (default: .)")
    init.add_argument("--grader", required=True, help="pip requirement of the pinned grader, e.g. "
                                                      "'ps4-autograder @ git+https://github.com/COURSE/ps4-autograder@v1.0' or a wheel URL")
    init.add_argument("--fail-under", type=float, default=0.0, help="the job fails below this score (default: %(default)g)")
    init.add_argument("--force", action="store_true", help="overwrite an existing workflow")
    return parser


def run_verb(argv: list[str]) -> int:
    from grader.ci.gradescope_zip import build_zip  # only for these verbs
    from grader.ci.workflow import init_ci

    args = build_verb_parser().parse_args(argv)
    try:
        if args.verb == "gradescope-zip":
            names = build_zip(args.out, args.private)
            print(f"wrote {args.out} ({len(names)} files{', with private inputs' if args.private else ''}); upload it as the "
                  "assignment's autograder on Gradescope")
        else:
            print(f"wrote {init_ci(args.repo, args.grader, args.fail_under, args.force)}")
    except (PrivateInputsError, OSError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def list_checks(checks: list[Check]) -> None:
    for c in checks:
        print(f"{c.id:<24} {c.part:<5} {c.points:>5g}  {c.visibility:<15} {c.title}")
    print(f"{len(checks)} checks, {sum(c.points for c in checks):g} points")


def print_summary(run: GradingRun, out: Path) -> None:
    print(f"\n{'check':<24} {'part':<5} {'score':>13}  status")
    for r in run.results:
        shown = "pending" if r.score is None else f"{r.score:g}/{r.max_score:g}"
        print(f"{r.id:<24} {r.part:<5} {shown:>13}  {r.status}")
    print(f"{'total':<30} {run.score:g}/{run.max_score:g} ({score_details(run)})   in {run.seconds:.1f} s")
    print(f"reports: {out / 'results.json'}, {out / 'report.md'}, {out / 'report.html'}")


def grade_class_command(args: argparse.Namespace, checks: list[Check], options: GradingOptions) -> int:
    """`grade CLASS --class` (CLASS a folder or an export zip): grade, then one summary line."""
    slots = default_slots()
    jobs = max(1, args.jobs or slots)
    workers = max(1, slots // jobs)  # leftover slots grade one student's modules at once
    source, notes, export = Path(args.submission), [], None
    if source.is_file() and source.suffix.lower() == ".zip":
        export = map_export(source)
        source = export.root
        notes = [f"{Path(args.submission).name}: {len(export.students)} students"] + export.notes
        notes += [f"could not map {item}" for item in export.unmapped]
    identities = {key: StudentIdentity(*ids) for key, ids in export.platform_ids.items()} if export is not None else {}
    try:
        result = grade_class(source, args.out, checks, options, args.manual_scores, jobs=jobs, workers=workers,
                             force=args.force, progress=not args.quiet, notes=notes, refused=export.refused if export else None,
                             identities=identities, rubric_released=args.release_rubric, lms_assignment=args.lms_assignment,
                             merge_only=args.merge_only)
    finally:
        if export is not None:
            export.cleanup()
    for student, why in sorted(export.refused.items()) if export is not None else ():
        print(f"grade: warning: {student} not graded: {why}", file=sys.stderr)
    if args.pending is not None:
        _write_pending(args.pending, {r.student: r.run for r in result.rows if r.run is not None})
    if export is not None and export.unmapped:
        print(f"grade: {len(export.unmapped)} file(s) of the export could not be mapped to a student (listed in class.html)", file=sys.stderr)
    print(f"{result.summary()}; gradebook: {args.out / 'gradebook.csv'}; class view: {args.out / 'class.html'}")
    for note in result.notes:
        if note.startswith("gradebook-"):
            print(f"grade: {note}")
    return EXIT_OK


def stored_run(out: Path) -> GradingRun:
    """OUT/grading-run.json, the run as graded (for --merge-only); a missing or unreadable one is a SubmissionError."""
    try:
        return GradingRun.from_dict(json.loads((out / RUN_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SubmissionError(f"--merge-only: no readable {out / RUN_FILE} ({type(error).__name__}); grade the submission first") from None


def _write_pending(path: Path, runs: dict[str, GradingRun]) -> None:
    """`--pending FILE`: every written item still pending, ready to fill (never overwrites a file being filled)."""
    text = pending_scores_file(runs)
    if path.exists():
        path = path.with_name(f"{path.stem}.new{path.suffix}")
    path.write_text(text, encoding="utf-8")
    print(f"pending written answers: {path} ({text.count(chr(10) + '[')} items to score; fill in and pass it to --manual-scores)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in VERBS:
        return run_verb(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        checks = select(args.only, set(args.check_ids.split(",")) if args.check_ids else None)
        private = load_private_inputs(args.private)
    except KeyError as error:
        print(f"grade: {error.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    except PrivateInputsError as error:
        print(f"grade: {error}", file=sys.stderr)
        return EXIT_USAGE
    checks = private.apply(checks)
    if args.list:
        list_checks(checks)
        return EXIT_OK
    if not args.submission:
        parser.error("give a submission folder (or --list)")
    try:
        device = resolve_device(args.device)
    except DeviceError as error:
        print(f"grade: {error}", file=sys.stderr)
        return EXIT_USAGE
    use_grader_threads()
    limits = Limits(threads=args.threads, time_scale=args.time_scale, **({} if args.memory_mb is None else {"memory_mb": args.memory_mb}))
    options = GradingOptions(device_limits(limits, device, args.memory_mb is not None),
                             mnist_root=args.mnist_root, device=device, progress=not args.quiet, private=private)
    try:
        if args.whole_class:
            return grade_class_command(args, checks, options)
        name = Path(args.submission).resolve().name
        manual = load_manual_scores(args.out, name, args.manual_scores)  # checked whole before anything runs or is written
        if args.merge_only:
            graded = stored_run(args.out)
        else:
            graded = grade_submission(args.submission, args.out, checks, options, workers=args.jobs or default_slots())
    except (SubmissionError, ManualScoreError, ExportError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return EXIT_USAGE
    except GraderSetupError as error:
        print(f"grade: {SETUP_PREFIX}{error}", file=sys.stderr)
        return EXIT_USAGE
    write_reports(graded, args.out, manual, rubric_released=args.release_rubric)
    run = apply_scores(graded, manual)
    print_summary(run, args.out)
    if args.pending is not None:
        _write_pending(args.pending, {name: run})
    if args.fail_under is not None and run.score < args.fail_under:
        print(f"grade: score {run.score:g} is below --fail-under {args.fail_under:g}", file=sys.stderr)
        return EXIT_BELOW_MINIMUM
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
