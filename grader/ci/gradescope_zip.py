"""`grade gradescope-zip`: the autograder zip Gradescope builds its grading image from.

Gradescope unzips it into /autograder/source, runs `setup.sh` once, and runs `run_autograder`
(copied to /autograder) for every submission. The zip holds:

    setup.sh, run_autograder   from grader/ci/templates/
    torch-requirement.txt      torch pinned to the version this zip was built with (CPU wheel index)
    requirements.txt           the grader's other dependencies
    grader/, assets/           the grader and its data, run from /autograder/source
    assets/private_inputs.toml the instructor's private inputs, when given: under assets/, which
                               student code cannot read (the child hides grader/ and assets/)
"""
from __future__ import annotations

import re
import tomllib
import zipfile
from importlib import metadata
from importlib.resources import files
from pathlib import Path

import assets
import grader
from grader.private import BUNDLED_FILE, load_private_inputs

DISTRIBUTION = "ps4-autograder"
_STAMP = (2020, 1, 1, 0, 0, 0)  # fixed timestamps: the same inputs give the same zip


def requirements() -> list[str]:
    """The grader's dependencies except torch (installed first, from the CPU index)."""
    pyproject = Path(grader.__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():  # a checkout: its pyproject.toml is the truth
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    else:
        deps = [r for r in metadata.requires(DISTRIBUTION) or [] if "extra ==" not in r]
    return [d for d in deps if re.match(r"[A-Za-z0-9._-]+", d)[0].lower() != "torch"]


def torch_requirement() -> str:
    return f"torch=={metadata.version('torch').split('+')[0]}"


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, _STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    archive.writestr(info, data)


def _package_files(package_dir: Path) -> list[Path]:
    return sorted(p for p in package_dir.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def build_zip(out: Path, private: Path | None = None) -> list[str]:
    """Write the autograder zip to `out`; the names it holds. A bad private file fails here, not on Gradescope."""
    if private is not None:
        load_private_inputs(private)
    templates = files("grader.ci") / "templates"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        _add(archive, "setup.sh", (templates / "setup.sh").read_bytes(), executable=True)
        _add(archive, "run_autograder", (templates / "run_autograder").read_bytes(), executable=True)
        _add(archive, "torch-requirement.txt", (torch_requirement() + "\n").encode())
        _add(archive, "requirements.txt", ("\n".join(requirements()) + "\n").encode())
        for package in (grader, assets):
            root = Path(package.__file__).resolve().parent
            for path in _package_files(root):
                _add(archive, f"{root.name}/{path.relative_to(root).as_posix()}", path.read_bytes())
        if private is not None:
            _add(archive, BUNDLED_FILE.as_posix(), private.read_bytes())
        return archive.namelist()
