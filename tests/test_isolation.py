"""The child's confinement, attack by attack: each corpus attack is called directly in a child
(one child per module, several calls) and every route it tries must be refused by the kernel.

The same files are graded as whole submissions in tests/test_hostile.py.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import CORPUS, ROOT, grade, patched_submission

from grader.runner import landlock
from grader.runner.sandbox import Limits, Ref, Sandbox, StudentCodeError, child_sys_path, hidden_paths
from grader.runner.session import check_parent_limits

P1 = "p1_change_of_variables"
LINUX_CONFINED = platform.system() == "Linux" and platform.machine() in ("x86_64", "aarch64")
pytestmark = pytest.mark.skipif(not LINUX_CONFINED, reason="the kernel layers (Landlock, seccomp) are Linux-only")


def _child(folder: Path) -> Sandbox:
    box = Sandbox(folder, Limits(memory_mb=2048, time_scale=0.2))
    box.import_module(P1, folder / f"{P1}.py")
    return box


def _attack(tmp_path: Path, case: str, substitutions: dict[str, str] | None = None) -> tuple[dict[str, str], Sandbox]:
    folder = patched_submission(tmp_path / "class" / "student", P1, CORPUS / "hostile" / f"{case}.py", substitutions)
    box = _child(folder)
    return box.call(Ref(P1, "attack"), timeout_s=30), box


def _refused(outcomes: dict[str, str], *names: str) -> None:
    for name in names:
        assert outcomes[name].startswith("refused"), (name, outcomes[name])


def test_the_grader_cannot_be_signalled(tmp_path):
    outcomes, box = _attack(tmp_path, "proc_signal_parent")
    box.close()
    _refused(outcomes, *outcomes)  # every route, including kill(-1) and F_SETOWN


def test_the_grader_cannot_be_limited_traced_or_read(tmp_path):
    before = resource.getrlimit(resource.RLIMIT_FSIZE), resource.getrlimit(resource.RLIMIT_AS)
    outcomes, box = _attack(tmp_path, "proc_limit_parent")
    box.close()
    _refused(outcomes, "prlimit FSIZE 0", "prlimit AS 64 MB", "ptrace attach", "process_vm_readv")
    assert outcomes["own prlimit"] == "SUCCEEDED"  # the filter lets it limit itself
    assert (resource.getrlimit(resource.RLIMIT_FSIZE), resource.getrlimit(resource.RLIMIT_AS)) == before


def test_no_socket_of_any_kind_and_no_io_uring(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    unix_path = tmp_path / "listener.sock"
    unix_listener = socket.socket(socket.AF_UNIX)
    unix_listener.bind(str(unix_path))
    unix_listener.listen()
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0ps4-test-{os.getpid()}")
    abstract.listen()
    received: list[bytes] = []

    def accept(server: socket.socket) -> None:
        server.settimeout(5)
        try:
            connection, _ = server.accept()
            received.append(connection.recv(100) or b"connected")
        except OSError:
            pass

    threads = [threading.Thread(target=accept, args=(s,)) for s in (listener, unix_listener, abstract)]
    for thread in threads:
        thread.start()
    try:
        outcomes, box = _attack(tmp_path, "net_sockets", {"TCP_PORT": str(listener.getsockname()[1]), "UNIX_PATH": str(unix_path),
                                                          "ABSTRACT_NAME": f"ps4-test-{os.getpid()}"})
        box.close()
    finally:
        for thread in threads:
            thread.join()
        for server in (listener, unix_listener, abstract):
            server.close()
    _refused(outcomes, *outcomes)
    assert received == []  # no listener heard anything


def test_dev_is_read_only_but_dev_null_and_nothing_remains(tmp_path):
    name = f"ps4-test-{os.getpid()}"
    outcomes, box = _attack(tmp_path, "dev_shm", {"SHM_NAME": name})
    workdir = box.workdir
    box.close()
    _refused(outcomes, *outcomes)
    assert not Path("/dev/shm", name).exists()
    assert not workdir.exists()  # its own folder (scratch and TMPDIR) is removed with it


def test_reads_are_an_allowlist(tmp_path):
    """A sibling of the submission, the output folder, the grader's environment: all unreadable."""
    out, classmate = tmp_path / "out", tmp_path / "class" / "classmate"
    out.mkdir()
    (out / "results.json").write_text("{}")
    patched_submission(classmate, P1, None)
    outcomes, box = _attack(tmp_path, "read_private_places", {"OUT_DIR": str(out), "CLASS_DIR": str(tmp_path / "class"),
                                                              "PROJECT_DIR": str(ROOT)})
    box.close()
    _refused(outcomes, *outcomes)


def test_a_classmates_file_cannot_be_run(tmp_path):
    classmate = patched_submission(tmp_path / "class" / "classmate", P1, None)
    folder = patched_submission(tmp_path / "class" / "student", P1, CORPUS / "hostile" / "read_classmate.py",
                                {"SIBLING_FILE": str(classmate / f"{P1}.py")})
    box = _child(folder)
    try:
        with pytest.raises(StudentCodeError, match="Permission denied"):
            box.call(Ref(P1, "density_linear"), np.zeros((3, 2)), np.eye(2), timeout_s=30)
    finally:
        box.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop happens only when the grader runs as root")
