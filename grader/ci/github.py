"""What the students' grading workflow runs after `grade`: the job summary and the pull-request comment.

    python -m grader.ci.github summary grade-report >> "$GITHUB_STEP_SUMMARY"
    python -m grader.ci.github comment grade-report

`comment` reads the Actions environment (GITHUB_TOKEN, GITHUB_REPOSITORY, PR_NUMBER, GITHUB_API_URL,
GITHUB_SERVER_URL, GITHUB_RUN_ID). Its body starts with a hidden marker; a later push finds the
comment by that marker and edits it, so a pull request carries one score comment, not one per push.
"""
from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from grader.report import RUN_FILE
from grader.report.feedback import score_label, status_label
from grader.report.markdown import fix_first_markdown
from grader.report.safe import bounded, markdown_text
from grader.results import GradingRun

MARKER = "<!-- ps4-autograder: score comment -->"
SUMMARY_LIMIT = 1_000_000  # bytes; GitHub refuses a step summary over 1 MiB
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")
NOT_GRADED = ("The grader could not grade this commit (no report was written); the log of the "
              "**Grade** step says why, e.g. the repository holds none of the expected files.")


def _load_run(report_dir: Path) -> GradingRun | None:
    path = report_dir / RUN_FILE
    return GradingRun.from_dict(json.loads(path.read_text())) if path.is_file() else None


def job_summary(report_dir: Path) -> str:
    """report.md for the job summary: figures point to the artifact (the summary cannot show them)."""
    report = report_dir / "report.md"
    if not report.is_file():
        return f"# Problem Set 4: not graded\n\n{NOT_GRADED}\n"
    text = _IMAGE.sub(lambda m: f"_(figure `{m[2]}`: in the `{report_dir.name}` artifact)_", report.read_text())
    if len(text.encode()) > SUMMARY_LIMIT:
        cut = text.encode()[:SUMMARY_LIMIT - 200].decode(errors="ignore")
        text = cut + f"\n\n… (cut at GitHub's size limit; the full report is `report.md` in the `{report_dir.name}` artifact)\n"
    return text


def comment_body(report_dir: Path, run_url: str | None = None) -> str:
    """The pull request's score comment: what the score contains, what to fix first, a per-problem table,
    every check folded below. Text from the run goes through `markdown_text` (no table break, mention or link)."""
    run = _load_run(report_dir)
    lines = [MARKER]
    if run is None:
        lines += ["### Autograder: not graded", "", NOT_GRADED]
    else:
        run = bounded(run)
        md = markdown_text
        lines += [f"### Autograder: {run.score:g} / {run.max_score:g}", "", md(score_label(run)), ""]
        lines += [line.replace("## ", "#### ", 1) if line.startswith("## ") else line for line in fix_first_markdown(run)]
        lines += ["| problem | score | max | checks passed |", "|---|---:|---:|---:|"]
        for problem, group in groupby(run.results, key=lambda r: r.problem):
            results = list(group)
            graded = [r for r in results if r.score is not None]
            score = f"{sum(r.score for r in graded):g}" if graded else "pending"
            lines.append(f"| {problem} | {score} | {sum(r.max_score for r in results):g} | "
                         f"{sum(r.status == 'passed' for r in results)} / {len(results)} |")
        lines += ["", "<details><summary>Every check</summary>", "", "| check | score | status |", "|---|---:|---|"]
        lines += [f"| {md(r.id)}: {md(r.title)} | {'pending' if r.score is None else f'{r.score:g} / {r.max_score:g}'} | {status_label(r)} |"
                  for r in run.results]
        lines += ["", "</details>", ""] + [f"- {md(note)}" for note in run.notes]
    where = f"[this run]({run_url})" if run_url else "this run"
    lines += ["", f"Feedback and figures: the job summary and the `{report_dir.name}` artifact of {where}.",
              "These are the public checks on public data; the official grade uses held-out data."]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class GitHubApi:
    url: str  # e.g. https://api.github.com
    token: str
    repository: str  # owner/name

    def request(self, method: str, path: str, body: dict | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url.rstrip('/')}{path}", data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "ps4-autograder", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def find_comment(self, number: int) -> int | None:
        """The id of this pull request's score comment (the first carrying the marker), if any."""
        page = 1
        while True:
            comments = self.request("GET", f"/repos/{self.repository}/issues/{number}/comments?per_page=100&page={page}")
            for comment in comments:
                if MARKER in (comment.get("body") or ""):
                    return int(comment["id"])
            if len(comments) < 100:
                return None
            page += 1

    def upsert_comment(self, number: int, body: str) -> tuple[str, int]:
        """Edit the score comment, or create it: ("updated" | "created", comment id)."""
        existing = self.find_comment(number)
        if existing is not None:
            self.request("PATCH", f"/repos/{self.repository}/issues/comments/{existing}", {"body": body})
            return "updated", existing
        created = self.request("POST", f"/repos/{self.repository}/issues/{number}/comments", {"body": body})
        return "created", int(created["id"])


def post_comment(report_dir: Path, env: dict[str, str]) -> int:
    """Create or update the pull request's score comment from the Actions environment; the exit status."""
    missing = [k for k in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "PR_NUMBER") if not env.get(k)]
    if missing:
        print(f"comment: {', '.join(missing)} not set (this step runs on pull requests only)", file=sys.stderr)
        return 2
    server, run_id = env.get("GITHUB_SERVER_URL", "https://github.com"), env.get("GITHUB_RUN_ID")
    run_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{run_id}" if run_id else None
    api = GitHubApi(env.get("GITHUB_API_URL", "https://api.github.com"), env["GITHUB_TOKEN"], env["GITHUB_REPOSITORY"])
    try:
        action, comment_id = api.upsert_comment(int(env["PR_NUMBER"]), comment_body(report_dir, run_url))
    except urllib.error.HTTPError as error:
        if error.code == 403:  # a pull request from a fork gets a read-only token: the summary still has the scores
            print("::warning::could not comment on the pull request (HTTP 403: read-only token, e.g. a fork); "
                  "the scores are in the job summary", file=sys.stderr)
            return 0
        print(f"comment: GitHub answered HTTP {error.code}: {error.read()[:300]!r}", file=sys.stderr)
        return 1
    print(f"{action} the score comment {comment_id} on pull request #{env['PR_NUMBER']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("summary", "comment"):
        print("usage: python -m grader.ci.github summary|comment REPORT_DIR", file=sys.stderr)
        return 2
    report_dir = Path(argv[1])
    if argv[0] == "summary":
        sys.stdout.write(job_summary(report_dir))
        return 0
    return post_comment(report_dir, dict(os.environ))


if __name__ == "__main__":
    sys.exit(main())
