"""Whether a handed-in file (or a whole submission) is still the shipped template, by a fingerprint of what is graded.

A module's fingerprint is that of the code the child would import: the `.py` as handed in, or
the definitions the grader keeps from a notebook (`grader.notebooks`), so opening, running or
re-saving a notebook (outputs, execution counts, metadata) does not count as work. Lines are
compared without trailing spaces, line-ending differences or blank lines.

The shipped template's fingerprints live in `assets/template_fingerprints.json` (the grader is
installed without `student_template/`); regenerate them after editing the template with

    python -m grader.template student_template/
"""
from __future__ import annotations

import functools
import hashlib
import json
import sys
from importlib.resources import files
from pathlib import Path

FINGERPRINTS_FILE = "template_fingerprints.json"


def fingerprint(code: str) -> str:
    """A digest of `code`'s non-blank lines, trailing spaces and line endings ignored."""
    lines = [line.rstrip() for line in code.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return hashlib.sha256("\n".join(line for line in lines if line).encode("utf-8", "replace")).hexdigest()


@functools.lru_cache(maxsize=1)
def template_fingerprints() -> dict[str, str]:
    """File name (`p3_ebm.py`, `p3_ebm.ipynb`, `answers.md`, ...) -> the shipped template's fingerprint."""
    return json.loads((files("assets") / FINGERPRINTS_FILE).read_text())


def is_template(file_name: str, graded_code: str) -> bool:
    """True if `graded_code` (a module's text, or the code kept from a notebook) is the template's `file_name`."""
    return template_fingerprints().get(file_name) == fingerprint(graded_code)


def is_untouched_template(folder: Path) -> bool:
    """True when the work folder under `folder` (`grader.layout`) holds expected files and each is the template's.

    Used to flag "no work" on the class page. Links, unreadable and oversized files count as
    changed; `p3_energy.pt` is not part of the template and so counts as work.
    """
    from grader.layout import EXPECTED, find_work_folder  # noqa: PLC0415
    from grader.notebooks import NOTEBOOK_BYTES, notebook_to_module  # noqa: PLC0415

    work = find_work_folder(folder) if folder.is_dir() and not folder.is_symlink() else None
    if work is None:
        return False
    root = folder.joinpath(*work.parts)
    for name in sorted(EXPECTED, key=lambda n: (n.endswith(".ipynb"), n)):  # notebooks last: each is a parsing process
        path = root / name
        if not (path.exists() or path.is_symlink()):
            continue
        if path.is_symlink() or not path.is_file() or path.stat().st_size > NOTEBOOK_BYTES:
            return False
        code = notebook_to_module(path)[0] if name.endswith(".ipynb") else path.read_text(encoding="utf-8", errors="replace")
        if not is_template(name, code):
            return False
    return True


def compute_fingerprints(folder: Path) -> dict[str, str]:
    """The fingerprints of a template folder's modules, notebooks and answers sheet."""
    from grader.notebooks import notebook_to_module  # noqa: PLC0415 - a parsing process, only for notebooks

    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in (".py", ".md"):
            found[path.name] = fingerprint(path.read_text(encoding="utf-8"))
        elif path.suffix == ".ipynb":
            found[path.name] = fingerprint(notebook_to_module(path)[0])
    return found


def main(argv: list[str]) -> None:
    folder = Path(argv[0]) if argv else Path("student_template")
    target = Path(str(files("assets"))) / FINGERPRINTS_FILE
    target.write_text(json.dumps(compute_fingerprints(folder), indent=2, sort_keys=True) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
