"""Staging a submission: only expected regular files are copied; links, special files, huge and
numerous files, and hostile image links become notes that cost only what they must.

The links and special files cannot live in git, so each test builds its submission in
`tmp_path` (the answers.md with hostile links is `tests/corpus/hostile/staging/answers.md`).
"""
from __future__ import annotations

import os
import shutil
import stat
import struct
import zlib
from pathlib import Path

import pytest
from helpers import CORPUS, REFERENCE, by_id, grade, patched_submission

import grader.submission as submission_module
from grader.checks.registry import select
from grader.classroom import grade_class
from grader.options import GradingOptions
from grader.report import write_reports
from grader.runner.sandbox import Limits
from grader.submission import IMAGE_DIR, MAX_IMAGES, SubmissionError, load_submission

P1 = "p1_change_of_variables"
P1_FILE = REFERENCE / f"{P1}.py"
IDS = {"1a.dtype", "1b1.dtype"}  # 0.5 points each, cheap; both call the P1 module
LINK_NOTE = "is a symbolic link; links are never followed, so it was ignored"


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, grey) PNG file."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def staged_names(staged: Path) -> set[str]:
    return {str(p.relative_to(staged)) for p in staged.rglob("*")}


def make_entry(folder: Path, name: str, kind: str, elsewhere: Path) -> None:
    """`folder/name` as a link or special file of `kind`."""
    path = folder / name
    if kind == "link_to_solution":
        path.symlink_to(elsewhere)
    elif kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "link_to_root":
        path.symlink_to("/")
    elif kind == "dangling_link":
        path.symlink_to(folder / "does-not-exist")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        raise ValueError(kind)


