# Mistake: every function integrates the homework field tanh(z**3) whatever f is passed.
_reference_simulate, _reference_dynamics, _reference_density = simulate, ode_logp_dynamics, density_on_grid


def _homework(t, z):
    return torch.tanh(z**3)


def simulate(f, z0, t1):
    return _reference_simulate(_homework, z0, t1)


def ode_logp_dynamics(f, t, z):
    return _reference_dynamics(_homework, t, z)


def density_on_grid(f, t, points):
    return _reference_density(_homework, t, points)
