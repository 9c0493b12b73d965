"""Build the student notebooks from their single source, the percent-format `.py` templates.

A template such as `student_template/p4_realnvp.py` is plain Python split into cells by
`# %%` lines; `# %% [markdown]` starts a markdown cell whose lines are `# `-commented text.
The notebook `student_template/p4_realnvp.ipynb` is generated from it, so the two cannot drift
(`tests/test_notebooks_in_sync.py` rebuilds and compares).

    python tools/build_notebooks.py          # rewrite the notebooks
    python tools/build_notebooks.py --check  # exit 1 if a notebook is out of date
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_SOURCES = [ROOT / "student_template" / "p3_ebm.py", ROOT / "student_template" / "p4_realnvp.py"]
CELL_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?\s*$")


def _cells(source: str) -> list[tuple[str, str]]:
    """Split percent-format source into (kind, text) cells; text before the first marker is a code cell."""
    cells: list[tuple[str, list[str]]] = [("code", [])]
    for line in source.splitlines():
        marker = CELL_MARKER.match(line)
        if marker:
            cells.append(("markdown" if marker.group("markdown") else "code", []))
        else:
            cells[-1][1].append(line)
    result = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [re.sub(r"^# ?", "", ln) for ln in lines]
        text = "\n".join(lines).strip("\n")
        if text:
            result.append((kind, text))
    return result


def build_notebook(py_path: Path) -> nbformat.NotebookNode:
    """The notebook for one percent-format template."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text in _cells(py_path.read_text()):
        new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(new(text))
    for index, cell in enumerate(nb.cells):  # stable ids keep rebuilds byte-identical
        cell["id"] = f"{py_path.stem}-{index}"
    return nb


def render(py_path: Path) -> str:
    return nbformat.writes(build_notebook(py_path)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    args = parser.parse_args(argv)
    stale = []
    for py_path in NOTEBOOK_SOURCES:
        if not py_path.exists():
            continue
        ipynb = py_path.with_suffix(".ipynb")
        text = render(py_path)
        if args.check:
            if not ipynb.exists() or ipynb.read_text() != text:
                stale.append(ipynb)
        else:
            ipynb.write_text(text)
            print(f"wrote {ipynb.relative_to(ROOT)}")
    for path in stale:
        print(f"out of date: {path.relative_to(ROOT)} (run python tools/build_notebooks.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
