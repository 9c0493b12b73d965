"""class.html of a mixed class agrees with gradebook.csv; notebooks are shown as handed in, inertly."""
from __future__ import annotations

import base64
import csv
import hashlib
import html.parser
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from helpers import CORPUS, REFERENCE, TEMPLATE, patched_submission
from test_notebook_submissions import notebook_from_module

from grader.checks.registry import select
from grader.classroom import grade_class
from grader.notebook_html import notebook_page
from grader.options import GradingOptions
from grader.runner.sandbox import Limits

P1 = "p1_change_of_variables"
IDS = {"1a.instance", "1a.random", "2a.written"}


def mixed_class(root: Path) -> Path:
    """Correct, wrong, broken, notebook, missing-files, misnamed, untouched-template and empty submissions (and two hostile folder names)."""
    shutil.copytree(REFERENCE, root / "alice", ignore=shutil.ignore_patterns("figures", "*.pt", "p3_*", "p4_*"))
    patched_submission(root / "erin", P1, CORPUS / "p1a" / "forgets_det.py")  # wrong: 1a.instance and 1a.random fail
    (root / "frank").mkdir()
    (root / "frank" / f"{P1}.py").write_text("def density_linear(y, A, mu=None)\n    return y\n")  # broken: a syntax error
    (root / "dave").mkdir()
    nbformat.write(notebook_from_module((REFERENCE / f"{P1}.py").read_text()), root / "dave" / f"{P1}.ipynb")
    shutil.copy(REFERENCE / "answers.md", root / "dave" / "answers.md")
    (root / "gina").mkdir()
    shutil.copy(REFERENCE / "answers.md", root / "gina" / "answers.md")  # missing files: no modules at all
    shutil.copytree(TEMPLATE, root / "bob", ignore=shutil.ignore_patterns("*.ipynb"))  # the untouched template
    (root / "hana").mkdir()
    shutil.copy(REFERENCE / f"{P1}.py", root / "hana" / f"{P1}_final.py")  # misnamed: the page says so
    shutil.copy(REFERENCE / "answers.md", root / "hana" / "answers.md")
    (root / "carol").mkdir()
    (root / "carol" / "notes.txt").write_text("I forgot to upload")
    (root / "@SUM(A1)").mkdir()
    (root / "@SUM(A1)" / "notes.txt").write_text("")
    (root / "class.html").mkdir()
    shutil.copy(REFERENCE / f"{P1}.py", root / "class.html")
    return root


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    class_dir, out = mixed_class(root / "class"), root / "out"
    result = grade_class(class_dir, out, select(None, IDS), GradingOptions(Limits(memory_mb=2048, time_scale=2), progress=False), progress=False)
    gradebook = {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    return result, gradebook, out


class _Page(html.parser.HTMLParser):
    """The data-* attributes of the rows and bars of class.html, and its links."""

    def __init__(self):
        super().__init__()
        self.checks, self.students, self.bars, self.links, self.failed, self.pending, self.tags = {}, {}, [], [], {}, set(), set()
        self.order: list[str] = []  # students in the order the page lists them
        self.flags: dict[str, set[str]] = {}
        self.status: dict[str, str] = {}
        self.ids: list[str] = []  # element ids in document order
        self.scripts: list[str] = []
        self._in_script = False
        self.attributes: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.attributes |= set(attrs)
        if tag == "tr" and attrs.get("class") == "check":
            self.checks[attrs["data-check"]] = {k[5:]: int(v) for k, v in attrs.items() if k in ("data-passed", "data-lost", "data-pending", "data-scored")}
        elif tag == "tr" and "student" in (attrs.get("class") or "").split():
            self.students[attrs["data-student"]] = attrs["data-total"]
            self.order.append(attrs["data-student"])
            self.flags[attrs["data-student"]] = set(attrs["data-flags"].split())
            self.status[attrs["data-student"]] = attrs["data-status"]
        elif tag == "rect":
            self.bars.append(int(attrs["data-count"]))
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag == "li" and attrs.get("class") == "failed-student":
            self.failed[attrs["data-student"]] = True
        elif tag == "li" and attrs.get("class") == "pending-student":
            self.pending.add(attrs["data-student"])
        if "id" in attrs:
            self.ids.append(attrs["id"])
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def parse(out: Path) -> _Page:
    page = _Page()
    page.feed((out / "class.html").read_text())
    return page


def test_the_mixed_class_is_graded_as_each_submission_deserves(graded):
    _, book, _ = graded
    assert book["alice"]["1a.instance"] == "1.5" and book["alice"]["1a.random"] == "2.0" and book["alice"]["2a.written"] == "pending"
    assert book["dave"]["1a.instance"] == "1.5" and book["dave"]["status"] == "pending written"  # the notebook grades like the script
    assert float(book["erin"]["1a.instance"]) < 1.5 and float(book["erin"]["1a.random"]) < 2.0
    assert book["frank"]["1a.instance"] == "0.0" and book["frank"]["total"] == "0.0"
    assert book["gina"]["1a.instance"] == "0.0" and book["gina"]["2a.written"] == "pending"
    assert book["carol"]["status"] == "not graded" and "holds none of the expected files" in book["carol"]["note"]
    assert book["class.html"]["status"] == "not graded" and "clashes" in book["class.html"]["note"]
    assert "'@SUM(A1)" in book  # a formula-like name is neutralised in the gradebook


def test_class_view_numbers_match_the_gradebook(graded):
    _, book, out = graded
    page = parse(out)
    points = {c.id: c.points for c in select(None, IDS)}
    for check_id, stats in page.checks.items():
        cells = [row[check_id] for row in book.values() if row["status"] != "not graded"]
        scored = [float(c) for c in cells if c != "pending"]
        assert stats["passed"] == sum(s == points[check_id] for s in scored), check_id
        assert stats["lost"] == sum(s < points[check_id] for s in scored), check_id
        assert stats["pending"] == cells.count("pending"), check_id
    assert page.checks["1a.instance"]["lost"] == 5  # erin, frank, gina, hana, bob
    graded_rows = [row for row in book.values() if row["status"] != "not graded"]
    assert sum(page.bars) == len(graded_rows) == 7 and len(page.bars) == 10
    maximum = sum(points.values())
    for row in graded_rows:
        assert page.bars[min(int(float(row["total"]) / maximum * 10), 9)] > 0
    assert {name: float(total) for name, total in page.students.items() if total} == {r["student"]: float(r["total"]) for r in graded_rows}
    assert set(page.failed) == {"carol", "class.html", "@SUM(A1)"}
    assert page.pending == {r["student"] for r in graded_rows if float(r["pending"]) > 0}


def test_the_page_opens_on_who_needs_attention(graded):
    result, book, out = graded
    page = parse(out)
    assert page.ids.index("students-table") < page.ids.index("problems-table") < page.ids.index("checks-table")
    assert book["bob"]["status"] == "no work" and page.flags["bob"] == {"no-work"}  # the untouched template is not "graded"
    assert page.flags["gina"] == {"missing", "pending"} and page.flags["hana"] == {"missing", "misnamed", "pending"}
    assert page.flags["alice"] == page.flags["dave"] == {"pending"} and page.flags["erin"] == page.flags["frank"] == {"missing"}  # no answers.md
    assert page.flags["carol"] == {"not-graded"}
    text = (out / "class.html").read_text()
    assert f"misnamed: {P1}_final.py: rename it to {P1}.py" in text
    # without scripts the order is the attention order: not graded, no work, missing files, pending (lowest first), graded
    severity = [page.status[name] for name in page.order]
    assert severity == sorted(severity, key=["not graded", "no work", "missing files", "pending written", "graded"].index)
    assert page.order[:3] == sorted(["@SUM(A1)", "carol", "class.html"]) and page.order[3] == "bob"
    pending = [name for name in page.order if page.status[name] == "pending written"]
    assert [float(book[name]["total"]) for name in pending] == sorted(float(book[name]["total"]) for name in pending)


def test_the_checks_table_counts_the_unattempted_apart_and_names_the_causes(graded):
    _, _, out = graded
    page = parse(out)
    text = (out / "class.html").read_text()
    row = text[text.index("id='check-1a.instance'"):].split("</tr>")[0]
    assert "data-not-attempted='3'" in row  # bob's stub, gina's and hana's missing file: counted apart from the real mistakes
    assert "Jacobian factor is missing" in row and "(1 of 2)" in row  # erin's cause, not the line describing the test case
    assert "not in the submission" not in row and "not implemented" not in row
    assert page.checks["1a.instance"]["scored"] == 7


def test_the_sort_script_is_the_only_script_and_the_policy_allows_exactly_it(graded):
    _, _, out = graded
    page = parse(out)
    text = (out / "class.html").read_text()
    (script,) = page.scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = re.search(r"content=\"([^\"]+)\"", text).group(1)
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy and "unsafe-inline'; img" in policy


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None, reason="no chromium here")
def test_in_a_real_browser_the_page_loads_and_its_sort_script_runs(graded):
    _, _, out = graded
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", (out / "class.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert "sortable sort-ready" in done.stdout  # the policy's hash let the script run
    assert "data-student='bob'" in done.stdout or 'data-student="bob"' in done.stdout


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None, reason="no chromium here")
def test_in_a_real_browser_a_click_sorts_the_students_by_total(graded, tmp_path):
    """The page's own table and script, then two clicks on "total" (ascending, then descending), in a harness page."""
    _, book, out = graded
    text = (out / "class.html").read_text()
    table = text[text.index("<table class='sortable'"):text.index("</table>", text.index("<table class='sortable'")) + len("</table>")]
    script = text[text.rindex("<script>"):text.rindex("</script>") + len("</script>")]
    click = "<script>var b=document.querySelectorAll('#students-table th button')[2];b.click();b.click();</script>"
    (tmp_path / "harness.html").write_text(f"<!doctype html><html><body>{table}{script}{click}</body></html>")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", (tmp_path / "harness.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    rows = re.findall(r'<tr class="student[^"]*" data-student="([^"]+)" data-total="([^"]*)"', done.stdout)
    totals = [float(total) if total else -1 for _, total in rows]
    assert len(rows) == len(book) and totals == sorted(totals, reverse=True) and len(set(totals)) > 2
    assert {name: total for name, total in rows if total} == {r["student"]: str(float(r["total"])) for r in book.values() if r["total"]}


