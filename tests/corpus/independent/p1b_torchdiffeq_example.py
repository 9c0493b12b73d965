# Correct, in the style of torchdiffeq's own CNF example: the state is a tuple (z, logp), the
# dynamics are an nn.Module whose forward(t, states) returns (dz_dt, dlogp_dt), the trace is
# summed one autograd pass per coordinate, and odeint runs dopri5 at rtol = atol = {RTOL}
# (the example's settings are 1e-5). logp is kept as a column (N, 1) inside the solve, as the
# example does, and squeezed at the end. t1 = 0 is answered without a solve (odeint refuses
# equal times: unadapted code gets a clear AssertionError for that one case).
from torchdiffeq import odeint as _example_odeint


def _example_trace(dz, z):
    total = torch.zeros(z.shape[0], dtype=z.dtype)
    for i in range(z.shape[1]):
        total = total + torch.autograd.grad(dz[:, i].sum(), z, create_graph=True)[0][:, i]
    return total


class _ExampleCNF(torch.nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, t, states):
        z = states[0]
        with torch.set_grad_enabled(True):
            z.requires_grad_(True)
            dz_dt = self.f(t, z)
            dlogp_z_dt = -_example_trace(dz_dt, z).view(-1, 1)
        return dz_dt, dlogp_z_dt


def simulate(f, z0, t1):
    if float(t1) == 0.0:  # odeint needs strictly increasing times
        return z0.clone()
    times = torch.tensor([0.0, float(t1)], dtype=z0.dtype)
    with torch.no_grad():
        return _example_odeint(lambda t, z: f(t, z), z0, times, rtol={RTOL}, atol={RTOL}, method="dopri5")[-1]


def density_on_grid(f, t, points):
    if float(t) == 0.0:
        return torch.exp(-0.5 * (points**2).sum(1) - 0.5 * points.shape[1] * math.log(2 * math.pi))
    logp_diff_t1 = torch.zeros(points.shape[0], 1, dtype=points.dtype)
    times = torch.tensor([float(t), 0.0], dtype=points.dtype)
    z_t, logp_diff_t = _example_odeint(_ExampleCNF(f), (points, logp_diff_t1), times, atol={RTOL}, rtol={RTOL}, method="dopri5")
    z_t0, logp_diff_t0 = z_t[-1].detach(), logp_diff_t[-1].detach()
    logp_x = -0.5 * (z_t0**2).sum(1) - 0.5 * points.shape[1] * math.log(2 * math.pi) - logp_diff_t0.view(-1)
    return torch.exp(logp_x)
