"""The student notebooks are generated from their percent-format templates and must not drift."""
from __future__ import annotations

import nbformat
import pytest

from tools.build_notebooks import NOTEBOOK_SOURCES, build_notebook, render


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.name)
def test_committed_notebook_matches_its_template(source):
    notebook = source.with_suffix(".ipynb")
    assert notebook.read_text() == render(source), f"run: python tools/build_notebooks.py ({notebook.name} is stale)"


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.name)
def test_notebook_is_valid_and_starts_with_the_grading_rule(source):
    notebook = build_notebook(source)
    nbformat.validate(notebook)
    first_markdown = next(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "__main__" in first_markdown and "definitions" in first_markdown


def test_shipped_template_fingerprints_match_the_template():
    """The grader (installed without student_template/) tells an untouched file by these fingerprints."""
    from helpers import TEMPLATE

    from grader.template import compute_fingerprints, template_fingerprints

    assert template_fingerprints() == compute_fingerprints(TEMPLATE), "run: python -m grader.template student_template/"


def test_an_untouched_template_is_told_from_work_whatever_the_editor_did(tmp_path):
    import shutil

    from helpers import REFERENCE, TEMPLATE

    from grader.template import is_untouched_template

    same = shutil.copytree(TEMPLATE, tmp_path / "repo" / "hw4")  # in a subfolder, as a repository holds it
    p1 = same / "p1_change_of_variables.py"
    p1.write_bytes(p1.read_bytes().replace(b"\n", b"   \r\n"))  # CRLF and trailing spaces
    notebook = nbformat.read(TEMPLATE / "p3_ebm.ipynb", as_version=4)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, same / "p3_ebm.ipynb")  # opened and saved in Jupyter
    assert is_untouched_template(tmp_path / "repo")
    (same / "answers.md").write_text((TEMPLATE / "answers.md").read_text() + "\nmy answer\n")
    assert not is_untouched_template(tmp_path / "repo")
    assert not is_untouched_template(REFERENCE) and not is_untouched_template(tmp_path / "missing")
