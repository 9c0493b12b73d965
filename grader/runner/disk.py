"""The disk a child may use: a budget on its working folder, checked by the grader while the child lives.

A child can write only inside its own working folder (Landlock), and each file is capped by
`RLIMIT_FSIZE`; but many files under that cap would fill the temporary space that classmates'
staging and children share. A bounded filesystem per child (a tmpfs or loop mount, a quota) needs
root or user namespaces that many machines lack, so the budget is the grader's own: a
`DiskWatch` thread walks the folder every `POLL_SECONDS` and, when the folder holds more than
`BUDGET_BYTES` of allocated blocks or more than `MAX_ENTRIES` files and folders, kills the
child's process group. It works the same as root and unprivileged, on Linux and macOS.

What it bounds: a child's folder never holds much more than `BUDGET_BYTES` plus what the child
can write in one `POLL_SECONDS` (all its own writes go there), and the grader removes it when the
child ends (`remove_tree`, which also undoes a child's `chmod 000` on its folders).
"""
from __future__ import annotations

import os
import shutil
import signal
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

BUDGET_BYTES = 512 * 2**20  # allocated bytes in one child's working folder
MAX_ENTRIES = 20_000  # files and folders in it (each costs an inode and a walk step)
POLL_SECONDS = 0.2


class OverBudget(Exception):
    """The folder holds more than the budget; the message says what."""


def folder_usage(folder: Path, max_entries: int = MAX_ENTRIES) -> tuple[int, int]:
    """Allocated bytes (`st_blocks`, so sparse files count what they use) and entries under `folder`.

    Never follows links. Stops counting past `max_entries` (the count returned is then larger).
    A folder the walk cannot open is made readable again (the child runs as the grader's uid, or
    the grader is root); if it still cannot be opened, `OverBudget` is raised: what cannot be
    measured cannot be allowed.
    """
    used, entries, pending = 0, 0, [os.fspath(folder)]
    while pending:
        directory = pending.pop()
        try:
            scan = os.scandir(directory)
        except FileNotFoundError:
            continue
        except PermissionError:
            try:
                os.chmod(directory, 0o700)
                scan = os.scandir(directory)
            except OSError:
                raise OverBudget(f"made a folder in its working folder unreadable ({os.path.basename(directory)!r})") from None
        with scan:
            for entry in scan:
                entries += 1
                if entries > max_entries:
                    return used, entries
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                blocks = getattr(info, "st_blocks", None)  # POSIX: 512-byte units actually allocated
                used += info.st_size if blocks is None else blocks * 512
                if stat.S_ISDIR(info.st_mode):
                    pending.append(entry.path)
    return used, entries


def check_budget(folder: Path, budget_bytes: int = BUDGET_BYTES, max_entries: int = MAX_ENTRIES) -> None:
    """Raise `OverBudget` if `folder` holds more than `budget_bytes` or more than `max_entries` entries."""
    used, entries = folder_usage(folder, max_entries)
    if entries > max_entries:
        raise OverBudget(f"created more than {max_entries} files and folders in its working folder (the limit)")
    if used > budget_bytes:
        raise OverBudget(f"wrote more than {budget_bytes / 2**20:g} MB to its working folder (the disk limit)")


class DiskWatch:
    """Watches a child's working folder; over the budget, kills the child's process group once.

    `reason` is None until the watch stopped the child, then says why (for the check's feedback).
    """

    def __init__(self, folder: Path, process_group: int, alive: Callable[[], bool]) -> None:
        self.folder, self.process_group, self.alive = folder, process_group, alive
        self.budget_bytes, self.max_entries = BUDGET_BYTES, MAX_ENTRIES
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"disk-watch-{process_group}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS) and self.alive():
            try:
                check_budget(self.folder, self.budget_bytes, self.max_entries)
            except OverBudget as over:
                if self._stop.is_set() or not self.alive():  # the grader is closing the child, or it is gone
                    return
                self.reason = str(over)
                try:
                    os.killpg(self.process_group, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                return
            except OSError:
                continue  # the folder changed under the walk; measure again at the next tick

    def stop(self) -> None:
        """Stop watching (before the grader kills the child and removes its folder)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)


def remove_tree(folder: Path) -> None:
    """Remove `folder` and everything in it, first making readable and writable any folder a child locked."""
    def unlock(function, path, _error) -> None:
        parent = os.path.dirname(path)
        for target in (parent, path):
            try:
                if os.path.isdir(target) and not os.path.islink(target):
                    os.chmod(target, 0o700)
            except OSError:
                pass
        try:
            function(path)
        except OSError:
            pass

    handler = {"onexc": unlock} if sys.version_info >= (3, 12) else {"onerror": unlock}
    shutil.rmtree(folder, **handler)
    if os.path.lexists(folder):
        shutil.rmtree(folder, ignore_errors=True)
