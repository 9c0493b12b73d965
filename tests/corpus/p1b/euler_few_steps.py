# Mistake: explicit Euler with 10 steps in simulate: far from the exact flow.
def simulate(f, z0, t1):
    steps, z = 10, z0
    h = float(t1) / steps
    for k in range(steps):
        z = z + h * f(torch.tensor(k * h, dtype=z0.dtype), z)
    return z.detach()
