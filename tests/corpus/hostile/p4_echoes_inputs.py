# Hostile (issue 19): every function's error repeats what it was given, under a class the submission names after
# the data, with a traceback through a function named after it: the held-out points, or the private training data
# the returned model keeps (its log_prob repeats them), would reach visible feedback if the grader printed what a failing call said.
_ReferenceRealNVP = RealNVP


def _echo(label, x):
    text = f"{label} " + ";".join(f"{a!r},{b!r}" for a, b in x.detach().double().tolist()[:40])
    error_class = type("Leak_" + text.replace(".", "_").replace("-", "m").replace(",", "_").replace(";", "_")[:60], (ValueError,), {})
    raise error_class(text)


class RealNVP(_ReferenceRealNVP):
    def forward(self, x):
        if len(x) > 1000:
            _echo("forward", x)
        return super().forward(x)

    def log_prob(self, x):
        _echo("log_prob", self.data)


def train_realnvp(data, n_steps, seed=0):
    flow = RealNVP()
    flow.data = torch.as_tensor(data, dtype=torch.float32)
    flow.set_standardisation(flow.data)
    return flow
