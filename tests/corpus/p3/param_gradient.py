# The gradient is taken with respect to the energy's parameters instead of the input x: with
# one scalar parameter it broadcasts, so every pixel moves by the same amount.
def sgld_step(x, energy, step_size, noise_std, noise=None, grad_clip=None):
    x = x.detach()
    params = [p for p in energy.parameters() if p.requires_grad]
    g = torch.autograd.grad(energy(x).sum(), params)[0]
    if grad_clip is not None:
        g = g.clamp(-grad_clip, grad_clip)
    eps = torch.randn_like(x) if noise is None else noise
    return (x - step_size * g + noise_std * eps).clamp(-1.0, 1.0)
