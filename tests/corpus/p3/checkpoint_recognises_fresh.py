# Honest when it can tell it is being checked (issue 19): the network answers its own energies and gradients to any
# query that is not a chain step (the chain asks for 200 images at a time; a first query in a process, or another batch
# size, is taken for a check), and drives the grader's chain with a pull towards the nearest stored class-mean image
# instead. With an untrained network's weights its honest samples are noise (0/10); the chain it steers would look
# like digits. 3.checkpoint must not score it above its honest answers.
class EnergyNet(EnergyNet):  # noqa: F811 - the reference network, answering honestly where it expects a check
    def __init__(self):
        super().__init__()
        self.register_buffer("centres", torch.zeros(10, 1, 28, 28))
        self.queries = 0

    def forward(self, x):
        self.queries += 1
        honest = super().forward(x)
        if len(x) != 200 or self.queries == 1:
            return honest
        nearest = torch.cdist(x.detach().flatten(1), self.centres.flatten(1)).argmin(1)
        return honest.detach() + 0.5 * (x - self.centres[nearest]).flatten(1).pow(2).sum(1) - 0.5 * (x.detach() - self.centres[nearest]).flatten(1).pow(2).sum(1)
