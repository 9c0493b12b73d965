# Allocates far more memory than the machine has: 200 MB at a time, then a terabyte at once.
def density_linear(y, A, mu=None):
    hoard = []
    for _ in range(10_000):
        hoard.append(torch.empty(50_000_000))  # untouched pages: only the address-space limit stops this
        hoard[-1][::1_000_000] = 1.0  # ...and a few pages of each touched
    return torch.empty(10**12)
