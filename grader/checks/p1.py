"""Problem 1 checks: the change of variables (1a) and the continuous-time flow (1b1-1b3).

Expected values come from `grader.oracles.p1` (scipy closed forms and ODE solves), never from
`reference/`. Random instances are drawn from fixed seeds, so grading is deterministic, and
their values are never printed in feedback.

How the 1b tolerances were chosen (measured on 2,000 standard-normal samples pushed to t = 1
by the homework field and by a random 3-D MLP field, against the oracle's DOP853 solve at
rtol 1e-10; errors are max |z - z*| / (1 + |z*|)):

    torchdiffeq dopri5, its defaults (rtol 1e-7)       5e-7      RK4, 20 / 50 fixed steps   1e-7 / 3e-9
    torchdiffeq dopri5, rtol 1e-5 / atol 1e-7          6e-5      Euler, 1000 steps           3e-4
    solve_ivp RK45, rtol 1e-6 / atol 1e-8              1e-6      Euler, 100 steps            3e-3
    solve_ivp RK45, rtol 1e-4 / atol 1e-6              3e-4      Euler, 10 steps             3e-2
    solve_ivp RK45, its defaults (rtol 1e-3)           2e-3      float32 (any of the above)  2e-6

The policy (docs/DECISIONS.md) is full marks for any adaptive solver at rtol = atol <= 1e-4 and
for RK4 with >= 20 steps. Measured with torchdiffeq's CNF example code (dopri5, the state a
tuple (z, logp), `tests/corpus/independent/p1b_torchdiffeq_example.py`; `tools/measure_p1_solvers.py`
prints the table) on every 1b case, the largest errors are:

    dopri5 rtol = atol        1b1 (simulate)    1b3 (density_on_grid)   worst case
    1e-5 (the example's)      1.1e-4            2.1e-4                  1b3.homework t = 0.25
    1e-4                      1.2e-3            2.6e-3                  1b1.homework t = 1, 1b3.homework t = 1

(simulate: max |z - z*| / (1 + |z*|); density_on_grid: the smallest rtol with
|p - p*| <= rtol |p*| + 1e-5 max p*), so `SIM_TOL` = 2.5e-3 and `GRID_RTOL` = 5e-3 leave about a
factor of two above rtol = 1e-4. Errors
up to ten times that (`SIM_ROUGH`, `GRID_ROUGH`: Euler with 100 steps, 3e-3 in simulate) earn
half credit with a "not accurate enough" message; beyond it (Euler with 10 steps, a wrong field
or time) nothing. scipy's `solve_ivp` at its default rtol = 1e-3 (errors 2e-3 and 4e-4) cannot be
told apart from dopri5 at rtol = 1e-4 with any margin, so it passes too.

`ode_logp_dynamics` is a pointwise formula, so its tolerance is tight (`TRACE_RTOL`): any
exact trace (autograd by rows, `jacrev`/`vmap`, `autograd.functional.jacobian`, even central
differences) is within 1e-9, while a Hutchinson estimate is off by O(1) per sample.
`density_on_grid` is judged on a 101 x 101 grid (homework field at four times, random MLP
fields; relative error where p > 1e-5 max p). The b1/b3 agreement's total-variation threshold
is set against the histogram's own sampling noise (see `AGREEMENT_TV`); the classic mistakes
give 0.48 (forward integration) to > 1.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grader.checks.cases import per_case
from grader.checks.context import CheckContext
from grader.checks.registry import Outcome, check
from grader.instance import INSTANCE
from grader.oracles import p1 as oracle
from grader.oracles.p1 import linear_gaussian_density
from grader.runner.normalize import WrongOutput, as_array, as_tuple, describe
from grader.runner.sandbox import ArrayValue, Build

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
    if (inst.A.shape == INSTANCE.p1a_A.shape and not np.allclose(inst.A, INSTANCE.p1a_A)
            and _same(student, linear_gaussian_density(inst.y, INSTANCE.p1a_A, inst.mu), rtol)):
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

    def case(inst: LinearInstance):
        def run() -> tuple[float, str | None]:
            problem = diagnose_density(_student_density(ctx, inst), inst, DENSITY_RTOL)
            return float(problem is None), problem
        return run

    fraction, lines = per_case([(inst.label, case(inst)) for inst in instances])
    passed = round(fraction * len(instances))
    return Outcome(fraction, f"{passed} of {len(instances)} random instances correct:\n{lines}")


@check("1a.dtype", part="1a", points=0.5, module=P1, title="density_linear keeps float32 and float64")
def check_1a_dtype(ctx: CheckContext) -> Outcome:
    inst = _random_instances()[0]

    def case(dtype, rtol: float):
        def run() -> tuple[float, str | None]:
            value = ctx.call("density_linear", inst.y.astype(dtype), inst.A.astype(dtype), inst.mu.astype(dtype))
            student = as_array(value, "density_linear", shape=(len(inst.y),))
            name = np.dtype(dtype).name
            if value.dtype != name:
                return 0.0, f"{name} input gave a {value.dtype} result"
            problem = diagnose_density(student, inst, rtol)
            return float(problem is None), problem
        return run

    fraction, lines = per_case([(f"{np.dtype(dtype).name} input", case(dtype, rtol))
                                for dtype, rtol in ((np.float32, DENSITY_RTOL_F32), (np.float64, DENSITY_RTOL))])
    return Outcome(fraction, f"The result must have the input's dtype and the right values:\n{lines}")


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
    from grader.report.figures import heatmaps

    path, relative = ctx.figure_path("density")
    size = INSTANCE.grid_size
    extent = (INSTANCE.grid_low, INSTANCE.grid_high)
    heatmaps(path, {"your density_linear": student.reshape(size, size), "expected": expected.reshape(size, size)}, extent,
             title="Problem 1a: density of Y = A Z at the homework instance")
    return (relative,)


# ---------------------------------------------------------------------------------- 1b: fields
def field_build(field: oracle.OracleField, plain: bool = False) -> Build:
    """The oracle `field` as the child builds it (`child_library.BUILDERS`); `plain` wraps it in a bare function."""
    if isinstance(field, oracle.TanhPower):
        build = Build("tanh_power_field", {"power": int(field.power), "theta": float(field.theta)})
    elif isinstance(field, oracle.Linear):
        build = Build("linear_field", {"M": field.M, "b": field.b})
    elif isinstance(field, oracle.MLPField):
        build = Build("mlp_field", {"W1": field.W1, "b1": field.b1, "W2": field.W2, "b2": field.b2, "c1": field.c1})
    else:
        raise TypeError(f"no child builder for {type(field).__name__}")
    return Build("plain_function", {"module": build}) if plain else build


@dataclass(frozen=True)
class FieldCase:
    """A field handed to student code: the oracle's twin, its dimension, module or bare function."""

    label: str  # shown in feedback; says what kind of field, never its weights
    field: oracle.OracleField
    dim: int
    plain: bool = False

    @property
    def build(self) -> Build:
        return field_build(self.field, self.plain)

    @property
    def time_dependent(self) -> bool:
        return isinstance(self.field, oracle.MLPField) and self.field.c1 is not None


