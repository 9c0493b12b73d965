"""Grading time of the reference, this checkout against an earlier release, run alternately.

    python benchmarks/bench_against_release.py a91c5ef            # three pairs
    python benchmarks/bench_against_release.py a91c5ef --pairs 5

The release is checked out into a temporary git worktree; each run is a fresh
`python -m grader.cli reference/ --out DIR --quiet` with that tree first on PYTHONPATH, so start-up
is included as a user sees it. Runs alternate (release, this checkout) so that a machine growing
busier or quieter affects both alike. Prints each run's wall seconds and the ratio of the means
(issue 19's limit: at most 1.15). Take it on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def grading_seconds(tree: Path) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "grader.cli", "reference/", "--out", out, "--quiet"], cwd=tree,
                              env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
        seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"grading in {tree} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", help="a git revision, e.g. a91c5ef")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ps4-release-") as scratch:
        release = Path(scratch) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(release), args.release], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            times: dict[str, list[float]] = {"release": [], "now": []}
            for pair in range(1, args.pairs + 1):
                for name, tree in (("release", release), ("now", ROOT)):
                    times[name].append(grading_seconds(tree))
                    print(f"pair {pair}: {name:>7} {times[name][-1]:6.1f} s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(release)], cwd=ROOT, check=False, capture_output=True)
    before, after = statistics.mean(times["release"]), statistics.mean(times["now"])
    print(f"mean: release {before:.1f} s, now {after:.1f} s, ratio {after / before:.3f} (issue 19's limit 1.15)")


if __name__ == "__main__":
    main()
