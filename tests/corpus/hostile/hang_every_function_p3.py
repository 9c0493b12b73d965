# Every Problem 3 function, class and method loops forever (appended to the reference module).
def _forever(*args, **kwargs):
    while True:
        pass


sgld_step = langevin_sample = cd_loss = train_ebm = _forever


class ReplayBuffer:
    __init__ = _forever


class EnergyNet(torch.nn.Module):
    __init__ = _forever
