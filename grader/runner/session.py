"""The child processes of one submission: one per student module, replaced after a failure.

A module that fails to import (syntax error, exception, exit or hang at import time) is
remembered, so every check that needs it scores 0 with the same message without paying for
the failure again. So is a function (or `Class.method` of a handle, or a probe) that ran out
of time: later calls fail at once with "timed out earlier in <check>", so a submission whose
functions all hang costs about one time limit per function, not one per check.

The grader's own resource limits are recorded when this module is imported; a child must not
be able to change them, and `check_parent_limits` says so (and restores them) if one did.
"""
from __future__ import annotations

import os
import resource
import sys

from grader.runner.sandbox import Limits, Sandbox, StudentCodeError, new_child_id, share_with_group
from grader.submission import Submission

IMPORT_TIMEOUT_S = 30.0  # importing a module runs only its top level (training stays under __main__)
_LIMITS = {name: getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")}
_PARENT_LIMITS = {name: resource.getrlimit(number) for name, number in _LIMITS.items()}


def check_parent_limits() -> str | None:
    """A note when the grader's rlimits differ from those it started with (after restoring them)."""
    changed = {name: (was, resource.getrlimit(_LIMITS[name])) for name, was in _PARENT_LIMITS.items()
               if resource.getrlimit(_LIMITS[name]) != was}
    if not changed:
        return None
    restored = True
    for name, (was, _) in changed.items():
        try:
            resource.setrlimit(_LIMITS[name], was)
        except (OSError, ValueError):
            restored = False
    detail = ", ".join(f"{name} {now} instead of {was}" for name, (was, now) in sorted(changed.items()))
    note = (f"the grader's own resource limits were changed during this run ({detail}); "
            + ("they were restored, but results of this run may be affected" if restored else "they could not be restored"))
    print(f"grade: warning: {note}", file=sys.stderr)
    return note


def share_staged_copy(submission: Submission) -> None:
    """As root, let the children (each its own uid) read the staged copy: one group per submission.

    Chosen once, by the first caller: the grader processes that grade one student's modules at
    once each get a copy of `submission` after this ran, so they all hand their children the same
    group. (A group chosen per process would re-own the files under its siblings' children.)
    """
    if submission.reader_gid is None and os.geteuid() == 0 and sys.platform == "linux":
        submission.reader_gid = new_child_id()
        share_with_group(submission.staged, submission.reader_gid)


class StudentModules:
    def __init__(self, submission: Submission, limits: Limits):
        self.submission, self.limits = submission, limits
        self._boxes: dict[str, Sandbox] = {}
        self._imported: set[str] = set()
        self._import_failures: dict[str, StudentCodeError] = {}
        self.timed_out: dict[tuple[str, str], str] = {}  # (module, function label) -> the check where it timed out
        self.notes: list[str] = []  # for the run's notes: confinement that could not be applied, changed rlimits
        share_staged_copy(submission)

    def _new_box(self) -> Sandbox:
        return Sandbox(self.submission.staged, self.limits, gid=self.submission.reader_gid)

    def fresh_sandbox(self) -> Sandbox:
        """A new child of this submission that no check has used and none will reuse; the caller imports into it and closes it.

        For answers that must come from a process that never saw the other queries (SPEC's third rule).
        """
        return self._new_box()

    def prestart(self, modules: set[str]) -> None:
        """Start the children of `modules` now, so their torch import overlaps the grader's work."""
        for module in sorted(modules & set(self.submission.modules)):
            if module not in self._boxes:
                self._boxes[module] = self._new_box()

    def sandbox(self, module: str) -> Sandbox:
        """A live child with `module` imported (started on first use, restarted after a crash)."""
        source = self.submission.modules.get(module)
        if source is None:
            raise StudentCodeError("missing", f"{module}.py (or {module}.ipynb) is not in the submission")
        if module in self._import_failures:
            raise self._import_failures[module]
        box = self._boxes.get(module)
        if box is not None and box.alive and module in self._imported:
            return box
        if box is None or not box.alive:
            if box is not None:
                box.close()
            box = self._boxes[module] = self._new_box()
        self._imported.discard(module)
        try:
            box.import_module(module, source.path, IMPORT_TIMEOUT_S)
        except StudentCodeError as error:
            self._note_confinement(box)
            box.close()
            failure = StudentCodeError(error.kind, f"{source.origin} could not be imported: {error}", error.error_type)
            self._import_failures[module] = failure
            raise failure from None
        self._note_confinement(box)
        self._imported.add(module)
        return box

    def _note_confinement(self, box: Sandbox) -> None:
        for problem in box.confinement_problems or ():
            note = (f"the student's process ran less confined than designed on this machine: {problem} "
                    "(the grade is computed as usual; see docs/threat_model/isolation.md)")
            if note not in self.notes:
                print(f"grade: warning: {note}", file=sys.stderr)
                self.notes.append(note)

    def close(self) -> None:
        for box in self._boxes.values():
            box.close()
        self._boxes.clear()
        note = check_parent_limits()
        if note:
            self.notes.append(note)
