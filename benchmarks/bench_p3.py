"""Problem 3 benchmark: training cost, short-training AUROC, checkpoint ratings, time to grade.

    python benchmarks/bench_p3.py [--iters 50] [--samples 200] [--threads 1] [--short-training]
                                  [--alternative] [--sampler-seeds 0,1,2] [--no-grading]
                                  [--write-reference-samples] [--round-trip] [--memorisation] [--tutorial]

Prints (1) seconds per iteration of `reference.p3_ebm.train_ebm` with its short-run defaults
(what the grader's short training pays per iteration); (2) with `--short-training`, for seeds
0-2, the AUROC of held-out digits against uniform noise and against pixel-shuffled held-out
digits (lower energy = digit) after 50, 100 and `TRAIN_ITERS` iterations, the negatives built
exactly as `3.train_ebm` builds them (`--alternative` adds the corpus's correct alternative,
`tests/corpus/p3/correct_alternative.py`); (3) the classifier ratings of samples that the
grader's own sampler draws from `assets/p3_reference_energy.pt`, per sampler seed, with the
fraction of `3.checkpoint` they earn; (4) the wall time and peak memory of
`grade reference/ --only 3` in a fresh process (parent + child, resident set sampled from
/proc every 0.1 s). `--write-reference-samples` stores 64 reference samples (sampler seed 0,
uint8) in `assets/p3_reference_samples.npz`, shown beside a student's in the report.
`--round-trip` times the grader's checkpoint chain (200 chains x 200 steps) driven from this
process through a real child against the same chain computed in one process, and prints the
difference (the price of keeping the sampler out of the student's process). `--memorisation`
prints nearest-digit distances (real held-out digits to training digits, reference samples to
all embedded digits). `--tutorial` grades `tests/corpus/p3/tutorial_train_settings.py`
(batch 128, 60 SGLD steps) on `3.train_ebm` and prints its score, budget and time.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.checks.p3 import AUROC_FULL, REFERENCE_SAMPLES, SAMPLER_SEED, SAMPLES, TRAIN_ITERS, originality, rating_fraction  # noqa: E402
from grader.mnist import load_mnist  # noqa: E402
from grader.oracles.mnist_judge import SAMPLER, grader_langevin, memorisation_factor, rate_samples  # noqa: E402
from grader.oracles.p3 import auroc, shuffle_pixels  # noqa: E402
from reference import p3_ebm as reference  # noqa: E402

CHECKPOINT = ROOT / "assets" / "p3_reference_energy.pt"
ALTERNATIVE = ROOT / "tests" / "corpus" / "p3" / "correct_alternative.py"


def training_seconds_per_iteration(n_iters: int) -> float:
    images, _ = load_mnist("train")
    reference.train_ebm(images, 3, seed=1)  # warm-up: allocator and convolution kernels
    started = time.perf_counter()
    reference.train_ebm(images, n_iters, seed=0)
    return (time.perf_counter() - started) / n_iters


def _alternative(patch: Path = ALTERNATIVE) -> types.ModuleType:
    """The reference module with a corpus patch (default: the correct alternative) appended, as a submission would be graded."""
    module = types.ModuleType(f"p3_{patch.stem}")
    source = (ROOT / "reference" / "p3_ebm.py").read_text() + "\n\n" + patch.read_text()
    exec(compile(source, str(patch), "exec"), module.__dict__)  # noqa: S102 - our own corpus file
    return module


def short_training_auroc(train_ebm, marks: tuple[int, ...], seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """AUROC against noise and shuffled digits at `marks`; `train_ebm` is re-run per mark for an implementation
    without a callback, so the times are those of a run of that length."""
    images, _ = load_mnist("train")
    heldout, _ = load_mnist("heldout")
    noise = torch.from_numpy(np.random.default_rng(3401).uniform(-1, 1, heldout.shape).astype(np.float32))
    shuffled = torch.from_numpy(shuffle_pixels(heldout.numpy(), 3402).astype(np.float32))

    def energies(model, x):
        model.eval()
        with torch.no_grad():
            return model(x).double().numpy()

    for seed in seeds:
        results = []
        for mark in marks:
            started = time.perf_counter()
            model = train_ebm(images, mark, seed=seed)
            seconds = time.perf_counter() - started
            e = energies(model, heldout)
            results.append(f"{mark} it ({seconds:.0f} s): noise {auroc(e, energies(model, noise)):.4f}, "
                           f"shuffled {auroc(e, energies(model, shuffled)):.4f}")
        print(f"  seed {seed}: " + "; ".join(results), flush=True)


def untrained_auroc(seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> None:
    heldout, _ = load_mnist("heldout")
    noise = torch.from_numpy(np.random.default_rng(3401).uniform(-1, 1, heldout.shape).astype(np.float32))
    shuffled = torch.from_numpy(shuffle_pixels(heldout.numpy(), 3402).astype(np.float32))
    for seed in seeds:
        torch.manual_seed(seed)
        net = reference.EnergyNet().eval()
        with torch.no_grad():
            e, n, s = (net(x).double().numpy() for x in (heldout, noise, shuffled))
        print(f"  untrained EnergyNet, init seed {seed}: noise {auroc(e, n):.3f}, shuffled {auroc(e, s):.3f}", flush=True)


def reference_samples(n: int, seed: int, checkpoint: Path = CHECKPOINT) -> tuple[torch.Tensor, float]:
    energy = reference.EnergyNet()
    energy.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    energy.eval()
    started = time.perf_counter()
    samples = grader_langevin(energy, n=n, seed=seed, **SAMPLER)
    return samples, time.perf_counter() - started


def round_trip_cost(n: int = SAMPLES, repeats: int = 30) -> None:
    """The parent-driven chain through a child vs the same work in one process (the reference checkpoint).

    First one query (energies and input gradients of n images) through the child and in this
    process, interleaved `repeats` times (medians: fair under a fluctuating load); then the
    whole driven chain with its cross-checks, timed, and its samples against the in-process chain.
    """
    from grader.oracles.mnist_judge import autograd_query, drive_langevin  # noqa: PLC0415
    from grader.runner.sandbox import Limits, Probe, Ref, Sandbox  # noqa: PLC0415

    local = reference.EnergyNet()
    local.load_state_dict(torch.load(CHECKPOINT, map_location="cpu", weights_only=True))
    local.eval().requires_grad_(False)
    in_process = autograd_query(local)
    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder)
        (staged / "p3_ebm.py").write_text((ROOT / "reference" / "p3_ebm.py").read_text())
        (staged / "p3_energy.pt").write_bytes(CHECKPOINT.read_bytes())
        box = Sandbox(staged, Limits(timeout_s=600))
        try:
            box.import_module("p3_ebm", staged / "p3_ebm.py")
            net = box.call(Ref("p3_ebm", "EnergyNet"), keep=True)
            assert box.call(Probe("load_checkpoint"), net, str(staged / "p3_energy.pt"))["problem"] is None

            def query(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                answer = box.call(Probe("energies_and_grads"), net, x)
                return answer["energy"].array, answer["grad"].array

            x = (np.random.default_rng(0).uniform(-1, 1, (n, 1, 28, 28))).astype(np.float32)
            through, local_seconds = [], []
            for _ in range(repeats):
                for clock, fn in ((through, query), (local_seconds, in_process)):
                    started = time.perf_counter()
                    fn(x)
                    clock.append(time.perf_counter() - started)
            started = time.perf_counter()
            run = drive_langevin(query, n, seed=SAMPLER_SEED, **SAMPLER)
            driven = time.perf_counter() - started
            started = time.perf_counter()
            fresh = []  # the audit's two fresh processes, as 3.checkpoint starts them
            for batch in run.audit.batches:
                other = Sandbox(staged, Limits(timeout_s=600))
                try:
                    other.import_module("p3_ebm", staged / "p3_ebm.py")
                    handle = other.call(Ref("p3_ebm", "EnergyNet"), keep=True)
                    other.call(Probe("load_checkpoint"), handle, str(staged / "p3_energy.pt"))
                    answer = other.call(Probe("energies_and_grads"), handle, batch)
                    fresh.append((answer["energy"].array, answer["grad"].array))
                finally:
                    other.close()
            problem = run.audit.judge(tuple(fresh))
            audit_seconds = time.perf_counter() - started
        finally:
            box.close()
    child_ms, local_ms = 1000 * float(np.median(through)), 1000 * float(np.median(local_seconds))
    samples, local = reference_samples(n, SAMPLER_SEED)
    print(f"one query ({n} images): through the child {child_ms:.1f} ms, in this process {local_ms:.1f} ms (medians of "
          f"{repeats}, interleaved): +{child_ms - local_ms:.1f} ms")
    print(f"checkpoint chain, {n} chains x {SAMPLER['n_steps']} steps: driven through the child {driven:.1f} s "
          f"({run.queries} queries); the fresh-process audit {audit_seconds:.1f} s, started after the chain (3.checkpoint "
          f"starts them before it), {'passed' if problem is None else 'FAILED: ' + problem}; "
          f"in one process without cross-checks {local:.1f} s; largest difference of the samples "
          f"{float((run.samples - samples).abs().max()):.2g}")


def memorisation_distances() -> None:
    from grader.oracles.mnist_judge import MEMORISED_RMS, nearest_digit_distances  # noqa: PLC0415

    train, _ = load_mnist("train")
    heldout, _ = load_mnist("heldout")
    every = torch.cat([train, heldout])
    quantiles = lambda d: ", ".join(f"{q}% {np.percentile(d, q):.3f}" for q in (0, 1, 5, 50))  # noqa: E731
    print(f"nearest-digit RMS distances (threshold {MEMORISED_RMS}):")
    print(f"  1,000 held-out digits -> 4,000 training digits: {quantiles(nearest_digit_distances(heldout, train))}")
    for seed in (0, 1, 2):
        samples, _ = reference_samples(SAMPLES, seed)
        print(f"  reference samples, sampler seed {seed} -> all 5,000 digits: {quantiles(nearest_digit_distances(samples, every))}")
    for std in (0.02, 0.05, 0.1):
        copies = (train[:200] + std * torch.randn(200, 1, 28, 28, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
        print(f"  training digits + N(0, {std}²) pixel noise -> all digits: {quantiles(nearest_digit_distances(copies, every))}")


def tutorial_training() -> None:
    """3.train_ebm on the tutorial's settings, as the grader runs it (one thread)."""
    from grader.checks.registry import select  # noqa: PLC0415
    from grader.engine import grade_submission  # noqa: PLC0415
    from grader.options import GradingOptions  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        staged = Path(folder) / "sub"
        staged.mkdir()
        source = (ROOT / "reference" / "p3_ebm.py").read_text() + "\n\n" + (ROOT / "tests" / "corpus" / "p3" / "tutorial_train_settings.py").read_text()
        (staged / "p3_ebm.py").write_text(source)
        started = time.perf_counter()
        run = grade_submission(staged, Path(folder) / "out", select(None, {"3.train_ebm"}), GradingOptions(progress=False))
        result = run.results[0]
        print(f"tutorial settings (batch 128, 60 steps): 3.train_ebm {result.score:g}/{result.max_score:g} in "
              f"{time.perf_counter() - started:.0f} s\n{result.output}")


