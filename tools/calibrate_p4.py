"""Calibrate Problem 4's training checks: train correct implementations over seeds, record what the checks measure.

    python tools/calibrate_p4.py --seeds 0-9 --out /tmp/p4cal.jsonl reference correct_joint_net correct_actnorm

Each implementation is the reference module (`reference`) or the reference plus a patch from
`tests/corpus/p4/` (its file name without `.py`) or `tests/corpus/independent/` (`independent/NAME`),
imported in this process with one torch thread. Run k trains `train_realnvp(sample_moons(N_TRAIN, seed=DATA_SEED + k), TRAIN_STEPS,
seed=k)`; run 0 is exactly what the grader runs. Every run appends one JSON line: held-out NLL
and its standard error (the grader's held-out set), the density's mass on the grader's grid,
the share of `sample(2000)` within 3σ of the arcs and the samples' coverage TV, wall and CPU
seconds; and what 4.model_logprob's property probes see on the trained model (in eval mode) and on
a fresh `RealNVP()` perturbed as the grader does (seed k): the share of points where the autograd
Jacobian agrees with differences of forward's values (`verified`), the largest relative gap,
and the largest |log_det - log|det J|| over the agreeing points. `--summary FILE` prints a Markdown table of a finished file instead. Not part of the
test suite: it takes 30-60 s per run.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.checks import p4
from grader.oracles import p4 as oracle
from grader.oracles.moons import moons_entropy, sample_moons


def load(name: str):
    source = (ROOT / "reference" / "p4_realnvp.py").read_text()
    if name != "reference":
        folder = "" if "/" in name else "p4/"
        source += "\n\n" + (ROOT / "tests" / "corpus" / f"{folder}{name}.py").read_text()
    stem = name.replace("/", "_")
    path = Path(tempfile.mkdtemp()) / f"p4_{stem}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"p4_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(module, k: int) -> dict:
    data = sample_moons(p4.N_TRAIN, p4.NOISE, seed=p4.DATA_SEED + k)
    torch.manual_seed(k)
    wall, cpu = time.perf_counter(), time.process_time()
    flow = module.train_realnvp(torch.from_numpy(data), p4.TRAIN_STEPS, seed=k)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    flow.eval()
    held_out = torch.from_numpy(sample_moons(p4.N_HELD_OUT, p4.NOISE, seed=p4.HELD_OUT_SEED))
    grid, _, _, area = p4.mass_grid()
    with torch.no_grad():
        nll = -flow.log_prob(held_out).double().numpy()
        log_p = torch.cat([flow.log_prob(chunk) for chunk in torch.from_numpy(grid).split(4096)]).double().numpy()
        torch.manual_seed(p4.SAMPLE_SEED)
        samples = flow.sample(p4.N_SAMPLES).double().numpy()
    return {"seed": k, "nll": float(nll.mean()), "se": float(nll.std() / np.sqrt(len(nll))),
            "mass": float(np.exp(log_p).sum() * area),
            "near": float(np.mean(oracle.arc_distance(samples) < 3 * p4.NOISE)),
            "coverage_tv": oracle.coverage_tv(samples[oracle.arc_distance(samples) < 3 * p4.NOISE]),
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            **properties(flow, "trained"), **properties(perturbed(module.RealNVP(), k), "perturbed")}


def perturbed(flow: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A fresh model with its trainable parameters replaced as 4.model_logprob does (`p4.perturbation_scale`)."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, param in sorted(flow.named_parameters()):
            if param.requires_grad:
                values = param.detach().double().numpy()
                noisy = values + p4.perturbation_scale(values) * rng.standard_normal(values.shape)
                param.data = torch.as_tensor(noisy, dtype=param.dtype)
    return flow.eval()


def properties(flow: torch.nn.Module, label: str) -> dict:
    """What 4.model_logprob checks, computed here: Jacobian agreement and the log-det error where it agrees."""
    x = p4._flow_points()
    with torch.no_grad():
        _, log_det = flow(torch.from_numpy(x))
        moved = flow(torch.from_numpy(oracle.offset_points(x, p4.FD_OFFSETS).astype(np.float32)))[0].double().numpy()
    claim = torch.autograd.functional.jacobian(lambda v: flow(v)[0].sum(0), torch.from_numpy(x)).permute(1, 0, 2).double().numpy()
    mismatch = oracle.one_sided_mismatch(claim, moved, p4.FD_OFFSETS)
    verified = mismatch <= p4.JACOBIAN_VERIFY_RTOL
    error = np.abs(log_det.double().numpy() - oracle.log_abs_det(claim))[verified]
    return {f"{label}_verified": float(verified.mean()), f"{label}_gap": float(mismatch.max()),
            f"{label}_logdet_err": float(error.max()) if error.size else float("nan")}


def summary(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    entropy = moons_entropy(p4.NOISE)
    print(f"entropy {entropy:.5f}\n")
    print("| implementation | runs | NLL min / median / max | gap max | mass min / max | near 3σ min / median | coverage TV median / max "
          "| CPU s median / max | Jacobian verified min (trained / perturbed) | log-det error max (trained / perturbed) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["impl"] for r in rows):
        sel = [r for r in rows if r["impl"] == name]
        nll, mass, near, tv, cpu = (np.array([r[key] for r in sel]) for key in ("nll", "mass", "near", "coverage_tv", "cpu_s"))
        print(f"| {name} | {len(sel)} | {nll.min():.3f} / {np.median(nll):.3f} / {nll.max():.3f} | {nll.max() - entropy:+.3f} "
              f"| {mass.min():.4f} / {mass.max():.4f} | {near.min():.3f} / {np.median(near):.3f} "
              f"| {np.median(tv):.3f} / {tv.max():.3f} | {np.median(cpu):.0f} / {cpu.max():.0f} "
              f"| {min(r['trained_verified'] for r in sel):.2f} / {min(r['perturbed_verified'] for r in sel):.2f} "
              f"| {max(r['trained_logdet_err'] for r in sel):.1e} / {max(r['perturbed_logdet_err'] for r in sel):.1e} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("implementations", nargs="*", default=["reference"])
    parser.add_argument("--seeds", default="0-9", help="a range a-b or a comma-separated list")
    parser.add_argument("--out", type=Path, default=Path("p4_calibration.jsonl"))
    parser.add_argument("--summary", type=Path, help="print the table of a finished file and exit")
    args = parser.parse_args(argv)
    if args.summary:
        return summary(args.summary)
    torch.set_num_threads(1)
    low, _, high = args.seeds.partition("-")
    seeds = range(int(low), int(high) + 1) if high else [int(s) for s in args.seeds.split(",")]
    for name in args.implementations:
        module = load(name)
        for k in seeds:
            row = {"impl": name, **measure(module, k)}
            with args.out.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(row, flush=True)


if __name__ == "__main__":
    main()
