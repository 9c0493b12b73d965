# Every Problem 4 function and class loops forever (appended to the reference module).
def _forever(*args, **kwargs):
    while True:
        pass


coupling_forward = coupling_inverse = train_realnvp = _forever


class RealNVP(torch.nn.Module):
    __init__ = _forever
