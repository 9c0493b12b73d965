"""Turn a student's notebook into a module of its definitions, without its training cells.

The rule (stated in the templates' first cell): from every code cell the grader keeps only the
top-level imports, function and class definitions, and assignments of constants (literals,
names, attributes, arithmetic, comprehensions, lambdas, and a few cheap constructors and
queries such as `torch.device(...)`, `torch.tensor(...)`, `torch.cuda.is_available()`). Everything
else (training loops, plotting, `if __name__ == "__main__":` blocks) is left out, so grading
never trains. IPython magics and shell escapes are dropped; a cell that does not parse is
skipped. Every drop that could matter is reported back as a note.
"""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat

CONSTANT_CALLS = frozenset({
    "float", "int", "bool", "str", "tuple", "list", "dict", "set", "range", "slice", "Path", "pathlib.Path",
    "torch.device", "torch.tensor", "torch.Size", "torch.zeros", "torch.ones", "torch.eye", "torch.arange",
    "torch.linspace", "torch.cuda.is_available", "torch.backends.mps.is_available",
    "np.array", "np.zeros", "np.ones", "np.eye", "np.arange", "np.linspace",
    "numpy.array", "numpy.zeros", "numpy.ones", "numpy.eye", "numpy.arange", "numpy.linspace",
})


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_constant(node: ast.AST) -> bool:
    """True if evaluating `node` cannot train or do work: literals, names, cheap constructors,
    comprehensions over those, and lambdas (whose bodies do not run when defined)."""
    if isinstance(node, ast.Lambda):
        return True
    if isinstance(node, ast.Call) and _dotted(node.func) not in CONSTANT_CALLS and not _dotted(node.func).startswith("math."):
        return False
    if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
        return False
    return all(_is_constant(child) for child in ast.iter_child_nodes(node))


def _keep(statement: ast.stmt) -> bool:
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        return statement.value is not None and _is_constant(statement.value)
    if isinstance(statement, ast.Try):  # `try: import x / except ImportError: ...`
        bodies = statement.body + [s for h in statement.handlers for s in h.body] + statement.orelse
        return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass, ast.Assign)) for s in bodies)
    return False


def _strip_magics(source: str) -> tuple[str, int]:
    """Comment out IPython magics (`%`, `%%`) and shell escapes (`!`); return the count."""
    lines, count = [], 0
    for line in source.splitlines():
        if line.lstrip().startswith(("%", "!")):
            lines.append("# (dropped) " + line)
            count += 1
        else:
            lines.append(line)
    return "\n".join(lines), count


def _first_line(statement: ast.stmt) -> int:
    decorators = getattr(statement, "decorator_list", [])
    return min([statement.lineno] + [d.lineno for d in decorators])


def notebook_to_module(path: Path) -> tuple[str, list[str]]:
    """The Python source of `path`'s definitions, and notes on what was left out."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001 - any unreadable notebook becomes an import error
        message = f"{path.name} could not be read as a notebook: {type(error).__name__}: {error}"
        return f"raise ImportError({message!r})\n", [message]
    notes, parts, dropped = [], [], 0
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        source, magics = _strip_magics(cell.source)
        if magics:
            notes.append(f"{path.name}: code cell {number}: dropped {magics} IPython magic/shell line(s)")
        try:
            tree = ast.parse(source)
        except SyntaxError as error:
            notes.append(f"{path.name}: code cell {number} does not parse ({error.msg}, line {error.lineno}); skipped")
            continue
        kept = [s for s in tree.body if _keep(s)]
        dropped += len(tree.body) - len(kept)
        if kept:
            lines = source.splitlines()
            parts.append(f"# --- code cell {number} ---\n" + "\n".join("\n".join(lines[_first_line(s) - 1:s.end_lineno]) for s in kept))
    if dropped:
        notes.append(f"{path.name}: {dropped} top-level statement(s) not run (training, plotting or other work)")
    return "\n\n".join(parts) + "\n", notes