def grading_time_and_memory() -> None:
    """`grade reference/ --only 3` in a fresh process: wall time, peak summed RSS of the process tree."""
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "grader.cli", str(ROOT / "reference"), "--only", "3", "--out", out, "--quiet"],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak_sum, peaks = 0, {}
        while process.poll() is None:
            tree = _tree_rss_kb(process.pid)
            peak_sum = max(peak_sum, sum(tree.values()))
            for pid, kb in tree.items():
                peaks[pid] = max(peaks.get(pid, 0), kb)
            time.sleep(0.1)
        output = process.stdout.read()
        seconds = time.monotonic() - started
    total = next((line for line in output.splitlines() if line.startswith("total")), "total ?")
    print(f"grade reference/ --only 3: {seconds:.1f} s wall, {total.split()[1]} points; peak resident memory of parent + "
          f"children together {peak_sum / 1024:.0f} MB (largest single process {max(peaks.values(), default=0) / 1024:.0f} MB)")


def _tree_rss_kb(root: int) -> dict[int, int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    rss, stack = {}, [root]
    while stack:
        pid = stack.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rss[pid] = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
        except (OSError, StopIteration):
            pass
        stack += children.get(pid, [])
    return rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--short-training", action="store_true", help="AUROC after 50 / 100 / TRAIN_ITERS iterations, seeds 0-2")
    parser.add_argument("--alternative", action="store_true", help="with --short-training: also the corpus's correct alternative")
    parser.add_argument("--sampler-seeds", default="0,1,2", help="comma-separated; empty: no checkpoint ratings")
    parser.add_argument("--checkpoints", default=str(CHECKPOINT), help="comma-separated state_dicts of reference.EnergyNet to "
                        "rate (default: the shipped one; e.g. an older one from git history, docs/p3_calibration.md)")
    parser.add_argument("--calibrate", default="", help="comma-separated corpus patches of tests/corpus/p3 (or 'reference'): "
                        "AUROC after TRAIN_ITERS iterations for training seeds --seeds")
    parser.add_argument("--seeds", default="0-9", help="training seeds for --calibrate, e.g. 0-9")
    parser.add_argument("--no-grading", action="store_true", help="skip timing `grade reference/ --only 3`")
    parser.add_argument("--write-reference-samples", action="store_true", help=f"write assets/{REFERENCE_SAMPLES}")
    parser.add_argument("--round-trip", action="store_true", help="the checkpoint chain through a child vs in one process")
    parser.add_argument("--memorisation", action="store_true", help="nearest-digit distances behind MEMORISED_RMS")
    parser.add_argument("--tutorial", action="store_true", help="grade 3.train_ebm at a tutorial's settings")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    print(f"reference train_ebm (defaults): {training_seconds_per_iteration(args.iters):.3f} s/iteration "
          f"over {args.iters} iterations")
    if args.short_training:
        marks = (50, 100, TRAIN_ITERS)
        print(f"short trainings, held-out digits vs uniform noise / pixel-shuffled digits (full credit at AUROC >= {AUROC_FULL}):")
        print(" reference:")
        short_training_auroc(reference.train_ebm, marks)
        if args.alternative:
            print(" correct alternative (tests/corpus/p3/correct_alternative.py):")
            short_training_auroc(_alternative().train_ebm, (TRAIN_ITERS,))
        untrained_auroc()
    if args.calibrate:
        low, _, high = args.seeds.partition("-")
        seeds = tuple(range(int(low), int(high or low) + 1))
        for name in args.calibrate.split(","):
            print(f" {name}, {TRAIN_ITERS} iterations, training seeds {args.seeds} (full credit at AUROC >= {AUROC_FULL}):", flush=True)
            module = reference if name == "reference" else _alternative(ROOT / "tests" / "corpus" / "p3" / f"{name}.py")
            short_training_auroc(module.train_ebm, (TRAIN_ITERS,), seeds)
    for checkpoint in (Path(c) for c in args.checkpoints.split(",") if c):
        for seed in (int(s) for s in args.sampler_seeds.split(",") if s):
            samples, seconds = reference_samples(args.samples, seed, checkpoint)
            rating = rate_samples(samples)
            fraction, _ = rating_fraction(rating.mean_confidence, rating.n_classes, rating.frechet)
            found = originality(samples.numpy(), None)
            flags = {name: int(flag.sum()) for name, flag in found.flags.items()}
            fraction *= memorisation_factor(found.flagged, len(samples))
            print(f"{checkpoint.name}, {args.samples} samples, sampler seed {seed} ({seconds:.1f} s): confidence "
                  f"{rating.mean_confidence:.3f}, classes {rating.n_classes}/10, Fréchet {rating.frechet:.1f}, "
                  f"histogram {list(rating.class_histogram)}; nearest digit / class average / other sample (blurred) "
                  f"{found.digit.min():.3f} / {found.average.min():.3f} / {found.collapse.min():.3f}, flagged {flags} "
                  f"-> 3.checkpoint fraction {fraction:.2f}", flush=True)
    if args.write_reference_samples:
        samples, _ = reference_samples(SAMPLES, SAMPLER_SEED)
        pixels = np.round((samples[:64].numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
        np.savez_compressed(ROOT / "assets" / REFERENCE_SAMPLES, samples=pixels)
        print(f"wrote assets/{REFERENCE_SAMPLES} ({(ROOT / 'assets' / REFERENCE_SAMPLES).stat().st_size:,} bytes)")
    if args.round_trip:
        round_trip_cost(args.samples)
    if args.memorisation:
        memorisation_distances()
    if args.tutorial:
        tutorial_training()
    if not args.no_grading:
        grading_time_and_memory()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
