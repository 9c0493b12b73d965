"""A notebook grades exactly like the .py it was made from; training cells never run."""
from __future__ import annotations

import ast
import shutil
import time

import nbformat
from helpers import CORPUS, REFERENCE, TEMPLATE, grade

from grader.notebooks import notebook_to_module

P1 = "p1_change_of_variables"
P1_IDS = {"1a.instance", "1a.dtype", "1a.normalised"}


def notebook_from_module(source: str, extra_cells: list[str] = ()) -> nbformat.NotebookNode:
    """One code cell per top-level statement of `source` (a student's notebook, roughly), then `extra_cells`."""
    lines = source.splitlines()
    tree = ast.parse(source)
    cells = []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        cells.append(nbformat.v4.new_code_cell("\n".join(lines[start - 1:node.end_lineno])))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Problem 1")] + cells + [nbformat.v4.new_code_cell(c) for c in extra_cells]
    return notebook


TRAINING_CELL = "import time\nfor epoch in range(100):\n    time.sleep(3600)\nresult = train_forever()"


def test_notebook_and_script_get_the_same_scores(tmp_path):
    script_dir, notebook_dir = tmp_path / "script", tmp_path / "notebook"
    script_dir.mkdir(), notebook_dir.mkdir()
    source = (REFERENCE / f"{P1}.py").read_text()
    (script_dir / f"{P1}.py").write_text(source)
    nbformat.write(notebook_from_module(source, ["%matplotlib inline\n!pip install nothing", TRAINING_CELL]), notebook_dir / f"{P1}.ipynb")
    started = time.monotonic()
    from_notebook = grade(notebook_dir, tmp_path / "out-nb", ids=P1_IDS)
    assert time.monotonic() - started < 60  # the hour-long training cell never ran
    from_script = grade(script_dir, tmp_path / "out-py", ids=P1_IDS)
    assert [(r.id, r.score) for r in from_notebook.results] == [(r.id, r.score) for r in from_script.results]
    assert from_notebook.score == from_notebook.max_score
    notes = "\n".join(from_notebook.notes)
    assert f"graded {P1}.ipynb" in notes and "dropped 2 IPython magic/shell line(s)" in notes and "not run" in notes


def test_a_cell_that_does_not_parse_costs_only_what_depends_on_it(tmp_path):
    notebook = notebook_from_module((REFERENCE / f"{P1}.py").read_text())
    for cell in notebook.cells:
        cell.source = cell.source.replace("def density_linear(", "def density_linear(((", 1)
    nbformat.write(notebook, tmp_path / f"{P1}.ipynb")
    run = grade(tmp_path, tmp_path / "out", ids=P1_IDS)
    assert all(r.score == 0 for r in run.results)
    assert all("density_linear" in r.output for r in run.results)  # missing function, not a failed import
    assert any("does not parse" in note for note in run.notes)


def test_both_files_present_grades_the_script_and_says_so(tmp_path):
    source = (REFERENCE / f"{P1}.py").read_text()
    (tmp_path / f"{P1}.py").write_text(source)
    nbformat.write(notebook_from_module("raise SystemExit('wrong file graded')"), tmp_path / f"{P1}.ipynb")
    run = grade(tmp_path, tmp_path / "out", ids={"1a.dtype"})
    assert run.score == 0.5
    assert any(f"both {P1}.py and {P1}.ipynb were handed in; graded {P1}.py (both differ from the template" in note for note in run.notes)


P4 = "p4_realnvp"
P4_IDS = {"4.coupling_forward", "4.coupling_inverse"}


def test_a_completed_notebook_beside_the_untouched_stub_is_graded(tmp_path):
    shutil.copy(TEMPLATE / f"{P4}.py", tmp_path)  # the student worked in the notebook only
    nbformat.write(notebook_from_module((REFERENCE / f"{P4}.py").read_text(), [TRAINING_CELL]), tmp_path / f"{P4}.ipynb")
    run = grade(tmp_path, tmp_path / "out", ids=P4_IDS)
    assert run.score == run.max_score == 10
    assert any(f"graded {P4}.ipynb ({P4}.py is the template's)" in note for note in run.notes)
    assert f"{P4}: graded {P4}.ipynb" in run.notes


