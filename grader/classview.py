"""OUT/class.html: the whole class on one self-contained page, opening on who needs attention.

Top to bottom, what an instructor looks for after a class run:

1. **Students**, those who need attention first: not graded (with the reason), no work (the
   untouched template), missing or misnamed files, written answers pending; then the rest,
   lowest total first. Each row has its flags, total, pending points and a link to the report.
   The table can be sorted by student, status or total (a small inline script, allowed by the
   page's Content Security Policy through its hash); without scripts it keeps the order above.
2. **Problems**: each problem's mean, median, and how many students have full marks or none.
3. **Score distribution**: a histogram of the totals (pending points count 0 until scored).
4. **Checks**: each check's pass rate, how many lost points, how many did not attempt it (a
   stub or a missing file, counted apart), and the two most common *causes* of lost points among
   the others: the failing
   line of the feedback with its context and numbers taken out (`report.feedback.diagnosis`),
   so one mistake groups across students.

Numbers come from the same rows as gradebook.csv (`grader.class_results`). Everything a student
controls (folder names, feedback) is escaped.
"""
from __future__ import annotations

import base64
import hashlib
import html
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from grader.checks.registry import Check
from grader.class_results import MISSING_FILE, ClassResult, ClassRow, row_status
from grader.report.feedback import diagnosis, failing_part, is_not_implemented, rename_notes

