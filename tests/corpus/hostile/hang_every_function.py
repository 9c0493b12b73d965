# Every Problem 1 function loops forever.
def _forever(*args, **kwargs):
    while True:
        pass


density_linear = simulate = ode_logp_dynamics = density_on_grid = _forever