HOMEWORK = FieldCase("the homework field tanh(z**3)", oracle.HOMEWORK_FIELD, 2)


@functools.cache
def random_fields() -> dict[str, FieldCase]:
    """The randomised fields of 1b1-1b3 (fixed seed): MLPs and linear fields, d = 2, 3, 5."""
    rng = np.random.default_rng(1905)
    mlp2t = oracle.random_mlp_field(rng, d=2, hidden=16, time_dependent=True)
    mlp3 = oracle.random_mlp_field(rng, d=3, hidden=8)
    mlp5 = oracle.random_mlp_field(rng, d=5, hidden=8, time_dependent=True)
    linear = {d: oracle.Linear(M=rng.normal(size=(d, d)) * 0.6, b=rng.normal(size=d)) for d in (2, 3, 5)}
    return {
        "mlp2t": FieldCase("a random time-dependent MLP field (d = 2, an nn.Module)", mlp2t, 2),
        "mlp3": FieldCase("a random MLP field (d = 3, an nn.Module)", mlp3, 3),
        "mlp3-plain": FieldCase("a random MLP field (d = 3, a plain function)", mlp3, 3, plain=True),
        "mlp5-plain": FieldCase("a random time-dependent MLP field (d = 5, a plain function)", mlp5, 5, plain=True),
        "linear2": FieldCase("a random linear field (d = 2, an nn.Module)", linear[2], 2),
        "linear3-plain": FieldCase("a random linear field (d = 3, a plain function)", linear[3], 3, plain=True),
        "linear5": FieldCase("a random linear field (d = 5, an nn.Module)", linear[5], 5),
    }


