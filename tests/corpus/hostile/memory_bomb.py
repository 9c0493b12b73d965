# Allocates far more memory than the machine has, step by step and at once.
def density_linear(y, A, mu=None):
    hoard = []
    for _ in range(10_000):
        hoard.append(torch.ones(50_000_000))  # 200 MB a step
    return torch.empty(10**12)
