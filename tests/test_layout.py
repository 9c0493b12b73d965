"""One rule maps every upload layout to the folder that is graded (grader/layout.py)."""
from __future__ import annotations

import os
from pathlib import Path

from grader.layout import MAX_DEPTH, find_work_folder


def files(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    return root


def test_loose_files_are_the_work_folder(tmp_path):
    work = find_work_folder(files(tmp_path, "p3_ebm.py", "answers.md", "notes.txt"))
    assert work.parts == () and work.note is None


def test_one_folder_and_a_repository_with_other_folders_beside_the_work(tmp_path):
    files(tmp_path, "README.md", "figures/moons.png", "data/x.npz", "hw4/p4_realnvp.ipynb", "hw4/answers.md")
    work = find_work_folder(tmp_path)
    assert work.parts == ("hw4",) and work.note == "graded the files in hw4/"


def test_the_shallowest_folder_wins_then_the_fuller_one_and_the_others_are_named(tmp_path):
    files(tmp_path, "repo/a/p1_change_of_variables.py", "repo/b/p1_change_of_variables.py", "repo/b/p3_ebm.py",
          "repo/b/old/p4_realnvp.py", "repo/b/old/p3_ebm.py", "repo/b/old/answers.md")
    work = find_work_folder(tmp_path)
    assert work.parts == ("repo", "b") and work.others == ("repo/a",)
    assert "also found expected files in repo/a/" in work.note


def test_hidden_folders_environments_and_links_are_not_searched(tmp_path):
    files(tmp_path, ".git/p3_ebm.py", ".venv/lib/p3_ebm.py", "__MACOSX/hw/p3_ebm.py", "venv/p3_ebm.py", "elsewhere/deep/p3_ebm.py")
    os.symlink(tmp_path / "elsewhere" / "deep", tmp_path / "link")
    work = find_work_folder(tmp_path)
    assert work.parts == ("elsewhere", "deep")  # the link (one level up) is never followed


def test_no_expected_file_or_too_deep_is_none(tmp_path):
    assert find_work_folder(files(tmp_path / "a", "homework.pdf")) is None
    deep = Path(*[f"d{i}" for i in range(MAX_DEPTH + 1)])
    assert find_work_folder(files(tmp_path / "b", str(deep / "p3_ebm.py"))) is None
    assert find_work_folder(files(tmp_path / "c", str(deep.parent / "p3_ebm.py"))).parts == deep.parent.parts
