"""Hostile submissions: each attack costs only the checks of the function it lives in.

Every case is the correct reference module with `density_linear` (or the import itself)
replaced by an attack. The run must complete, the attacked checks score 0 with a reason, the
reports are the grader's own, and the student's folder is left as it was.
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CORPUS, REFERENCE, by_id, grade, patched_submission

from grader.report import write_reports
from grader.runner.sandbox import Limits

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
    "huge_integer_reply": "has shape () but the contract says",
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



# Attacks on the machine rather than on the checks: each reports what it tried ("attack
# outcomes: {...}") and every route must have been refused (see also tests/test_isolation.py).
PROCESS_ATTACKS = {
    "proc_signal_parent": "attack outcomes",
    "proc_limit_parent": "attack outcomes",
    "net_sockets": "attack outcomes",
    "dev_shm": "attack outcomes",
    "read_private_places": "attack outcomes",
    "read_classmate": "Permission denied",
    "channel_overlap": "broke the grader's channel",
    "channel_huge_reply": "",  # over the reply cap, or (on a loaded machine) too slow to build within 3 s
}


@pytest.mark.parametrize("case", sorted(PROCESS_ATTACKS))
def test_attacks_on_the_machine_gain_nothing(tmp_path, case):
    classmate = patched_submission(tmp_path / "class" / "classmate", P1, None)
    submission, out = tmp_path / "class" / "student", tmp_path / "out"
    out.mkdir()
    folder = patched_submission(submission, P1, CORPUS / "hostile" / f"{case}.py", {
        "OUT_DIR": str(out), "CLASS_DIR": str(tmp_path / "class"), "PROJECT_DIR": str(REFERENCE.parent),
        "SIBLING_FILE": str(classmate / f"{P1}.py"), "TCP_PORT": "9", "UNIX_PATH": str(tmp_path / "none.sock"),
        "ABSTRACT_NAME": "ps4-none", "SHM_NAME": f"ps4-hostile-{case}"})
    run = grade(folder, out, ids=IDS, limits=FAST)
    write_reports(run, out)
    results = by_id(run)
    for check_id in IDS:
        assert results[check_id].score == 0.0 and PROCESS_ATTACKS[case] in results[check_id].output, results[check_id].output
        assert "SUCCEEDED" not in results[check_id].output.replace("'own prlimit': 'SUCCEEDED'", "")  # the control may
    assert json.loads((out / "results.json").read_text())["score"] == 0.0
    assert not Path("/dev/shm", f"ps4-hostile-{case}").exists()


def test_a_function_that_timed_out_is_not_called_again(tmp_path):
    """Four Problem 1a checks call the hanging density_linear: one time limit in all, not four."""
    folder = patched_submission(tmp_path / "submission", P1, CORPUS / "hostile" / "infinite_loop.py")
    ids = {"1a.instance", "1a.random", "1a.dtype", "1a.normalised"}
    started = time.monotonic()
    run = grade(folder, tmp_path / "out", ids=ids, limits=FAST)
    elapsed = time.monotonic() - started
    limit = Limits().timeout_s * FAST.time_scale
    outputs = [r.output for r in run.results]
    assert all(r.score == 0.0 for r in run.results)
    assert sum("timed out earlier in 1a." in o for o in outputs) == 3, outputs
    assert elapsed < 2 * limit + 60  # one time limit plus the child's start, not four limits


def test_a_class_run_with_attackers_beside_a_correct_submission(tmp_path):
    """Attackers (one signals the grader, one runs a classmate's file, one reads the grader's environment
    and the class folder into its feedback) in a class run started with a secret in the grader's
    environment: the run completes, the correct student keeps full marks, the attackers get
    nothing, and the secret appears nowhere."""
    classroom, out = tmp_path / "class", tmp_path / "out"
    alice = patched_submission(classroom / "alice", P1, None)
    patched_submission(classroom / "mallory", P1, CORPUS / "hostile" / "proc_signal_parent.py")
    patched_submission(classroom / "oscar", P1, CORPUS / "hostile" / "read_classmate.py", {"SIBLING_FILE": str(alice / f"{P1}.py")})
    patched_submission(classroom / "eve", P1, CORPUS / "hostile" / "read_private_places.py",
                       {"OUT_DIR": str(out), "CLASS_DIR": str(classroom), "PROJECT_DIR": str(REFERENCE.parent)})
    secret = "ps4-secret-4f1c9a"
    command = [sys.executable, "-m", "grader.cli", str(classroom), "--class", "--check", ",".join(sorted(IDS)),
               "--out", str(out), "--time-scale", "0.5", "--quiet"]
    done = subprocess.run(command, cwd=REFERENCE.parent, env={**os.environ, "PS4_SECRET": secret}, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    names = ("alice", "eve", "mallory", "oscar")
    scores = {name: json.loads((out / name / "results.json").read_text())["score"] for name in names}
    assert scores == {"alice": 2.5, "eve": 0.0, "mallory": 0.0, "oscar": 0.0}
    assert "Permission denied" in (out / "eve" / "results.json").read_text()  # it did try, and was refused
    assert (out / "gradebook.csv").is_file()
    for path in out.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


def test_a_submission_whose_functions_all_hang_costs_one_limit_per_function(tmp_path):
    folder = patched_submission(tmp_path / "submission", P1, CORPUS / "hostile" / "hang_every_function.py")
    started = time.monotonic()
    run = grade(folder, tmp_path / "out", problems={1}, limits=FAST)
    elapsed = time.monotonic() - started
    graded = [r for r in run.results if r.score is not None]
    assert graded and all(r.score == 0.0 for r in graded)
    timed_out_now = [r for r in graded if "did not finish within" in r.output]
    assert len(timed_out_now) <= 4, [r.id for r in timed_out_now]  # one per function, then "timed out earlier"
    assert elapsed < 4 * 60 * FAST.time_scale + 90


@pytest.mark.parametrize("module, problem", [("p3_ebm", 3), ("p4_realnvp", 4)])
def test_problems_3_and_4_whose_functions_all_hang_cost_one_limit_per_function(tmp_path, module, problem):
    """Every function and class hangs: each times out at most once; a later use fails at once ("timed out earlier")."""
    patch = CORPUS / "hostile" / f"hang_every_function_p{problem}.py"
    folder = patched_submission(tmp_path / "submission", module, patch, also=("p3_energy.pt",) if problem == 3 else ())
    run = grade(folder, tmp_path / "out", problems={problem}, limits=FAST)
    assert all(r.score == 0.0 for r in run.results), [(r.id, r.score) for r in run.results]
    timed_out_now = re.findall(r"([A-Za-z_][\w.]*): did not finish within", "\n".join(r.output for r in run.results))
    assert timed_out_now and len(timed_out_now) == len(set(timed_out_now)), timed_out_now
