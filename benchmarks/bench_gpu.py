"""Grade the reference on CUDA and on the CPU in one run; print both times and scores.

    python benchmarks/bench_gpu.py                 # the full rubric on each device
    python benchmarks/bench_gpu.py --only 3,4      # some problems

Without a CUDA device it says so and exits with status 0 (nothing to compare). The scores of
the two runs should be equal (issue 13); the times show what the GPU buys for the checkpoint
sampling and the short trainings.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def grade(device: str, extra: list[str]) -> tuple[float, dict[str, str], str]:
    """(seconds, check id -> score, total) of `grade reference --device DEVICE`."""
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "grader.cli", str(ROOT / "reference"), "--out", out, "--quiet", "--device", device, *extra],
                              capture_output=True, text=True, cwd=ROOT, check=False)
        seconds = time.monotonic() - started
    if done.returncode != 0:
        return seconds, {}, f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    rows = [line.split() for line in done.stdout.splitlines()]
    scores = {row[0]: row[2] for row in rows if len(row) >= 4 and row[0][:1].isdigit()}
    total = next((row[1] for row in rows if row and row[0] == "total"), "?")
    return seconds, scores, total


def main() -> int:
    if not torch.cuda.is_available():
        print(f"no CUDA device here (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); nothing to compare")
        return 0
    print(f"CUDA device: {torch.cuda.get_device_name(0)}", flush=True)
    extra = sys.argv[1:]
    results = {device: grade(device, extra) for device in ("cuda", "cpu")}
    for device, (seconds, _, total) in results.items():
        print(f"{device:>4}: {seconds:6.1f} s, score {total}", flush=True)
    differ = sorted(k for k in results["cpu"][1] if results["cpu"][1][k] != results["cuda"][1].get(k))
    print("same scores on both devices" if not differ else f"scores differ on: {', '.join(differ)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
