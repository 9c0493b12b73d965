"""OUT/class.html: the whole class on one self-contained page (inline CSS and SVG, no script, no remote load).

What an instructor looks for after a class run: the score distribution (a histogram of the
totals), each check's pass rate with the number of students who lost points on it and the most
common first line of their feedback, who still has written answers pending, whose grading
failed and why, and a link to every student's report. The numbers are computed from the same
rows as gradebook.csv. Everything a student controls (folder names, feedback) is escaped.
"""
from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from grader.checks.registry import Check
from grader.classroom import ClassResult, ClassRow, row_status

BINS = 10
MAX_FEEDBACK_CHARS = 160
_STYLE = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
td.num{text-align:right}.bar{fill:#4c78a8}.axis{stroke:#555}svg text{font-size:12px;fill:#333}
.graded{color:#1a7f37}.pending{color:#9a6700}.failed{color:#b42318}code{background:#f6f8fa;padding:0 .2em}"""


@dataclass(frozen=True)
class CheckStats:
    """How the class did on one check (over the students it was run for, pending ones apart)."""

    check: Check
    scored: int  # students with a score on it
    passed: int  # of those, full marks
    lost: int  # of those, less than full marks
    pending: int  # students whose score awaits a person
    mean: float
    common_feedback: str  # the most common first feedback line among those who lost points
    common_count: int

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None


def check_stats(rows: list[ClassRow], checks: list[Check]) -> list[CheckStats]:
    """One `CheckStats` per check, from the graded rows."""
    stats = []
    for check in checks:
        results = [r for row in rows if row.run is not None for r in row.run.results if r.id == check.id]
        scored = [r for r in results if r.score is not None]
        lost = [r for r in scored if r.status != "passed"]
        lines = Counter(_first_line(r.output) for r in lost)
        common, count = lines.most_common(1)[0] if lines else ("", 0)
        mean = sum(r.score for r in scored) / len(scored) if scored else 0.0
        stats.append(CheckStats(check, len(scored), len(scored) - len(lost), len(lost), len(results) - len(scored), mean, common, count))
    return stats


def histogram(totals: list[float], maximum: float, bins: int = BINS) -> list[int]:
    """Counts of `totals` in `bins` equal bins over [0, maximum] (the top bin includes the maximum)."""
    counts = [0] * bins
    for total in totals:
        index = int(total / maximum * bins) if maximum > 0 else 0
        counts[min(max(index, 0), bins - 1)] += 1
    return counts


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "(no feedback)")
    return line if len(line) <= MAX_FEEDBACK_CHARS else line[:MAX_FEEDBACK_CHARS - 1] + "…"


def _histogram_svg(counts: list[int], maximum: float) -> str:
    width, height, left, bottom = 640, 220, 40, 30
    bar_width = (width - left - 10) / len(counts)
    top = max(counts + [1])
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' aria-label='histogram of total scores'>",
             f"<line class='axis' x1='{left}' y1='{height - bottom}' x2='{width - 5}' y2='{height - bottom}'/>"]
    for index, count in enumerate(counts):
        bar_height = (height - bottom - 20) * count / top
        x = left + index * bar_width
        low, high = maximum * index / len(counts), maximum * (index + 1) / len(counts)
        parts.append(f"<rect class='bar' x='{x + 2:.1f}' y='{height - bottom - bar_height:.1f}' width='{bar_width - 4:.1f}' "
                     f"height='{bar_height:.1f}' data-bin='{index}' data-count='{count}'><title>{low:g}-{high:g}: {count}</title></rect>")
        if count:
            parts.append(f"<text x='{x + bar_width / 2:.1f}' y='{height - bottom - bar_height - 4:.1f}' text-anchor='middle'>{count}</text>")
        parts.append(f"<text x='{x:.1f}' y='{height - bottom + 15}' text-anchor='middle'>{low:g}</text>")
    parts.append(f"<text x='{width - 10}' y='{height - bottom + 15}' text-anchor='end'>{maximum:g}</text></svg>")
    return "".join(parts)


