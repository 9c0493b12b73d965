# Mistake: sums every entry of the Jacobian (one backward pass of f.sum()) instead of the diagonal.
def ode_logp_dynamics(f, t, z):
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        dz_dt = f(t, z)
        (grad,) = torch.autograd.grad(dz_dt.sum(), z)
    return dz_dt.detach(), -grad.sum(dim=1).detach()
