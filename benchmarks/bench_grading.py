"""Time (and peak memory) of grading the reference, per problem and for Problem 1a alone.

    python benchmarks/bench_grading.py            # all targets
    python benchmarks/bench_grading.py 1a 4       # some of them

Targets from the issues, on the 2-core CI machine: 1a < 15 s, Problem 1 < 60 s,
Problem 3 < 180 s (and < 4 GB), Problem 4 < 90 s. Each run is a fresh `grade` process, so
start-up (imports, the child's torch import) is included, as a user would see it.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {  # name -> (grade arguments, target seconds)
    "1a": (["--check", "1a.instance,1a.random,1a.dtype,1a.normalised"], 15),
    "1": (["--only", "1"], 60),
    "3": (["--only", "3"], 180),
    "4": (["--only", "4"], 90),
}


def run(name: str) -> None:
    args, target = TARGETS[name]
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "grader.cli", str(ROOT / "reference"), "--out", out, "--quiet", *args],
                              capture_output=True, text=True, cwd=ROOT)
        seconds = time.monotonic() - started
    total = next((line.split()[1] for line in done.stdout.splitlines() if line.startswith("total")), "?")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest single process so far
    verdict = "ok" if seconds < target and done.returncode == 0 else "OVER TARGET" if done.returncode == 0 else f"exit {done.returncode}"
    print(f"{name:>3}: {seconds:6.1f} s (target < {target} s), score {total}, largest process so far {peak_mb:.0f} MB  {verdict}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"some of {', '.join(TARGETS)} (default: all)")
    targets = parser.parse_args(argv).targets
    unknown = [name for name in targets if name not in TARGETS]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    for name in targets or list(TARGETS):
        run(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
