# A buffer that stops storing once it is full: `push` appends only while there is room, so after the first
# `capacity` rows the chains it returns never change again. It never exceeds capacity, but push(x) no longer stores x.
class ReplayBuffer(ReplayBuffer):  # noqa: F811 - the reference's sample(), another push()
    def push(self, x):
        room = self.capacity - len(self)
        if room > 0:
            self._store = torch.cat([self._store, x.detach().float().reshape(-1, *self.shape)[:room]])
