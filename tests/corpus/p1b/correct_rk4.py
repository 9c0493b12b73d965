# Correct, another style: fixed-step classical RK4 (100 steps) for both integrations.
def _rk4(rhs, state, t_start, t_end, steps=100):
    h = (t_end - t_start) / steps
    for k in range(steps):
        s = t_start + k * h
        k1 = rhs(s, state)
        k2 = rhs(s + h / 2, state + h / 2 * k1)
        k3 = rhs(s + h / 2, state + h / 2 * k2)
        k4 = rhs(s + h, state + h * k3)
        state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return state


def simulate(f, z0, t1):
    with torch.no_grad():
        return _rk4(lambda s, z: f(torch.tensor(s, dtype=z0.dtype), z), z0, 0.0, float(t1))


def density_on_grid(f, t, points):
    d = points.shape[1]

    def rhs(s, state):
        dz_dt, dlogp_dt = ode_logp_dynamics(f, torch.tensor(s, dtype=points.dtype), state[:, :d])
        return torch.cat([dz_dt.detach(), dlogp_dt.detach()[:, None]], dim=1)

    state = torch.cat([points, torch.zeros_like(points[:, :1])], dim=1)
    final = _rk4(rhs, state, float(t), 0.0) if float(t) != 0.0 else state
    return torch.exp(_standard_normal_log_prob(final[:, :d]) - final[:, d])