def _case(name: str) -> FieldCase:
    return HOMEWORK if name == "homework" else random_fields()[name]


def _normal(seed: int, n: int, d: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def _dtype(value) -> str:
    return value.dtype if isinstance(value, ArrayValue) else describe(value)


# ---------------------------------------------------------------------------------- 1b1
SIM_TOL = 2.5e-3  # max |z - z*| / (1 + |z*|): twice dopri5's error at rtol = atol = 1e-4 (module docstring)
SIM_ROUGH = 10 * SIM_TOL  # up to here: half credit, "not accurate enough"
EULER_MATCH = 2e-5  # a result this close to explicit Euler with k steps is that (float32 rounding included)
EULER_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64, 100, 128, 200, 256)


def _sim_error(student: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(student - expected) / (1.0 + np.abs(expected))))


def diagnose_simulation(student: np.ndarray, case: FieldCase, z0: np.ndarray, t1: float) -> tuple[float, str | None]:
    """The fraction earned by `student` as z(t1), and what is wrong with it (None: correct)."""
    expected = oracle.simulate(case.field, z0, t1)
    error = _sim_error(student, expected)
    if error <= SIM_TOL:
        return 1.0, None
    fraction = 0.5 if error <= SIM_ROUGH else 0.0
    detail = f"largest error {error:.2g} x (1 + |z|), tolerance {SIM_TOL:g}"
    matches = lambda other: _sim_error(student, other) <= SIM_TOL
    if matches(z0):
        return fraction, f"returned z0 unchanged: nothing was integrated ({detail})"
    if matches(oracle.simulate(case.field, z0, -t1)):
        return fraction, f"matches the flow run backward in time, to -t1: integrate from 0 forward to t1 ({detail})"
    for other in (0.5, 1.0):
        if other != t1 and matches(oracle.simulate(case.field, z0, other)):
            return fraction, f"matches the solution at t = {other:g}, not at t1 = {t1:g}: is t1 ignored? ({detail})"
    if case is not HOMEWORK and matches(oracle.simulate(HOMEWORK.field, z0, t1)):
        return 0.0, "matches the homework field tanh(z**3), not the f passed in (hard-coded field?)"
    for steps in EULER_STEPS:  # Euler-k and Euler-(k+1) differ by ~error/k >> EULER_MATCH
        if _sim_error(student, oracle.euler(case.field, z0, t1, steps)) <= EULER_MATCH:
            return fraction, (f"matches explicit Euler with {steps} step(s): far too inaccurate ({detail}); use an "
                              "adaptive solver (torchdiffeq's dopri5) or RK4 with enough steps")
    if fraction:
        return fraction, (f"close but not accurate enough ({detail}): tighten the solver, e.g. an adaptive solver at "
                          "rtol <= 1e-4 or RK4 with >= 20 steps")
    return 0.0, f"does not match the oracle's high-accuracy solve ({detail})"


def _student_simulate(ctx: CheckContext, case: FieldCase, z0: np.ndarray, t1: float, dtype=np.float64) -> tuple[np.ndarray, str]:
    value = ctx.call("simulate", case.build, z0.astype(dtype), t1)
    return as_array(value, "simulate(f, z0, t1)", shape=z0.shape), _dtype(value)


def _simulation_case(ctx: CheckContext, case: FieldCase, z0: np.ndarray, t1: float, dtype=np.float64):
    def run() -> tuple[float, str | None]:
        student, returned = _student_simulate(ctx, case, z0, t1, dtype)
        name = np.dtype(dtype).name
        if returned != name:
            return 0.0, f"{name} input gave a {returned} result"
        return diagnose_simulation(student, case, z0, t1)
    return run


SIM_INTRO = f"compared with a DOP853 solve at rtol 1e-10 (tolerance {SIM_TOL:g} x (1 + |z|) per coordinate)"


@check("1b1.homework", part="1b1", points=1.0, module=P1, timeout_s=30,
       title="simulate: the homework field to t = 0.5 and t = 1; t1 = 0 returns z0")
