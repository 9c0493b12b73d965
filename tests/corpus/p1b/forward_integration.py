# Mistake: the augmented ODE is integrated forward from 0 to t (starting at the points), not backward from t to 0.
def density_on_grid(f, t, points):
    t = float(t)
    if t == 0.0:
        return torch.exp(_standard_normal_log_prob(points))
    state = torch.cat([points, torch.zeros_like(points[:, :1])], dim=1)
    times = torch.tensor([0.0, t], dtype=points.dtype)
    with torch.no_grad():
        final = odeint(_AugmentedDynamics(f), state, times, rtol=1e-9, atol=1e-11)[-1]
    return torch.exp(_standard_normal_log_prob(final[:, :-1]) - final[:, -1])
