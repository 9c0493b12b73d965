"""How many grading processes run at once, and the pool they run in.

A *slot* is one grader process plus the student child it drives: about one busy core and at
most `SLOT_MEMORY_MB` of memory (the grader's own torch/scipy/matplotlib, the child's torch
and a short training). `default_slots()` is the smaller of the usable cores and the available
memory divided by that budget, so a big machine grades more at once and a small or busy one
does not swap.

Grader processes never run student code (that stays in the sandboxed children), so the work
and results they exchange with this process are the grader's own objects. They are started by
a fork server that has imported the checks once, so a new grader process costs a fork, not a
fresh import of torch.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

# a slot's memory budget: benchmarks/bench_parallel.py measured 1.5 GB for a serial grading of the reference (the
# grader and its three children) and 2.4 GB with its three modules at once, so a slot costs well under 1.5 GB
SLOT_MEMORY_MB = 1500
# threads of the grader's own computations (oracles, the checkpoint chain, ratings), for torch and for numpy's BLAS:
# their arrays are small, and each grading process shares the machine with its student's child and the other slots,
# where OpenBLAS's extra threads only spin-wait (bench_parallel.py on 2 cores: a full grade of the reference took
# 32.8-32.9 s with the default 2 BLAS threads, 28.9-29.4 s with 1)
GRADER_THREADS = 1
INTERRUPT_GRACE_S = 5.0  # after Ctrl-C, how long the pool's processes get to close their children
_PRELOAD = ["grader.checks.p1", "grader.checks.p3", "grader.checks.p4", "grader.checks.written", "grader.engine"]


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS has no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def available_memory_mb() -> int | None:
    """MemAvailable from /proc/meminfo in MB; None where it cannot be read (not Linux)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def use_grader_threads() -> None:
    """Give this grading process (and the pool it starts, which copies it) GRADER_THREADS torch and BLAS threads."""
    _same_threads(GRADER_THREADS)


def default_slots() -> int:
    """Grading processes that fit this machine now: min(cores, available memory / SLOT_MEMORY_MB), at least 1."""
    memory = available_memory_mb()
    by_memory = usable_cores() if memory is None else memory // SLOT_MEMORY_MB
    return max(1, min(usable_cores(), by_memory))


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` grader processes, forked from a server that preloaded the checks.

    Each uses as many torch (and BLAS) threads as this process has torch threads, so the grader's own
    computations match a serial run's.
    If the caller is interrupted (Ctrl-C, an error), the pool's processes are interrupted too: each
    closes its students' children on the way out instead of finishing its submission first.
    """
    import torch  # noqa: PLC0415

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_same_threads, initargs=(torch.get_num_threads(),))
    try:
        yield pool
    except BaseException:
        processes = [p for p in (pool._processes or {}).values() if p.is_alive()]  # private, but the only handle on them
        for process in processes:
            os.kill(process.pid, signal.SIGINT)  # each closes its students' children on the way out
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + INTERRUPT_GRACE_S
        for process in processes:  # one may have taken a queued submission meanwhile: it is ended
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
        raise
    pool.shutdown(wait=True)


def _same_threads(threads: int) -> None:
    import torch  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    torch.set_num_threads(threads)
    threadpool_limits(threads, user_api="blas")  # numpy's OpenBLAS; stays in force for the life of the process