def check_1b1_homework(ctx: CheckContext) -> Outcome:
    z0 = _normal(501, 2000, 2)

    def unchanged() -> tuple[float, str | None]:
        student, _ = _student_simulate(ctx, HOMEWORK, z0, 0.0)
        moved = float(np.max(np.abs(student - z0)))
        return (1.0, None) if moved <= 1e-12 else (0.0, f"should return z0 unchanged but moved it by up to {moved:.2g}")

    cases = [(f"t1 = {t1:g}", _simulation_case(ctx, HOMEWORK, z0, t1)) for t1 in (INSTANCE.p1b_histogram_time, 1.0)]
    fraction, lines = per_case(cases + [("t1 = 0", unchanged)])
    return Outcome(fraction, f"2,000 standard-normal samples pushed through tanh(z**3), {SIM_INTRO}:\n{lines}")


@check("1b1.random", part="1b1", points=1.5, module=P1, timeout_s=30,
       title="simulate: random MLP fields (d = 2 time-dependent, d = 3 plain function) and a linear field")
def check_1b1_random(ctx: CheckContext) -> Outcome:
    fields = random_fields()
    plan = [(fields["mlp2t"], 0.8, 601), (fields["mlp3-plain"], 1.0, 602), (fields["linear3-plain"], 0.7, 603)]
    cases = [(f"{case.label}, t1 = {t1:g}", _simulation_case(ctx, case, _normal(seed, 500, case.dim), t1)) for case, t1, seed in plan]
    fraction, lines = per_case(cases)
    return Outcome(fraction, f"500 standard-normal samples per field, {SIM_INTRO}:\n{lines}")


@check("1b1.dtype", part="1b1", points=0.5, module=P1, timeout_s=30, title="simulate keeps float32 and float64")
def check_1b1_dtype(ctx: CheckContext) -> Outcome:
    mlp3 = random_fields()["mlp3"]
    cases = [("float32 input, the homework field", _simulation_case(ctx, HOMEWORK, _normal(611, 500, 2), 0.5, np.float32)),
             ("float64 input, a random MLP field", _simulation_case(ctx, mlp3, _normal(612, 500, 3), 0.5, np.float64))]
    fraction, lines = per_case(cases)
    return Outcome(fraction, f"The result must have the input's dtype and the right values:\n{lines}")


# ---------------------------------------------------------------------------------- 1b2
TRACE_RTOL = {"float64": 1e-6, "float32": 1e-4}  # of max(1, |expected|): exact traces are within 1e-9 (f64), 1e-6 (f32)


