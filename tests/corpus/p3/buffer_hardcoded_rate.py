# The re-initialisation rate is hard-coded to 0.05 instead of using reinit_prob.
class ReplayBuffer(ReplayBuffer):
    def sample(self, n):
        fresh = torch.rand(n, *self.shape) * 2 - 1
        if len(self) == 0:
            return fresh
        stored = self._store[torch.randint(len(self), (n,))]
        reinit = (torch.rand(n) < 0.05).view(n, *([1] * len(self.shape)))
        return torch.where(reinit, fresh, stored)
