"""Private inputs for the official grade: hidden data seeds and check visibility the instructor keeps.

A TOML file (`grade --private FILE`, `grade gradescope-zip --private FILE`) with up to two tables:

    [seeds]                      # held-out data the public grader never draws
    "4.train_data" = 73_118
    "4.held_out" = 11_904

    [visibility]                 # Gradescope visibility of a check's result in results.json
    "4.train_nll" = "after_due_date"

Without the file every check uses its public default (the one students' CI uses too), and the
report says so. An unknown seed, check id or visibility is an error that lists the known ones, so
a typo cannot leave a seed public by accident. See docs/private_inputs.md.
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.checks.registry import VISIBILITIES, Check, all_checks

BUNDLED_FILE = Path("assets") / "private_inputs.toml"  # in the Gradescope zip: under assets/, which student code cannot read

# seed name -> what it draws (the checks pass their public default to `PrivateInputs.seed`)
SEEDS = {
    "3.train_digits": "which embedded training digits train_ebm receives",
    "3.held_out_digits": "the held-out digits and negatives the trained energy is judged on",
    "3.sampler": "the noise of the grader's Langevin chains on p3_energy.pt",
    "4.train_data": "the moons train_realnvp is trained on",
    "4.held_out": "the fresh moons the held-out NLL is measured on",
}
PUBLIC_NOTE = "public defaults: no private inputs were given; held-out data differs in the official grade"


class PrivateInputsError(Exception):
    """The private file cannot be read or names an unknown seed, check or visibility."""


@dataclass(frozen=True)
class PrivateInputs:
    seeds: dict[str, int] = field(default_factory=dict)
    visibility: dict[str, str] = field(default_factory=dict)  # check id -> Gradescope visibility
    source: str | None = None  # the file's name; None: the public defaults
    digest: str = "public"  # a content hash, so a changed file re-grades everyone

    def seed(self, name: str, public: int) -> int:
        """The private seed `name` if the file sets it, else `public`."""
        if name not in SEEDS:
            raise KeyError(f"unknown private seed {name!r}; known: {', '.join(sorted(SEEDS))}")
        return self.seeds.get(name, public)

    def apply(self, checks: list[Check]) -> list[Check]:
        """`checks` with the file's visibility overrides (the results carry them into results.json)."""
        return [replace(c, visibility=self.visibility.get(c.id, c.visibility)) for c in checks]

    @property
    def note(self) -> str:
        """The report's line saying which inputs graded this run (never the values)."""
        return PUBLIC_NOTE if self.source is None else f"private inputs: {self.source}"


def load_private_inputs(path: Path | None) -> PrivateInputs:
    """The private inputs in `path` (None: public defaults)."""
    if path is None:
        return PrivateInputs()
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PrivateInputsError(f"cannot read the private inputs {path}: {error}") from None
    unknown_tables = sorted(set(data) - {"seeds", "visibility"})
    if unknown_tables:
        raise PrivateInputsError(f"{path}: unknown entries {', '.join(unknown_tables)}; the file has [seeds] and [visibility] tables")
    seeds, visibility = data.get("seeds", {}), data.get("visibility", {})
    if not isinstance(seeds, dict) or not isinstance(visibility, dict):
        raise PrivateInputsError(f"{path}: [seeds] and [visibility] must be tables")
    unknown = sorted(set(seeds) - set(SEEDS))
    if unknown:
        raise PrivateInputsError(f"{path}: unknown entries {', '.join(unknown)}; known seeds: {', '.join(sorted(SEEDS))}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in seeds.values()):
        raise PrivateInputsError(f"{path}: every seed must be a non-negative integer")
    known_checks = {c.id for c in all_checks()}
    unknown = sorted(set(visibility) - known_checks)
    if unknown:
        raise PrivateInputsError(f"{path}: unknown check id(s) {', '.join(unknown)} in [visibility]; known: {', '.join(sorted(known_checks))}")
    wrong = sorted(k for k, v in visibility.items() if v not in VISIBILITIES)
    if wrong:
        raise PrivateInputsError(f"{path}: [visibility] of {', '.join(wrong)} must be one of {', '.join(VISIBILITIES)}")
    return PrivateInputs(dict(seeds), dict(visibility), path.name, hashlib.sha256(raw).hexdigest()[:16])