def test_every_graded_student_is_linked_to_an_existing_report(graded):
    _, book, out = graded
    links = [link for link in parse(out).links if link.endswith("report.html")]
    assert set(links) == {f"{name}/report.html" for name, row in book.items() if row["status"] != "not graded"}
    assert all((out / link).is_file() for link in links)


def test_the_notebook_submission_links_its_rendering(graded):
    _, _, out = graded
    report = (out / "dave" / "report.html").read_text()
    assert f"notebooks/{P1}.html" in report and "graded p1_change_of_variables.ipynb" in report
    rendered = (out / "dave" / "notebooks" / f"{P1}.html").read_text()
    assert "density_linear" in rendered and "<script" not in rendered
    assert not (out / "alice" / "notebooks").exists()


def test_rendered_notebook_is_inert():
    """Student HTML, JavaScript and Markdown tags are shown as text; PNG outputs stay images; unsafe links are emptied."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Heading\n<script>alert(1)</script><img src=x onerror=alert(2)> [a](javascript:alert(3))"),
        nbformat.v4.new_code_cell("x = 1", outputs=[
            nbformat.v4.new_output("display_data", data={"text/html": "<iframe src='https://evil'></iframe>", "text/plain": "plain form"}),
            nbformat.v4.new_output("display_data", data={"application/javascript": "alert(4)"}),
            nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload='alert(5)'/>"}),
            nbformat.v4.new_output("display_data", data={"image/png": png}),
            nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(b"<svg onload=alert(6)>").decode()}),
            nbformat.v4.new_output("stream", name="stdout", text="<script>alert(7)</script>\n")]),
        nbformat.v4.new_raw_cell("<script>alert(8)</script>")]
    page = _Page()
    text = notebook_page(notebook, "p1.ipynb")
    page.feed(text)
    assert not page.tags & {"script", "iframe", "svg", "object", "embed"}
    assert not [name for name in page.attributes if name.startswith("on")]  # "onerror" only as escaped text
    assert "javascript:" not in " ".join(page.links)
    assert text.count("data:image/png;base64,") == 1  # the real PNG; the fake one is not an image
    assert "plain form" in text and "output not shown" in text and "Content-Security-Policy" in text
    assert "&lt;script&gt;alert(7)" in text and "Heading" in text


def test_reports_open_on_what_to_fix_first(graded):
    _, _, out = graded
    erin = (out / "erin" / "report.md").read_text()
    fix = erin.split("## What to fix first")[1].split("\n## ")[0]
    lines = [line for line in fix.splitlines() if line.startswith("- ")]
    assert [line.split("]")[0] for line in lines] == ["- [2a.written", "- [1a.random", "- [1a.instance"]  # most points lost first
    assert "(−6 of 6)" in lines[0] and "answers.md is not in the submission" in lines[0] and "Jacobian factor is missing" in lines[2]
    for anchor in re.findall(r"\]\(#([^)]+)\)", fix):
        assert f'<a id="{anchor}"></a>' in erin  # each line links to the check's details
    assert erin.index("What to fix first") < erin.index("## Notes") < erin.index("## Problem 1")
    page = (out / "erin" / "report.html").read_text()
    assert page.index("id='fix-first'") < page.index("<h2>Problem 1") and "href='#check-1a.random'" in page
    hana = (out / "hana" / "report.md").read_text().split("## Notes")[0]
    assert f"- **Rename**: {P1}.py is not in the submission, but {P1}_final.py is: rename it to {P1}.py" in hana
