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
        self._import_failures: dict[str, StudentCodeError] = {}

    def sandbox(self, module: str) -> Sandbox:
        """A live child with `module` imported (started on first use, restarted after a crash)."""
        source = self.submission.modules.get(module)
        if source is None:
            raise StudentCodeError("missing", f"{module}.py (or {module}.ipynb) is not in the submission")
        if module in self._import_failures:
            raise self._import_failures[module]
        box = self._boxes.get(module)
        if box is not None and box.alive:
            return box
        if box is not None:
            box.close()
        box = Sandbox(self.submission.staged, self.limits)
        try:
            box.import_module(module, source.path, IMPORT_TIMEOUT_S)
        except StudentCodeError as error:
            box.close()
            failure = StudentCodeError(error.kind, f"{source.origin} could not be imported: {error}", error.error_type)
            self._import_failures[module] = failure
            raise failure from None
        self._boxes[module] = box
        return box

    def close(self) -> None:
        for box in self._boxes.values():
            box.close()
        self._boxes.clear()
