"""Hostile submissions: each attack costs only the checks of the function it lives in.

Every case is the correct reference module with `density_linear` (or the import itself)
replaced by an attack. The run must complete, the attacked checks score 0 with a reason, the
reports are the grader's own, and the student's folder is left as it was.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import pytest

from grader.report import write_reports
from grader.runner.sandbox import Limits
from helpers import CORPUS, REFERENCE, by_id, grade, patched_submission

P1 = "p1_change_of_variables"
IDS = {"1a.instance", "1a.normalised"}  # two checks that call the attacked function
FAST = Limits(memory_mb=2048, time_scale=0.1)  # 3 s per call instead of 30 s

# case -> substring of the feedback every attacked check must carry
ATTACKS = {
    "infinite_loop": "timed out",
    "exit_at_import": "could not be imported: SystemExit: sys.exit(0) was called",
    "os_exit_at_import": "could not be imported",
    "exit_in_call": "sys.exit(0) was called",
    "os_exit_in_call": "exited with code 0",
    "memory_bomb": "ran out of memory",
    "imports_grader": "cannot be imported by submitted code",
    "imports_reference_at_top": "could not be imported",
    "forges_results": "",
    "imitates_protocol": "",
    "always_equal": "should be a tensor but was an object of type _Anything",
    "lying_tensor": "",
    "monkeypatches_torch": "",
    "reads_reference_source": "Permission denied",
}
if platform.machine() in ("x86_64", "aarch64"):  # where the seccomp filter stops fork bombs
    ATTACKS["fork_bomb"] = "PermissionError"


@pytest.mark.parametrize("case", sorted(ATTACKS))
def test_attack_costs_only_its_own_checks(tmp_path, case):
    submission, out = tmp_path / "submission", tmp_path / "out"
    folder = patched_submission(submission, P1, CORPUS / "hostile" / f"{case}.py",
                                {"SUBMISSION_DIR": str(submission), "OUT_DIR": str(out),
                                 "REFERENCE_FILE": str(REFERENCE / f"{P1}.py")})
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    started = time.monotonic()
    run = grade(folder, out, ids=IDS, limits=FAST)
    write_reports(run, out)
    assert time.monotonic() - started < 120
    results = by_id(run)
    assert set(results) == IDS
    for check_id in IDS:
        assert results[check_id].score == 0.0, (check_id, results[check_id].output)
        assert ATTACKS[case] in results[check_id].output, (check_id, results[check_id].output)
    written = json.loads((out / "results.json").read_text())
    assert written["score"] == 0.0 and {t["extra_data"]["check_id"] for t in written["tests"]} == IDS
    assert "forged" not in (out / "report.md").read_text()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # the student's folder untouched
    assert not Path("/tmp/ps4-escaped").exists()

