# Right values, but the gradient comes from .backward(): it accumulates into the energy's
# parameter gradients, which the training loop would then mix into its own update.
def sgld_step(x, energy, step_size, noise_std, noise=None, grad_clip=None):
    point = x.detach().clone().requires_grad_(True)
    energy(point).sum().backward()
    g = point.grad
    if grad_clip is not None:
        g = g.clamp(-grad_clip, grad_clip)
    eps = torch.randn_like(point) if noise is None else noise
    return (point.detach() - step_size * g + noise_std * eps).clamp(-1.0, 1.0)
