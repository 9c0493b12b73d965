"""Private inputs for the official grade: hidden data seeds the instructor keeps out of students' hands.

A TOML file (`grade --private FILE`) with a `[seeds]` table; each key names one seed a check
draws its held-out data from:

    [seeds]
    "4.train_data" = 73_118
    "4.held_out" = 11_904

Without the file every check uses its public default (the one students' CI uses too), and the
report says so. An unknown key is an error that lists the known ones, so a typo cannot leave a
seed public by accident.
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# seed name -> what it draws (the checks pass their public default to `PrivateInputs.seed`)
SEEDS = {
    "3.train_digits": "which embedded training digits train_ebm receives",
    "3.held_out_digits": "the held-out digits and negatives the trained energy is judged on",
    "3.sampler": "the noise of the grader's Langevin chains on p3_energy.pt",
    "4.train_data": "the moons train_realnvp is trained on",
    "4.held_out": "the fresh moons the held-out NLL is measured on",
}


class PrivateInputsError(Exception):
    """The private file cannot be read or names an unknown seed."""


@dataclass(frozen=True)
class PrivateInputs:
    seeds: dict[str, int] = field(default_factory=dict)
    source: str | None = None  # the file's name; None: the public defaults
    digest: str = "public"  # a content hash, so a changed file re-grades everyone

    def seed(self, name: str, public: int) -> int:
        """The private seed `name` if the file sets it, else `public`."""
        if name not in SEEDS:
            raise KeyError(f"unknown private seed {name!r}; known: {', '.join(sorted(SEEDS))}")
        return self.seeds.get(name, public)


def load_private_inputs(path: Path | None) -> PrivateInputs:
    """The private inputs in `path` (None: public defaults)."""
    if path is None:
        return PrivateInputs()
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PrivateInputsError(f"cannot read the private inputs {path}: {error}") from None
    seeds = data.get("seeds", {})
    unknown = sorted(set(seeds) - set(SEEDS)) + sorted(set(data) - {"seeds"})
    if unknown:
        raise PrivateInputsError(f"{path}: unknown entries {', '.join(unknown)}; known seeds: {', '.join(sorted(SEEDS))}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in seeds.values()):
        raise PrivateInputsError(f"{path}: every seed must be a non-negative integer")
    return PrivateInputs(dict(seeds), path.name, hashlib.sha256(raw).hexdigest()[:16])
