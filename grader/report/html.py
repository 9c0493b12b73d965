"""report.html: the Markdown report's content as a standalone page with the figures inline.

Every string from the run is escaped (`safe.html_text` / `safe.html_attr`); the page's Content
Security Policy forbids scripts, plugins, forms and a changed base URL besides.
"""
from __future__ import annotations

from itertools import groupby

from grader.report.safe import bounded, html_attr, html_text
from grader.results import GradingRun

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
.passed{color:#1a7f37}.failed{color:#b42318}.pending{color:#9a6700}pre{white-space:pre-wrap;background:#f6f8fa;padding:.6em}
img{max-width:100%;border:1px solid #ddd;margin:.3em 0}"""
_POLICY = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"


def report_html(run: GradingRun, notebooks: tuple[str, ...] | list[str] = ()) -> str:
    run = bounded(run)
    esc, attr = html_text, html_attr
    head = f"<meta charset='utf-8'><meta http-equiv='Content-Security-Policy' content=\"{_POLICY}\"><title>PS4 grading report</title>"
    parts = [f"<!doctype html><html><head>{head}<style>{_STYLE}</style></head><body>",
             "<h1>Problem Set 4: grading report</h1>",
             f"<p>Submission: <code>{esc(run.submission)}</code><br>Score: <b>{run.score:g} / {run.max_score:g}</b>"
             + (f" ({run.pending_points:g} points pending)" if run.pending_points else "") + f"<br>Time: {run.seconds:.1f} s</p>"]
    if run.notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in run.notes) + "</ul>")
    if notebooks:  # rendered by grader.notebook_html: inert pages of the notebooks as handed in
        parts.append("<p>Notebooks as handed in: " + ", ".join(f"<a href='{esc(n)}'>{esc(n)}</a>" for n in notebooks) + "</p>")
    for problem, group in groupby(run.results, key=lambda r: r.problem):
        results = list(group)
        parts.append(f"<h2>Problem {problem} ({sum(r.score or 0 for r in results):g} / {sum(r.max_score for r in results):g})</h2><table>")
        parts.append("<tr><th>check</th><th>part</th><th>score</th><th>status</th></tr>")
        for r in results:
            shown = "pending" if r.score is None else f"{r.score:g} / {r.max_score:g}"
            parts.append(f"<tr><td><a href='#{attr(r.id)}'>{esc(r.id)}</a>: {esc(r.title)}</td><td>{esc(r.part)}</td>"
                         f"<td>{shown}</td><td class='{r.status}'>{r.status}</td></tr>")
        parts.append("</table>")
        for r in results:
            parts.append(f"<h3 id='{attr(r.id)}'>{esc(r.id)}: {esc(r.title)}</h3><pre>{esc(r.output)}</pre>")
            parts += [f"<img src='{attr(f)}' alt='{attr(r.id)}'>" for f in r.figures]
    parts.append("</body></html>")
    return "\n".join(parts)

