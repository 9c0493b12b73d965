# Mistake: a Hutchinson trace estimate with one Gaussian probe: unbiased, but far too noisy for an exact check.
def ode_logp_dynamics(f, t, z):
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        dz_dt = f(t, z)
        eps = torch.randn_like(z)
        (vjp,) = torch.autograd.grad(dz_dt, z, grad_outputs=eps)
    return dz_dt.detach(), -(vjp * eps).sum(dim=1).detach()
