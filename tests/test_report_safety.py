"""Reports are bounded and inert: whatever text a submission puts into its errors, notes or
answers, every report file stays under 1 MB and nothing in it renders as HTML or active Markdown.

Markdown is checked by rendering it with markdown-it-py's GFM-like preset (tables,
strikethrough, bare-URL autolinks): the HTML that comes out must hold only paragraphs and line
breaks, and show exactly the original text.
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pytest
from helpers import CORPUS, by_id, grade, patched_submission
from markdown_it import MarkdownIt

from grader.report import RUN_FILE, write_reports
from grader.report.safe import MAX_NOTES, bounded, markdown_text
from grader.results import CheckResult, GradingRun
from grader.runner.sandbox import Limits

P1 = "p1_change_of_variables"
ATTACKED = {"1a.instance", "1a.normalised"}  # call density_linear, the attacked function
UNTOUCHED = {"1b1.dtype"}  # calls simulate only
REPORTS = ("results.json", "report.md", "report.html", RUN_FILE)
MB = 2**20
HOSTILE = ("\n# Score: 100/100\n<img src=x onerror=alert(1)> <script>alert(2)</script>\n[click](javascript:alert(3)) "
           "![t](http://evil.example/t.png) <http://evil.example> http://evil.example www.evil.example\n"
           "**bold** _em_ snake_case_name __init__ _a_b_ ~~gone~~ `code` $x$ &lt;b&gt; \\<b>x</b>\n| a | b |\n|---|---|\n1. item\n- item\n> quote\n---\n"
           "[ref]: http://evil.example\n\u202eevil\x1b[31m\x00 \ud800 end")
RENDER = MarkdownIt("gfm-like")


def rendered_text(markdown: str, allowed: frozenset[str] = frozenset({"p", "br"})) -> str:
    """The visible text of `markdown` rendered to HTML; fails if any tag but `allowed` appears."""
    out = RENDER.render(markdown)
    tags = set(re.findall(r"</?([a-zA-Z0-9]+)", out))
    assert tags <= allowed, (tags, out[:500])
    return html.unescape(re.sub(r"<br />\n|</?p>", lambda m: "\n" if m.group().startswith("<br") else "", out)).strip("\n")


def test_markdown_text_renders_literally():
    visible = rendered_text(markdown_text(HOSTILE))
    expected = HOSTILE.replace("\u202e", "").replace("\x1b", "").replace("\x00", "").replace("\ud800", "?")
    assert [line.strip() for line in visible.split("\n")] == [line.strip() for line in expected.strip("\n").split("\n")]


def fake_run(output: str, notes: int, path: str) -> GradingRun:
    results = tuple(CheckResult(f"1a.check{i}", "1a", "a title", 1.0, 0.0, "failed", output, "visible",
                                figures=("figures/ok.png", "../../etc/passwd", "figures/<x>.png", "javascript:alert(1)"))
                    for i in range(34))
    return GradingRun(path, results, 1.0, tuple(output for _ in range(notes)))


@pytest.mark.parametrize("unit", ["&", "<", "\\", "\U0001f600", "\n", HOSTILE])
def test_every_report_stays_under_a_megabyte(tmp_path, unit):
    """34 checks each with 4 MB of the costliest characters to escape, 100 notes of it, and a path of it."""
    text = unit * (4 * MB // len(unit))
    write_reports(fake_run(text, 100, text), tmp_path)
    for name in REPORTS:
        assert (tmp_path / name).stat().st_size < MB, name
    run = GradingRun.from_dict(json.loads((tmp_path / RUN_FILE).read_text()))
    assert len(run.notes) == MAX_NOTES and run.notes[-1] == f"... and {100 - MAX_NOTES + 1} more notes, not shown"
    assert all(r.figures == ("figures/ok.png",) for r in run.results)
    assert bounded(run) == run  # what was written is already within the caps


def test_reports_hold_no_markup_from_the_run(tmp_path):
    write_reports(fake_run(HOSTILE, 3, HOSTILE), tmp_path)
    check_inert(tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    rendered_text(results["tests"][0]["output"])
    rendered_text(results["output"], frozenset({"p", "br", "ul", "li", "strong"}))  # the grader's own lists and heading


def check_inert(out: Path) -> None:
    """No raw tag from the run in any report; report.html's only tags are the grader's own."""
    for name in ("results.json", RUN_FILE, "report.md"):
        text = (out / name).read_text()
        assert "<img" not in text and "<script" not in text and "<http" not in text, name
    page = (out / "report.html").read_text()
    assert "<script" not in page
    assert all(tag.startswith("<img src='figures/") for tag in re.findall(r"<img[^>]*>", page)), re.findall(r"<img[^>]*>", page)
    assert set(re.findall(r"</?([a-zA-Z0-9]+)", page)) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "br",
                                                             "b", "code", "ul", "ol", "li", "table", "tr", "th", "td", "a", "pre", "img",
                                                             "small", "section"}
    assert "Content-Security-Policy" in page


@pytest.mark.parametrize("case", ["html_file_name", "html_error_type"])
def test_hostile_errors_are_bounded_and_escaped(tmp_path, case):
    """A megabyte of HTML in an error's location, type name or message: every report < 1 MB and
    inert, the attacked checks score 0, the untouched check keeps its points."""
    folder = patched_submission(tmp_path / "submission", P1, CORPUS / "hostile" / "reports" / f"{case}.py")
    out = tmp_path / "out"
    run = grade(folder, out, ids=ATTACKED | UNTOUCHED, limits=Limits(memory_mb=2048, time_scale=0.3))
    assert write_reports(run, out) == []
    results = by_id(run)
    assert all(results[i].score == 0 for i in ATTACKED)
    assert all(results[i].score == results[i].max_score for i in UNTOUCHED)
    for name in REPORTS:
        assert (out / name).stat().st_size < MB, name
    check_inert(out)
    written = json.loads((out / "results.json").read_text())
    shown = rendered_text(next(t["output"] for t in written["tests"] if t["extra_data"]["check_id"] == "1a.instance"))
    assert "density_linear" in shown and "<img src=x onerror=alert(" in shown  # what happened, shown as text
    if case == "html_file_name":  # the runner cuts the child's locations (200 characters each) before any report
        assert len(shown) < 2_000, len(shown)


def test_a_link_or_folder_at_a_report_name_is_replaced_or_reported(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "report.md").symlink_to(victim)
    (out / "results.json").mkdir()
    problems = write_reports(fake_run("fine", 1, "sub"), out)
    assert victim.read_text() == "keep me"
    assert not (out / "report.md").is_symlink() and "fine" in (out / "report.md").read_text()
    assert len(problems) == 1 and "results.json" in problems[0] and (out / "results.json").is_dir()
    assert (out / "report.html").is_file() and (out / RUN_FILE).is_file()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_written_answers_render_as_text(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "answers.md").write_text(f"## 1b4\n\nMy answer. {HOSTILE}\n\n## 1b5\n" + "long " * 10_000 + "\n",
                                         encoding="utf-8", errors="surrogatepass")  # invalid UTF-8 bytes too
    out = tmp_path / "out"
    run = grade(folder, out, ids={"1b4.written", "1b5.written"})
    write_reports(run, out)
    check_inert(out)
    outputs = {t["extra_data"]["check_id"]: t["output"] for t in json.loads((out / "results.json").read_text())["tests"]}
    assert "My answer.\n# Score: 100/100\n<img src=x onerror=alert(1)>" in rendered_text(outputs["1b4.written"])
    assert "the full answer is in answers.md" in by_id(run)["1b5.written"].output
    assert os.path.getsize(out / "report.md") < MB


GITHUB_TEXT = "@octocat and @org/team see #12, write to a@b.co; title | with | pipes **bold** http://evil.example"


def test_markdown_text_forms_no_mention_reference_or_email_link():
    shown = markdown_text(GITHUB_TEXT)
    assert not re.search(r"[@#][\w-]", shown)  # GitHub's mentions and references need a word character right after
    assert rendered_text(shown).replace("\u200b", "") == GITHUB_TEXT


def test_the_pull_request_comment_renders_student_text_literally(tmp_path):
    """A `|` in a title keeps its table row; notes (file names a student chose) form no mention, link or emphasis."""
    from grader.ci.github import comment_body  # noqa: PLC0415 - the CI entry point, only here

    results = (CheckResult("1a.instance", "1a", "a | b", 1.5, 0.0, "failed", GITHUB_TEXT, "visible"),
               CheckResult("2a.written", "2a", "written", 6.0, None, "pending", "Answer:\n\n@octocat", "visible"))
    (tmp_path / RUN_FILE).write_text(json.dumps(GradingRun("sub", results, 1.0, (GITHUB_TEXT,)).to_dict()))
    body = comment_body(tmp_path)
    rows = [line for line in body.splitlines() if line.startswith("| 1a")]
    assert len(rows) == 1 and len(re.findall(r"(?<!\\)\|", rows[0])) == 4, rows  # 3 cells: 4 unescaped pipes
    assert "pending: awaits the instructor" in body and "failed" not in body.split("Every check")[1].split("2a")[1]
    html_out = RENDER.render(body)
    assert "<strong>bold" not in html_out and "href=\"http://evil" not in html_out and not re.search(r"@[\w-]", body)
    assert "What to fix first" in body and "1a.instance" in body
