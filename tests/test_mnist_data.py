"""The embedded MNIST subset and the IDX reader for the full MNIST."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.mnist import SUBSET_PATH, load_mnist, read_idx


@pytest.mark.parametrize("split, n", [("train", 4000), ("heldout", 1000), ("all", 5000)])
def test_subset_shapes_range_and_balance(split: str, n: int) -> None:
    x, y = load_mnist(split)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert x.min() == -1.0 and x.max() == 1.0
    assert torch.bincount(y, minlength=10).tolist() == [n // 10] * 10


def test_split_is_disjoint_and_fixed() -> None:
    with np.load(SUBSET_PATH) as data:
        train, heldout = data["train_idx"], data["heldout_idx"]
        assert data["images"].dtype == np.uint8 and data["images"].shape == (5000, 28, 28)
        assert data["labels"].dtype == np.int64
    assert len(np.intersect1d(train, heldout)) == 0
    assert sorted(np.concatenate([train, heldout]).tolist()) == list(range(5000))
    x_all, _ = load_mnist("all")
    x_train, _ = load_mnist("train")
    assert torch.equal(x_all[:4000], x_train)


def test_pixel_scaling_maps_0_and_255_to_the_ends(tmp_path: Path) -> None:
    images = np.array([[[0] * 28] * 28, [[255] * 28] * 28], dtype=np.uint8)
    _write_fake_mnist(tmp_path, "train", images, np.array([3, 7]), compress=False)
    x, y = load_mnist("train", tmp_path)
    assert torch.all(x[0] == -1.0) and torch.all(x[1] == 1.0)
    assert y.tolist() == [3, 7]


def test_unknown_split_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="train, heldout, all"):
        load_mnist("test")


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip_on_a_fake_dataset(tmp_path: Path, compress: bool) -> None:
    rng = np.random.default_rng(0)
    train_images, test_images = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for n in (12, 5))
    train_labels, test_labels = rng.integers(0, 10, 12), rng.integers(0, 10, 5)
    _write_fake_mnist(tmp_path, "train", train_images, train_labels, compress)
    _write_fake_mnist(tmp_path, "t10k", test_images, test_labels, compress)

    x, y = load_mnist("train", tmp_path)
    assert x.shape == (12, 1, 28, 28) and y.tolist() == train_labels.tolist()
    assert np.array_equal(((x[:, 0] + 1) * 127.5).round().to(torch.uint8).numpy(), train_images)
    x, y = load_mnist("heldout", mnist_root=str(tmp_path))
    assert x.shape == (5, 1, 28, 28) and y.tolist() == test_labels.tolist()
    x, y = load_mnist("all", tmp_path)
    assert len(x) == 17 and y.tolist() == train_labels.tolist() + test_labels.tolist()


def test_missing_files_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"MNIST/raw"):
        load_mnist("train", tmp_path)


def test_a_non_idx_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"not an idx file at all")
    with pytest.raises(ValueError, match="magic"):
        read_idx(path)


def test_a_truncated_idx_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(struct.pack(">BBBBi", 0, 0, 0x08, 1, 10) + bytes(3))
    with pytest.raises(ValueError, match="header says"):
        read_idx(path)


def _write_fake_mnist(root: Path, prefix: str, images: np.ndarray, labels: np.ndarray, compress: bool) -> None:
    """Write IDX files the way torchvision lays them out: root/MNIST/raw/<prefix>-images-idx3-ubyte[.gz]."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    image_blob = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">iii", *images.shape) + images.tobytes()
    label_blob = struct.pack(">BBBB", 0, 0, 0x08, 1) + struct.pack(">i", len(labels)) + labels.astype(np.uint8).tobytes()
    for name, blob in ((f"{prefix}-images-idx3-ubyte", image_blob), (f"{prefix}-labels-idx1-ubyte", label_blob)):
        if compress:
            (raw / f"{name}.gz").write_bytes(gzip.compress(blob))
        else:
            (raw / name).write_bytes(blob)
