"""Problem 4 checks: a RealNVP flow on the moons (35 points).

Expected values come from `grader.oracles.p4` (the coupling formula evaluated in float64
numpy on the grader's own random s/t networks), from Jacobians of the student's own maps that
the parent computes or confirms from their values (five-point differences of coupling_forward's
y; the child's autograd Jacobian of forward accepted only where one-sided differences of
forward's values agree) and from the exact law of the moons (`grader.oracles.moons`: its
entropy, the optimum NLL, and its arcs), never from `reference/`. Nothing scored is computed in
the child: docs/threat_model/p1_p4.md says, for each number, why a submission cannot forge it.

The training checks run the student's `train_realnvp(data, TRAIN_STEPS, 0)` once per grading
run (`_trained`), on `N_TRAIN` moons from a private seed, and keep the model in the child. The
trained model is then judged on one mixed query (`_density_run`, `grader.checks.p4_density`):
held-out moons, importance points of the mass check and the flow's own samples, shuffled, each
in an audit square, so a scored answer cannot be told from the answers that check it; the
held-out NLL and the mass are derived here from forward's z and log-det (the SPEC's rule).
Calibration: docs/p4_calibration.md (`tools/calibrate_p4.py`). Correct flows reach held-out NLLs
of 0.31-0.54 (entropy 0.2892; an untrained flow ~2); the thresholds leave room above the least
tuned (`NLL_FULL` 0.60, `NEAR_FULL` 0.85, `COVERAGE_FULL` 0.15). Mistakes land far away: a fixed
batch of 8 points gives an NLL of several nats (no credit), a standardisation without its
log-det a mass of 0.43. The fresh-model probes perturb parameters by the largest of 0.5, 0.25,
... x their scale at which the flow's outputs stay finite and moderate (deep unbounded flows).
"""
from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grader.checks import p4_density as density
from grader.checks.cases import per_case
from grader.checks.context import CheckContext
from grader.checks.registry import Outcome, check
from grader.instance import INSTANCE
from grader.oracles import p4 as oracle
from grader.oracles.moons import moons_entropy, sample_moons
from grader.oracles.p4 import MLPNet
from grader.runner.normalize import WrongOutput, as_array, as_tuple
from grader.runner.sandbox import ArrayValue, Build, Handle, StudentCodeError

P4 = "p4_realnvp"
NOISE = INSTANCE.moons_noise

# ---------------------------------------------------------------------------------- the training run
TRAIN_STEPS = 1000  # the reference: ~30 s of one free core (docs/p4_calibration.md)
TRAIN_TIMEOUT_S = 300.0  # ~10x the reference; a 32-coupling library-style flow needs ~110 CPU s; times --time-scale
PROBE_STEPS, PROBE_TIMEOUT_S = 10, 20.0  # a short run first: a training that hangs costs 20 s, not the whole budget
N_TRAIN = 10_000
N_HELD_OUT = 20_000
DATA_SEED = 58_213  # private: never printed in feedback
HELD_OUT_SEED = 91_607  # private
SAMPLE_SEED = 4_242
N_SAMPLES = 2000
LOG_PROB_POINTS = 4096  # base points of the mixed query where the child's log_prob is compared with forward's

# ---------------------------------------------------------------------------------- thresholds
COUPLING_RTOL, COUPLING_ATOL = 1e-4, 1e-4  # float32 networks against the float64 oracle: errors ~1e-6
FLOW_ATOL, FLOW_RTOL = 2e-3, 1e-4  # log-densities of a float32 flow against its autograd Jacobian
INVERSE_TOL = 1e-3  # |inverse(forward(x)) - x| / (1 + |x|)
PERTURB_REL = 0.5  # noise on a fresh RealNVP()'s trainable parameters, times each one's scale (`perturbation_scale`), at most
PERTURB_MIN = 0.5 / 256  # ... halved while the perturbed flow's outputs are not tame, down to this
TAME_Z, TAME_LOG_DET = 50.0, 30.0  # a perturbed flow's |z| and |log_det| on the flow points must stay below these
NONLINEAR_MIN = 0.05  # after the perturbation, Jacobians across the points differ by more than this (relative)
ROW_TOL = 1e-4  # |z of a point in one batch - z of it in another| / (1 + |z|): rows must not interact
ROW_BATCH = 7  # the first points alone, against the same points among all 256 and among the moved ones
FD_OFFSETS = (2.0**-10, -(2.0**-10), 2.0**-12, -(2.0**-12), 2.0**-14, -(2.0**-14))  # one-sided differences of forward
JACOBIAN_VERIFY_RTOL = 1e-2  # the child's autograd Jacobian against them (honest float32 flows: <= 5e-3)
JACOBIAN_VERIFIED_SHARE = 0.5  # points where it must agree; the others (kinks, steep spots) are left out of the comparison
COUPLING_FD_STEP = 2.0**-5  # five-point central differences of coupling_forward (smooth tanh s/t networks)
COUPLING_JACOBIAN_TOL = 1e-3  # |log_det - log|det ∂y/∂x|| and |off-diagonal| / (1 + max|J|): differences err <= 1e-4
NLL_POINT_CAP = 10.0  # nats: one held-out point's -log p counts at most this (a NaN too): a few bad points cost in proportion
# forward's log_det must agree with differences of its z at this share of the mixed query (honest 10-coupling flows ~0.95,
# a deep unbounded 32-coupling flow 0.78-0.93 over seeds 0-2); the derived NLL believes a claim only where it agrees, so a
# partial liar gains nothing there, and the systematic mistakes (sign, a missing constant) agree almost nowhere
AUDIT_SHARE = 0.6
SMOOTH_MAX = 0.1  # share of nearby query pairs whose z disagree with their differences (honest ReLU flows: ~0.01)
ROUND_TRIP_SHARE = 0.95  # samples inverse(z) that forward must map back to z within INVERSE_TOL
Z_MEAN_TOL, Z_COV_TOL = 0.15, 0.2  # forward(sample(2000)) against N(0, I): ~7 standard errors
BUG_SIGMAS = 4.0  # NLL below the entropy by more than this many standard errors: not a density
MASS_TOL = 0.05  # |mass on the grid - 1|: correct flows 0.9988-1.0026; a missing standardisation log-det 0.43
MASS_HINT_TOL = 0.25  # beside an NLL that earns nothing, only a mass this far off is worth a word
UNTRAINED_NLL = 1.5  # a flow at or above this did not learn: untrained flows give 2.0-2.3, diverged trainings 2.2-2.6, correct ones 0.31-0.54
NLL_FULL, NLL_ZERO = 0.60, 1.10  # held-out NLL: full at or below, nothing at or above, linear between (correct: 0.31-0.54)
NEAR_FULL, NEAR_ZERO = 0.85, 0.50  # share of samples within 3 sigma of the arcs (real data 0.997, correct flows 0.90-0.99)
COVERAGE_FULL, COVERAGE_ZERO = 0.15, 0.35  # TV of the near samples' 12 arc segments from uniform (correct: 0.02-0.10)


def _close(a: np.ndarray, b: np.ndarray, rtol: float = COUPLING_RTOL, atol: float = COUPLING_ATOL) -> bool:
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


