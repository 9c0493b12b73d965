# Correct: masks registered as buffers that are the *same* module-level tensor objects in every
# layer and every instance (register_buffer does not copy), couplings written with the mask
# arithmetic of the paper, the reference's networks and training.
MASK_EVEN, MASK_ODD = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
_ReferenceRealNVP = RealNVP


class RealNVP(_ReferenceRealNVP):
    def __init__(self, dim=2, **kwargs):
        super().__init__(dim, **kwargs)
        del self.masks
        self.register_buffer("masks", None)
        for k in range(len(self.s_nets)):
            self.register_buffer(f"mask{k}", MASK_EVEN if k % 2 == 0 else MASK_ODD)

    def _masks(self):
        return [getattr(self, f"mask{k}") for k in range(len(self.s_nets))]

    def forward(self, x):
        z = (x - self.shift) * torch.exp(-self.log_scale)
        log_det = (-self.log_scale.sum()).expand(x.shape[0])
        for mask, s_net, t_net in zip(self._masks(), self.s_nets, self.t_nets):
            z, ld = coupling_forward(z, mask, s_net, t_net)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, z):
        for mask, s_net, t_net in zip(reversed(self._masks()), reversed(self.s_nets), reversed(self.t_nets)):
            z, _ = coupling_inverse(z, mask, s_net, t_net)
        return z * torch.exp(self.log_scale) + self.shift
