"""The grading workflow of students' repositories, and `grade init-ci`, which writes it.

`templates/grade.yml` is the one source; `student_template/.github/workflows/grade.yml` is its
rendering with the defaults (a test keeps the two equal). The instructor's two settings are
plain `env` lines of the workflow, so they can also be edited by hand.
"""
from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

WORKFLOW_PATH = Path(".github/workflows/grade.yml")
SETTINGS = {"grader": "GRADER_PACKAGE", "fail_under": "FAIL_UNDER"}  # argument -> env line of the workflow


def template() -> str:
    """The workflow with its default settings."""
    return (files("grader.ci") / "templates" / "grade.yml").read_text()


def render_workflow(grader: str | None = None, fail_under: float | None = None) -> str:
    """The workflow with the given settings (None keeps the default).

    `grader` is a pip requirement for the pinned grader, e.g.
    "ps4-autograder @ git+https://github.com/COURSE/ps4-autograder@v1.0" or a wheel's URL.
    """
    text = template()
    for key, value in {"grader": grader, "fail_under": None if fail_under is None else f"{fail_under:g}"}.items():
        if value is None:
            continue
        pattern = re.compile(rf"^(  {SETTINGS[key]}: )\"[^\"\n]*\"", re.MULTILINE)
        quoted = json.dumps(value)  # a JSON string is a YAML string
        text, count = pattern.subn(lambda m, quoted=quoted: m[1] + quoted, text, count=1)
        if count != 1:
            raise ValueError(f"the workflow template has no {SETTINGS[key]} line")
    return text


def init_ci(repo: Path, grader: str, fail_under: float = 0.0, force: bool = False) -> Path:
    """Write the grading workflow into `repo` (a student repository or the template folder)."""
    if not repo.is_dir():
        raise FileNotFoundError(f"{repo} is not a folder")
    path = repo / WORKFLOW_PATH
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_workflow(grader, fail_under))
    return path
