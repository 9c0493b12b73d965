"""A student's notebook rendered to HTML as the student saw it: cells and saved outputs, never executed.

The page must be inert, because outputs and Markdown are the student's: a `text/html` or
JavaScript output, raw HTML in a Markdown cell or an SVG could run script in the instructor's
browser. The choice made here is to *render outputs as text*, not to sanitise HTML:

- code cells keep their source, streams, errors, `text/plain` results and PNG/JPEG images
  (checked by their first bytes); any other output type (HTML, JavaScript, SVG, widgets,
  Markdown, LaTeX) is replaced by a line saying what was left out, or by its `text/plain`
  form when the notebook saved one;
- Markdown cells are rendered with raw HTML switched off (every `<` that could open a tag is escaped first, so
  headings, lists and code survive but no tag does), attachments are dropped, raw cells are
  shown as code;
- nbconvert's `basic` template is used (no scripts, no CDN loads) inside a page whose
  Content-Security-Policy forbids every script, frame, form and remote load; a final scan
  keeps only links to anchors and web pages and inline PNG/JPEG images (any other URL, e.g.
  `javascript:`, is emptied) and refuses to write a page that still holds a script or an event
  handler.

Nothing is executed: nbconvert only reads the saved outputs. But its Markdown renderer can be
made to run for minutes or take gigabytes (a crafted cell, a huge table), so every rendering
runs in a helper process with time and memory limits (`grader.bounded`: `RENDER_SECONDS`,
`RENDER_MEMORY_BYTES`). When it fails, the page is the notebook as plain text (`plain_page`:
each cell's source and text outputs, escaped, cut to `PLAIN_CHARS`), made in another bounded
helper; if even that fails, the report's note says why and no page is written.
"""
from __future__ import annotations

import base64
import binascii
import copy
import html
import json
import os
import re
from pathlib import Path

import nbformat

from grader.bounded import run_bounded
from grader.submission import Submission

NOTEBOOK_DIR = "notebooks"  # under the output folder
MAX_NOTEBOOK_BYTES = 20 * 2**20
RENDER_SECONDS = 60.0  # nbconvert, in its helper process (a template notebook takes about 3 s)
RENDER_MEMORY_BYTES = 2**30  # address space of that process (Linux)
PLAIN_SECONDS = 20.0  # the plain-text fallback
PLAIN_CHARS = 4_000_000  # of a plain-text page's escaped text
_IMAGE_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # where an HTML tag, comment or declaration could begin
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
_ACTIVE = re.compile(r"<\s*(script|iframe|object|embed|form|base|meta|link)\b|<[a-zA-Z][^>]*\son\w+\s*=|"
                     r"(href|src|action)\s*=\s*[\"']?\s*(javascript|vbscript|data:text)", re.IGNORECASE)
