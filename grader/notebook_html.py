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

Nothing is executed: nbconvert only reads the saved outputs.
"""
from __future__ import annotations

import base64
import binascii
import copy
import html
import re
from pathlib import Path

import nbformat

from grader.submission import Submission

NOTEBOOK_DIR = "notebooks"  # under the output folder
MAX_NOTEBOOK_BYTES = 20 * 2**20
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
        try:
            write_notebook_html(submission.staged / source.origin, target, source.origin)
            notes.append(f"{source.origin} as handed in (saved outputs, never run): {NOTEBOOK_DIR}/{name}.html")
        except (NotInert, ValueError, OSError, RecursionError, MemoryError) as error:
            notes.append(f"{source.origin} could not be shown as handed in: {type(error).__name__}: {str(error)[:200]}")
        except Exception as error:  # noqa: BLE001 - nbconvert on a malformed notebook: a note, never a failed grading
            notes.append(f"{source.origin} could not be rendered: {type(error).__name__}: {str(error)[:200]}")
    return notes


def rendered_notebooks(out_dir: Path) -> list[str]:
    """Paths (relative to `out_dir`) of the notebooks rendered for this report, for links."""
    folder = out_dir / NOTEBOOK_DIR
    return sorted(f"{NOTEBOOK_DIR}/{p.name}" for p in folder.glob("*.html")) if folder.is_dir() else []


def write_notebook_html(path: Path, target: Path, label: str) -> None:
    """Render the notebook at `path` into the inert page `target`."""
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    page = notebook_page(nbformat.read(path, as_version=4), label)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page)


def notebook_page(notebook: nbformat.NotebookNode, label: str) -> str:
    """The whole inert HTML page of `notebook` (see the module docstring for what is kept)."""
    from nbconvert import HTMLExporter  # noqa: PLC0415 - heavy; only when a notebook is rendered

    body, _ = HTMLExporter(template_name="basic", exclude_anchor_links=True).from_notebook_node(inert_copy(notebook))
    body = _URL_ATTR.sub(_safe_url, body)
    found = _ACTIVE.search(body)
    if found:
        raise NotInert(f"rendered page still holds {found.group(0)[:40]!r}")
    title = html.escape(label)
    return (f"<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">"
            f"<title>{title} as handed in</title><style>{_STYLE}</style></head><body>"
            f"<div class='banner'><b>{title}</b> as the student handed it in: saved outputs, never run by the grader. "
            "HTML, JavaScript and other rich outputs are shown as text.</div>\n"
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
