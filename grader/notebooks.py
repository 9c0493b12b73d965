"""Turn a student's notebook into a module of its definitions, without its training cells.

The rule (stated in the templates' first cell): from every code cell the grader keeps only the
top-level imports, function and class definitions, and assignments of constants (literals,
names, attributes, arithmetic, comprehensions, lambdas, and a few cheap constructors and
queries such as `torch.device(...)`, `torch.tensor(...)`, `torch.cuda.is_available()`). Everything
else (training loops, plotting, `if __name__ == "__main__":` blocks) is left out, so grading
never trains. IPython magics and shell escapes are dropped; a cell that does not parse is
skipped. Every drop that could matter is reported back as a note.

Kept statements are cut out by their AST spans (line and column of start and end), never by
whole lines: in `x = 1; train()` only `x = 1` is kept. A notebook is untrusted data, so it is
size-capped (`NOTEBOOK_BYTES`) before it is read and parsed in a short-lived process of the
grader's own (`grader.bounded`; no student code runs there) under a memory and time limit
(`PARSE_MEMORY_BYTES`, `PARSE_SECONDS`): a 16 MB cell, a RecursionError or a MemoryError costs
that module, never the run.
"""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from grader.bounded import run_bounded

NOTEBOOK_BYTES = 16 * 2**20  # larger notebooks are not read at all (staging enforces it too)
PARSE_SECONDS = 30.0  # wall-clock limit of the parsing process (CPU limit: the same)
PARSE_MEMORY_BYTES = 1 * 2**30  # address-space limit of the parsing process (Linux)
MAX_NOTED_CELLS = 20  # cells listed by number in one note

CONSTANT_CALLS = frozenset({
    "float", "int", "bool", "str", "tuple", "list", "dict", "set", "range", "slice", "Path", "pathlib.Path",
    "torch.device", "torch.tensor", "torch.Size", "torch.zeros", "torch.ones", "torch.eye", "torch.arange",
    "torch.linspace", "torch.cuda.is_available", "torch.backends.mps.is_available",
    "np.array", "np.zeros", "np.ones", "np.eye", "np.arange", "np.linspace",
    "numpy.array", "numpy.zeros", "numpy.ones", "numpy.eye", "numpy.arange", "numpy.linspace",
})


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def _is_constant(node: ast.AST) -> bool:
    """True if evaluating `node` cannot train or do work: literals, names, cheap constructors,
    comprehensions over those, and lambdas (whose bodies do not run when defined). Iterative,
    so a deeply nested expression cannot exhaust the stack."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda):
            continue
        if isinstance(current, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        if isinstance(current, ast.Call):
            name = _dotted(current.func)
            if name not in CONSTANT_CALLS and not name.startswith("math."):
                return False
        stack.extend(ast.iter_child_nodes(current))
    return True


def _keep(statement: ast.stmt) -> bool:
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        return statement.value is not None and _is_constant(statement.value)
    if isinstance(statement, ast.Try):  # `try: import x / except ImportError: ...`
        bodies = statement.body + [s for h in statement.handlers for s in h.body] + statement.orelse
        return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) or (isinstance(s, ast.Assign) and _is_constant(s.value))
                   for s in bodies)
    return False


def _strip_magics(source: str) -> tuple[str, int]:
    """Comment out IPython magics (`%`, `%%`) and shell escapes (`!`); return the count.
    Line endings are normalised to `\\n` first, so lines here are the parser's lines."""
    lines, count = [], 0
    for line in source.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.lstrip().startswith(("%", "!")):
            lines.append("# (dropped) " + line)
            count += 1
        else:
            lines.append(line)
    return "\n".join(lines), count


def _span(lines: list[bytes], statement: ast.stmt) -> str:
    """The exact source of `statement` (with its decorators) from the cell's UTF-8 `lines`:
    AST columns are byte offsets, so `x = 1; train()` gives `x = 1`."""
    decorators = getattr(statement, "decorator_list", [])
    if decorators:  # a decorated definition starts at the `@` of its first decorator, at column 0
        start_line, start_col = min(d.lineno for d in decorators), 0
    else:
        start_line, start_col = statement.lineno, statement.col_offset
    end_line, end_col = statement.end_lineno, statement.end_col_offset
    if start_line == end_line:
        return lines[start_line - 1][start_col:end_col].decode("utf-8")
    middle = lines[start_line:end_line - 1]
    return b"\n".join([lines[start_line - 1][start_col:], *middle, lines[end_line - 1][:end_col]]).decode("utf-8")


