# Mistake: dlogp_dt returned as an (N, 1) column instead of (N,).
_reference_dynamics = ode_logp_dynamics


def ode_logp_dynamics(f, t, z):
    dz_dt, dlogp_dt = _reference_dynamics(f, t, z)
    return dz_dt, dlogp_dt[:, None]
