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