def _kept_source(source: str, tree: ast.Module) -> tuple[list[str], int]:
    """The source of each kept top-level statement, and how many were dropped. Each cut is parsed
    again and must be exactly the statement it came from, so a note never claims too little ran."""
    lines = source.encode("utf-8").split(b"\n")
    kept, dropped = [], 0
    for statement in tree.body:
        if not _keep(statement):
            dropped += 1
            continue
        text = _span(lines, statement)
        again = ast.parse(text).body
        if len(again) != 1 or type(again[0]) is not type(statement):
            dropped += 1
            continue
        kept.append(text)
    return kept, dropped


def convert(text: str, name: str) -> tuple[str, list[str]]:
    """The Python source of the notebook `text`'s definitions, and notes on what was left out.

    Runs in the parsing process (see `notebook_to_module`); `name` is the notebook's file name.
    """
    try:
        sources = _code_cells(text)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, MemoryError) as error:
        return _unreadable(name, f"{type(error).__name__}: {str(error)[:200]}")
    notes, parts, dropped_cells, dropped = [], [], [], 0
    for number, raw in enumerate(sources, start=1):
        try:
            source, magics = _strip_magics(raw)
            if magics:
                notes.append(f"{name}: code cell {number}: dropped {magics} IPython magic/shell line(s)")
            tree = ast.parse(source)
            kept, dropped_here = _kept_source(source, tree)
        except SyntaxError as error:
            notes.append(f"{name}: code cell {number} does not parse ({str(error.msg)[:100]}, line {error.lineno}); skipped")
            continue
        except (RecursionError, MemoryError, ValueError) as error:
            notes.append(f"{name}: code cell {number} is too deeply nested or too large to analyse ({type(error).__name__}); skipped")
            continue
        if dropped_here:
            dropped += dropped_here
            dropped_cells.append(number)
        if kept:
            parts.append(f"# --- code cell {number} ---\n" + "\n".join(kept))
    if dropped:
        cells = ", ".join(map(str, dropped_cells[:MAX_NOTED_CELLS])) + (", ..." if len(dropped_cells) > MAX_NOTED_CELLS else "")
        notes.append(f"{name}: {dropped} top-level statement(s) not run (training, plotting or other work), in code cell(s) {cells}")
    return "\n\n".join(parts) + "\n", notes


def _code_cells(text: str) -> list[str]:
    """The source of every code cell, in order (nbformat 4 read directly, older ones converted)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise TypeError("the file is JSON but not a notebook")
    if data.get("nbformat", 0) < 4:
        import nbformat  # only for old notebooks

        data = nbformat.reads(text, as_version=4)
    sources = []
    for cell in data["cells"]:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        if not isinstance(source, str):
            raise TypeError("a code cell's source is not text")
        sources.append(source)
    return sources


def _unreadable(name: str, reason: str) -> tuple[str, list[str]]:
    message = f"{name} could not be read as a notebook: {reason}"
    return f"raise ImportError({message!r})\n", [message]


def notebook_to_module(path: Path) -> tuple[str, list[str]]:
    """The Python source of `path`'s definitions, and notes on what was left out.

    Never raises for a bad notebook: an oversized one, one that cannot be parsed within the
    limits, or one that is not a notebook gives a module that raises ImportError with the reason.
    """
    size = path.stat().st_size
    if size > NOTEBOOK_BYTES:
        return _unreadable(path.name, f"it is {size / 2**20:.1f} MB, over the {NOTEBOOK_BYTES // 2**20} MB cap for notebooks")
    parsed = run_bounded("grader.notebooks:parse_in_helper", [str(path)], PARSE_SECONDS, PARSE_MEMORY_BYTES)
    if not parsed.ok:
        return _unreadable(path.name, f"parsing it failed: {parsed.reason}")
    try:
        return str(parsed.value["code"]), [str(note) for note in parsed.value["notes"]]
    except (KeyError, TypeError):
        return _unreadable(path.name, "the parsing process gave no answer")


def parse_in_helper(path: str) -> dict[str, object]:
    """In the helper process (`grader.bounded`): convert the notebook at `path`; {"code": ..., "notes": [...]}."""
    name = os.path.basename(path)
    with open(path, "rb") as handle:
        data = handle.read(NOTEBOOK_BYTES + 1)
    too_big = len(data) > NOTEBOOK_BYTES
    code, notes = _unreadable(name, "over the size cap") if too_big else convert(data.decode("utf-8", errors="replace"), name)
    return {"code": code, "notes": notes}
