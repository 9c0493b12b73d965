"""Grading outside the instructor's machine: students' GitHub Actions and Gradescope.

- `workflow` — the grading workflow of students' repositories (`grade init-ci` writes it);
- `github` — what that workflow runs after `grade`: the job summary and the pull-request comment;
- `gradescope_zip` — `grade gradescope-zip`: the autograder zip;
- `autograder` — what the zip's `run_autograder` runs inside Gradescope;
- `expect` — this project's CI: the reference earns every autograded point, the template none.
"""