KINDS = ["link_to_solution", "link_to_dev_zero", "link_to_root", "dangling_link", "fifo", "folder"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", [f"{P1}.py", f"{P1}.ipynb", "answers.md", "p3_energy.pt"])
def test_links_and_special_files_are_notes_never_followed(tmp_path, kind, name):
    elsewhere = tmp_path / "elsewhere" / name
    elsewhere.parent.mkdir()
    shutil.copy(REFERENCE / ("answers.md" if name == "answers.md" else "p3_energy.pt" if name == "p3_energy.pt" else f"{P1}.py"), elsewhere)
    folder = tmp_path / "submission"
    folder.mkdir()
    make_entry(folder, name, kind, elsewhere)
    submission = load_submission(folder)  # never blocks on the FIFO, never reads /dev/zero
    try:
        expected = LINK_NOTE if "link" in kind else "is not a regular file (a FIFO)" if kind == "fifo" else "is not a regular file (a folder)"
        assert [note for note in submission.notes if note.startswith(name)] == [f"{name} {expected}" + ("" if "link" in kind else "; ignored")]
        assert submission.modules == {} and submission.file(name) is None
        assert staged_names(submission.staged) == set()
    finally:
        submission.cleanup()


def test_a_link_to_a_correct_solution_gains_nothing(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / f"{P1}.py").symlink_to(P1_FILE)
    run = grade(folder, tmp_path / "out", ids=IDS)
    assert run.score == 0
    assert all("is not in the submission" in r.output for r in run.results)
    assert f"{P1}.py {LINK_NOTE}" in run.notes


def test_a_link_inside_a_correct_submission_costs_only_its_file(tmp_path):
    """The real module is graded; a linked answers.md and a FIFO p3_energy.pt are notes."""
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copy(P1_FILE, folder)
    (folder / "answers.md").symlink_to(REFERENCE / "answers.md")
    os.mkfifo(folder / "p3_energy.pt")
    run = grade(folder, tmp_path / "out", ids=IDS | {"1b4.written"})
    results = by_id(run)
    assert results["1a.dtype"].score == 0.5 and results["1b1.dtype"].score == 0.5
    assert results["1b4.written"].score == 0 and "answers.md is not in the submission" in results["1b4.written"].output
    assert f"answers.md {LINK_NOTE}" in run.notes and "p3_energy.pt is not a regular file (a FIFO); ignored" in run.notes


def test_a_folder_of_links_only_still_grades_and_says_why(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    for name, target in ((f"{P1}.py", "/dev/zero"), ("p3_ebm.py", "/"), ("answers.md", "/etc/shadow"), ("p4_realnvp.py", "/nonexistent")):
        (folder / name).symlink_to(target)
    run = grade(folder, tmp_path / "out", ids=IDS)
    assert run.score == 0 and len([n for n in run.notes if LINK_NOTE in n]) == 4


def test_files_over_their_cap_are_notes_and_cost_only_themselves(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copy(P1_FILE, folder)
    with open(folder / "p3_energy.pt", "wb") as handle:  # sparse: 150 MB on paper, no disk used
        handle.truncate(150 * 2**20)
    with open(folder / "p4_realnvp.py", "wb") as handle:
        handle.truncate(3 * 2**20)
    run = grade(folder, tmp_path / "out", ids=IDS)
    assert run.score == 1.0
    assert "p3_energy.pt is 150.0 MB, over the 100 MB cap; ignored" in run.notes
    assert "p4_realnvp.py is 3.0 MB, over the 2 MB cap; ignored" in run.notes


def test_the_total_cap_and_the_time_limit_are_notes(tmp_path, monkeypatch):
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copy(P1_FILE, folder)
    (folder / "p3_energy.pt").write_bytes(b"\0" * 4096)
    monkeypatch.setattr(submission_module, "TOTAL_BYTES", len(P1_FILE.read_bytes()) + 100)
    submission = load_submission(folder)
    assert P1 in submission.modules and submission.file("p3_energy.pt") is None
    assert any(n.startswith("p3_energy.pt is 0.0 MB, over the") and "the whole submission may stage at most" in n for n in submission.notes)
    submission.cleanup()
    monkeypatch.setattr(submission_module, "STAGING_SECONDS", -1.0)
    submission = load_submission(folder)
    assert submission.modules == {}
    assert f"{P1}.py was not staged: staging took longer than -1 s" in submission.notes
    submission.cleanup()


def test_many_files_and_images_are_bounded(tmp_path):
    folder = tmp_path / "submission"
    (folder / "images").mkdir(parents=True)
    shutil.copy(P1_FILE, folder)
    for index in range(3000):  # never listed: staging looks up the expected names only
        (folder / f"junk{index}.py").write_text("raise SystemExit\n")
    for index in range(MAX_IMAGES + 10):
        (folder / "images" / f"{index}.png").write_bytes(png())
    links = "\n".join(f"![figure {i}](images/{i}.png)" for i in range(MAX_IMAGES + 10))
    (folder / "answers.md").write_text(f"## 1b4\n\nSee the figures.\n\n{links}\n")
    submission = load_submission(folder)
    try:
        assert len(submission.images) == MAX_IMAGES
        assert f"answers.md links more than {MAX_IMAGES} images; the others are not shown" in submission.notes
        assert staged_names(submission.staged) == {f"{P1}.py", "answers.md", IMAGE_DIR} | {f"{IMAGE_DIR}/{i}.png" for i in range(MAX_IMAGES)}
    finally:
        submission.cleanup()


def test_answers_images_only_real_images_inside_the_submission(tmp_path):
    folder = tmp_path / "submission"
    (folder / "images").mkdir(parents=True)
    shutil.copy(CORPUS / "hostile" / "staging" / "answers.md", folder)
    (folder / "images" / "plot.png").write_bytes(png())
    (folder / "images" / "page.html").write_text("<script>alert(1)</script>")
    (folder / "images" / "drawing.svg").write_text("<svg onload='alert(1)'/>")
    (folder / "images" / "fake.png").write_text("<html><script>alert(1)</script></html>")
    (tmp_path / "outside.png").write_bytes(png())
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "plot.png").write_bytes(png())
    (folder / "linked").symlink_to(tmp_path / "linked")
    out = tmp_path / "out"
    run = grade(folder, out, ids={"1b4.written", "1b5.written"})
    write_reports(run, out)
    figures = by_id(run)["1b4.written"].figures
    assert figures == ("figures/1b4.written-answer0.png",)
    assert (out / figures[0]).read_bytes() == png()
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["1b4.written-answer0.png"]
    notes = "\n".join(run.notes)
    for link, reason in (("images/page.html", "only PNG, JPEG and GIF images are shown; not copied"),
                         ("images/drawing.svg", "only PNG, JPEG and GIF images are shown; not copied"),
                         ("images/fake.png", "not a PNG, JPEG or GIF image (checked by its content); not copied"),
                         ("../outside.png", "is not a relative path inside the submission; not shown"),
                         ("/etc/passwd.png", "is not a relative path inside the submission; not shown"),
                         ("http://evil.example/t.png", "is not a relative path inside the submission; not shown"),
                         ("linked/plot.png", "'linked' is a link or not a folder; links are never followed, so it is not shown"),
                         ("images/missing.png", "is not in the submission; not shown")):
        assert f"answers.md image {link!r}" in notes and reason in notes, (link, reason)
    assert "example.png" not in notes  # a link inside a code span is an example, not an image
    report = (out / "report.html").read_text()
    assert "<img src='figures/1b4.written-answer0.png'" in report
    assert [line for line in report.split("<img ")[1:] if not line.startswith("src='figures/")] == []


def test_staged_copy_is_readable_by_another_uid_and_the_folder_untouched(tmp_path):
    folder = tmp_path / "submission"
    (folder / "images").mkdir(parents=True)
    shutil.copy(P1_FILE, folder)
    (folder / "images" / "plot.png").write_bytes(png())
    (folder / "answers.md").write_text("## 1b4\n![p](images/plot.png)\n")
    os.chmod(folder / f"{P1}.py", 0o600)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    submission = load_submission(folder)
    try:
        modes = {str(p.relative_to(submission.staged)): stat.S_IMODE(p.stat().st_mode) for p in submission.staged.rglob("*")}
        assert modes == {f"{P1}.py": 0o644, "answers.md": 0o644, IMAGE_DIR: 0o755, f"{IMAGE_DIR}/0.png": 0o644}
        assert stat.S_IMODE(submission.staged.stat().st_mode) == 0o755
    finally:
        submission.cleanup()
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_output_folder_checks(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copy(P1_FILE, folder)
    with pytest.raises(SubmissionError, match="is the submission folder itself"):
        load_submission(folder, folder)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(SubmissionError, match="exists and is not a folder"):
        load_submission(folder, tmp_path / "a-file")
    inside = load_submission(folder, folder / "grading-out")
    assert any("is inside the submission folder; it is not staged or graded" in n for n in inside.notes)
    inside.cleanup()


def test_nothing_expected_is_still_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SubmissionError, match="holds none of the expected files"):
        load_submission(tmp_path)


def test_class_run_with_staging_attacks_beside_a_correct_submission(tmp_path):
    """Every attack is graded with notes or bounded feedback; the correct classmate keeps the score it gets alone."""
    klass, out = tmp_path / "class", tmp_path / "out"
    alice = klass / "alice"
    alice.mkdir(parents=True)
    shutil.copy(P1_FILE, alice)
    (klass / "bob").mkdir()
    (klass / "bob" / f"{P1}.py").symlink_to(alice / f"{P1}.py")  # a classmate's file
    (klass / "carol").mkdir()
    (klass / "carol" / f"{P1}.py").symlink_to("/dev/zero")
    os.mkfifo(klass / "carol" / "answers.md")
    (klass / "dave").mkdir()
    (klass / "dave" / f"{P1}.py").symlink_to(klass / "dave" / "gone.py")
    (klass / "dave" / "p3_ebm.py").symlink_to("/")
    patched_submission(klass / "erin", P1, CORPUS / "hostile" / "reports" / "html_file_name.py")  # a megabyte of HTML in errors
    checks = select(None, IDS)
    alone = grade(alice, tmp_path / "alone", ids=IDS)
    rows = {row.student: row for row in grade_class(klass, out, checks, GradingOptions(limits=Limits(memory_mb=2048), progress=False)).rows}
    assert rows["alice"].run.score == alone.score == 1.0
    for student in ("bob", "carol", "dave"):
        assert rows[student].run is not None and rows[student].run.score == 0, student
        assert any(LINK_NOTE in note for note in rows[student].run.notes), student
    assert by_id(rows["erin"].run)["1a.dtype"].score == 0 and by_id(rows["erin"].run)["1b1.dtype"].score == 0.5
    assert (out / "gradebook.csv").is_file()
    for student in rows:
        for name in ("results.json", "report.md", "report.html", "grading-run.json"):
            text = (out / student / name).read_text()
            assert len(text.encode()) < 2**20 and "<img src=x" not in text, (student, name)
