"""Landlock: what the child may read and write on the file system.

Loaded by the worker (by file path) before any student code runs. Writing is allowed only
inside the child's working directory, so submitted code cannot forge a results.json in the
output folder or change the student's files. Reading is allowed everywhere except the
grader's own code and the reference solution (the parent computes the readable roots with
`readable_roots`), so `open("reference/...")` fails just as `import reference` does. Needs
Linux 5.13+; on older kernels `restrict` reports why it could not apply the rules.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # same numbers on x86_64 and aarch64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR, _REMOVE_DIR, _REMOVE_FILE = 1, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5
_MAKE_ANY = sum(1 << bit for bit in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2 and 3


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def readable_roots(hidden: list[Path]) -> list[str]:
    """Paths whose subtrees cover the whole file system except the `hidden` subtrees."""
    hidden = [h.resolve() for h in hidden]
    roots: list[str] = []

    def walk(directory: Path) -> None:
        for child in sorted(directory.iterdir()):
            if child in hidden:
                continue
            if any(child in h.parents for h in hidden) and child.is_dir() and not child.is_symlink():
                walk(child)
            else:
                roots.append(str(child))

    walk(Path("/"))
    return roots


def restrict(writable: list[str], readable: list[str]) -> str | None:
    """Allow writes only beneath `writable`, reads only beneath `writable` + `readable`.

    Returns None on success, else why the rules were not applied.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    if abi < 1:
        return f"Landlock is not available (errno {ctypes.get_errno()})"
    write = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_ANY
    write |= _REFER if abi >= 2 else 0
    write |= _TRUNCATE if abi >= 3 else 0
    read = _READ_FILE | _READ_DIR | _EXECUTE
    handled = write | read
    attr = _RulesetAttr(handled)
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"landlock_create_ruleset failed (errno {ctypes.get_errno()})"
    try:
        for path, rights in [(p, handled) for p in writable] + [(p, read) for p in readable]:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # vanished or unreadable: nothing to allow
            try:
                if not os.path.isdir(path):
                    rights &= _EXECUTE | _READ_FILE | _WRITE_FILE | _TRUNCATE  # the rights a file can carry
                rule = _PathBeneathAttr(rights, fd)
                if libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    return f"landlock_add_rule failed for {path} (errno {ctypes.get_errno()})"
            finally:
                os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, required by restrict_self
            return f"prctl(NO_NEW_PRIVS) failed (errno {ctypes.get_errno()})"
        if libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"landlock_restrict_self failed (errno {ctypes.get_errno()})"
    finally:
        os.close(ruleset)
    return None
