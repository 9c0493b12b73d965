# Mistake: the initial log-density log N(z(0); 0, I) is forgotten; only the accumulated change is returned.
def density_on_grid(f, t, points):
    t = float(t)
    state = torch.cat([points, torch.zeros_like(points[:, :1])], dim=1)
    if t == 0.0:
        return torch.ones(len(points), dtype=points.dtype)
    times = torch.tensor([t, 0.0], dtype=points.dtype)
    with torch.no_grad():
        final = odeint(_AugmentedDynamics(f), state, times, rtol=1e-9, atol=1e-11)[-1]
    return torch.exp(-final[:, -1])
