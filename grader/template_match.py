"""Is a submission the untouched student template? Compared by content hashes shipped in assets/.

`assets/template_fingerprints.json` holds, for every file of `student_template/` the grader reads
(the modules as `.py` and `.ipynb`, `answers.md`), a hash of its text with line endings and
trailing spaces normalised (an editor that rewrites CRLF or strips spaces changes nothing); a
notebook is hashed by its cells' sources only (opening and saving it, or running it, changes nothing). A
submission is "no work" when it holds at least one expected file and every expected file it
holds hashes to the template's. Regenerate after editing the template (a test checks they agree):

    python -m grader.template_match --write
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from assets import ASSETS_DIR
from grader.submission import MODULES

FINGERPRINTS = ASSETS_DIR / "template_fingerprints.json"
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "student_template"  # in the checkout only (not in the wheel)
COMPARED = tuple(f"{m}{ext}" for m in MODULES for ext in (".py", ".ipynb")) + ("answers.md",)
MAX_BYTES = 4 * 2**20  # a larger file is not the template's


def text_digest(data: bytes) -> str:
    """sha256 of `data` as text with CRLF/CR as LF and trailing whitespace of each line dropped."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    normalised = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    return hashlib.sha256(normalised.encode()).hexdigest()


def file_digest(name: str, data: bytes) -> str:
    """`text_digest` of a file's content; of a notebook, of its cells' sources."""
    if name.endswith(".ipynb"):
        try:
            cells = json.loads(data)["cells"]
            data = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells).encode()
        except (ValueError, KeyError, TypeError):
            pass  # not a readable notebook: compared as it is
    return text_digest(data)


def template_fingerprints(folder: Path = TEMPLATE_DIR) -> dict[str, str]:
    return {name: file_digest(name, (folder / name).read_bytes()) for name in COMPARED if (folder / name).is_file()}


def _known() -> dict[str, str]:
    return json.loads(FINGERPRINTS.read_text())


def is_untouched_template(folder: Path, known: dict[str, str] | None = None) -> bool:
    """True when `folder` holds expected files and each is the template's (links and large files count as changed)."""
    known = _known() if known is None else known
    present = [folder / name for name in COMPARED if (folder / name).exists() or (folder / name).is_symlink()]
    if not present:
        return False
    for path in present:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_BYTES:
            return False
        if known.get(path.name) != file_digest(path.name, path.read_bytes()):
            return False
    return True


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m grader.template_match --write   (from the checkout: hashes student_template/ into assets/)")
    FINGERPRINTS.write_text(json.dumps(template_fingerprints(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {FINGERPRINTS}")