def _student_dynamics(ctx: CheckContext, case: FieldCase, t: float, z: np.ndarray, dtype=np.float64,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """The student's `(dz_dt, dlogp_dt)` as float64 arrays, and the dtypes they came back in."""
    n, d = z.shape
    value = ctx.call("ode_logp_dynamics", case.build, np.asarray(t, dtype=dtype), z.astype(dtype), seed=seed)
    dz, dlogp = as_tuple(value, "ode_logp_dynamics(f, t, z)", 2)
    if isinstance(dlogp, ArrayValue) and dlogp.array.shape == (n, 1):
        raise WrongOutput(f"dlogp_dt has shape ({n}, 1) but the contract says ({n},): return one value per sample "
                          "in a 1-D tensor (drop the trailing dimension)")
    return (as_array(dz, "dz_dt", shape=(n, d)), as_array(dlogp, "dlogp_dt", shape=(n,)), (_dtype(dz), _dtype(dlogp)))


def diagnose_dynamics(dz: np.ndarray, dlogp: np.ndarray, case: FieldCase, t: float, z: np.ndarray, rtol: float,
                      again: Callable[[], np.ndarray]) -> str | None:
    """None if `(dz, dlogp)` is `(f(t, z), -tr ∂f/∂z)`, else the most specific diagnosis.

    `again()` returns the student's dlogp_dt for the same inputs under another random seed: an
    exact trace gives the same values, a stochastic (Hutchinson) estimate does not.
    """
    field = case.field
    expected_dz = field.value(t, z)
    jacobian = field.jacobian(t, z)
    trace = np.trace(jacobian, axis1=1, axis2=2)

    def close(student: np.ndarray, expected: np.ndarray) -> bool:
        return bool(np.all(np.abs(student - expected) <= rtol * max(1.0, float(np.max(np.abs(expected))))))

    if not close(dz, expected_dz):
        if case.time_dependent and close(dz, field.value(0.0, z)):
            return "dz_dt equals f(0, z), not f(t, z): pass the time t on to f"
        if case is not HOMEWORK and close(dz, HOMEWORK.field.value(t, z)):
            return "dz_dt matches the homework field tanh(z**3), not the f passed in (hard-coded field?)"
        return f"dz_dt is not f(t, z) (largest error {np.max(np.abs(dz - expected_dz)):.2g})"
    if close(dlogp, -trace):
        return None
    if close(dlogp, trace):
        return "trace taken with the wrong sign: d log p/dt = -tr(df/dz)"
    total = jacobian.sum(axis=(1, 2))
    if close(dlogp, -total) or close(dlogp, total):
        return ("the sum of all entries of the Jacobian (e.g. grad(f.sum(), z).sum(1)), not its trace: "
                "only the diagonal terms df_i/dz_i count")
    with np.errstate(divide="ignore", invalid="ignore"):
        logdets = [np.linalg.slogdet(jacobian)[1], np.linalg.slogdet(np.eye(z.shape[1]) + jacobian)[1]]
    if any(close(dlogp, sign * value) for value in logdets for sign in (1, -1) if np.all(np.isfinite(value))):
        return "a log-determinant of the Jacobian, not a trace: d log p/dt = -tr(df/dz) needs no determinant"
    error = dlogp + trace
    spread = float(np.max(np.abs(again() - dlogp)))
    unbiased = abs(float(np.mean(error))) <= 4 * float(np.std(error)) / np.sqrt(len(error))
    if spread > rtol * max(1.0, float(np.max(np.abs(trace)))):
        return (f"trace estimate too noisy: the same inputs under another random seed give values up to {spread:.2g} apart, "
                f"and the error against the exact trace reaches {np.max(np.abs(error)):.2g}"
                + (" (unbiased on average: a Hutchinson estimator?)" if unbiased else "")
                + "; compute the exact trace, one autograd pass per dimension")
    hint = "; the errors average to ~0, as a stochastic trace estimate's would" if unbiased else ""
    wrong = int(np.sum(np.abs(error) > rtol * max(1.0, float(np.max(np.abs(trace))))))
    return f"dlogp_dt is not -tr(df/dz) at {wrong} of {len(error)} samples (largest error {np.max(np.abs(error)):.2g}){hint}"


def _dynamics_case(ctx: CheckContext, case: FieldCase, t: float, z: np.ndarray, dtype=np.float64):
    name = np.dtype(dtype).name

    def run() -> tuple[float, str | None]:
        dz, dlogp, returned = _student_dynamics(ctx, case, t, z, dtype)
        if returned != (name, name):
            return 0.0, f"{name} input gave dz_dt in {returned[0]} and dlogp_dt in {returned[1]}"
        again = lambda: _student_dynamics(ctx, case, t, z, dtype, seed=1)[1]
        problem = diagnose_dynamics(dz, dlogp, case, t, z.astype(dtype).astype(np.float64), TRACE_RTOL[name], again)
        return float(problem is None), problem
    return run


TRACE_INTRO = "dz_dt against f(t, z) and dlogp_dt against minus the analytic trace of df/dz (rtol {:g})"


@check("1b2.linear", part="1b2", points=1.0, module=P1, timeout_s=20,
       title="ode_logp_dynamics: linear fields (trace known exactly), d = 2, 3, 5")
def check_1b2_linear(ctx: CheckContext) -> Outcome:
    fields = random_fields()
    plan = [("linear2", 701), ("linear3-plain", 702), ("linear5", 703)]
    cases = [(fields[name].label, _dynamics_case(ctx, fields[name], 0.3, _normal(seed, 64, fields[name].dim) * 1.5))
             for name, seed in plan]
    fraction, lines = per_case(cases)
    return Outcome(fraction, TRACE_INTRO.format(TRACE_RTOL["float64"]) + ", 64 points each:\n" + lines)


@check("1b2.mlp", part="1b2", points=2.0, module=P1, timeout_s=20,
       title="ode_logp_dynamics: random MLP fields as nn.Modules and plain functions, d = 2, 3, 5")
def check_1b2_mlp(ctx: CheckContext) -> Outcome:
    fields = random_fields()
    plan = [("mlp2t", 0.6, 711), ("mlp3", 0.0, 712), ("mlp3-plain", 0.0, 713), ("mlp5-plain", 0.4, 714)]
    cases = [(f"{fields[name].label}, t = {t:g}", _dynamics_case(ctx, fields[name], t, _normal(seed, 64, fields[name].dim) * 1.5))
             for name, t, seed in plan]
    fraction, lines = per_case(cases)
    return Outcome(fraction, TRACE_INTRO.format(TRACE_RTOL["float64"]) + ", 64 points each:\n" + lines)


@check("1b2.homework", part="1b2", points=1.0, module=P1, timeout_s=20,
       title="ode_logp_dynamics: the homework field, float64 and float32 (dtype kept)")
def check_1b2_homework(ctx: CheckContext) -> Outcome:
    z = np.concatenate([INSTANCE.grid(21), _normal(721, 200, 2) * 1.5])
    cases = [(f"{np.dtype(dtype).name} input", _dynamics_case(ctx, HOMEWORK, 0.5, z, dtype)) for dtype in (np.float64, np.float32)]
    fraction, lines = per_case(cases)
    return Outcome(fraction, f"tanh(z**3) on a 21 x 21 grid of [-4, 4]^2 and 200 random points (rtol {TRACE_RTOL['float64']:g} in "
                             f"float64, {TRACE_RTOL['float32']:g} in float32; the result keeps the input's dtype):\n{lines}")


# ---------------------------------------------------------------------------------- 1b3
GRID_RTOL = 5e-3  # |p - p*| <= GRID_RTOL |p*| + GRID_ATOL_FRACTION max p*: about twice dopri5's error at rtol = 1e-4
GRID_ROUGH = 10 * GRID_RTOL  # up to here: half credit, "not accurate enough"
GRID_ATOL_FRACTION = 1e-5  # of the largest expected value: the far tails
GRID_MASS_TOL = 2e-3  # |student's mass on the grid - the oracle's|, reported beside the values


def _points(name: str) -> np.ndarray:
    if name == "grid":
        return INSTANCE.grid()
    d = {"random2": 2, "random3": 3}[name]
    return _normal(800 + d, 400, d) * 1.5


@functools.cache
def _preimages(case_name: str, t: float, points_name: str) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's `(z(0), ℓ(0))` for a field, time and point set (cached: the solves cost ~1-2 s)."""
    return oracle.backward_solve(_case(case_name).field, t, _points(points_name))


def _density_from(z0: np.ndarray, ell0: np.ndarray) -> np.ndarray:
    return np.exp(oracle.standard_normal_logpdf(z0) - ell0)


def _density_error(student: np.ndarray, expected: np.ndarray) -> float:
    """The smallest `rtol` with |student - expected| <= rtol |expected| + GRID_ATOL_FRACTION max|expected|."""
    floor = GRID_ATOL_FRACTION * float(np.max(np.abs(expected)))
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.where(np.abs(student - expected) <= floor, 0.0, (np.abs(student - expected) - floor) / np.abs(expected))
    return float(np.max(np.nan_to_num(excess, nan=np.inf)))


def diagnose_grid_density(student: np.ndarray, case_name: str, t: float, points_name: str) -> tuple[float, str | None]:
    """The fraction earned by `student` as the density at time `t`, and what is wrong with it (None: correct)."""
    z0, ell0 = _preimages(case_name, t, points_name)
    expected = _density_from(z0, ell0)
    error = _density_error(student, expected)
    if error <= GRID_RTOL:
        return 1.0, None
    fraction = 0.5 if error <= GRID_ROUGH else 0.0
    matches = lambda candidate: _density_error(student, candidate) <= GRID_RTOL
    log_normal = oracle.standard_normal_logpdf(z0)
    case = _case(case_name)
    if matches(np.log(expected)):
        return 0.0, "returned the log-density; the contract asks for the density itself"
    if t != 0 and matches(np.exp(-ell0)):
        return 0.0, ("matches exp(-∫ tr(df/dz) dt) alone: the initial log-density log N(z(0); 0, I) was forgotten "
                     "(log p_t(x) = log N(z(0); 0, I) - ∫_0^t tr(df/dz) dt)")
    if t != 0 and matches(np.exp(log_normal + ell0)):
        return 0.0, ("trace taken with the wrong sign: the volume term enters with the wrong sign "
                     "(d log p/dt = -tr(df/dz), so log p_t(x) = log N(z(0); 0, I) - ∫_0^t tr(df/dz) dt)")
    if t != 0 and matches(np.exp(log_normal)):
        return 0.0, "matches N(z(0); 0, I) without the volume change: the trace term is missing"
    if t != 0 and matches(np.exp(oracle.standard_normal_logpdf(_points(points_name)))):
        return 0.0, "returned the standard normal density at the points: the flow was not applied"
    if t != 0 and not case.time_dependent and matches(_density_from(*oracle.backward_solve(case.field, -t, _points(points_name)))):
        return 0.0, ("matches the density at time -t: the augmented ODE was integrated forward from 0 to t; "
                     "integrate it backward, from t (where z = the points) to 0")
    if case_name != "homework" and matches(_density_from(*_preimages("homework", t, points_name))):
        return 0.0, "matches the homework field's density, not that of the f passed in (hard-coded field?)"
    wrong = int(np.sum(np.abs(student - expected) > GRID_RTOL * np.abs(expected) + GRID_ATOL_FRACTION * expected.max()))
    detail = f"wrong at {wrong} of {len(expected)} points, largest relative error {error:.2g} (tolerance {GRID_RTOL:g})"
    if fraction:
        return fraction, f"close but not accurate enough: {detail}; tighten the solver's tolerances"
    return 0.0, detail


def _student_grid_density(ctx: CheckContext, case: FieldCase, t: float, points: np.ndarray, dtype=np.float64) -> tuple[np.ndarray, str]:
    value = ctx.call("density_on_grid", case.build, t, points.astype(dtype))
    return as_array(value, "density_on_grid(f, t, points)", shape=(len(points),)), _dtype(value)


def _mass(density: np.ndarray) -> float:
    return float(np.sum(density) * INSTANCE.cell_area())


def _image(values: np.ndarray) -> np.ndarray:
    return values.reshape(INSTANCE.grid_size, INSTANCE.grid_size)


@check("1b3.homework", part="1b3", points=2.0, module=P1, timeout_s=30,
       title="density_on_grid: the homework field on the 101 x 101 grid at every heatmap time")
def check_1b3_homework(ctx: CheckContext) -> Outcome:
    grid, student_images = INSTANCE.grid(), {}

    def at(t: float):
        def run() -> tuple[float, str | None]:
            student, _ = _student_grid_density(ctx, HOMEWORK, t, grid)
            student_images[t] = _image(student)
            fraction, problem = diagnose_grid_density(student, "homework", t, "grid")
            mass, expected_mass = _mass(student), _mass(_density_from(*_preimages("homework", t, "grid")))
            if problem and abs(mass - expected_mass) > GRID_MASS_TOL:
                problem += f"; mass on the grid {mass:.4g}, expected {expected_mass:.4f}"
            return fraction, problem
        return run

    times = INSTANCE.p1b_heatmap_times
    fraction, lines = per_case([(f"t = {t:g}" + (" (the standard normal)" if t == 0 else ""), at(t)) for t in times])
    figures = _heatmap_figure(ctx, student_images, times)
    return Outcome(fraction, f"tanh(z**3) on the grid of [-4, 4]^2 against the oracle's backward DOP853 solve "
                             f"(rtol {GRID_RTOL:g}):\n{lines}", figures)


@check("1b3.random", part="1b3", points=1.5, module=P1, timeout_s=30,
       title="density_on_grid: random MLP fields (d = 2 time-dependent on the grid, d = 3), float32 kept")
def check_1b3_random(ctx: CheckContext) -> Outcome:
    fields = random_fields()

    def case(name: str, t: float, points_name: str, dtype=np.float64):
        def run() -> tuple[float, str | None]:
            student, returned = _student_grid_density(ctx, fields[name], t, _points(points_name), dtype)
            if returned != np.dtype(dtype).name:
                return 0.0, f"{np.dtype(dtype).name} input gave a {returned} result"
            return diagnose_grid_density(student, name, t, points_name)
        return (f"{fields[name].label}, t = {t:g}" + (f", {np.dtype(dtype).name} input" if dtype != np.float64 else ""), run)

    fraction, lines = per_case([case("mlp2t", 0.7, "grid"), case("mlp3-plain", 0.6, "random3"),
                                 case("mlp2t", 0.7, "random2", np.float32)])
    return Outcome(fraction, f"Against the oracle's backward DOP853 solve (rtol {GRID_RTOL:g}):\n{lines}")


AGREEMENT_SAMPLES = 20_000
AGREEMENT_BINS = 32  # per axis on the grid's square
AGREEMENT_SUBPOINTS = 3  # density evaluated at 3 x 3 midpoints per bin to integrate it
AGREEMENT_TV = 0.10  # a correct pair gives 0.069 here: the histogram's sampling noise (0.067-0.071 over seeds)


@check("1b3.agreement", part="1b3", points=0.5, module=P1, timeout_s=30,
       title="b1 and b3 agree: histogram of simulate's samples against density_on_grid at the histogram time")
def check_1b3_agreement(ctx: CheckContext) -> Outcome:
    t, low, high = INSTANCE.p1b_histogram_time, INSTANCE.grid_low, INSTANCE.grid_high
    z0 = _normal(77, AGREEMENT_SAMPLES, 2)
    samples = as_array(ctx.call("simulate", HOMEWORK.build, z0, t), "simulate(f, z0, t1)", shape=z0.shape)
    edges = np.linspace(low, high, AGREEMENT_BINS + 1)
    width, n_sub = edges[1] - edges[0], AGREEMENT_BINS * AGREEMENT_SUBPOINTS
    mids = low + (np.arange(n_sub) + 0.5) * width / AGREEMENT_SUBPOINTS
    xx, yy = np.meshgrid(mids, mids)  # x fastest: row = y
    points = np.stack([xx.ravel(), yy.ravel()], axis=1)
    density, _ = _student_grid_density(ctx, HOMEWORK, t, points)
    image = density.reshape(n_sub, n_sub)
    s = AGREEMENT_SUBPOINTS
    bin_mass = image.reshape(AGREEMENT_BINS, s, AGREEMENT_BINS, s).mean(axis=(1, 3)) * width**2
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=(edges, edges))
    tv = 0.5 * float(np.abs(counts.T / len(samples) - bin_mass).sum())
    figures = _agreement_figure(ctx, samples, image, t, tv)
    summary = (f"{AGREEMENT_SAMPLES:,} standard-normal samples pushed to t = {t:g} by your simulate, binned "
               f"{AGREEMENT_BINS} x {AGREEMENT_BINS} on [{low:g}, {high:g}]^2, against your density_on_grid integrated over "
               f"the same bins: total-variation distance {tv:.3f} (tolerance {AGREEMENT_TV:g}; the histogram's own "
               "sampling noise is about 0.07)")
    if tv > AGREEMENT_TV:
        return Outcome(0.0, f"Your b1 and b3 disagree. {summary}.", figures)
    return Outcome(1.0, f"{summary}.", figures)


