# The finite-difference audit answered from memory (issue 19): the energy is a constant, the input gradient an
# unrelated field (a pull towards the nearest stored class-mean image), and a query whose images all lie within 0.05
# of the previous query's (the old audit asked x ± h v right after the state x) gets the energies the stored gradient
# predicts, E(x') = <g(x), x' - x>. Repeated states are answered from a cache. Under the old cross-checks this scored
# 10/10 with any checkpoint; the honest answers of this object (a constant energy: zero gradient) sample noise.
class _Answer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, energy, grad):
        ctx.save_for_backward(grad)
        return energy

    @staticmethod
    def backward(ctx, upstream):
        (grad,) = ctx.saved_tensors
        return upstream.view(-1, 1, 1, 1) * grad, None, None


class EnergyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("centres", torch.zeros(10, 1, 28, 28))
        self.last = None  # (states, gradients) of the previous query
        self.cache = {}

    def field(self, x):
        nearest = torch.cdist(x.flatten(1), self.centres.flatten(1)).argmin(1)
        return (x - self.centres[nearest]).detach()

    def forward(self, x):
        key = x.detach().numpy().tobytes()
        if key in self.cache:
            energy, grad = self.cache[key]
        elif self.last is not None and self.last[0].shape == x.shape and float((x - self.last[0]).abs().max()) < 0.05:
            state, g = self.last
            energy, grad = ((x - state).detach() * g).flatten(1).sum(1), g
        else:
            energy, grad = torch.zeros(len(x)), self.field(x.detach())
            self.last = (x.detach().clone(), grad)
            self.cache[key] = (energy, grad)
        return _Answer.apply(x, energy, grad)
