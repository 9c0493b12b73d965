"""Work the grader does on a student's data, run in a short-lived process of its own with time and memory limits.

Parsing a notebook, rendering it to HTML: no student code runs there, but the input is hostile
(a crafted Markdown cell made nbconvert run for 856 s; a large Markdown table took over 2 GB).
In the grader's process such work would stall or swell the whole class run, so it runs in a
helper process that limits itself before reading anything (`RLIMIT_AS` on Linux, `RLIMIT_CPU`,
`RLIMIT_FSIZE`, `RLIMIT_CORE`) and that the grader kills at a wall-clock deadline. A failure is a
`Bounded` with the reason, never an exception in the grader.

    result = run_bounded("grader.notebooks:parse_in_helper", [str(path)], seconds=30, memory_bytes=2**30)
    result.value if result.ok else result.reason

The function named runs in the helper with string arguments and returns JSON-able data. The
helper is the grader's own Python with the grader's own site directories (nbconvert may live in
the user's site), never a process that has run student code.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_BYTES = 256 * 2**20  # the largest file a helper may write
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from grader.bounded import _helper_main; _helper_main(sys.argv[2:])"
_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Bounded:
    """What a helper process gave: `value` when `ok`, else `reason` (time, memory, or its exit)."""

    ok: bool
    value: Any = None
    reason: str = ""


def run_bounded(function: str, args: list[str], seconds: float, memory_bytes: int) -> Bounded:
    """Call `function` ("package.module:name") with `args` in a helper process limited to `seconds` and `memory_bytes`."""
    command = [sys.executable, "-c", _BOOT, _PACKAGE_PARENT, function, str(seconds), str(memory_bytes), *args]
    try:
        done = subprocess.run(command, env=_ENV, stdin=subprocess.DEVNULL, capture_output=True, timeout=seconds, check=False)
    except subprocess.TimeoutExpired:
        return Bounded(False, reason=f"it took longer than {seconds:g} s")
    if done.returncode != 0:
        tail = done.stderr[-2000:]
        if b"MemoryError" in tail or done.returncode in (-9, 137):
            return Bounded(False, reason=f"it needed more than {memory_bytes / 2**20:g} MB")
        if done.returncode in (-24, 152) or b"CPU time" in tail:
            return Bounded(False, reason=f"it took longer than {seconds:g} s of CPU time")
        return Bounded(False, reason=f"the helper process failed (exit status {done.returncode})")
    try:
        return Bounded(True, json.loads(done.stdout))
    except ValueError:
        return Bounded(False, reason="the helper process gave no answer")


def _helper_main(argv: list[str]) -> None:
    """Entry point of the helper process: limit itself, call the function, print its JSON value."""
    function, seconds, memory_bytes, args = argv[0], float(argv[1]), int(argv[2]), argv[3:]
    try:
        import resource  # POSIX only

        cpu = max(1, int(seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_BYTES, FILE_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sys.platform == "linux":  # macOS does not enforce RLIMIT_AS
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ImportError, ValueError, OSError):
        pass
    module, name = function.split(":")
    value = getattr(importlib.import_module(module), name)(*args)
    sys.stdout.write(json.dumps(value))
