# Mistake: density_on_grid returns the log-density.
_reference_density = density_on_grid


def density_on_grid(f, t, points):
    return torch.log(_reference_density(f, t, points))
