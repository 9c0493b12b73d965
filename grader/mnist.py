"""MNIST digits for Problem 3: the embedded 5,000-digit subset, or the full MNIST on disk.

Images come back as float32 `(N, 1, 28, 28)` scaled to `[-1, 1]` (0 -> -1, 255 -> 1), labels as
int64 `(N,)`. The embedded subset (`assets/mnist_subset.npz`, see `assets/README.md`) has a
fixed stratified split: "train" (4,000 digits) and "heldout" (1,000). With `mnist_root` the full
MNIST is read from torchvision's on-disk layout: "train" -> `train-*` files (60,000 digits),
"heldout" -> `t10k-*` files (10,000). It is read by `torchvision.datasets.MNIST` (never
downloading) when torchvision imports beside the installed torch (the optional extra
`pip install ".[vision]"`), else by the IDX parser below (which also reads `.gz` files).
"""
from __future__ import annotations

import functools
import gzip
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

SUBSET_PATH = Path(__file__).resolve().parents[1] / "assets" / "mnist_subset.npz"
SPLITS = ("train", "heldout", "all")
_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "heldout": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def load_mnist(split: str = "train", mnist_root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits and labels of one split.

    Args:
        split: "train", "heldout" or "all" (train followed by held-out).
        mnist_root: a folder holding `MNIST/raw/*-ubyte[.gz]` as torchvision downloads it;
            None uses the embedded subset.

    Returns:
        images `(N, 1, 28, 28)` float32 in `[-1, 1]` and labels `(N,)` int64.

    Example:
        >>> x, y = load_mnist("heldout")
        >>> x.shape, y.shape
        (torch.Size([1000, 1, 28, 28]), torch.Size([1000]))
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if mnist_root is None:
        images, labels = _subset(split)
    elif split == "all":
        parts = [_full(s, Path(mnist_root)) for s in ("train", "heldout")]
        images, labels = (np.concatenate(p) for p in zip(*parts))
    else:
        images, labels = _full(split, Path(mnist_root))
    return _to_tensors(images, labels)


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).float()
    x = (x / 127.5 - 1.0).unsqueeze(1)
    return x, torch.from_numpy(np.asarray(labels, dtype=np.int64))


def _subset(split: str) -> tuple[np.ndarray, np.ndarray]:
    if not SUBSET_PATH.exists():
        raise FileNotFoundError(f"embedded MNIST subset missing: {SUBSET_PATH} "
                                "(regenerate it with `python tools/make_mnist_subset.py`)")
    with np.load(SUBSET_PATH) as data:
        images, labels = data["images"], data["labels"]
        if split == "all":
            index = np.concatenate([data["train_idx"], data["heldout_idx"]])
        else:
            index = data[f"{split}_idx"]
    return images[index], labels[index]


@functools.cache
def torchvision_module() -> ModuleType | None:
    """torchvision if it imports beside this torch (a CPU torch with PyPI's CUDA torchvision does not), else None."""
    try:
        import torchvision  # noqa: PLC0415 - optional
    except Exception:  # noqa: BLE001 - a mismatched build raises RuntimeError ("operator torchvision::nms does not exist")
        return None
    return torchvision


def _full(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    torchvision = torchvision_module()
    if torchvision is not None:
        try:
            dataset = torchvision.datasets.MNIST(str(root), train=split == "train", download=False)
            return dataset.data.numpy(), dataset.targets.numpy()
        except RuntimeError:  # its raw files are missing (e.g. only the .gz were kept): the IDX parser reads those
            pass
    raw = root / "MNIST" / "raw"
    image_name, label_name = _IDX_FILES[split]
    images = read_idx(_find(raw, image_name))
    labels = read_idx(_find(raw, label_name)).astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(f"{raw}: {image_name} has shape {images.shape}, {label_name} has {labels.shape}")
    return images, labels


def _find(raw: Path, name: str) -> Path:
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"MNIST file {name}[.gz] not found in {raw}; --mnist-root must point to the folder "
                            "that holds MNIST/raw/ as torchvision downloads it (e.g. torchvision.datasets."
                            "MNIST(root, download=True) creates root/MNIST/raw/)")


def read_idx(path: str | Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped): magic 0x0000 <dtype> <ndim>, big-endian int32 sizes, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        blob = handle.read()
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_DTYPES[blob[2]]), blob[3]
    shape = tuple(int(s) for s in np.frombuffer(blob, dtype=">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(blob) - offset != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes), file holds {len(blob) - offset}")
    return np.frombuffer(blob, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))
