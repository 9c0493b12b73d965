"""Parallel grading gives the serial results: modules of one submission at once, and submissions of a class at once."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

from helpers import CORPUS, REFERENCE, TEMPLATE, patched_submission

from grader.checks.registry import select
from grader.classroom import GRADEBOOK, grade_class
from grader.engine import grade_submission
from grader.options import GradingOptions
from grader.runner.sandbox import Limits

# checks of three student modules and the written answers
IDS = {"1a.instance", "1a.dtype", "2a.written", "3.cd_loss", "4.coupling_forward", "4.coupling_inverse"}
OPTIONS = GradingOptions(Limits(memory_mb=2048, time_scale=2), progress=False)


def comparable(run):
    return [(r.id, r.score, r.status, r.output, r.figures) for r in run.results]


def test_parallel_modules_give_the_serial_results(tmp_path):
    submission = patched_submission(tmp_path / "sub", "p1_change_of_variables", CORPUS / "p1a" / "forgets_det.py")
    for name in ("p3_ebm.py", "p4_realnvp.py", "answers.md"):
        shutil.copy(REFERENCE / name, submission / name)
    checks = select(None, IDS)
    serial = grade_submission(submission, tmp_path / "serial", checks, OPTIONS, workers=1)
    parallel = grade_submission(submission, tmp_path / "parallel", checks, OPTIONS, workers=3)
    assert comparable(parallel) == comparable(serial)
    assert [r.id for r in parallel.results] == [c.id for c in checks]  # rubric order, not completion order
    assert serial.results[0].score < 1.5 and {r.id: r.score for r in serial.results}["4.coupling_forward"] == 5


def test_parallel_progress_lines_stay_whole(tmp_path):
    done = subprocess.run([sys.executable, "-m", "grader.cli", str(REFERENCE), "--out", str(tmp_path), "--check", ",".join(sorted(IDS)),
                           "--jobs", "3", "--time-scale", "2"], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == len(IDS)
    for line in lines:
        assert re.fullmatch(r"\[ ?\d/6\] \S+ +(pending|[\d.]+/[\d.]+) +[\d.]+s", line), line
    assert {line.split()[2 if line.startswith("[ ") else 1] for line in lines} == IDS


def test_jobs_two_gives_the_gradebook_of_jobs_one(tmp_path):
    class_dir = tmp_path / "class"
    patched_submission(class_dir / "ann", "p1_change_of_variables", None, also=("answers.md",))
    patched_submission(class_dir / "dan", "p1_change_of_variables", CORPUS / "p1a" / "forgets_det.py")
    shutil.copytree(TEMPLATE, class_dir / "tom", ignore=shutil.ignore_patterns("*.ipynb"))
    (class_dir / "eve").mkdir()
    checks = select(None, {"1a.instance", "1a.dtype", "2a.written"})
    grade_class(class_dir, tmp_path / "one", checks, OPTIONS, jobs=1, progress=False)
    grade_class(class_dir, tmp_path / "two", checks, OPTIONS, jobs=2, progress=False)
    one, two = (tmp_path / "one" / GRADEBOOK).read_text(), (tmp_path / "two" / GRADEBOOK).read_text()
    assert one == two and one.count("\n") == 5


def test_device_choice_and_its_limits():
    import pytest
    import torch

    from grader.devices import DeviceError, device_limits, resolve_device

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA device"):
            resolve_device("cuda")
    base = Limits(memory_mb=4096)
    assert device_limits(base, "cpu", False) == base
    cuda = device_limits(base, "cuda", False)
    assert cuda.memory_mb is None and cuda.startup_s > base.startup_s and cuda.timeout_s == base.timeout_s
    assert device_limits(base, "cuda", True).memory_mb == 4096


def test_default_slots_fit_the_cores_and_memory(monkeypatch):
    from grader import parallel

    monkeypatch.setattr(parallel, "usable_cores", lambda: 16)
    monkeypatch.setattr(parallel, "available_memory_mb", lambda: 4 * parallel.SLOT_MEMORY_MB + 10)
    assert parallel.default_slots() == 4
    monkeypatch.setattr(parallel, "available_memory_mb", lambda: 100)
    assert parallel.default_slots() == 1
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    monkeypatch.setattr(parallel, "available_memory_mb", lambda: None)
    assert parallel.default_slots() == 2