def test_the_shipped_notebook_beside_a_completed_script_leaves_the_script_graded(tmp_path):
    shutil.copy(REFERENCE / f"{P4}.py", tmp_path)
    notebook = nbformat.read(TEMPLATE / f"{P4}.ipynb", as_version=4)  # opened and run in Jupyter, never filled in
    for count, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
        cell.outputs = [nbformat.v4.new_output("stream", text="NotImplementedError\n")]
    notebook.metadata["language_info"] = {"name": "python", "version": "3.12.1"}
    nbformat.write(notebook, tmp_path / f"{P4}.ipynb")
    run = grade(tmp_path, tmp_path / "out", ids=P4_IDS)
    assert run.score == 10
    assert any(f"graded {P4}.py (the notebook is the template's)" in note for note in run.notes)


def test_extraction_rule_keeps_definitions_and_constants_only(tmp_path):
    cells = ["import torch\nDEVICE = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\nSTEPS = 2 * 100\nmodel = train(STEPS)",
             "MASKS = [torch.tensor([i % 2, 1 - i % 2]) for i in range(4)]\nswish = lambda x: x * torch.sigmoid(x)\nlosses = [train(i) for i in range(3)]",
             "@torch.no_grad()\ndef f(x):\n    return x\n\nclass Net(torch.nn.Module):\n    pass",
             "if __name__ == '__main__':\n    train()",
             "history = [step(i) for i in range(10)]"]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    code, notes = notebook_to_module(tmp_path / "nb.ipynb")
    kept = ast.parse(code)
    names = [type(n).__name__ for n in kept.body]
    assert names == ["Import", "Assign", "Assign", "Assign", "Assign", "FunctionDef", "ClassDef"]
    assert "@torch.no_grad()" in code and "train(" not in code and "step(" not in code
    assert any("4 top-level statement(s) not run" in n for n in notes)


def test_unreadable_notebook_is_reported_as_an_import_failure(tmp_path):
    (tmp_path / f"{P1}.ipynb").write_text("{ this is not json")
    run = grade(tmp_path, tmp_path / "out", ids={"1a.dtype"})
    assert run.score == 0 and "could not be read as a notebook" in run.results[0].output


def test_problem3_notebook_grades_like_its_script(tmp_path):
    """The EBM module as a notebook whose last cells train and sample for ages: same scores, normal time."""
    module, ids = "p3_ebm", {"3.sgld_step", "3.buffer", "3.cd_loss"}
    script_dir, notebook_dir = tmp_path / "script", tmp_path / "notebook"
    script_dir.mkdir(), notebook_dir.mkdir()
    source = (REFERENCE / f"{module}.py").read_text()
    (script_dir / f"{module}.py").write_text(source)
    training = "model = train_ebm(torch.rand(10_000, 1, 28, 28) * 2 - 1, n_iters=10**9)\ntorch.save(model.state_dict(), 'p3_energy.pt')"
    nbformat.write(notebook_from_module(source, [training, TRAINING_CELL]), notebook_dir / f"{module}.ipynb")
    started = time.monotonic()
    from_notebook = grade(notebook_dir, tmp_path / "out-nb", ids=ids)
    assert time.monotonic() - started < 120
    from_script = grade(script_dir, tmp_path / "out-py", ids=ids)
    assert [(r.id, r.score) for r in from_notebook.results] == [(r.id, r.score) for r in from_script.results]
    assert from_notebook.score == from_notebook.max_score


def test_problem4_notebook_grades_like_its_script(tmp_path):
    module, ids = "p4_realnvp", {"4.coupling_forward", "4.coupling_inverse", "4.coupling_jacobian", "4.sample"}
    script_dir, notebook_dir = tmp_path / "script", tmp_path / "notebook"
    script_dir.mkdir(), notebook_dir.mkdir()
    source = (REFERENCE / f"{module}.py").read_text()
    (script_dir / f"{module}.py").write_text(source)
    training = "model = train_realnvp(torch.randn(20_000, 2), n_steps=10**9)\nprint(model.log_prob(torch.zeros(1, 2)))"
    nbformat.write(notebook_from_module(source, [training]), notebook_dir / f"{module}.ipynb")
    from_notebook = grade(notebook_dir, tmp_path / "out-nb", ids=ids)
    from_script = grade(script_dir, tmp_path / "out-py", ids=ids)
    assert [(r.id, r.score) for r in from_notebook.results] == [(r.id, r.score) for r in from_script.results]
    assert from_notebook.score == from_notebook.max_score


HOSTILE_CELLS = CORPUS / "hostile" / "notebooks"


