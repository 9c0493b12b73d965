"""Same grade wherever it is installed and run (SPEC: "Same grade wherever it runs").

Each test deploys the grader as a user would — a wheel in a fresh virtual environment made from
the system's Python (tests/deploy.py), the Gradescope zip run by `run_autograder` as root with
default settings, an unprivileged user, a newcomer's `.venv` inside the checkout — and asserts
the reference scores every auto-graded point and the template none, check by check.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy import deployed_environment
from helpers import REFERENCE, ROOT, TEMPLATE

from grader.checks.registry import all_checks

pytestmark = pytest.mark.slow
AUTO_CHECKS = {c.id: c.points for c in all_checks() if c.module is not None}  # the written ones await a person
NOBODY = 65534


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A world-readable folder outside pytest's tmp tree (whose `*current` links Landlock would follow)."""
    folder = Path(tempfile.mkdtemp(prefix="ps4-deploy-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def auto_scores(results: dict) -> dict[str, float]:
    """check id -> score, for the checks that run student code, from a results.json."""
    return {t["extra_data"]["check_id"]: t["score"] for t in results["tests"] if t["extra_data"].get("check_id") in AUTO_CHECKS}


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900, **kwargs)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def test_gradescope_as_root_with_default_settings_grades_a_repository_upload_in_full(scratch):
    """The zip built by the installed wheel, setup.sh's environment, parallel modules, a repository-style upload."""
    grade = deployed_environment() / "bin" / "grade"
    run([str(grade), "gradescope-zip", "--out", str(scratch / "autograder.zip")])
    root = scratch / "autograder"
    with zipfile.ZipFile(scratch / "autograder.zip") as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    upload = root / "submission" / "ps4-student-repo"  # a repository: the work in a folder beside others
    shutil.copytree(REFERENCE, upload / "hw4", ignore=shutil.ignore_patterns("figures", "__pycache__", "*.py[co]"))
    (upload / "figures").mkdir()
    (upload / "figures" / "moons.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (upload / "README.md").write_text("# my homework\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "AUTOGRADER_ROOT": str(root),
           "AUTOGRADER_PYTHON": str(deployed_environment() / "bin" / "python")}
    run([str(root / "run_autograder")], cwd=root, env=env)
    results = json.loads((root / "results" / "results.json").read_text())
    assert auto_scores(results) == AUTO_CHECKS, results["output"]
    assert "graded the files in ps4-student-repo/hw4/" in results["output"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root")
def test_an_unprivileged_user_gets_the_scores_root_gets_from_the_wheel(scratch):
    """Root's grade is the Gradescope test's above (the reference in full) and the template's below. As nobody, the
    reference is graded on each module's quick checks and the checkpoint (a file the child reads), not the trainings."""
    grade = str(deployed_environment() / "bin" / "grade")
    for name, folder in (("reference", REFERENCE), ("template", TEMPLATE)):
        shutil.copytree(folder, scratch / name, ignore=shutil.ignore_patterns("figures", "__pycache__", ".github"))
    home = scratch / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    as_nobody = {"user": NOBODY, "group": NOBODY, "extra_groups": [], "cwd": home,
                 "env": {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}}
    quick = {c: points for c, points in AUTO_CHECKS.items() if c.startswith("1")
             or c in {"3.sgld_step", "3.checkpoint", "4.coupling_forward", "4.coupling_inverse"}}
    scores = {}
    for name, who, extra in (("reference", "nobody", as_nobody), ("template", "nobody", as_nobody), ("template", "root", {"cwd": scratch})):
        out = (home if who == "nobody" else scratch) / f"out-{name}-{who}"
        chosen = ["--check", ",".join(quick)] if name == "reference" else []
        run([grade, str(scratch / name), "--out", str(out), "--quiet", *chosen], **extra)
        scores[name, who] = auto_scores(json.loads((out / "results.json").read_text()))
    assert scores["reference", "nobody"] == quick
    assert scores["template", "root"] == scores["template", "nobody"] == dict.fromkeys(AUTO_CHECKS, 0)


def test_the_isolation_tests_pass_with_the_environment_inside_the_checkout(scratch):
    """A newcomer's `python -m venv .venv` in the clone, then the README's install and the isolation tests."""
    checkout = scratch / "ps4-autograder"
    files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    run([sys.executable, "-m", "venv", "--system-site-packages", str(checkout / ".venv")])  # torch from this Python: no download
    python = str(checkout / ".venv" / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(checkout)])
    # torch comes from this Python here (no download), but a newcomer's lives in .venv: the child must import from it
    probe = "import os, site; from grader.runner.sandbox import child_sys_path; print(all(os.path.realpath(p) in child_sys_path() for p in site.getsitepackages()))"
    assert run([python, "-c", probe], cwd=checkout).stdout.strip() == "True"
    done = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_isolation.py"], cwd=checkout)
    assert " passed" in done.stdout and "failed" not in done.stdout