def test_as_root_the_child_runs_as_its_own_user_without_capabilities(tmp_path):
    folder = patched_submission(tmp_path / "s", P1, None)
    (folder / "probe.py").write_text("import os\n\ndef ids():\n    status = open('/proc/self/status').read().splitlines()\n"
                                     "    caps = {l.split(':')[0]: int(l.split()[1], 16) for l in status if l.startswith('Cap')}\n"
                                     "    return [os.getuid(), os.getgid(), os.getgroups(), caps['CapEff'], caps['CapBnd']]\n")
    box, other = Sandbox(folder, Limits()), Sandbox(folder, Limits())
    try:
        box.import_module("probe", folder / "probe.py")
        other.import_module("probe", folder / "probe.py")
        uid, gid, groups, effective, bounding = box.call(Ref("probe", "ids"))
        other_uid = other.call(Ref("probe", "ids"))[0]
    finally:
        box.close(), other.close()
    assert uid != 0 and gid != 0 and groups == [] and uid != other_uid  # a uid per child: they cannot signal each other
    assert effective & ~(1 << 2) == 0 and bounding & ~(1 << 2) == 0  # nothing but, where needed, CAP_DAC_READ_SEARCH


def test_the_allowlist_leaves_out_the_project_and_foreign_import_paths(tmp_path):
    rules = landlock.read_allowlist(child_sys_path(), [str(tmp_path)], hidden_paths())
    paths = [Path(path) for _, path in rules]
    runtime = Path(sys.prefix).resolve()
    assert not any(path == ROOT or path in ROOT.parents for path in paths)
    # inside the checkout only the Python runtime may be read (a newcomer's `.venv/` there), nothing of the project
    assert all(path == runtime or runtime in path.parents for path in paths if ROOT in path.parents)
    for folder in ("grader", "reference", "student_template", "tests", "assets"):
        assert not any(path == ROOT / folder or ROOT / folder in path.parents for path in paths)
    assert not any(Path(entry).resolve() in (ROOT, ROOT / "tests") for entry in child_sys_path())
    assert Path(tmp_path) in paths and all(kind != landlock.DEVICE for kind, _ in rules)


def test_a_checkout_inside_an_allowed_root_is_cut_out(tmp_path):
    (tmp_path / "lib" / "checkout").mkdir(parents=True)
    (tmp_path / "lib" / "numpy").mkdir()
    (tmp_path / "lib" / "six.py").write_text("")
    kept = [path for _, path in landlock.read_allowlist([str(tmp_path / "lib")], [], [tmp_path / "lib" / "checkout"])]
    assert str(tmp_path / "lib" / "numpy") in kept and str(tmp_path / "lib" / "six.py") in kept
    assert not any(path.startswith(str(tmp_path / "lib" / "checkout")) or path == str(tmp_path / "lib") for path in kept)


def test_cuda_mode_reaches_the_child_and_opens_only_then_the_driver_files(tmp_path):
    cpu = landlock.read_allowlist([], [], [], "cpu")
    cuda = landlock.read_allowlist([], [], [], "cuda")
    assert not any(path.startswith(("/dev/nvidia", "/proc/driver")) for _, path in cpu)
    assert ("device", "/dev/nvidiactl") in cuda
    box = Sandbox(patched_submission(tmp_path / "s", P1, None), Limits(device="cuda"))
    try:
        config = json.loads((box.workdir / ".config.json").read_text())
    finally:
        box.close()
    assert config["device"] == "cuda" and ["device", "/dev/nvidiactl"] in config["rules"]


def test_changed_grader_limits_are_noticed_and_restored():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert check_parent_limits() is None
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft // 2, hard))
    note = check_parent_limits()
    assert note is not None and "RLIMIT_NOFILE" in note and "restored" in note
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)


def test_a_child_that_stops_itself_costs_one_time_limit(tmp_path):
    folder = patched_submission(tmp_path / "s", P1, CORPUS / "hostile" / "channel_stop_self.py")
    box = Sandbox(folder, Limits(memory_mb=2048, timeout_s=2))
    try:
        box.import_module(P1, folder / f"{P1}.py")
        box.call(Ref(P1, "density_linear"), np.zeros((3, 2)), np.eye(2))
        time.sleep(1)  # now it is stopped; the next request (8 MB, more than a pipe holds) cannot be written
        started = time.monotonic()
        with pytest.raises(StudentCodeError) as error:
            box.call(Ref(P1, "density_linear"), np.zeros((2**19, 2)), np.eye(2))
        assert error.value.kind == "timeout" and time.monotonic() - started < 5
    finally:
        box.close()
    assert not box.alive


def test_the_child_reports_which_layers_it_could_not_apply(tmp_path):
    box = _child(patched_submission(tmp_path / "s", P1, None))
    box.close()
    if landlock.kernel_abi() >= 6:  # every layer exists on this kernel: nothing to report
        assert box.confinement_problems == ()
    else:
        assert box.confinement_problems and all("Landlock" in problem for problem in box.confinement_problems)


def test_incomplete_confinement_becomes_one_note_of_the_run(tmp_path, monkeypatch):
    import_module = Sandbox.import_module

    def on_an_old_kernel(box, *args, **kwargs):
        import_module(box, *args, **kwargs)
        box.confinement_problems = ("Landlock is not available (errno 38)",)

    monkeypatch.setattr(Sandbox, "import_module", on_an_old_kernel)
    folder = patched_submission(tmp_path / "s", P1, None, also=("p3_ebm.py",))
    run = grade(folder, tmp_path / "out", ids={"1a.dtype", "3.cd_loss"})
    notes = [note for note in run.notes if "less confined than designed" in note]
    assert len(notes) == 1 and "Landlock is not available (errno 38)" in notes[0]  # two children, one note
    assert {r.id: r.score for r in run.results} == {"1a.dtype": 0.5, "3.cd_loss": 4}  # graded as usual
