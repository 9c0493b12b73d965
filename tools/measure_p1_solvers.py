"""Measure a Problem 1 solver setting on every 1b case, against the tolerances of `grader/checks/p1.py`.

    python tools/measure_p1_solvers.py 1e-5 1e-4

Runs torchdiffeq's CNF example code (`tests/corpus/independent/p1b_torchdiffeq_example.py`,
dopri5 at rtol = atol = each argument) on the reference module's other functions, in this
process, on the fields, points and times of checks 1b1 and 1b3, and prints each case's error
as the grader measures it (`_sim_error`, `_density_error`) beside its tolerance. Our own code
only: nothing here runs a submission. Used to set `SIM_TOL` and `GRID_RTOL`.
"""
from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.checks import p1
from grader.instance import INSTANCE
from grader.oracles import p1 as oracle
from grader.runner.child_library import BUILDERS
from grader.runner.sandbox import Build


def load(rtol: str) -> types.ModuleType:
    source = (ROOT / "reference" / "p1_change_of_variables.py").read_text() + "\n" + (
        ROOT / "tests" / "corpus" / "independent" / "p1b_torchdiffeq_example.py").read_text().replace("{RTOL}", rtol)
    module = types.ModuleType("p1_torchdiffeq_example")
    exec(compile(source, module.__name__, "exec"), module.__dict__)  # noqa: S102 - the project's own corpus file
    return module


def build(case: p1.FieldCase):
    def make(spec: Build):
        params = {k: make(v) if isinstance(v, Build) else torch.as_tensor(v) if isinstance(v, np.ndarray) else v
                  for k, v in spec.params.items()}
        return BUILDERS[spec.name](**params)
    return make(case.build)


def rows(module: types.ModuleType) -> list[tuple[str, float, float]]:
    fields, out = p1.random_fields(), []
    z0 = p1._normal(501, 2000, 2)
    for t1 in (INSTANCE.p1b_histogram_time, 1.0):
        student = module.simulate(build(p1.HOMEWORK), torch.tensor(z0), t1).numpy()
        out.append((f"1b1.homework t1 = {t1:g}", p1._sim_error(student, oracle.simulate(p1.HOMEWORK.field, z0, t1)), p1.SIM_TOL))
    for name, t1, seed in (("mlp2t", 0.8, 601), ("mlp3-plain", 1.0, 602), ("linear3-plain", 0.7, 603)):
        case, z = fields[name], p1._normal(seed, 500, fields[name].dim)
        student = module.simulate(build(case), torch.tensor(z), t1).numpy()
        out.append((f"1b1.random {name} t1 = {t1:g}", p1._sim_error(student, oracle.simulate(case.field, z, t1)), p1.SIM_TOL))
    z = p1._normal(611, 500, 2).astype(np.float32)
    student = module.simulate(build(p1.HOMEWORK), torch.tensor(z), 0.5).numpy().astype(np.float64)
    out.append(("1b1.dtype float32", p1._sim_error(student, oracle.simulate(p1.HOMEWORK.field, z.astype(np.float64), 0.5)), p1.SIM_TOL))
    for t in INSTANCE.p1b_heatmap_times:
        student = module.density_on_grid(build(p1.HOMEWORK), t, torch.tensor(INSTANCE.grid())).numpy()
        expected = p1._density_from(*p1._preimages("homework", t, "grid"))
        out.append((f"1b3.homework t = {t:g}", p1._density_error(student, expected), p1.GRID_RTOL))
    for name, t, points, dtype in (("mlp2t", 0.7, "grid", np.float64), ("mlp3-plain", 0.6, "random3", np.float64),
                                   ("mlp2t", 0.7, "random2", np.float32)):
        x = p1._points(points).astype(dtype)
        student = module.density_on_grid(build(fields[name]), t, torch.tensor(x)).numpy().astype(np.float64)
        expected = p1._density_from(*p1._preimages(name, t, points))
        out.append((f"1b3.random {name} {points} {np.dtype(dtype).name}", p1._density_error(student, expected), p1.GRID_RTOL))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rtols", nargs="*", type=float, metavar="RTOL", help="dopri5 rtol = atol values (default: 1e-5 1e-4)")
    torch.set_num_threads(1)
    for rtol in [f"{r:g}" for r in parser.parse_args(argv).rtols] or ["1e-5", "1e-4"]:
        for label, error, tolerance in rows(load(rtol)):
            verdict = "ok" if error <= tolerance else "FAIL"
            print(f"dopri5 rtol = atol = {rtol:5}  {label:38} error {error:.2e}  tolerance {tolerance:g}  {verdict}", flush=True)


if __name__ == "__main__":
    main()