def class_view_html(result: ClassResult, checks: list[Check]) -> str:
    """The page's HTML."""
    esc = html.escape
    rows = result.rows
    graded = [r for r in rows if r.run is not None]
    maximum = sum(c.points for c in checks)
    totals = sorted(r.run.score for r in graded)
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='Content-Security-Policy' "
              f"content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"><title>PS4: class view</title>"
              f"<style>{_STYLE}</style></head><body>"),
             "<h1>Problem Set 4: the class</h1>",
             f"<p>{len(rows)} submissions: {len(graded)} with scores, {len(rows) - len(graded)} not graded. This run: {esc(result.summary())}.</p>"]
    if totals:
        median = totals[len(totals) // 2] if len(totals) % 2 else (totals[len(totals) // 2 - 1] + totals[len(totals) // 2]) / 2
        parts.append(f"<p>Total scores out of {maximum:g} (pending written answers count 0 until scored): "
                     f"mean {sum(totals) / len(totals):.1f}, median {median:g}, lowest {totals[0]:g}, highest {totals[-1]:g}.</p>")
    parts += ["<h2 id='distribution'>Score distribution</h2>", _histogram_svg(histogram(totals, maximum), maximum)]
    parts.append("<h2 id='checks'>Checks</h2><table><tr><th>check</th><th>part</th><th>points</th><th>pass rate</th>"
                 "<th>lost points</th><th>mean</th><th>pending</th><th>most common feedback among those who lost points</th></tr>")
    for s in check_stats(rows, checks):
        rate = "-" if s.pass_rate is None else f"{100 * s.pass_rate:.0f}% ({s.passed}/{s.scored})"
        feedback = f"{esc(s.common_feedback)} <i>({s.common_count} of {s.lost})</i>" if s.lost else ""
        parts.append(f"<tr class='check' id='check-{esc(s.check.id)}' data-check='{esc(s.check.id)}' data-scored='{s.scored}' "
                     f"data-passed='{s.passed}' data-lost='{s.lost}' data-pending='{s.pending}'>"
                     f"<td>{esc(s.check.id)}: {esc(s.check.title)}</td><td>{esc(s.check.part)}</td><td class='num'>{s.check.points:g}</td>"
                     f"<td class='num'>{rate}</td><td class='num'>{s.lost}</td><td class='num'>{s.mean:.2f}</td>"
                     f"<td class='num'>{s.pending}</td><td>{feedback}</td></tr>")
    parts.append("</table>")
    pending = [r for r in graded if r.run.pending_points]
    parts.append(f"<h2 id='pending'>Written answers pending ({len(pending)})</h2>")
    if pending:
        parts.append("<ul>" + "".join(f"<li class='pending-student' data-student='{esc(r.student)}'>{_link(r)}: "
                                      f"{r.run.pending_points:g} points ({esc(', '.join(x.id for x in r.run.results if x.score is None))})</li>"
                                      for r in pending) + "</ul>")
    failed = [r for r in rows if r.run is None]
    parts.append(f"<h2 id='failed'>Not graded ({len(failed)})</h2>")
    if failed:
        parts.append("<ul>" + "".join(f"<li class='failed-student' data-student='{esc(r.student)}'><b>{esc(r.student)}</b>: "
                                      f"{esc(r.error)}</li>" for r in failed) + "</ul>")
    parts.append("<h2 id='students'>Students</h2><table><tr><th>student</th><th>total</th><th>pending</th><th>status</th></tr>")
    for r in rows:
        total = "" if r.run is None else f"{r.run.score:g} / {r.run.max_score:g}"
        pending_points = "" if r.run is None else f"{r.run.pending_points:g}"
        status = row_status(r)
        css = {"graded": "graded", "pending written": "pending"}.get(status, "failed")
        parts.append(f"<tr class='student' data-student='{esc(r.student)}' data-total='{'' if r.run is None else r.run.score}'>"
                     f"<td>{_link(r)}</td><td class='num'>{total}</td><td class='num'>{pending_points}</td><td class='{css}'>{status}</td></tr>")
    parts.append("</table>")
    if result.notes:
        parts.append("<h2 id='notes'>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in result.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _link(row: ClassRow) -> str:
    name = html.escape(row.student)
    if row.run is None:
        return name
    return f"<a href='{html.escape(quote(row.student))}/report.html'>{name}</a>"


def write_class_view(result: ClassResult, checks: list[Check], path: Path) -> None:
    path.write_text(class_view_html(result, checks))