# ---------------------------------------------------------------------------------- couplings
@dataclass(frozen=True)
class CouplingCase:
    """A coupling handed to student code: mask, the grader's s/t networks, the points."""

    label: str  # shown in feedback; never the mask of a random case or the weights
    mask: np.ndarray  # 0/1, in the points' dtype
    s_net: MLPNet
    t_net: MLPNet
    x: np.ndarray

    def build(self, net: MLPNet) -> Build:
        return Build("mlp", {"weights": [W.astype(np.float32) for W in net.weights],
                             "biases": [b.astype(np.float32) for b in net.biases]})

    @property
    def nets(self) -> tuple[Build, Build]:
        return self.build(self.s_net), self.build(self.t_net)

    def forward(self, mistake: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        return oracle.coupling_forward(self.x.astype(np.float64), self.mask, self.s_net, self.t_net, mistake)


@functools.cache
def coupling_cases() -> tuple[CouplingCase, ...]:
    rng = np.random.default_rng(4101)

    def case(label: str, mask: list[int], dtype=np.float32, n: int = 128) -> CouplingCase:
        d = len(mask)
        s_net, t_net = oracle.random_mlp(rng, d, 16, 0.5), oracle.random_mlp(rng, d, 16, 1.0)
        x = (rng.normal(size=(n, d)) * 1.2).astype(dtype)
        return CouplingCase(label, np.asarray(mask, dtype=dtype), s_net, t_net, x)

    def random_mask(d: int) -> list[int]:
        mask = rng.permutation([1] * (d // 2) + [0] * (d - d // 2))
        return [int(v) for v in mask]

    return (case("D = 2, mask [1, 0]", [1, 0]), case("D = 2, mask [0, 1]", [0, 1]),
            case("D = 6, a random mask", random_mask(6)),
            case("D = 6, another random mask, float64 points and mask", random_mask(6), np.float64))


def _wrong_at(a: np.ndarray, b: np.ndarray) -> str:
    bad = ~np.isclose(a, b, rtol=COUPLING_RTOL, atol=COUPLING_ATOL)
    rows = int(np.sum(bad.reshape(len(a), -1).any(axis=1)))
    return f"wrong at {rows} of {len(a)} points (largest error {np.max(np.abs(a - b)):.3g})"


FORWARD_Y = {
    "unmasked": "s and t were computed from the full x, not from mask * x: the layer is then not invertible "
                "(the inverse cannot recompute s and t) and its Jacobian is not triangular",
    "exp_confusion": "y uses x * s + t: the scale is exp(s), y = x * exp(s) + t on the coordinates with mask == 0",
    "mask_inverted": "the mask's roles are swapped: coordinates with mask == 1 must pass through unchanged and "
                     "condition the others (those with mask == 0 are scaled and shifted)",
}
FORWARD_LOG_DET = {
    "sign": "log_det has the wrong sign: log|det ∂y/∂x| = +Σ_j (1 - mask_j) s_j",
    "no_log_det": "log_det is zero: the log-determinant Σ_j (1 - mask_j) s_j is missing",
    "all_dims": "log_det sums s over every coordinate: only the transformed ones count, Σ_j (1 - mask_j) s_j",
    "mask_inverted": "log_det sums s over the coordinates with mask == 1: use Σ_j (1 - mask_j) s_j",
}


def diagnose_forward(y: np.ndarray, log_det: np.ndarray, case: CouplingCase) -> tuple[float, list[str]]:
    """Half the credit for `y`, half for `log_det`, and what is wrong with each."""
    expected_y, expected_ld = case.forward()
    problems, fraction = [], 0.0
    if _close(y, expected_y):
        fraction += 0.5
    else:
        named = next((text for mistake, text in FORWARD_Y.items() if _close(y, case.forward(mistake)[0])), None)
        m = case.mask.astype(bool)
        moved = not _close(y[:, m], case.x[:, m].astype(np.float64), 0, 0)
        problems.append(named or ("y changes the coordinates with mask == 1: they must pass through unchanged" if moved
                                  else f"y is {_wrong_at(y, expected_y)}"))
    if _close(log_det, expected_ld):
        fraction += 0.5
    else:
        named = next((text for mistake, text in FORWARD_LOG_DET.items() if _close(log_det, case.forward(mistake)[1])), None)
        problems.append(named or f"log_det is {_wrong_at(log_det, expected_ld)}")
    return fraction, problems


def per_point(value, name: str, n: int, allow_nan: bool = False) -> np.ndarray:
    """`value` as one number per point `(n,)`; a column `(n, 1)` gets the fix hint."""
    if isinstance(value, ArrayValue) and value.array.shape == (n, 1):
        raise WrongOutput(f"{name} has shape ({n}, 1) but the contract says ({n},): return one value per point in a 1-D "
                          "tensor (drop the trailing dimension, e.g. .sum(dim=1) or .squeeze(1))")
    return as_array(value, name, shape=(n,), allow_nan=allow_nan)


def _student_coupling(ctx: CheckContext, name: str, points: np.ndarray, case: CouplingCase) -> tuple[np.ndarray, np.ndarray]:
    label = f"{name}(x, mask, s_net, t_net)"
    out, log_det = as_tuple(ctx.call(name, points, case.mask, *case.nets), label, 2)
    return as_array(out, f"the first output of {label}", shape=points.shape), per_point(log_det, f"log_det of {label}", len(points))


@check("4.coupling_forward", part="4", points=5, module=P4, timeout_s=10,
       title="coupling_forward against the oracle: random s/t MLPs and masks, D = 2 and 6")
def check_coupling_forward(ctx: CheckContext) -> Outcome:
    def run_case(case: CouplingCase):
        def run() -> tuple[float, str | None]:
            fraction, problems = diagnose_forward(*_student_coupling(ctx, "coupling_forward", case.x, case), case)
            return fraction, "; ".join(problems) or None
        return run

    fraction, lines = per_case([(case.label, run_case(case)) for case in coupling_cases()])
    return Outcome(fraction, "y = mask*x + (1-mask)*(x*exp(s) + t) with s, t of mask*x, and log_det = Σ (1-mask) s, against "
                             f"a float64 computation with the same networks (rtol {COUPLING_RTOL:g}); half of each case for y, "
                             f"half for log_det:\n{lines}")


INVERSE_X = {
    "forward": "coupling_inverse applies the forward map again: undo it, x = (y - t) * exp(-s) on the coordinates with mask == 0",
    "exp_sign": "x = (y - t) * exp(s): the inverse divides by exp(s), x = (y - t) * exp(-s)",
    "order": "x = y * exp(-s) - t: subtract t first, then divide by exp(s): x = (y - t) * exp(-s)",
    "unmasked": "s and t were computed from the full y, not from mask * y (= mask * x): the inverse must recompute "
                "exactly the s and t of the forward pass",
}
INVERSE_LOG_DET = {
    "sign": "log_det has the forward map's sign: the inverse's log-determinant is -Σ_j (1 - mask_j) s_j",
    "no_log_det": "log_det is zero: the inverse's log-determinant -Σ_j (1 - mask_j) s_j is missing",
}


def diagnose_inverse(x: np.ndarray, log_det: np.ndarray, case: CouplingCase) -> tuple[float, list[str]]:
    """`coupling_inverse(y)` for `y` = the oracle's forward image of `case.x`: half for x, half for log_det."""
    y, forward_ld = case.forward()
    problems, fraction = [], 0.0
    expected_x = case.x.astype(np.float64)
    if _close(x, expected_x):
        fraction += 0.5
    else:
        named = next((text for mistake, text in INVERSE_X.items()
                      if _close(x, oracle.coupling_inverse(y, case.mask, case.s_net, case.t_net, mistake)[0])), None)
        problems.append(named or f"the inverse does not invert: coupling_inverse(y) is {_wrong_at(x, expected_x)}")
    if _close(log_det, -forward_ld):
        fraction += 0.5
    else:
        named = next((text for mistake, text in INVERSE_LOG_DET.items()
                      if _close(log_det, oracle.coupling_inverse(y, case.mask, case.s_net, case.t_net, mistake)[1])), None)
        problems.append(named or f"log_det is {_wrong_at(log_det, -forward_ld)}")
    return fraction, problems


@check("4.coupling_inverse", part="4", points=5, module=P4, timeout_s=10,
       title="coupling_inverse against the oracle, and coupling_inverse(coupling_forward(x)) == x")
def check_coupling_inverse(ctx: CheckContext) -> Outcome:
    def oracle_case(case: CouplingCase):
        def run() -> tuple[float, str | None]:
            y = case.forward()[0].astype(case.x.dtype)
            fraction, problems = diagnose_inverse(*_student_coupling(ctx, "coupling_inverse", y, case), case)
            return fraction, "; ".join(problems) or None
        return run

    def round_trip(case: CouplingCase):
        def run() -> tuple[float, str | None]:
            y, forward_ld = _student_coupling(ctx, "coupling_forward", case.x, case)
            x, inverse_ld = _student_coupling(ctx, "coupling_inverse", y.astype(case.x.dtype), case)
            problems = []
            if not _close(x, case.x.astype(np.float64)):
                problems.append(f"coupling_inverse(coupling_forward(x)) is not x: {_wrong_at(x, case.x.astype(np.float64))}")
            if not _close(forward_ld + inverse_ld, np.zeros(len(x))):
                problems.append(f"the two log-dets do not cancel (largest |sum| {np.max(np.abs(forward_ld + inverse_ld)):.3g}): "
                                "the inverse's log-det is minus the forward's")
            return (0.0, "; ".join(problems)) if problems else (1.0, None)
        return run

    cases = coupling_cases()
    plan = [(case.label, oracle_case(case)) for case in cases]
    plan.append((f"round trip through your coupling_forward, {cases[2].label}", round_trip(cases[2])))
    fraction, lines = per_case(plan)
    return Outcome(fraction, "coupling_inverse(y) for y = the exact forward image of known x: x recovered, log_det = -Σ (1-mask) s "
                             f"(rtol {COUPLING_RTOL:g}; half for x, half for log_det); then the round trip:\n{lines}")


def on_grid(x: np.ndarray) -> np.ndarray:
    """`x` rounded to multiples of 2^-16, so points moved by power-of-two offsets stay exact in float32."""
    return (np.round(x.astype(np.float64) * 2.0**16) / 2.0**16).astype(x.dtype)


@check("4.coupling_jacobian", part="4", points=3, module=P4, timeout_s=10,
       title="coupling_forward's log_det against log|det ∂y/∂x| from central differences of its own y")
def check_coupling_jacobian(ctx: CheckContext) -> Outcome:
    step = COUPLING_FD_STEP

    def run_case(case: CouplingCase):
        def run() -> tuple[float, str | None]:
            x = on_grid(case.x[:32])
            n, d = x.shape
            points = oracle.offset_points(x, (2 * step, step, -step, -2 * step)).astype(x.dtype)
            y, log_det = _student_coupling(ctx, "coupling_forward", points, case)
            jac, log_det = oracle.five_point_jacobian(y, n, d, step), log_det[:n]
            true = oracle.log_abs_det(jac)
            scale = 1 + np.max(np.abs(jac))
            free = ~case.mask.astype(bool)
            block = jac[:, free][:, :, free]
            off_diagonal = block - block * np.eye(int(free.sum()))
            if np.max(np.abs(off_diagonal), initial=0.0) > COUPLING_JACOBIAN_TOL * scale:
                return 0.0, ("∂y/∂x is not triangular: a transformed coordinate depends on another transformed one, so s or t "
                             "sees the coordinates it transforms (use s_net(mask * x), t_net(mask * x))")
            close = lambda a, b: bool(np.all(np.abs(a - b) <= COUPLING_JACOBIAN_TOL * (1 + np.abs(b))))
            if close(log_det, true):
                return 1.0, None
            for value, text in ((-true, "log_det is minus log|det ∂y/∂x|: the sign is flipped"),
                                (np.zeros(n), "log_det is zero but log|det ∂y/∂x| is not: the log-determinant is missing")):
                if close(log_det, value):
                    return 0.0, text
            return 0.0, f"log_det differs from log|det ∂y/∂x| (largest error {np.max(np.abs(log_det - true)):.3g})"
        return run

    cases = coupling_cases()
    fraction, lines = per_case([(case.label, run_case(case)) for case in (cases[0], cases[2], cases[3])])
    return Outcome(fraction, "log_det against log|det ∂y/∂x|, the Jacobian taken by the grader from your coupling_forward's own y "
                             f"(five-point central differences, step {step:g}; 32 points per case, tolerance "
                             f"{COUPLING_JACOBIAN_TOL:g}):\n{lines}")


# ---------------------------------------------------------------------------------- the trained model
@dataclass
class _Training:
    box: object  # the child the model lives in
    handle: Handle | None
    error: StudentCodeError | None
    seconds: float
    seed: int = 0  # the seed of the training judged
    note: str = ""  # why that is RETRY_SEED, or ""


_TRAININGS: weakref.WeakKeyDictionary[object, _Training] = weakref.WeakKeyDictionary()
RETRY_SEED = 1  # a training that did not learn at seed 0 (diverged) is run once more with this seed
LEARNED_POINTS = 2_000  # training points on which the trained flow's NLL says whether it learned at all


def _trained(ctx: CheckContext) -> tuple[Handle, float]:
    """The student's model trained once per grading run (kept in the child); a failure is remembered, not retried.

    A training that returns but did not learn (its NLL on its own training data at an untrained flow's level: a
    diverged run) is run once more with seed RETRY_SEED, and that model is judged. The decision reads only data
    the child trained on, before any held-out query, so a child gains nothing by it but another seed of its own run.
    """
    box = ctx.modules.sandbox(P4)
    done = _TRAININGS.get(ctx.modules)
    if done is not None and done.error is not None:
        raise done.error
    if done is not None and done.box is box and box.alive:
        return done.handle, done.seconds
    data = sample_moons(N_TRAIN, NOISE, seed=ctx.seed("4.train_data", DATA_SEED))
    note, seed = "", 0
    try:
        _short_run(ctx, data)
        handle, seconds = _training_run(ctx, data, seed)
        first = _training_nll(ctx, handle, data)
        if first >= UNTRAINED_NLL:
            seed = RETRY_SEED
            handle, seconds = _training_run(ctx, data, seed)
            note = (f"; with seed 0 the training did not learn (NLL {first:.2f} nats on its own training data, an untrained "
                    f"flow's level: a diverged run?), so it was run again with seed {RETRY_SEED}, and every check of the "
                    "trained flow judges that model")
    except StudentCodeError as error:
        if error.error_type != "NotImplementedError" and not error.message.startswith("a short run"):
            error = StudentCodeError(error.kind, f"train_realnvp(data, {TRAIN_STEPS}, {seed}) on {N_TRAIN:,} moons: "
                                                 f"{error.message}", error.error_type, error.where)
        _TRAININGS[ctx.modules] = _Training(box, None, error, 0.0)
        raise error from None
    _TRAININGS[ctx.modules] = _Training(ctx.modules.sandbox(P4), handle, None, seconds, seed, note)
    return handle, seconds


def _training_run(ctx: CheckContext, data: np.ndarray, seed: int) -> tuple[Handle, float]:
    """train_realnvp(data, TRAIN_STEPS, seed), in evaluation mode; the model and the training's seconds."""
    started = time.monotonic()
    handle = ctx.call("train_realnvp", data, TRAIN_STEPS, seed, keep=True, timeout_s=TRAIN_TIMEOUT_S, on_device=True)
    seconds = time.monotonic() - started
    _evaluation_mode(ctx, handle)
    return handle, seconds


def _training_nll(ctx: CheckContext, handle: Handle, data: np.ndarray) -> float:
    """The trained flow's NLL on LEARNED_POINTS of its training data, from forward's z and claimed log-det (NaN: capped);
    only whether it learned at all is read from it. -inf (never a retry) when forward cannot answer: the checks say why."""
    try:
        z, log_det = _forward(ctx, handle, data[:LEARNED_POINTS].astype(np.float32), "RealNVP.forward", allow_nan=True)
    except (StudentCodeError, WrongOutput):
        return -np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        return float(point_nll(oracle.standard_normal_logpdf(z) + log_det).mean())


def _training_text(ctx: CheckContext, seconds: float) -> str:
    """How the judged model was trained, for the feedback."""
    done = _TRAININGS.get(ctx.modules)
    seed, note = (done.seed, done.note) if done is not None else (0, "")
    return f"train_realnvp(data, {TRAIN_STEPS}, {seed}) on {N_TRAIN:,} moons took {seconds:.0f} s{note}"


def _short_run(ctx: CheckContext, data: np.ndarray) -> None:
    """train_realnvp for PROBE_STEPS steps within PROBE_TIMEOUT_S (x --time-scale), before the real run.

    A training that never returns then costs PROBE_TIMEOUT_S, and the runner does not call it again.
    """
    try:
        ctx.call("train_realnvp", data, PROBE_STEPS, 0, timeout_s=PROBE_TIMEOUT_S, on_device=True)
    except StudentCodeError as error:
        if error.kind != "timeout":
            raise
        raise StudentCodeError("timeout", f"a short run, train_realnvp(data, n_steps={PROBE_STEPS}, 0), did not finish within "
                               f"{PROBE_TIMEOUT_S * ctx.options.limits.time_scale:.0f} s (the reference needs about a second): "
                               "does train_realnvp hang, or ignore n_steps?") from None


def _evaluation_mode(ctx: CheckContext, handle: Handle) -> None:
    """`model.eval()` before judging it (BatchNorm then uses its running statistics), and `model.cpu()` after a
    training on the GPU (`--device cuda`), so every query runs as on a CPU run; a model without them is left as is."""
    for method in ("eval", "cpu") if ctx.options.device != "cpu" else ("eval",):
        try:
            ctx.call_method(handle, method)
        except StudentCodeError as error:
            if error.error_type != "AttributeError":
                raise


# ---------------------------------------------------------------------------------- the mixed density query
@dataclass
class DensityRun:
    """The trained flow's answers on the mixed query (`grader.checks.p4_density`), asked once per grading run."""

    box: object  # the child the model lives in
    query: density.DensityQuery
    answers: density.DensityAnswers
    inconsistent: np.ndarray  # (N,) the smoothness audit per base point (NaN: no neighbour)
    base: str  # "normal", or "logistic" when the child's log_prob uses NICE's base (asked on public points first)
    log_prob: np.ndarray  # (M,) the child's log_prob at the base points `log_prob_at`
    log_prob_at: np.ndarray  # (M,) indices into query.base
    sample_z: np.ndarray  # (n, 2) the grader's latent draws from that base
    samples: np.ndarray  # (n, 2) inverse(sample_z), NaN rows where not finite
    sample_rows: np.ndarray  # (n,) index of each sample among the base points, -1 when it was not finite
    row_gap: float  # largest relative change of z when the first rows of the first slice are sent alone


_DENSITY_RUNS: weakref.WeakKeyDictionary[object, DensityRun] = weakref.WeakKeyDictionary()


def _density_run(ctx: CheckContext) -> DensityRun:
    """The trained model asked, in one shuffled batch, about held-out moons, importance points and its own samples."""
    handle = _trained(ctx)[0]
    done = _DENSITY_RUNS.get(ctx.modules)
    box = ctx.modules.sandbox(P4)
    if done is not None and done.box is box:
        return done
    seed = ctx.seed("4.held_out", HELD_OUT_SEED)
    rng = np.random.default_rng([seed, 4])
    held = _held_out(seed)
    probe = _flow_points()  # public points, asked first: which base the flow's own log_prob uses
    z, log_det = _forward(ctx, handle, probe, "RealNVP.forward", allow_nan=True)
    base = _base_of(per_point(ctx.call_method(handle, "log_prob", probe), "log_prob(x)", len(probe), allow_nan=True), z, log_det)
    draw = np.random.default_rng(SAMPLE_SEED)
    sample_z = (draw.logistic(size=(N_SAMPLES, 2)) if base == "logistic" else draw.standard_normal((N_SAMPLES, 2))).astype(np.float32)
    samples = as_array(ctx.call_method(handle, "inverse", sample_z), f"inverse(z) for {N_SAMPLES} z drawn from the base",
                       shape=(N_SAMPLES, 2), allow_nan=True)
    finite = np.flatnonzero(np.isfinite(samples).all(axis=1) & (np.abs(samples) < 16).all(axis=1))
    query = density.build_query([(density.HELD_OUT, held), (density.IMPORTANCE, density.draw_mixture(held, rng)),
                                 (density.SAMPLE, samples[finite])], rng)
    z_rows, ld_rows = [], []
    for chunk in np.array_split(query.points, max(1, -(-len(query.points) // density.CHUNK_ROWS))):
        z, log_det = as_tuple(ctx.call_method(handle, "forward", chunk), "RealNVP.forward(x)", 2)
        z_rows.append(as_array(z, "z = RealNVP.forward(x)[0]", shape=chunk.shape, allow_nan=True))
        ld_rows.append(per_point(log_det, "RealNVP.forward(x)[1] (log_det)", len(chunk), allow_nan=True))
    answers = density.read_answers(query, np.concatenate(z_rows), np.concatenate(ld_rows))
    alone, _ = _forward(ctx, handle, query.points[:ROW_BATCH], "RealNVP.forward", allow_nan=True)
    with np.errstate(invalid="ignore"):
        row_gap = float(np.nanmax(np.abs(alone - z_rows[0][:ROW_BATCH]) / (1 + np.abs(z_rows[0][:ROW_BATCH])), initial=0.0))
    scored = np.flatnonzero(query.role != density.SAMPLE)
    at = rng.permutation(rng.choice(scored, size=min(LOG_PROB_POINTS, len(scored)), replace=False))
    log_prob = per_point(ctx.call_method(handle, "log_prob", query.base[at].astype(np.float32)), "log_prob(x)", len(at), allow_nan=True)
    sample_rows = np.full(N_SAMPLES, -1)
    sample_rows[finite] = np.flatnonzero(query.role == density.SAMPLE)
    run = DensityRun(box, query, answers, density.inconsistent_neighbours(query, answers), base, log_prob, at, sample_z,
                     samples, sample_rows, row_gap)
    _DENSITY_RUNS[ctx.modules] = run
    return run


def _base_of(log_prob: np.ndarray, z: np.ndarray, log_det: np.ndarray) -> str:
    """NICE's logistic base when the child's own log_prob is log Logistic(z) + log_det at most points, else the normal."""
    with np.errstate(invalid="ignore", over="ignore"):
        logistic = np.abs(log_prob - oracle.standard_logistic_logpdf(z) - log_det) <= FLOW_ATOL + FLOW_RTOL * np.abs(log_prob)
    return "logistic" if np.mean(logistic) >= 0.9 else "normal"


def _smoothness_problem(run: DensityRun, roles: tuple[int, ...]) -> str | None:
    """Why z cannot be trusted as one smooth map near the base points of `roles`, or None."""
    flags = run.inconsistent[np.isin(run.query.role, roles)]
    flags = flags[~np.isnan(flags)]
    if len(flags) and flags.mean() > SMOOTH_MAX:
        return (f"z = forward(x) is not one smooth map: between {flags.mean():.0%} of {len(flags):,} pairs of nearby query "
                f"points (closer than {density.NEIGHBOUR_RADIUS:g}) z changes otherwise than its own differences at each "
                f"point say (allowed: {SMOOTH_MAX:.0%}), so its log-determinant cannot be believed")
    return None


# ---------------------------------------------------------------------------------- training
@functools.cache
def _held_out(seed: int) -> np.ndarray:
    return sample_moons(N_HELD_OUT, NOISE, seed=seed)


def nll_fraction(nll: float) -> float:
    """Credit for a held-out NLL that is not a bug: 1 up to NLL_FULL, 0 from NLL_ZERO, linear between."""
    return float(np.clip((NLL_ZERO - nll) / (NLL_ZERO - NLL_FULL), 0.0, 1.0))


def point_nll(log_p: np.ndarray) -> np.ndarray:
    """Each held-out point's -log p, at most NLL_POINT_CAP; a point where log p is not finite counts the cap."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(log_p), np.minimum(-log_p, NLL_POINT_CAP), NLL_POINT_CAP)


@check("4.train_nll", part="4", points=10, module=P4, timeout_s=60,
       title=f"train_realnvp: held-out NLL on fresh moons after {TRAIN_STEPS} steps on {N_TRAIN:,} points, and a normalised density")
def check_train_nll(ctx: CheckContext) -> Outcome:
    _, seconds = _trained(ctx)
    run = _density_run(ctx)
    trained = _training_text(ctx, seconds)
    problem = _smoothness_problem(run, (density.HELD_OUT, density.IMPORTANCE))
    if problem:
        return Outcome(0.0, f"{problem}. {trained}.")
    role = run.query.role
    log_p = run.answers.log_density(run.base)
    held, scored = role == density.HELD_OUT, role != density.SAMPLE
    per_point_nll = point_nll(log_p[held])
    entropy = moons_entropy(NOISE)
    nll, se = float(per_point_nll.mean()), float(per_point_nll.std() / np.sqrt(len(per_point_nll)))
    bad = int(np.sum(~np.isfinite(log_p[held])))
    base = " (NICE's logistic base, as your log_prob uses)" if run.base == "logistic" else ""
    measured = (f"held-out NLL {nll:.4f} ± {se:.4f} nats on {N_HELD_OUT:,} fresh moons (the optimum, the data's entropy, "
                f"is {entropy:.4f}), from forward's z and log-determinant{base}")
    if bad:
        measured += f"; at {bad} of them the density was not finite, and each counted {NLL_POINT_CAP:g} nats"
    if nll < entropy - BUG_SIGMAS * se:
        return Outcome(0.0, f"BUG: {measured} — below the data's entropy by {entropy - nll:.3f}, more than {BUG_SIGMAS:g} standard "
                            "errors. No density can do that: log_prob is not a normalised density (a missing or wrong "
                            "log-determinant, or a standardisation without its Jacobian). " + trained + ".")
    mass = density.importance_mass(log_p[scored], density.mixture_log_density(run.query.base[scored], NOISE))
    where = (f"over the plane (importance sampling on {int(scored.sum()):,} points: the held-out moons and as many from a "
             "wide Gaussian)")
    fraction = nll_fraction(nll)
    if fraction == 0:  # a flow this poor may hold spikes the sampling cannot resolve: its mass is only a hint
        hint = (f" Also, exp(log p) integrates to {mass:.4g} {where}, not 1: not a normalised density "
                "(a missing or wrong log-determinant, or a standardisation without its Jacobian?)."
                if not np.isfinite(mass) or abs(mass - 1) > MASS_HINT_TOL else "")
        if nll >= UNTRAINED_NLL:
            hint += (f" A flow at or above {UNTRAINED_NLL:g} nats did not learn: did the training diverge "
                     "(non-finite losses; unbounded scales exp(s) with a high learning rate are a classic cause: bound s "
                     "with tanh, lower the learning rate or clip gradients) or never update the parameters?")
        return Outcome(0.0, f"{measured}: no credit, at or above {NLL_ZERO:g} (full credit at ≤ {NLL_FULL:g}; an untrained flow "
                            f"gives about 2). {trained}.{hint}")
    if not np.isfinite(mass) or abs(mass - 1) > MASS_TOL:
        return Outcome(0.0, f"exp(log p) integrates to {mass:.4g} {where}, not 1 (tolerance {MASS_TOL:g}): forward's z and "
                            "log_det do not give a normalised density (a missing or wrong log-determinant, or a standardisation "
                            "without its Jacobian). "
                            f"{measured}; {trained}.")
    verdict = "full credit" if fraction == 1 else f"partial credit: full at ≤ {NLL_FULL:g}, none at ≥ {NLL_ZERO:g}"
    return Outcome(fraction, f"{measured}: {verdict}. exp(log p) integrates to {mass:.4f} {where}. {trained}.{_log_prob_note(run)}")


def _log_prob_note(run: DensityRun) -> str:
    """A word when the child's own log_prob is not the density its forward gives (charged in 4.model_logprob)."""
    at = run.log_prob_at
    with np.errstate(invalid="ignore", over="ignore"):
        gap = run.log_prob - (density.BASES[run.base](run.answers.z[at]) + run.answers.log_det[at])
    gap = gap[np.isfinite(gap)]
    if not len(gap) or np.median(np.abs(gap)) <= FLOW_ATOL:
        return ""
    return (f" Note: the NLL is that of forward's density; your log_prob differs from it (median {np.median(gap):+.3g} nats), "
            "see 4.model_logprob.")


# ---------------------------------------------------------------------------------- the flow's density
def _flow_points() -> np.ndarray:
    rng = np.random.default_rng(4401)
    moons = sample_moons(192, NOISE, seed=4402).astype(np.float64)
    spread = rng.normal(size=(64, 2)) * [1.0, 0.7] + [0.5, 0.25]
    return on_grid(np.concatenate([moons, spread]).astype(np.float32))


ROWS_INTERACT = ("in eval mode, forward maps the same point to different z in different batches (largest difference "
                 "{gap:.2g}): its rows interact, e.g. a BatchNorm layer that uses the batch's statistics even in eval mode. "
                 "A flow must map each point on its own: it is then a bijection with a per-point log-determinant")


def diagnose_flow(x: np.ndarray, z: np.ndarray, log_det: np.ndarray, log_p: np.ndarray, jac: np.ndarray,
                  x_back: np.ndarray) -> tuple[float, list[str]]:
    """A third of the credit each: forward's log_det, log_prob, inverse; and what is wrong."""
    true = oracle.log_abs_det(jac)
    base = oracle.standard_normal_logpdf(z)

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.all(np.abs(a - b) <= FLOW_ATOL + FLOW_RTOL * np.abs(b)))

    def offset_text(a: np.ndarray, b: np.ndarray) -> str:
        diff = a - b
        if np.std(diff) <= FLOW_ATOL and abs(np.mean(diff)) > FLOW_ATOL:
            return f"off by the same constant {np.mean(diff):+.4g} at every point"
        return f"wrong at {int(np.sum(np.abs(diff) > FLOW_ATOL + FLOW_RTOL * np.abs(b)))} of {len(a)} points (largest error {np.max(np.abs(diff)):.3g})"

    problems, fraction = [], 0.0
    if close(log_det, true):
        fraction += 1 / 3
    elif close(log_det, -true):
        problems.append("forward's log_det is minus log|det ∂z/∂x| (autograd): the sign is flipped")
    else:
        text = offset_text(log_det, true)
        hint = (" — a constant layer's log-determinant is missing or has the wrong sign (the standardisation's -Σ log std?)"
                if text.startswith("off by the same constant") else "")
        problems.append(f"forward's log_det against log|det ∂z/∂x| from autograd: {text}{hint}")
    expected = base + true
    if close(log_p, expected):
        fraction += 1 / 3
    elif close(log_p, base - true):
        problems.append("log_prob = log N(z) - log|det ∂z/∂x|: the log-determinant enters with the wrong sign")
    elif close(log_p, base):
        problems.append("log_prob = log N(z): the log-determinant is missing")
    elif close(log_p, oracle.standard_logistic_logpdf(z) + true):
        problems.append("log_prob = log Logistic(z) + log|det ∂z/∂x|: the base density is a standard logistic, but the contract's "
                        "base is the standard normal N(0, I) (log_prob = log N(z; 0, I) + log|det ∂z/∂x|)")
    else:
        text = offset_text(log_p, expected)
        if text.startswith("off by the same constant") and abs(np.mean(log_p - expected) - np.log(2 * np.pi)) < 1e-2:
            text += " = log 2π: the standard normal's normalising constant is missing"
        problems.append(f"log_prob against log N(f(x); 0, I) + log|det ∂f/∂x| (autograd): {text}")
    if np.all(np.abs(x_back - x) <= INVERSE_TOL * (1 + np.abs(x))):
        fraction += 1 / 3
    else:
        problems.append(f"inverse(forward(x)[0]) is not x (largest error {np.max(np.abs(x_back - x)):.3g})")
    return fraction, problems


def verified_jacobian(claim: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Which points' claimed Jacobians (the child's autograd, `(N, 2, 2)`) agree with one-sided differences of
    forward's values at `offset_points(x, FD_OFFSETS)`; a problem when too few do."""
    mismatch = oracle.one_sided_mismatch(claim, values, FD_OFFSETS)
    verified = mismatch <= JACOBIAN_VERIFY_RTOL
    if verified.mean() < JACOBIAN_VERIFIED_SHARE:
        return verified, (f"the autograd Jacobian of forward disagrees with differences of forward's own values at "
                          f"{int((~verified).sum())} of {len(claim)} points (largest relative gap {np.max(mismatch):.2g}), so its "
                          "log-determinant cannot be checked: is part of forward computed outside autograd (.detach(), .numpy(), "
                          ".item()), or is forward not a smooth function of x?")
    return verified, None


def _flow_case(ctx: CheckContext, get_handle: Callable[[], Handle], perturbed: bool = False) -> Callable[[], tuple[float, str | None]]:
    def run() -> tuple[float, str | None]:
        handle = get_handle()
        x = _flow_points()
        n = len(x)
        z, log_det = _forward(ctx, handle, x, "RealNVP.forward(x)")
        log_p = per_point(ctx.call_method(handle, "log_prob", x), "log_prob(x)", n)
        moved, _ = _forward(ctx, handle, oracle.offset_points(x, FD_OFFSETS).astype(np.float32), "RealNVP.forward")
        few, _ = _forward(ctx, handle, x[:ROW_BATCH], "RealNVP.forward")
        apart = np.concatenate([np.abs(moved[:n] - z) / (1 + np.abs(z)), np.abs(few - z[:ROW_BATCH]) / (1 + np.abs(z[:ROW_BATCH]))])
        if np.max(apart) > ROW_TOL:
            return 0.0, ROWS_INTERACT.format(gap=np.max(apart))
        claim = as_array(ctx.probe("batch_jacobian", handle.method("forward"), x), "the Jacobian of forward", shape=(n, 2, 2))
        verified, problem = verified_jacobian(claim, moved)
        if problem:
            return 0.0, problem
        if perturbed:
            confirmed = claim[verified]
            centre = np.median(confirmed, axis=0)
            spread = np.max(np.abs(confirmed - centre), axis=(1, 2)) / (1 + np.max(np.abs(centre)))
            if np.max(spread) < NONLINEAR_MIN:
                return 0.0, ("after its trainable parameters were perturbed, RealNVP() is still an affine map (the same Jacobian "
                             "at every point): the couplings' networks do not act on x, or the parameters read and written "
                             "are not the ones forward uses")
        x_back = as_array(ctx.call_method(handle, "inverse", z.astype(np.float32)), "inverse(z)", shape=x.shape)
        fraction, problems = diagnose_flow(x[verified].astype(np.float64), z[verified], log_det[verified], log_p[verified],
                                           claim[verified], x_back[verified])
        if not verified.all():
            problems.append(f"({int((~verified).sum())} of {n} points left out: there differences of forward's values could "
                            "not confirm its autograd Jacobian)" if problems else None)
        return fraction, "; ".join(p for p in problems if p) or None
    return run


def _forward(ctx: CheckContext, handle: Handle, x: np.ndarray, label: str, allow_nan: bool = False) -> tuple[np.ndarray, np.ndarray]:
    z, log_det = as_tuple(ctx.call_method(handle, "forward", x), label, 2)
    return (as_array(z, f"z = {label}[0]", shape=x.shape, allow_nan=allow_nan),
            per_point(log_det, f"{label}[1] (log_det)", len(x), allow_nan=allow_nan))


def perturbation_scale(values: np.ndarray, relative: float = PERTURB_REL) -> float:
    """The noise's standard deviation for one parameter: `relative` times its RMS, or, for a parameter that is zero
    or tiny (a last layer initialised at zero), its initialisation's scale (1/sqrt(fan_in) for a matrix, 0.1 for a vector)."""
    floor = 1 / np.sqrt(np.prod(values.shape[1:])) if values.ndim >= 2 else 0.1
    return relative * max(float(np.sqrt(np.mean(values**2))) if values.size else 0.0, floor)


def perturbation_levels() -> tuple[float, ...]:
    """The relative sizes tried, largest first: PERTURB_REL, then halved down to PERTURB_MIN."""
    levels, level = [], PERTURB_REL
    while level >= PERTURB_MIN:
        levels.append(level)
        level /= 2
    return tuple(levels)


def tame(z: np.ndarray, log_det: np.ndarray) -> bool:
    """Whether a perturbed flow's outputs on the flow points are finite and moderate enough to judge in float32."""
    return bool(np.all(np.isfinite(z)) and np.all(np.isfinite(log_det)) and np.max(np.abs(z)) <= TAME_Z
                and np.max(np.abs(log_det)) <= TAME_LOG_DET)


def _perturb(ctx: CheckContext, handle: Handle, seed: int, accept: Callable[[], bool]) -> float | None:
    """Replace the trainable parameters of a fresh model with noisy copies the grader computes (never in place), at the
    largest of `perturbation_levels()` where `accept()` holds (the flow's own behaviour sets the size: a 32-coupling
    flow with unbounded scales overflows where a 10-coupling one is barely moved); the level, or None when none does."""
    current = ctx.probe("parameter_values", handle)
    if not isinstance(current, dict) or not all(isinstance(v, ArrayValue) for v in current.values()):
        raise WrongOutput("the parameters of RealNVP() could not be read as tensors")
    if not current:
        raise WrongOutput("RealNVP() has no trainable floating-point parameters (nothing to train)")
    rng = np.random.default_rng(seed)
    names = sorted(current)
    noise = {name: rng.standard_normal(current[name].array.shape) for name in names}
    for level in perturbation_levels():
        noisy = {}
        for name in names:
            value = current[name]
            dtype = np.dtype(value.dtype) if value.dtype in ("float16", "float32", "float64") else np.dtype(np.float32)
            base = value.array.astype(np.float64)
            noisy[name] = (base + perturbation_scale(base, level) * noise[name]).astype(dtype)
        ctx.probe("replace_parameters", handle, noisy)
        back = ctx.probe("parameter_values", handle)
        if not isinstance(back, dict) or any(not isinstance(back.get(k), ArrayValue) or not np.array_equal(back[k].array, v)
                                             for k, v in noisy.items()):
            raise WrongOutput("RealNVP()'s parameters did not keep the perturbed values the grader set")
        if accept():
            return level
    return None


def _fresh_model(ctx: CheckContext, perturb: bool, seed: int) -> Handle:
    handle = ctx.call("RealNVP", keep=True, seed=seed)
    _evaluation_mode(ctx, handle)
    if perturb:
        def accept() -> bool:
            z, log_det = _forward(ctx, handle, _flow_points(), "RealNVP.forward", allow_nan=True)
            return tame(z, log_det)

        if _perturb(ctx, handle, seed, accept) is None:
            raise Untamed()
    return handle


class Untamed(Exception):
    """Every perturbation level left the fresh flow's outputs non-finite or huge: nothing there is charged."""


def _trained_flow_case(ctx: CheckContext) -> tuple[float, str | None]:
    """The trained model judged on 4.train_nll's mixed query: log_det by differences of z, log_prob, the round trip."""
    _trained_for_reuse(ctx, one_case=True)
    run = _density_run(ctx)
    if run.row_gap > ROW_TOL:
        return 0.0, ROWS_INTERACT.format(gap=run.row_gap)
    problem = _smoothness_problem(run, (density.HELD_OUT, density.IMPORTANCE, density.SAMPLE))
    if problem:
        return 0.0, problem
    answers, problems, fraction = run.answers, [], 0.0
    claim, differences = answers.log_det, answers.fd_log_det
    judged = np.isfinite(claim) & np.isfinite(differences)
    agree = float(np.mean(answers.agrees[judged])) if judged.any() else 0.0
    if agree >= AUDIT_SHARE:
        fraction += 1 / 3
    else:
        gap = (claim - differences)[judged]
        centre = float(np.median(gap)) if len(gap) else float("nan")
        if len(gap) and float(np.median(np.abs(claim[judged] + differences[judged]))) <= density.AUDIT_TOL:
            problems.append("forward's log_det is minus log|det ∂z/∂x| (differences of its own z): the sign is flipped")
        elif len(gap) and abs(centre) > density.AUDIT_TOL and float(np.median(np.abs(gap - centre))) <= density.AUDIT_TOL:
            problems.append(f"forward's log_det is off by the same constant {centre:+.4g} at most points against log|det ∂z/∂x| "
                            "from differences of its own z — a constant layer's log-determinant is missing or has the wrong sign "
                            "(the standardisation's -Σ log std?)")
        else:
            problems.append(f"forward's log_det agrees with log|det ∂z/∂x| from differences of its own z at only {agree:.0%} of "
                            f"{int(judged.sum()):,} points (within {density.AUDIT_TOL:g} nats; at least {AUDIT_SHARE:.0%} needed)")
    at = run.log_prob_at
    z, log_det, log_prob = answers.z[at], answers.log_det[at], run.log_prob
    judged_lp = np.isfinite(log_det) & np.isfinite(z).all(axis=1)  # where forward's values allow a comparison at all
    fine = judged_lp & np.isfinite(log_prob)
    base = oracle.standard_normal_logpdf(z[fine])

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.all(np.abs(a - b) <= FLOW_ATOL + FLOW_RTOL * np.abs(b)))

    lp, ld = log_prob[fine], log_det[fine]
    if fine.sum() < 0.99 * judged_lp.sum() or not fine.any():
        problems.append(f"log_prob was not finite at {int((judged_lp & ~fine).sum())} of {int(judged_lp.sum()):,} points where "
                        "forward's z and log_det were")
    elif close(lp, base + ld):
        fraction += 1 / 3
    elif close(lp, base - ld):
        problems.append("log_prob = log N(z) - log_det: the log-determinant enters with the wrong sign")
    elif close(lp, base):
        problems.append("log_prob = log N(z): the log-determinant is missing")
    elif close(lp, oracle.standard_logistic_logpdf(z[fine]) + ld):
        problems.append("log_prob = log Logistic(z) + log_det: the base density is a standard logistic, but the contract's "
                        "base is the standard normal N(0, I)")
    else:
        diff = lp - base - ld
        constant = float(np.std(diff)) <= FLOW_ATOL
        text = (f"off by the same constant {np.mean(diff):+.4g} at every point" if constant else
                f"differs from log N(z; 0, I) + log_det (forward's own values) at {int(np.sum(np.abs(diff) > FLOW_ATOL))} of "
                f"{len(lp):,} points (largest error {np.max(np.abs(diff)):.3g})")
        if constant and abs(np.mean(diff) - np.log(2 * np.pi)) < 1e-2:
            text += " = log 2π: the standard normal's normalising constant is missing"
        problems.append(f"log_prob against log N(z; 0, I) + log_det: {text}")
    share = _round_trip(run)
    if share >= ROUND_TRIP_SHARE:
        fraction += 1 / 3
    else:
        problems.append(f"forward(inverse(z)) is z for only {share:.0%} of {N_SAMPLES} z drawn from the base (within "
                        f"{INVERSE_TOL:g} x (1 + |z|)): inverse does not undo forward")
    return fraction, "; ".join(problems) or None


def _round_trip(run: DensityRun) -> float:
    """The share of samples `inverse(z)` that forward maps back to their z (in the mixed query)."""
    ok = np.zeros(N_SAMPLES, dtype=bool)
    kept = run.sample_rows >= 0
    back = run.answers.z[run.sample_rows[kept]]
    with np.errstate(invalid="ignore"):
        ok[kept] = np.all(np.abs(back - run.sample_z[kept]) <= INVERSE_TOL * (1 + np.abs(run.sample_z[kept])), axis=1)
    return float(ok.mean())


def _trained_for_reuse(ctx: CheckContext, one_case: bool = False) -> Handle:
    """The trained model; a failed training is the whole check's "not implemented" / error, or only this case's."""
    try:
        return _trained(ctx)[0]
    except StudentCodeError as error:
        if error.error_type == "NotImplementedError" and not one_case:
            raise
        raise WrongOutput(f"no trained model (see 4.train_nll): {error}") from None


@check("4.model_logprob", part="4", points=5, module=P4, timeout_s=30,
       title="RealNVP: log_prob is the change-of-variables formula with forward's autograd Jacobian; inverse undoes forward")
def check_model_logprob(ctx: CheckContext) -> Outcome:
    fresh: list[tuple[float, str | None]] = []

    def as_constructed() -> tuple[float, str | None]:
        fresh.append(_flow_case(ctx, lambda: _fresh_model(ctx, False, 41))())
        return fresh[-1]

    def perturbed() -> tuple[float, str | None]:
        try:
            return _flow_case(ctx, lambda: _fresh_model(ctx, True, 42), perturbed=True)()
        except Untamed:  # never charged: judged as the model as constructed was
            return (fresh[0][0] if fresh else 0.0), (f"not judged: at every size from {PERTURB_REL:g} down to {PERTURB_MIN:g} x "
                                                     "each parameter's scale the perturbed flow's outputs were not finite or beyond "
                                                     f"|z| ≤ {TAME_Z:g}; scored as the model as constructed")

    fraction, lines = per_case([
        ("RealNVP() as constructed", as_constructed),
        ("RealNVP() with its trainable parameters perturbed (noise up to "
         f"{PERTURB_REL:g} x each one's scale, smaller while the outputs are not finite and moderate: no coupling is the identity)",
         perturbed),
        (f"the model train_realnvp returned ({TRAIN_STEPS} steps, see 4.train_nll), on the mixed query of 4.train_nll",
         lambda: _trained_flow_case(ctx)),
    ])
    return Outcome(fraction, "In eval mode, a third each. Fresh models, on 256 points (moons and a wider Gaussian): forward's "
                             f"log_det against log|det ∂z/∂x| (autograd, accepted where it agrees with differences of forward's own values "
                             f"within {JACOBIAN_VERIFY_RTOL:g}), log_prob(x) against log N(z; 0, I) + log|det ∂z/∂x|, inverse(z) against x "
                             f"(tolerance {FLOW_ATOL:g} nats). The trained model: log_det against differences of z at "
                             f"≥ {AUDIT_SHARE:.0%} of the points (within {density.AUDIT_TOL:g} nats), log_prob against log N(z) + log_det, "
                             f"and forward(inverse(z)) = z for {N_SAMPLES} z drawn from the base:\n{lines}")


@check("4.sample", part="4", points=2, module=P4, timeout_s=30,
       title="sample(n): shape (n, 2), fresh noise, and forward(sample) is standard normal")
def check_sample(ctx: CheckContext) -> Outcome:
    handle = ctx.call("RealNVP", keep=True, seed=43)
    _evaluation_mode(ctx, handle)

    def accept() -> bool:  # the first use on data comes first: layers initialised lazily (Glow's ActNorm) get it
        z, log_det = _forward(ctx, handle, _flow_points(), "RealNVP.forward", allow_nan=True)
        if not tame(z, log_det):
            return False
        draw = as_array(ctx.call_method(handle, "sample", N_SAMPLES, seed=SAMPLE_SEED), f"sample({N_SAMPLES})",
                        shape=(N_SAMPLES, 2), allow_nan=True)
        return bool(np.all(np.isfinite(draw)) and np.max(np.abs(draw)) <= TAME_Z)

    level = _perturb(ctx, handle, 43, accept)
    if level is None:  # non-finite samples of a perturbed flow are never charged: judge the model as constructed
        handle = ctx.call("RealNVP", keep=True, seed=43)
        _evaluation_mode(ctx, handle)
        _forward(ctx, handle, _flow_points(), "RealNVP.forward")
    draws = [as_array(ctx.call_method(handle, "sample", N_SAMPLES, seed=seed), f"sample({N_SAMPLES})", shape=(N_SAMPLES, 2))
             for seed in (SAMPLE_SEED, SAMPLE_SEED + 1)]
    problems = []
    if np.array_equal(draws[0], draws[1]):
        problems.append("two calls gave the same samples: draw fresh noise on every call (no fixed seed inside sample)")
    z, _ = as_tuple(ctx.call_method(handle, "forward", draws[0].astype(np.float32)), "forward(sample(n))", 2)
    z = as_array(z, "forward(sample(n))[0]", shape=(N_SAMPLES, 2))
    mean, cov = z.mean(axis=0), np.cov(z.T)
    if np.max(np.abs(mean)) > Z_MEAN_TOL or np.max(np.abs(cov - np.eye(2))) > Z_COV_TOL:
        problems.append(f"forward(sample({N_SAMPLES})) has mean {np.round(mean, 2).tolist()} and covariance "
                        f"{np.round(cov, 2).tolist()}, not those of N(0, I): sample should push standard normal noise "
                        "through inverse (the map from latent to data); the base distribution is the standard normal")
    model = ("RealNVP() as constructed (every perturbation made its samples non-finite or huge)" if level is None else
             f"RealNVP() with perturbed parameters (noise {level:g} x each one's scale)")
    summary = (f"On {model}: sample({N_SAMPLES}) has shape ({N_SAMPLES}, 2) and finite values; "
               f"mapped back by forward its mean is {np.round(mean, 3).tolist()} and its covariance within "
               f"{np.max(np.abs(cov - np.eye(2))):.3f} of the identity (tolerances {Z_MEAN_TOL:g} and {Z_COV_TOL:g})")
    if problems:
        return Outcome(0.5 if len(problems) == 1 and problems[0].startswith("two calls") else 0.0, "; ".join(problems) + ".")
    return Outcome(1.0, summary + "; two calls give different samples.")


@check("4.samples_quality", part="4", points=5, module=P4, timeout_s=60,
       title="samples of the trained model lie on the moons and cover both arcs evenly")
def check_samples_quality(ctx: CheckContext) -> Outcome:
    handle = _trained_for_reuse(ctx)
    run = _density_run(ctx)
    problem = _smoothness_problem(run, (density.SAMPLE,))
    share = _round_trip(run)
    if problem or share < ROUND_TRIP_SHARE:
        return Outcome(0.0, f"The samples inverse(z) of {N_SAMPLES} z drawn from the base could not be confirmed as the flow's: "
                            + (problem or f"forward maps only {share:.0%} of them back to their z (within {INVERSE_TOL:g} x (1 + |z|); "
                                          f"at least {ROUND_TRIP_SHARE:.0%} needed): inverse does not undo forward") + ".")
    samples = run.samples
    with np.errstate(invalid="ignore"):
        distance = np.where(np.isfinite(samples).all(axis=1), oracle.arc_distance(np.nan_to_num(samples)), np.inf)
    near = distance < 3 * NOISE
    share = float(near.mean())
    tv = oracle.coverage_tv(samples[near]) if near.any() else 1.0
    near_fraction = float(np.clip((share - NEAR_ZERO) / (NEAR_FULL - NEAR_ZERO), 0, 1))
    cover_fraction = float(np.clip((COVERAGE_ZERO - tv) / (COVERAGE_ZERO - COVERAGE_FULL), 0, 1))
    figures = _samples_figure(ctx, handle, np.nan_to_num(samples, nan=1e3, posinf=1e3, neginf=-1e3))
    lines = [(f"- on the moons: {share:.1%} of the samples lie within 3σ = {3 * NOISE:g} of an arc (real data: 99.7%); "
              f"full credit at ≥ {NEAR_FULL:.0%}, none at ≤ {NEAR_ZERO:.0%}"),
             f"- coverage: those samples fall on the 12 equal segments of the two arcs with total-variation distance {tv:.3f} "
             f"from the data's even spread; full credit at ≤ {COVERAGE_FULL:g}, none at ≥ {COVERAGE_ZERO:g}"
             + (" (whole parts of the moons are missing or over-weighted)" if cover_fraction < 1 else "")]
    return Outcome(0.5 * near_fraction + 0.5 * cover_fraction,
                   f"Samples of the trained model, inverse(z) for {N_SAMPLES} z drawn from the base ({run.base}; forward maps "
                   "them back), "
                   "half each:\n" + "\n".join(lines), figures)


FIGURE_EXTENT = (-1.5, 2.5, -1.0, 1.5)
FIGURE_MOONS_SEED = 7_321  # public: a figure must not show points drawn from a private seed


def _samples_figure(ctx: CheckContext, handle: Handle, samples: np.ndarray) -> tuple[str, ...]:
    from grader.report.figures import moons_flow

    xs = np.linspace(FIGURE_EXTENT[0], FIGURE_EXTENT[1], 161)
    ys = np.linspace(FIGURE_EXTENT[2], FIGURE_EXTENT[3], 101)
    gx, gy = np.meshgrid(xs, ys)
    try:
        log_p = per_point(ctx.call_method(handle, "log_prob", np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)),
                          "log_prob on the figure's grid", gx.size, allow_nan=True)
    except (StudentCodeError, WrongOutput):
        log_p = np.full(gx.size, np.nan)
    path, relative = ctx.figure_path("samples")
    moons_flow(path, sample_moons(N_SAMPLES, NOISE, seed=FIGURE_MOONS_SEED), samples, log_p.reshape(gx.shape), FIGURE_EXTENT,
               "Problem 4: fresh moons, your model's samples, and its log-density")
    return (relative,)
