# Problem 3 with mistakes everywhere (an untrained p3_energy.pt, a step that fills the energy's
# parameter gradients, a buffer that never drops rows, a train_ebm that does not train), and an
# EnergyNet whose constructor rewrites the grader's helpers in the student's process: the
# probes of child_library (through sys.modules), torch.autograd.grad, and the worker's encode.
# Each rewrite forges what the old in-process probes computed; graded beside the same mistakes
# without the rewrites ({HOSTILE} = False), it must not gain a single point.
import gc
import sys

_HOSTILE = {HOSTILE}
_real_grad = torch.autograd.grad


def _ring(n):
    """A hand-drawn '0' (a ring) per image: where the forged gradients pull the chains."""
    axis = torch.linspace(-1, 1, 28)
    radius = (axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2).sqrt()
    return torch.where((radius - 0.55).abs() < 0.12, 1.0, -1.0).expand(n, 1, 28, 28)


def _find_the_grader():
    """The worker and the grader's child library: in sys.modules, or found among the live objects."""
    worker_class = getattr(sys.modules.get("__main__"), "Worker", None)
    library = sys.modules.get("_ps4_child_library")
    for obj in gc.get_objects():
        if library is None and type(obj).__name__ == "module" and getattr(obj, "__name__", "") == "_ps4_child_library":
            library = obj
        if library is None and worker_class is not None and isinstance(obj, worker_class):
            library = obj.library
    return worker_class, library


def _rewrite_the_grader():
    worker, library = _find_the_grader()
    if library is None or getattr(library, "_rewritten", False):
        return
    library._rewritten = True

    def samples(*args, **kwargs):  # what the old in-process sampler probe returned
        return {"problem": None, "samples": _ring(200).clone(), "notes": []}

    def energies_and_grads(model, x):
        with torch.no_grad():
            energy = model(x)
        return {"energy": energy, "grad": (x - _ring(len(x))) * 0.1}  # pulls every chain to the ring

    def side_effects(*args, **kwargs):  # the old report format, every flag true
        return {"out": args[2], "flags": dict.fromkeys(["result_detached", "x_grad_kept", "x_values_kept", "plain_x_kept",
                                                        "param_grad_kept", "param_grad_still_none"], True)}

    def energies_by_position(model, x, batch_size=250):  # low energies for the first third of any batch
        return torch.arange(len(x), dtype=torch.float32)

    library.grader_langevin = lambda energy_fn, n, *args, **kwargs: _ring(n).clone()
    library.checkpoint_samples = samples
    library.PROBES.update(checkpoint_samples=samples, energies_and_grads=energies_and_grads, sgld_side_effects=side_effects,
                          model_energies=energies_by_position, stored_rows=lambda *args: 0.0,
                          loss_and_grads=lambda *args, **kwargs: {"loss": torch.tensor(0.0), "grads": None, "attached": True})
    torch.autograd.grad = lambda outputs, inputs, *args, **kwargs: tuple(
        10.0 * g if g is not None else g for g in _real_grad(outputs, inputs, *args, **kwargs))
    if worker is not None:
        encode = worker.encode

        def lying_encode(self, value, arrays):  # every tensor claims to be detached
            node = encode(self, value, arrays)
            if isinstance(node, dict) and node.get("$t") == "array":
                node.update(requires_grad=False, grad_fn=False)
            return node

        worker.encode = lying_encode


_PlainEnergyNet = EnergyNet


class EnergyNet(_PlainEnergyNet):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if _HOSTILE:
            _rewrite_the_grader()


def sgld_step(x, energy, step_size, noise_std, noise=None, grad_clip=None):
    EnergyNet()  # any call may be the first to run student code
    point = x.detach().clone().requires_grad_(True)
    energy(point).sum().backward()
    g = point.grad
    if grad_clip is not None:
        g = g.clamp(-grad_clip, grad_clip)
    eps = torch.randn_like(point) if noise is None else noise
    return point.detach() - step_size * g + noise_std * eps  # not clamped, not detached from the energy's graph


class ReplayBuffer(ReplayBuffer):
    def __init__(self, *args, **kwargs):
        EnergyNet()
        super().__init__(*args, **kwargs)

    def push(self, x):
        self._store = torch.cat([self._store, x.detach().float().reshape(-1, *self.shape)])


def cd_loss(energy, x_real, x_fake, alpha=0.1):
    EnergyNet()
    e_real, e_fake = energy(x_real).detach(), energy(x_fake).detach()
    return e_fake.mean() - e_real.mean()


def train_ebm(images, n_iters, seed=0):
    torch.manual_seed(seed)
    return EnergyNet().eval()
