# Mistake: a log-determinant of the Jacobian (discrete-flow thinking) instead of its trace.
def ode_logp_dynamics(f, t, z):
    jac = torch.autograd.functional.jacobian(lambda x: f(t, x).sum(dim=0), z.detach())  # (d, N, d)
    return f(t, z).detach(), -torch.linalg.slogdet(jac.permute(1, 0, 2))[1]
