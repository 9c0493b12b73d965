"""The child processes of one submission: one per student module, replaced after a failure.

A module that fails to import (syntax error, exception, exit or hang at import time) is
remembered, so every check that needs it scores 0 with the same message without paying for
the failure again.
"""
from __future__ import annotations

from grader.runner.sandbox import Limits, Sandbox, StudentCodeError
from grader.submission import Submission

IMPORT_TIMEOUT_S = 60.0


class StudentModules:
    def __init__(self, submission: Submission, limits: Limits):
        self.submission, self.limits = submission, limits
        self._boxes: dict[str, Sandbox] = {}
        self._imported: set[str] = set()
        self._import_failures: dict[str, StudentCodeError] = {}

    def prestart(self, modules: set[str]) -> None:
        """Start the children of `modules` now, so their torch import overlaps the grader's work."""
        for module in sorted(modules & set(self.submission.modules)):
            if module not in self._boxes:
                self._boxes[module] = Sandbox(self.submission.staged, self.limits)

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
            box = self._boxes[module] = Sandbox(self.submission.staged, self.limits)
        self._imported.discard(module)
        try:
            box.import_module(module, source.path, IMPORT_TIMEOUT_S)
        except StudentCodeError as error:
            box.close()
            failure = StudentCodeError(error.kind, f"{source.origin} could not be imported: {error}", error.error_type)
            self._import_failures[module] = failure
            raise failure from None
        self._imported.add(module)
        return box

    def close(self) -> None:
        for box in self._boxes.values():
            box.close()
        self._boxes.clear()
