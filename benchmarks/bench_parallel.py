"""Parallel grading: wall time and peak memory (the grader and all its children together).

    python benchmarks/bench_parallel.py                      # everything (full rubric: many minutes)
    python benchmarks/bench_parallel.py --args="--only 1,4"  # a smaller rubric for a quick look
    python benchmarks/bench_parallel.py problems             # only: the reference, serial vs parallel modules
    python benchmarks/bench_parallel.py class                # only: 8 copies of the reference, --jobs 1 vs --jobs 2,
                                                             # then a re-grade after one of them changed

Each run is a fresh `grade` process. Memory is the largest sum, over samples every 0.2 s, of
the resident memory of the `grade` process and every process below it (grader processes of
the pool, the fork server, the students' children). Targets from issue 13, on the 2-core
machine: a full grade of the reference in at most 35 s with the same scores as the serial
run; --jobs 2 faster than --jobs 1 on a class.
"""
from __future__ import annotations

import argparse
import csv
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASS_SIZE = 8


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants, in MB (Linux /proc)."""
    tree, total, stack = _children(), 0, [root]
    while stack:
        pid = stack.pop()
        stack += tree.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total / 2**20


def timed_grade(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(seconds, peak MB of the whole process tree, the finished process) of one `grade` run."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "grader.cli", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, tree_rss_mb(process.pid))
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    return time.monotonic() - started, peak, subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def problems(extra: list[str]) -> None:
    scores = {}
    for jobs in ("1", "default", "3"):  # default: as many modules at once as the cores and memory allow
        with tempfile.TemporaryDirectory() as out:
            chosen = [] if jobs == "default" else ["--jobs", jobs]
            seconds, peak, done = timed_grade([str(ROOT / "reference"), "--out", out, "--quiet", *chosen, *extra])
            scores[jobs] = [line.split()[:3] for line in done.stdout.splitlines() if line and line.split()[0][:1].isdigit()]
        total = next((line.split()[1] for line in done.stdout.splitlines() if line.startswith("total")), f"exit {done.returncode}")
        label = {"1": "serial modules", "default": "default (--jobs from the machine)"}.get(jobs, f"up to {jobs} modules at once")
        print(f"reference, {label:>34}: {seconds:6.1f} s, score {total}, peak memory (all processes) {peak:6.0f} MB", flush=True)
    print(f"same per-check scores: {scores['1'] == scores['default'] == scores['3']}", flush=True)


def whole_class(extra: list[str]) -> None:
    books = {}
    with tempfile.TemporaryDirectory() as tmp:
        class_dir = Path(tmp) / "class"
        for index in range(CLASS_SIZE):
            shutil.copytree(ROOT / "reference", class_dir / f"student{index}", ignore=shutil.ignore_patterns("figures", "__pycache__"))
        for jobs in (1, 2):
            out = Path(tmp) / f"out{jobs}"
            seconds, peak, done = timed_grade([str(class_dir), "--class", "--out", str(out), "--quiet", "--jobs", str(jobs), *extra])
            books[jobs] = list(csv.reader((out / "gradebook.csv").open())) if done.returncode == 0 else done.stderr[-500:]
            print(f"class of {CLASS_SIZE} references, --jobs {jobs}: {seconds:6.1f} s, peak memory (all processes) {peak:6.0f} MB; "
                  f"{done.stdout.strip()[:120]}", flush=True)
        print(f"same gradebook: {books[1] == books[2]}", flush=True)
        with (class_dir / "student0" / "p1_change_of_variables.py").open("a") as handle:
            handle.write("\n# a change\n")
        seconds, peak, done = timed_grade([str(class_dir), "--class", "--out", str(Path(tmp) / "out1"), "--quiet", "--jobs", "1", *extra])
        print(f"re-grade after one of {CLASS_SIZE} changed, --jobs 1: {seconds:6.1f} s; {done.stdout.strip()[:160]}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="problems and/or class (default: both)")
    parser.add_argument("--args", default="", help="extra grade arguments, e.g. '--only 1,4' or '--time-scale 3'")
    options = parser.parse_args()
    unknown = set(options.parts) - {"problems", "class"}
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from problems, class")
    extra = shlex.split(options.args)
    for part in options.parts or ["problems", "class"]:
        {"problems": problems, "class": whole_class}[part](extra)
