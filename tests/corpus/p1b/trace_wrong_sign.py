# Mistake: d log p / dt = +tr(df/dz); density_on_grid is built on ode_logp_dynamics, as most students do.
def ode_logp_dynamics(f, t, z):
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        dz_dt = f(t, z)
        trace = sum(torch.autograd.grad(dz_dt[:, i].sum(), z, retain_graph=True)[0][:, i] for i in range(z.shape[1]))
    return dz_dt.detach(), trace.detach()


def density_on_grid(f, t, points):
    t = float(t)
    if t == 0.0:
        return torch.exp(_standard_normal_log_prob(points))

    def augmented(s, state):
        dz_dt, dlogp_dt = ode_logp_dynamics(f, s, state[0])
        return dz_dt, dlogp_dt

    times = torch.tensor([t, 0.0], dtype=points.dtype)
    z0, logp_change = odeint(augmented, (points, torch.zeros(len(points), dtype=points.dtype)), times, rtol=1e-8, atol=1e-10)
    return torch.exp(_standard_normal_log_prob(z0[-1]) - logp_change[-1])
