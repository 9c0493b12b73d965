"""The grader installed as it is deployed, for the tests that grade from it (tests/test_deployment.py).

`deployed_environment()` is a virtual environment made from the system's Python
(`/usr/bin/python3`, as Gradescope's setup.sh makes it on Ubuntu) with torch at this checkout's
version, the grader's dependencies, and the grader itself installed from a wheel built from this
checkout. It lives outside /root and outside the checkout, so a child runs exactly as it would
on Gradescope: without the read capability a Python under /root needs (which hides permission
faults), and with torch in the same site directory as the grader (which a wheel install has and
an editable checkout does not). The environment is kept between runs in /var/tmp, keyed by what
it holds; the wheel is rebuilt and reinstalled once per test run (all pytest-xdist workers of a run share it).
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from helpers import ROOT

SYSTEM_PYTHON = Path("/usr/bin/python3")
CACHE = Path("/var/tmp/ps4-autograder-deployed")
INSTALL_TIMEOUT_S = 1200


def system_python() -> str:
    """The system's Python 3.11+ (what Gradescope's image has), else the one running the tests."""
    if SYSTEM_PYTHON.exists():
        version = subprocess.run([str(SYSTEM_PYTHON), "-c", "import sys, venv; print(sys.version_info >= (3, 11))"],
                                 capture_output=True, text=True, check=False)
        if version.stdout.strip() == "True":
            return str(SYSTEM_PYTHON)
    return sys.executable


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT_S)
    assert done.returncode == 0, f"pip install {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


def build_wheel(folder: Path) -> Path:
    """The grader's wheel, built from this checkout into `folder` (what `pip install git+URL` builds)."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(ROOT),
                           "-w", str(folder)], capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = folder.glob("ps4_autograder-*.whl")
    return wheel


@functools.lru_cache(maxsize=1)
def deployed_environment() -> Path:
    """A virtual environment (see the module's docstring) with the grader's wheel installed; its folder."""
    python = system_python()
    torch = f"torch=={metadata.version('torch').split('+')[0]}"
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    key = hashlib.sha256(repr((python, sys.version_info[:2], torch, sorted(dependencies))).encode()).hexdigest()[:12]
    venv = CACHE / key
    ready = venv / ".ready"
    CACHE.mkdir(mode=0o755, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # pytest-xdist's workers share the environment: one builds, one installs
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            done = subprocess.run([python, "-m", "venv", "--clear", str(venv)], capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
            _pip(venv / "bin" / "python", torch, *dependencies)
            ready.touch()
        run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"process {os.getpid()}"  # one id for all workers of a run
        installed = venv / ".installed-for"
        if not installed.exists() or installed.read_text() != run:  # never under a worker that is grading from it
            with tempfile.TemporaryDirectory(prefix="ps4-wheel-") as folder:
                _pip(venv / "bin" / "python", "--no-deps", "--force-reinstall", str(build_wheel(Path(folder))))
            installed.write_text(run)
    os.chmod(venv, 0o755)
    return venv
