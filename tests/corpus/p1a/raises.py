# Mistake: crashes on any call.
def density_linear(y, A, mu=None):
    raise ValueError("shapes do not match")