BINS = 10
CAUSES_SHOWN = 2  # per check: the two most common causes (a tie shows both)
_STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
table.sortable th{white-space:nowrap}th button{all:unset;cursor:pointer;font-weight:bold}td.status{white-space:nowrap}th button::after{content:" \\2195";color:#888}
td.num{text-align:right;font-variant-numeric:tabular-nums}.bar{fill:#4c78a8}.axis{stroke:#555}svg text{font-size:12px;fill:#333}
.flag{display:inline-block;border-radius:3px;padding:0 .35em;margin:0 .2em .1em 0;font-size:.85em;white-space:nowrap}
.f-not-graded{background:#fde2e1;color:#8a1c12}.f-no-work{background:#eee;color:#444}.f-missing,.f-misnamed{background:#fff1d6;color:#7a4b00}
.f-pending{background:#fff8c5;color:#6b5400}.graded{color:#1a7f37}.pending{color:#9a6700}.attention{color:#b42318}
tr.student.needs-attention td:first-child{border-left:4px solid #d1242f}code{background:#f6f8fa;padding:0 .2em}
.summary{font-size:1.05em}"""
# Sorts the students table by a column's data-sort values (numbers numerically); clicking again reverses.
# It marks the table `sort-ready` first, so a browser test can tell that the page's policy let it run.
_SCRIPT = """document.querySelectorAll('table.sortable').forEach(function(t){t.classList.add('sort-ready')});
document.querySelectorAll('table.sortable th button').forEach(function(b){b.addEventListener('click',function(){
var th=b.parentNode,i=Array.prototype.indexOf.call(th.parentNode.children,th),t=th.closest('table'),body=t.tBodies[0];
var up=th.getAttribute('aria-sort')!=='ascending';t.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort')});
th.setAttribute('aria-sort',up?'ascending':'descending');var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,c){var x=a.cells[i].dataset.sort,y=c.cells[i].dataset.sort,nx=parseFloat(x),ny=parseFloat(y);
var r=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return up?r:-r});rows.forEach(function(r){body.appendChild(r)})})});"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
_POLICY = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{_SCRIPT_HASH}'"
SEVERITY = {"not graded": 0, "no work": 1, "missing files": 2, "pending written": 3, "graded": 4}


@dataclass(frozen=True)
class Attention:
    """Why a student's row needs a look (empty flags: it does not)."""

    status: str  # a key of SEVERITY
    flags: tuple[tuple[str, str], ...]  # (css name, text), e.g. ("missing", "missing p4_realnvp.py")

    @property
    def severity(self) -> int:
        return SEVERITY[self.status]


def attention(row: ClassRow) -> Attention:
    """The flags of one student: not graded, no work, missing or misnamed files, pending written items."""
    if row.run is None:
        return Attention("not graded", (("not-graded", "not graded"),))
    flags = []
    status = row_status(row)
    if row.untouched:
        flags.append(("no-work", "no work: the template, unchanged"))
    missing = row.missing_files
    if missing and not row.untouched:
        flags.append(("missing", "missing " + ", ".join(missing)))
        status = "missing files" if status == "graded" or status == "pending written" else status
    flags += [("misnamed", "misnamed: " + note.split(" is not in the submission, but ")[-1].replace(" is: ", ": ").replace(" are: ", ": "))
              for note in rename_notes(row.run)]
    if row.pending_items:
        flags.append(("pending", f"pending {row.run.pending_points:g} pts ({', '.join(i.removesuffix('.written') for i in row.pending_items)})"))
    return Attention(status, tuple(flags))


def attention_order(rows: list[ClassRow]) -> list[ClassRow]:
    """Rows by severity (not graded, no work, missing files, pending, graded), then lowest total, then name."""
    return sorted(rows, key=lambda r: (attention(r).severity, r.run.score if r.run else 0.0, r.student))


@dataclass(frozen=True)
class CheckStats:
    """How the class did on one check (over the students it was run for, pending ones apart)."""

    check: Check
    scored: int  # students with a score on it
    passed: int  # of those, full marks
    lost: int  # of those, less than full marks
    pending: int  # students whose score awaits a person
    not_attempted: int  # of those who lost points, how many had not implemented it or not handed in its file
    mean: float
    causes: tuple[tuple[str, int], ...]  # the most common diagnoses among the others (one student's words, how many share it)

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None


def check_stats(rows: list[ClassRow], checks: list[Check]) -> list[CheckStats]:
    """One `CheckStats` per check, from the graded rows (the untouched template included)."""
    stats = []
    for check in checks:
        results = [r for row in rows if row.run is not None for r in row.run.results if r.id == check.id]
        scored = [r for r in results if r.score is not None]
        lost = [r for r in scored if r.score < r.max_score - 1e-9]
        attempted = [r for r in lost if not is_not_implemented(r) and not MISSING_FILE.search(r.output[:300])]
        counts = Counter(diagnosis(r) for r in attempted)
        causes = tuple((next(failing_part(r) for r in attempted if diagnosis(r) == key), count)  # one student's words, numbers kept
                       for key, count in counts.most_common(CAUSES_SHOWN))
        mean = sum(r.score for r in scored) / len(scored) if scored else 0.0
        stats.append(CheckStats(check, len(scored), len(scored) - len(lost), len(lost), len(results) - len(scored),
                                len(lost) - len(attempted), mean, causes))
    return stats


@dataclass(frozen=True)
class ProblemStats:
    problem: int
    points: float
    mean: float
    median: float
    full: int  # students with every point of the problem
    zero: int  # students with none


def problem_stats(rows: list[ClassRow], checks: list[Check]) -> list[ProblemStats]:
    """Per problem, over the graded rows: mean and median of the points scored (pending counts 0), full marks, zero."""
    graded = [r for r in rows if r.run is not None]
    stats = []
    for problem in sorted({c.problem for c in checks}):
        points = sum(c.points for c in checks if c.problem == problem)
        totals = [sum(r.score or 0.0 for r in row.run.results if r.problem == problem) for row in graded]
        if totals:
            stats.append(ProblemStats(problem, points, sum(totals) / len(totals), statistics.median(totals),
                                      sum(t >= points - 1e-9 for t in totals), sum(t <= 1e-9 for t in totals)))
    return stats


def histogram(totals: list[float], maximum: float, bins: int = BINS) -> list[int]:
    """Counts of `totals` in `bins` equal bins over [0, maximum] (the top bin includes the maximum)."""
    counts = [0] * bins
    for total in totals:
        index = int(total / maximum * bins) if maximum > 0 else 0
        counts[min(max(index, 0), bins - 1)] += 1
    return counts


def _histogram_svg(counts: list[int], maximum: float) -> str:
    width, height, left, bottom = 640, 200, 40, 30
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


def _students_table(rows: list[ClassRow]) -> list[str]:
    esc = html.escape
    parts = ["<table class='sortable' id='students-table'><thead><tr><th><button type='button'>student</button></th>"
             "<th><button type='button'>status</button></th><th><button type='button'>total</button></th>"
             "<th><button type='button'>pending</button></th><th>needs attention</th></tr></thead><tbody>"]
    for row in attention_order(rows):
        need = attention(row)
        total = "" if row.run is None else f"{row.run.score:g} / {row.run.max_score:g}"
        pending = "" if row.run is None else f"{row.run.pending_points:g}"
        flags = "".join(f"<span class='flag f-{css}'>{esc(text)}</span>" for css, text in need.flags)
        if row.run is None:
            flags += f" {esc(row.error)}"
        css = {"graded": "graded", "pending written": "pending"}.get(need.status, "attention")
        attention_class = " needs-attention" if need.severity < SEVERITY["pending written"] else ""
        parts.append(f"<tr class='student{attention_class}' data-student='{esc(row.student)}' data-total='{'' if row.run is None else row.run.score}' "
                     f"data-status='{esc(need.status)}' data-flags='{' '.join(css for css, _ in need.flags)}'>"
                     f"<td data-sort='{esc(row.student.lower())}'>{_link(row)}</td><td class='status {css}' data-sort='{need.severity}'>{esc(need.status)}</td>"
                     f"<td class='num' data-sort='{-1 if row.run is None else row.run.score}'>{total}</td>"
                     f"<td class='num' data-sort='{pending or -1}'>{pending}</td><td>{flags}</td></tr>")
    parts.append("</tbody></table>")
    return parts


def _problems_table(rows: list[ClassRow], checks: list[Check]) -> list[str]:
    parts = ["<table id='problems-table'><tr><th>problem</th><th>points</th><th>mean</th><th>median</th><th>full marks</th><th>none</th></tr>"]
    for s in problem_stats(rows, checks):
        parts.append(f"<tr class='problem' data-problem='{s.problem}' data-mean='{s.mean:.4f}'><td>Problem {s.problem}</td><td class='num'>{s.points:g}</td>"
                     f"<td class='num'>{s.mean:.1f}</td><td class='num'>{s.median:g}</td><td class='num'>{s.full}</td><td class='num'>{s.zero}</td></tr>")
    parts.append("</table>")
    return parts


def _checks_table(rows: list[ClassRow], checks: list[Check]) -> list[str]:
    esc = html.escape
    parts = ["<table id='checks-table'><tr><th>check</th><th>points</th><th>pass rate</th><th>lost points</th>"
             "<th>not attempted</th><th>mean</th><th>pending</th><th>most common causes among the others who lost points</th></tr>"]
    for s in check_stats(rows, checks):
        rate = "-" if s.pass_rate is None else f"{100 * s.pass_rate:.0f}% ({s.passed}/{s.scored})"
        cause = "<br>".join(f"{esc(text)} <i>({count} of {s.lost - s.not_attempted})</i>" for text, count in s.causes)
        parts.append(f"<tr class='check' id='check-{esc(s.check.id)}' data-check='{esc(s.check.id)}' data-scored='{s.scored}' "
                     f"data-passed='{s.passed}' data-lost='{s.lost}' data-pending='{s.pending}' data-not-attempted='{s.not_attempted}'>"
                     f"<td>{esc(s.check.id)}: {esc(s.check.title)}</td><td class='num'>{s.check.points:g}</td>"
                     f"<td class='num'>{rate}</td><td class='num'>{s.lost}</td><td class='num'>{s.not_attempted}</td><td class='num'>{s.mean:.2f}</td>"
                     f"<td class='num'>{s.pending}</td><td>{cause}</td></tr>")
    parts.append("</table>")
    return parts


def class_view_html(result: ClassResult, checks: list[Check]) -> str:
    """The page's HTML."""
    esc = html.escape
    rows = result.rows
    graded = [r for r in rows if r.run is not None]
    maximum = sum(c.points for c in checks)
    totals = sorted(r.run.score for r in graded)
    counts = Counter(attention(r).status for r in rows)
    parts = [(f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta http-equiv='Content-Security-Policy' "
              f"content=\"{_POLICY}\"><title>PS4: class view</title><style>{_STYLE}</style></head><body>"),
             "<h1>Problem Set 4: the class</h1>",
             f"<p class='summary'>{len(rows)} submissions: " + ", ".join(f"{counts[s]} {s}" for s in SEVERITY if counts[s]) + ". "
             + (f"Totals out of {maximum:g} (pending points count 0 until scored): mean {sum(totals) / len(totals):.1f}, "
                f"median {statistics.median(totals):g}, lowest {totals[0]:g}, highest {totals[-1]:g}. " if totals else "")
             + f"<br><small>This run: {esc(result.summary())}.</small></p>",
             "<h2 id='students'>Students: who needs attention first</h2>",
             "<p><small>Click a column's title to sort by it. Flags: <i>no work</i> = the student template, unchanged; <i>missing</i> = "
             "expected files not handed in; <i>pending</i> = written answers awaiting your score "
             "(<code>grade … --pending FILE</code> writes a file to fill).</small></p>"]
    parts += _students_table(rows)
    parts += ["<h2 id='problems'>Problems</h2>"] + _problems_table(rows, checks)
    parts += ["<h2 id='distribution'>Score distribution</h2>", _histogram_svg(histogram(totals, maximum), maximum)]
    parts += ["<h2 id='checks'>Checks</h2>"] + _checks_table(rows, checks)
    pending = [r for r in graded if r.run.pending_points]
    parts.append(f"<h2 id='pending'>Written answers pending ({len(pending)})</h2>")
    if pending:
        parts.append("<ul>" + "".join(f"<li class='pending-student' data-student='{esc(r.student)}'>{_link(r)}: "
                                      f"{r.run.pending_points:g} points ({esc(', '.join(r.pending_items))})</li>" for r in pending) + "</ul>")
    failed = [r for r in rows if r.run is None]
    parts.append(f"<h2 id='failed'>Not graded ({len(failed)})</h2>")
    if failed:
        parts.append("<ul>" + "".join(f"<li class='failed-student' data-student='{esc(r.student)}'><b>{esc(r.student)}</b>: "
                                      f"{esc(r.error)}</li>" for r in failed) + "</ul>")
    if result.notes:
        parts.append("<h2 id='notes'>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in result.notes) + "</ul>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _link(row: ClassRow) -> str:
    name = html.escape(row.student)
    if row.run is None:
        return name
    return f"<a href='{html.escape(quote(row.student))}/report.html'>{name}</a>"


def write_class_view(result: ClassResult, checks: list[Check], path: Path) -> None:
    path.write_text(class_view_html(result, checks), encoding="utf-8")
