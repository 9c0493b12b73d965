"""report.html: the Markdown report's content as a standalone page with the figures inline.

Every string from the run is escaped (`safe.html_text` / `safe.html_attr`); the page's Content
Security Policy forbids scripts, plugins, forms and a changed base URL besides.
"""
from __future__ import annotations

from itertools import groupby

from grader.report.feedback import anchor, cause, fix_first, lost_points, rename_notes, score_label, status_label
from grader.report.safe import bounded, html_attr, html_text
from grader.results import GradingRun

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.score{white-space:nowrap}
.passed{color:#1a7f37}.failed{color:#b42318}.pending{color:#9a6700}.scored{color:#0550ae}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.6em}img{max-width:100%;border:1px solid #ddd;margin:.3em 0}
.fix{background:#fff8f0;border:1px solid #f0c8a0;padding:.4em 1em;border-radius:6px}.fix li{margin:.2em 0}
.total{font-size:1.15em}"""
_POLICY = "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"


def _fix_first_html(run: GradingRun) -> str:
    esc = html_text
    failed, renames = fix_first(run), rename_notes(run)
    if not failed and not renames:
        text = "Nothing: every check passed." if not run.pending_points else "Nothing in your code: every check passed; written answers await the instructor's score."
        return f"<section class='fix' id='fix-first'><h2>What to fix first</h2><p>{text}</p></section>"
    items = [f"<li class='rename'><b>Rename</b>: {esc(note)}</li>" for note in renames]
    items += [f"<li data-check='{html_attr(r.id)}'><a href='#{anchor(r)}'>{esc(r.id)}</a> (−{lost_points(r):g} of {r.max_score:g}): {esc(cause(r))}</li>"
              for r in failed]
    return f"<section class='fix' id='fix-first'><h2>What to fix first</h2><ol>{''.join(items)}</ol></section>"


def report_html(run: GradingRun, notebooks: tuple[str, ...] | list[str] = ()) -> str:
    run = bounded(run)
    esc, attr = html_text, html_attr
    head = f"<meta charset='utf-8'><meta http-equiv='Content-Security-Policy' content=\"{_POLICY}\"><title>PS4 grading report</title>"
    parts = [f"<!doctype html><html lang='en'><head>{head}<style>{_STYLE}</style></head><body>",
             "<h1>Problem Set 4: grading report</h1>",
             f"<p>Submission: <code>{esc(run.submission)}</code><br><b class='total'>{esc(score_label(run))}</b><br>Time: {run.seconds:.1f} s</p>",
             _fix_first_html(run)]
    if run.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in run.notes) + "</ul>")
    if notebooks:  # rendered by grader.notebook_html: inert pages of the notebooks as handed in
        parts.append("<p>Notebooks as handed in: " + ", ".join(f"<a href='{esc(n)}'>{esc(n)}</a>" for n in notebooks) + "</p>")
    for problem, group in groupby(run.results, key=lambda r: r.problem):
        results = list(group)
        parts.append(f"<h2>Problem {problem} ({sum(r.score or 0 for r in results):g} / {sum(r.max_score for r in results):g})</h2><table>")
        parts.append("<tr><th>check</th><th>part</th><th>score</th><th>status</th></tr>")
        for r in results:
            shown = "pending" if r.score is None else f"{r.score:g} / {r.max_score:g}"
            parts.append(f"<tr><td><a href='#{anchor(r)}'>{esc(r.id)}</a>: {esc(r.title)}</td><td>{esc(r.part)}</td>"
                         f"<td class='score'>{shown}</td><td class='{r.status}'>{status_label(r)}</td></tr>")
        parts.append("</table>")
        for r in results:
            parts.append(f"<h3 id='{anchor(r)}'>{esc(r.id)}: {esc(r.title)} <small class='{r.status}'>({status_label(r)})</small></h3>"
                         f"<pre>{esc(r.output)}</pre>")
            parts += [f"<img src='{attr(f)}' alt='{attr(r.id)}'>" for f in r.figures]
    parts.append("</body></html>")
    return "\n".join(parts)
