"""A seccomp filter for the child: no new processes, no programs, no network.

Loaded by the worker (by file path) after torch is imported and before any student code runs.
Threads stay allowed (`clone` with CLONE_THREAD; `clone3` answers ENOSYS so glibc falls back
to `clone`), so torch's intra-op parallelism still works; `fork`, `vfork`, a process-creating
`clone`, `execve` and sockets other than AF_UNIX fail with EPERM. This is what stops a fork
bomb when the grader runs as root, where RLIMIT_NPROC is not enforced.
"""
from __future__ import annotations

import ctypes
import platform
import struct

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_CLONE_THREAD, _AF_UNIX = 0x00010000, 1
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2

# arch -> (AUDIT_ARCH value, syscall numbers)
_ARCHES = {
    "x86_64": (0xC000003E, dict(clone=56, fork=57, vfork=58, execve=59, execveat=322, clone3=435, socket=41)),
    "aarch64": (0xC00000B7, dict(clone=220, execve=221, execveat=281, clone3=435, socket=198)),
}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _program(audit_arch: int, nr: dict[str, int]) -> list[bytes]:
    deny, enosys = _ERRNO | _EPERM, _ERRNO | _ENOSYS
    prog = [_op(_LD_W_ABS, 4), _op(_JEQ, audit_arch, 1, 0), _op(_RET, deny), _op(_LD_W_ABS, 0)]
    prog += [_op(_JGE, 0x40000000, 0, 1), _op(_RET, deny)]  # x32 ABI numbers
    # clone: allow only thread creation (flags are the first argument)
    prog += [_op(_JEQ, nr["clone"], 0, 4), _op(_LD_W_ABS, 16), _op(_JSET, _CLONE_THREAD, 0, 1), _op(_RET, _ALLOW), _op(_RET, deny)]
    prog += [_op(_JEQ, nr["clone3"], 0, 1), _op(_RET, enosys)]
    # socket: AF_UNIX only
    prog += [_op(_JEQ, nr["socket"], 0, 4), _op(_LD_W_ABS, 16), _op(_JEQ, _AF_UNIX, 1, 0), _op(_RET, deny), _op(_RET, _ALLOW)]
    for name in ("fork", "vfork", "execve", "execveat"):
        if name in nr:
            prog += [_op(_JEQ, nr[name], 0, 1), _op(_RET, deny)]
    return prog + [_op(_RET, _ALLOW)]


def install() -> str | None:
    """Install the filter on this process; return None on success, else why it was not installed."""
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return f"seccomp filter not available on {platform.machine()}"
    prog = b"".join(_program(*arch))
    count = len(prog) // 8
    buffer = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(count, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"prctl(NO_NEW_PRIVS) failed: errno {ctypes.get_errno()}"
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return f"prctl(SECCOMP) failed: errno {ctypes.get_errno()}"
    return None