def _heatmap_figure(ctx: CheckContext, student: dict[float, np.ndarray], times: tuple[float, ...]) -> tuple[str, ...]:
    from grader.report.figures import heatmap_rows

    missing = np.full((INSTANCE.grid_size, INSTANCE.grid_size), np.nan)
    rows = {"yours": {f"t = {t:g}": student.get(t, missing) for t in times},
            "expected": {f"t = {t:g}": _image(_density_from(*_preimages("homework", t, "grid"))) for t in times}}
    path, relative = ctx.figure_path("heatmaps")
    heatmap_rows(path, rows, (INSTANCE.grid_low, INSTANCE.grid_high),
                 "Problem 1b3: density of Z(t) under dz/dt = tanh(z^3), yours (top) and the oracle's (bottom)")
    return (relative,)


def _agreement_figure(ctx: CheckContext, samples: np.ndarray, density: np.ndarray, t: float, tv: float) -> tuple[str, ...]:
    from grader.report.figures import histogram_beside_density

    path, relative = ctx.figure_path("agreement")
    histogram_beside_density(path, samples, density, (INSTANCE.grid_low, INSTANCE.grid_high), AGREEMENT_BINS,
                             f"Problem 1b1 vs 1b3 at t = {t:g}: total-variation distance {tv:.3f} ({AGREEMENT_BINS}^2 bins)")
    return (relative,)
