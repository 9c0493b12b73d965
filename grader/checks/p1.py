"""Problem 1 checks: the change of variables (1a) and the continuous-time flow (1b1-1b3).

Expected values come from `grader.oracles.p1` (scipy closed forms and ODE solves), never from
`reference/`. Random instances are drawn from fixed seeds, so grading is deterministic, and
their values are never printed in feedback.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.checks.context import CheckContext
from grader.checks.registry import Outcome, check
from grader.instance import INSTANCE
from grader.oracles.p1 import linear_gaussian_density
from grader.runner.normalize import WrongOutput, as_array
from grader.runner.sandbox import StudentCodeError

P1 = "p1_change_of_variables"

# ---------------------------------------------------------------------------------- 1a
DENSITY_RTOL = 1e-4  # float64 inputs; loose enough for a float32-internal but sound computation
DENSITY_RTOL_F32 = 2e-3  # float32 inputs
DENSITY_ATOL_FRACTION = 1e-7  # of the largest density value, for the far tails
MASS_TOLERANCE = 2e-3  # |sum(p) * cell area - 1| on the 101 x 101 grid, for a law well inside it


@dataclass(frozen=True)
class LinearInstance:
    """Y = A Z with Z ~ N(mu, I): a matrix, a mean and the points to evaluate at."""

    label: str  # shown in feedback; says what kind of instance, never its values
    A: np.ndarray
    mu: np.ndarray | None
    y: np.ndarray


def _homework_instance() -> LinearInstance:
    rng = np.random.default_rng(11)
    y = np.concatenate([INSTANCE.grid(), rng.normal(scale=1.5, size=(200, 2))])
    return LinearInstance("the homework matrix", INSTANCE.p1a_A, INSTANCE.p1a_mu, y)


def _random_instances() -> list[LinearInstance]:
    rng = np.random.default_rng(2024)
    instances = []

    def add(label: str, A: np.ndarray, mu: np.ndarray | None):
        d = A.shape[0]
        center = A @ (np.zeros(d) if mu is None else mu)
        y = center + rng.normal(size=(300, d)) @ A.T * 1.3  # points where the density is not tiny
        instances.append(LinearInstance(label, A, mu, y))

    add("a random matrix with a nonzero mean", rng.normal(size=(2, 2)) + np.eye(2), rng.normal(size=2))
    reflect = np.array([[0.0, 1.0], [1.0, 0.0]])
    add("a matrix with negative determinant", reflect @ (rng.normal(size=(2, 2)) * 0.5 + np.eye(2)), rng.normal(size=2))
    U, _ = np.linalg.qr(rng.normal(size=(2, 2)))
    add("a badly conditioned matrix (condition number 1e3)", U @ np.diag([3.0, 3e-3]) @ U.T, np.array([0.5, -1.0]))
    add("a 3-D instance", rng.normal(size=(3, 3)) + 1.5 * np.eye(3), rng.normal(size=3))
    add("a 3-D instance with negative determinant", -(rng.normal(size=(3, 3)) * 0.3 + np.eye(3)), None)
    add("a large matrix (|det A| > 1)", np.array([[2.5, 0.7], [-0.4, 1.8]]), np.array([1.0, 2.0]))
    return instances


def _same(student: np.ndarray, expected: np.ndarray, rtol: float) -> bool:
    atol = DENSITY_ATOL_FRACTION * float(np.max(np.abs(expected)))
    return bool(np.allclose(student, expected, rtol=rtol, atol=atol))


def diagnose_density(student: np.ndarray, inst: LinearInstance, rtol: float) -> str | None:
    """None if `student` is the density of `inst`; otherwise the most specific diagnosis."""
    expected = linear_gaussian_density(inst.y, inst.A, inst.mu)
    if _same(student, expected, rtol):
        return None
    det = float(np.linalg.det(inst.A))
    if _same(student, np.log(expected), max(rtol, 1e-6)):
        return "returned the log-density; the contract asks for the density itself"
    if det < 0 and np.all(student <= 0) and _same(-student, expected, rtol):
        return "values are negative where det A < 0: use |det A|, not det A"
    usable = expected > 1e-6 * expected.max()
    ratio = student[usable] / expected[usable]
    if np.all(np.isfinite(ratio)) and np.std(ratio) < 1e-4 * max(abs(np.mean(ratio)), 1e-300):
        factor = float(np.mean(ratio))
        for value, name in ((abs(det), "|det A|: the 1/|det A| Jacobian factor is missing"),
                            (1 / abs(det), "1/|det A|: the Jacobian factor is applied twice, or multiplied instead of divided"),
                            (abs(det) ** 2, "|det A|^2: the Jacobian factor has the wrong power"),
                            (1 / det**2, "1/det(A)^2: the Jacobian factor has the wrong power")):
            if abs(factor - value) < 1e-3 * value:
                return f"off by a constant factor {factor:.4g} = {name}"
        return f"off by a constant factor {factor:.4g} (normalising constant wrong?)"
    if inst.mu is not None and np.any(inst.mu != 0) and _same(student, linear_gaussian_density(inst.y, inst.A, None), rtol):
        return "matches the density with mu = 0: the mean mu is ignored"
    if inst.A.shape == INSTANCE.p1a_A.shape and not np.allclose(inst.A, INSTANCE.p1a_A):
        if _same(student, linear_gaussian_density(inst.y, INSTANCE.p1a_A, inst.mu), rtol):
            return "matches the homework's matrix, not the A passed in (hard-coded A?)"
    error = np.abs(student - expected) / np.maximum(np.abs(expected), 1e-300)
    wrong = int(np.sum(~np.isclose(student, expected, rtol=rtol, atol=DENSITY_ATOL_FRACTION * expected.max())))
    return f"wrong at {wrong} of {len(expected)} points (largest relative error {np.max(error[usable]):.3g})"


def _student_density(ctx: CheckContext, inst: LinearInstance, dtype=np.float64) -> np.ndarray:
    mu = None if inst.mu is None else inst.mu.astype(dtype)
    value = ctx.call("density_linear", inst.y.astype(dtype), inst.A.astype(dtype), mu)
    return as_array(value, "density_linear(y, A, mu)", shape=(len(inst.y),))


@check("1a.instance", part="1a", points=1.5, module=P1, title="density_linear at the homework instance (grid and random points)")
def check_1a_instance(ctx: CheckContext) -> Outcome:
    inst = _homework_instance()
    student = _student_density(ctx, inst)
    problem = diagnose_density(student, inst, DENSITY_RTOL)
    figure = _density_figure(ctx, student[: len(INSTANCE.grid())], linear_gaussian_density(INSTANCE.grid(), inst.A, inst.mu))
    if problem:
        return Outcome(0.0, f"At the homework instance A = {inst.A.tolist()}, mu = {inst.mu.tolist()}: {problem}.", figure)
    return Outcome(1.0, f"Matches N(A mu, A A^T) on the 101 x 101 grid of [-4, 4]^2 and 200 random points (rtol {DENSITY_RTOL}).", figure)


@check("1a.random", part="1a", points=2.0, module=P1, title="density_linear on random instances (means, det < 0, ill-conditioned, d = 3)")
def check_1a_random(ctx: CheckContext) -> Outcome:
    instances = _random_instances()
    lines, passed = [], 0
    for inst in instances:
        try:
            problem = diagnose_density(_student_density(ctx, inst), inst, DENSITY_RTOL)
        except WrongOutput as error:
            problem = str(error)
        except StudentCodeError as error:
            if error.kind not in ("exception", "memory") or error.error_type == "NotImplementedError":
                raise  # a hang, a crash or a stub ends the check
            problem = str(error)
        passed += problem is None
        lines.append(f"- {inst.label}: {'ok' if problem is None else problem}")
    return Outcome(passed / len(instances), f"{passed} of {len(instances)} random instances correct:\n" + "\n".join(lines))


@check("1a.dtype", part="1a", points=0.5, module=P1, title="density_linear keeps float32 and float64")
def check_1a_dtype(ctx: CheckContext) -> Outcome:
    inst = _random_instances()[0]
    problems = []
    for dtype, rtol in ((np.float32, DENSITY_RTOL_F32), (np.float64, DENSITY_RTOL)):
        mu = inst.mu.astype(dtype)
        value = ctx.call("density_linear", inst.y.astype(dtype), inst.A.astype(dtype), mu)
        name = np.dtype(dtype).name
        student = as_array(value, "density_linear", shape=(len(inst.y),))
        if value.dtype != name:
            problems.append(f"{name} input gave a {value.dtype} result")
            continue
        problem = diagnose_density(student, inst, rtol)
        if problem:
            problems.append(f"{name} input: {problem}")
    if problems:
        return Outcome(0.0, "; ".join(problems) + ".")
    return Outcome(1.0, "float32 in gives float32 out, float64 in gives float64 out, values correct in both.")


@check("1a.normalised", part="1a", points=1.0, module=P1, title="density_linear is a density: nonnegative, integrates to 1 on the grid")
def check_1a_normalised(ctx: CheckContext) -> Outcome:
    rng = np.random.default_rng(7)
    A = np.array([[0.9, -0.3], [0.4, 0.7]]) * rng.uniform(0.8, 1.0)
    grid = INSTANCE.grid()
    student = _student_density(ctx, LinearInstance("grid", A, np.array([0.3, -0.2]), grid))
    mass = float(student.sum() * INSTANCE.cell_area())
    if np.any(student < 0):
        return Outcome(0.0, f"{int(np.sum(student < 0))} grid values are negative; a density is nonnegative.")
    if abs(mass - 1.0) > MASS_TOLERANCE:
        return Outcome(0.0, f"Summed over the 101 x 101 grid of [-4, 4]^2 (times the cell area) it gives {mass:.4g}, not 1 (tolerance {MASS_TOLERANCE}).")
    return Outcome(1.0, f"Nonnegative, and integrates to {mass:.5f} over [-4, 4]^2 for a law inside the grid.")


def _density_figure(ctx: CheckContext, student: np.ndarray, expected: np.ndarray) -> tuple[str, ...]:
    from grader.report.figures import heatmaps  # noqa: PLC0415 - matplotlib only when drawing

    path, relative = ctx.figure_path("density")
    size = INSTANCE.grid_size
    extent = (INSTANCE.grid_low, INSTANCE.grid_high)
    heatmaps(path, {"your density_linear": student.reshape(size, size), "expected": expected.reshape(size, size)}, extent,
             title="Problem 1a: density of Y = A Z at the homework instance")
    return (relative,)