def test_kept_statements_are_cut_by_their_spans_not_by_lines(tmp_path):
    cells = ["x = 1; train()",
             "import os; import math; os.system('echo hi')",
             's = "é ü"; train()',
             "Y = [1,\n     2]; train(); Z = 3",
             "@decorate(1)\ndef f(): return 1; train()",
             "class A: pass; train()"]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    code, notes = notebook_to_module(tmp_path / "nb.ipynb")
    kept = [line for line in code.splitlines() if not line.startswith("#") and line]
    assert kept == ["x = 1", "import os", "import math", 's = "é ü"', "Y = [1,", "     2]", "Z = 3",
                    "@decorate(1)", "def f(): return 1; train()", "class A: pass; train()"]
    assert any("4 top-level statement(s) not run (training, plotting or other work), in code cell(s) 1, 2, 3, 4" in n for n in notes)


def test_statements_after_a_semicolon_on_a_kept_line_do_not_run(tmp_path):
    """Each corpus cell would raise SystemExit at import if a statement after `;` ran."""
    source = (REFERENCE / f"{P1}.py").read_text()
    cells = [(HOSTILE_CELLS / name).read_text() for name in ("semicolon_after_kept_line.py", "def_then_semicolon.py")]
    notebook = notebook_from_module(source, cells)
    nbformat.write(notebook, tmp_path / f"{P1}.ipynb")
    run = grade(tmp_path, tmp_path / "out", ids={"1a.dtype"})
    assert run.score == 0.5, run.results[0].output
    nbformat.write(notebook_from_module(source), tmp_path / "plain.ipynb")
    before = int(notebook_to_module(tmp_path / "plain.ipynb")[1][-1].split(": ")[1].split()[0])  # the reference's own drops
    code_cells = len([c for c in notebook.cells if c.cell_type == "code"])
    note = next(n for n in run.notes if "not run" in n)
    assert note.startswith(f"{P1}.ipynb: {before + 3} top-level statement(s) not run") and note.endswith(f", {code_cells - 1}, {code_cells}")


def test_a_deeply_nested_cell_is_a_note_not_a_crash(tmp_path, monkeypatch):
    """Deep expressions raise RecursionError or MemoryError in Python's own parser and compiler. (Rendering this page
    runs into its time limit, then falls back to plain text: a shorter limit keeps the test quick.)"""
    from grader import notebook_html  # noqa: PLC0415

    monkeypatch.setattr(notebook_html, "RENDER_SECONDS", 5.0)
    source = (REFERENCE / f"{P1}.py").read_text()
    deep = ["X = " + "+".join(["1"] * 100_000), "Y = " + "-" * 100_000 + "1", "W = a" + ".b" * 100_000]
    nbformat.write(notebook_from_module(source, deep), tmp_path / f"{P1}.ipynb")
    run = grade(tmp_path, tmp_path / "out", ids={"1a.dtype"})
    assert run.score == 0.5
    assert len([n for n in run.notes if "is too deeply nested or too large to analyse" in n]) == 3


def test_a_notebook_over_the_cap_is_never_parsed(tmp_path):
    """A 40 MB notebook costs its own module only (with the reason); the parent never reads it."""
    source = (REFERENCE / "p4_realnvp.py").read_text()
    notebook = notebook_from_module(source)
    notebook.cells.append(nbformat.v4.new_markdown_cell("x" * (40 * 2**20)))
    nbformat.write(notebook, tmp_path / "p4_realnvp.ipynb")
    shutil.copy(REFERENCE / f"{P1}.py", tmp_path)
    run = grade(tmp_path, tmp_path / "out", ids={"1a.dtype", "4.coupling_forward"})
    results = {r.id: r for r in run.results}
    assert results["1a.dtype"].score == 0.5 and results["4.coupling_forward"].score == 0
    assert "is not in the submission" in results["4.coupling_forward"].output
    assert any(n.startswith("p4_realnvp.ipynb is 40.0 MB, over the 16 MB cap; ignored") for n in run.notes)


def test_notebook_that_is_not_a_notebook_object(tmp_path):
    for text in ("[1, 2, 3]", '{"nbformat": 4, "cells": [{"cell_type": "code", "source": 7}]}', "[" * 100_000 + "]" * 100_000):
        (tmp_path / "nb.ipynb").write_text(text)
        code, notes = notebook_to_module(tmp_path / "nb.ipynb")
        assert code.startswith("raise ImportError(") and "could not be read as a notebook" in notes[0]


def test_a_try_block_is_kept_only_if_everything_in_it_is(tmp_path):
    cells = ["try:\n    import scipy\nexcept ImportError:\n    scipy = None",
             "try:\n    import torch\nexcept ImportError:\n    pass\nelse:\n    model = train()"]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    code, notes = notebook_to_module(tmp_path / "nb.ipynb")
    assert "scipy = None" in code and "train(" not in code
    assert any("1 top-level statement(s) not run" in n and n.endswith("code cell(s) 2") for n in notes)
