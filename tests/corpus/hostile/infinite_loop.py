# Hangs in the call.
def density_linear(y, A, mu=None):
    while True:
        pass