_URL_ATTR = re.compile(r"""\b(href|src)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_SAFE_URL = re.compile(r"#|https?:|mailto:|data:image/(png|jpeg);base64,", re.IGNORECASE)
_STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:1.5em auto;color:#222}
.banner{background:#fff8c5;border:1px solid #d4a72c;padding:.5em .8em;margin-bottom:1em}
.jp-InputArea-editor,.input_area,pre{background:#f6f8fa;padding:.4em;overflow-x:auto;white-space:pre-wrap}
.jp-InputPrompt,.jp-OutputPrompt,.prompt{color:#888;font-size:.8em}.jp-Cell,.cell{margin:.8em 0}
img{max-width:100%}.jp-RenderedText pre,.output_text pre{background:#fff;border-left:3px solid #ddd}"""


class NotInert(Exception):
    """The rendered page still holds something active; it is not written."""


def render_submission_notebooks(submission: Submission, out_dir: Path) -> list[str]:
    """Render each graded notebook of `submission` into `out_dir/notebooks/<module>.html`; notes for the report."""
    notes = []
    for name, source in submission.modules.items():
        if not source.origin.endswith(".ipynb"):
            continue
        target = out_dir / NOTEBOOK_DIR / f"{name}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        args = [str(submission.staged / source.origin), str(target), source.origin]
        rendered = run_bounded("grader.notebook_html:render_in_helper", args, RENDER_SECONDS, RENDER_MEMORY_BYTES)
        problem = rendered.reason if not rendered.ok else rendered.value
        if not problem:
            notes.append(f"{source.origin} as handed in (saved outputs, never run): {NOTEBOOK_DIR}/{name}.html")
            continue
        plain = run_bounded("grader.notebook_html:plain_in_helper", args, PLAIN_SECONDS, RENDER_MEMORY_BYTES)
        if plain.ok and not plain.value:
            notes.append(f"{source.origin} could not be rendered ({str(problem)[:200]}); shown as plain text: {NOTEBOOK_DIR}/{name}.html")
        else:
            notes.append(f"{source.origin} could not be shown as handed in: {str(problem)[:200]}")
    return notes


def rendered_notebooks(out_dir: Path) -> list[str]:
    """Paths (relative to `out_dir`) of the notebooks rendered for this report, for links."""
    folder = out_dir / NOTEBOOK_DIR
    return sorted(f"{NOTEBOOK_DIR}/{p.name}" for p in folder.glob("*.html")) if folder.is_dir() else []


def render_in_helper(path: str, target: str, label: str) -> str | None:
    """In a helper process (`grader.bounded`): write the page of the notebook at `path` to `target`; None, or why not."""
    try:
        if os.path.getsize(path) > MAX_NOTEBOOK_BYTES:
            return f"it is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
        _write(Path(target), notebook_page(nbformat.read(path, as_version=4), label))
    except (NotInert, ValueError, OSError, RecursionError, KeyError, TypeError, AttributeError) as error:
        return f"{type(error).__name__}: {str(error)[:200]}"
    return None


def plain_in_helper(path: str, target: str, label: str) -> str | None:
    """In a helper process: write `plain_page` of the notebook at `path` to `target`; None, or why not."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_NOTEBOOK_BYTES + 1).decode("utf-8", errors="replace")
        _write(Path(target), plain_page(json.loads(text), label))
    except (ValueError, OSError, RecursionError, TypeError) as error:
        return f"{type(error).__name__}: {str(error)[:200]}"
    return None


def _write(target: Path, page: str) -> None:
    """Write `page` to a new file renamed over `target` (a link at `target` is replaced, never followed)."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)


def notebook_page(notebook: nbformat.NotebookNode, label: str) -> str:
    """The whole inert HTML page of `notebook` (see the module docstring for what is kept)."""
    from nbconvert import HTMLExporter  # noqa: PLC0415 - heavy; only when a notebook is rendered

    body, _ = HTMLExporter(template_name="basic", exclude_anchor_links=True).from_notebook_node(inert_copy(notebook))
    body = _URL_ATTR.sub(_safe_url, body)
    found = _ACTIVE.search(body)
    if found:
        raise NotInert(f"rendered page still holds {found.group(0)[:40]!r}")
    return _page(label, body, "HTML, JavaScript and other rich outputs are shown as text.")


def plain_page(notebook: object, label: str) -> str:
    """The notebook's JSON `notebook` as an inert page of plain text: each cell's source and text outputs, escaped."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    parts, budget = [], PLAIN_CHARS
    for number, cell in enumerate(cells if isinstance(cells, list) else [], start=1):
        if budget <= 0:
            parts.append("<p>(the rest of the notebook is not shown: the plain-text page is cut here)</p>")
            break
        if not isinstance(cell, dict):
            continue
        texts = [_text(cell.get("source"))]
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            if isinstance(output, dict):
                data = output.get("data") if isinstance(output.get("data"), dict) else {}
                texts.append(_text(output.get("text")) or _text(data.get("text/plain")))
        shown = html.escape("\n".join(t for t in texts if t)[:budget])
        budget -= len(shown)
        parts.append(f"<div class='cell'><div class='prompt'>{html.escape(str(cell.get('cell_type', '?'))[:20])} cell {number}</div>"
                     f"<pre>{shown}</pre></div>")
    return _page(label, "\n".join(parts), "Shown as plain text: the notebook could not be rendered within the grader's limits.")


def _text(value: object) -> str:
    """A notebook field that is text, or a list of text lines; anything else is ''."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(line for line in value if isinstance(line, str))
    return ""


def _page(label: str, body: str, banner: str) -> str:
    title = html.escape(label)
    return (f"<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">"
            f"<title>{title} as handed in</title><style>{_STYLE}</style></head><body>"
            f"<div class='banner'><b>{title}</b> as the student handed it in: saved outputs, never run by the grader. {banner}</div>\n"
            f"{body}\n</body></html>\n")


def _safe_url(match: re.Match) -> str:
    """An href/src attribute kept if its URL is an anchor, a web link or an inline PNG/JPEG, else emptied."""
    url = html.unescape(match.group(2).strip("\"'")).strip()
    return match.group(0) if _SAFE_URL.match(url) else f'{match.group(1)}="#removed"'


def inert_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `notebook` whose cells hold only text, code and checked PNG/JPEG images."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata = nbformat.from_dict({"language_info": {"name": "python"}})
    for index, cell in enumerate(notebook.cells):
        cell.pop("attachments", None)
        if cell.cell_type == "markdown":
            cell.source = _TAG_START.sub("&lt;", cell.source)
        elif cell.cell_type == "raw":
            notebook.cells[index] = nbformat.v4.new_markdown_cell("\n".join("    " + line for line in cell.source.splitlines()))
        elif cell.cell_type == "code":
            cell.outputs = [_inert_output(output) for output in cell.get("outputs", [])]
    return notebook


def _inert_output(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    if output.get("output_type") not in ("display_data", "execute_result"):
        return output  # stream and error outputs: text that nbconvert escapes
    data = output.get("data", {})
    kept = {mime: value for mime, value in data.items() if mime in _IMAGE_MAGIC and _is_image(mime, value)}
    left_out = sorted(set(data) - set(kept) - {"text/plain"})
    text = data.get("text/plain", "")
    if left_out and not kept:
        text = (text + "\n" if text else "") + f"[{', '.join(left_out)} output not shown: rich outputs are shown as text only]"
    if text:
        kept["text/plain"] = text
    output.data = nbformat.from_dict(kept)
    output.metadata = nbformat.from_dict({})
    return output


def _is_image(mime: str, value: object) -> bool:
    """True if `value` is base64 whose bytes start as a `mime` image should."""
    if not isinstance(value, str):
        return False
    try:
        head = base64.b64decode(value.replace("\n", "")[:64], validate=True)
    except (binascii.Error, ValueError):
        return False
    return head.startswith(_IMAGE_MAGIC[mime])
