"""CIFAR-10 as x2 SR pairs (16x16 -> 32x32), from the best source this machine has.

``load_cifar10_sr`` says which source it uses and why: the official dataset (downloaded by
torchvision unless ``SRLAB_OFFLINE=1``), an image-folder copy (``SRLAB_CIFAR10_DIR``), or
random crops of the embedded photos. ``cifar10_hr`` reads a split once into one uint8
tensor, cached on disk, for training and evaluation (taught in notebook 05).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.datasets import CIFAR10
from tqdm.auto import tqdm

from srlab import checkpoint
from srlab.checks import check_scale
from srlab.config import data_root, is_offline
from srlab.data.embedded import EmbeddedPatches
from srlab.data.images import IMAGE_SUFFIXES, load_image, to_tensor
from srlab.degradation import bicubic_down

SPLITS = ("train", "test")


class PairsFromHR(Dataset):
    """Wrap a dataset of HR images (3, H, W) into (lr, hr) pairs made by ``bicubic_down``."""

    def __init__(self, hr_images: Dataset, scale: int, source: str) -> None:
        self.hr_images = hr_images
        self.scale = check_scale(scale)
        self.source = source

    def __len__(self) -> int:
        return len(self.hr_images)

    def hr_image(self, i: int) -> torch.Tensor:
        """HR image ``i`` as (3, H, W) in [0, 1] (no LR made)."""
        hr = self.hr_images[i]
        if isinstance(hr, tuple):  # torchvision datasets yield (image, label)
            hr = hr[0]
        if not isinstance(hr, torch.Tensor):
            hr = to_tensor(np.asarray(hr.convert("RGB")))[0]
        return hr

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        hr = self.hr_image(i)
        return bicubic_down(hr.unsqueeze(0), self.scale)[0], hr


def CIFAR10SR(root: str | os.PathLike, train: bool, scale: int = 2,
              download: bool = False) -> PairsFromHR:
    """CIFAR-10 as SR pairs: (lr (3, 32/s, 32/s), hr (3, 32, 32)), via torchvision."""
    base = CIFAR10(str(root), train=train, download=download)
    split = "train" if train else "test"
    return PairsFromHR(base, scale, source=f"CIFAR-10 official ({split}, {len(base)} images)")


class _ImageFolderHR(Dataset):
    """All images under ``folder/<class>/`` as (3, H, W) tensors (an image-folder copy)."""

    def __init__(self, folder: Path) -> None:
        self.paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ValueError(f"no images found under {folder}")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return load_image(self.paths[i])[0]


def _cifar10_official_present(root: Path) -> bool:
    return (root / "cifar-10-batches-py" / "batches.meta").exists()


def _url_reachable(url: str, timeout: float = 3.0) -> bool:
    """Can a TCP connection to ``url``'s host be opened within ``timeout`` seconds?"""
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_cifar10_sr(split: str = "train", scale: int = 2, *, verbose: bool = True) -> Dataset:
    """CIFAR-10 SR pairs from the best available source, saying which one and why.

    Order: the official dataset under ``data_root()/cifar10`` (downloaded by torchvision
    unless ``SRLAB_OFFLINE=1`` or the host is unreachable within 3 s); the image-folder
    copy in ``SRLAB_CIFAR10_DIR`` (``<split>/<class>/*.png|jpg``); else ``EmbeddedPatches``.
    The returned dataset has a ``.source`` string; pairs are (3, 32/s, 32/s), (3, 32, 32).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    scale = check_scale(scale)
    root = data_root() / "cifar10"
    reasons = []
    if _cifar10_official_present(root):
        ds = CIFAR10SR(root, train=split == "train", scale=scale, download=False)
        return _announce(ds, verbose)
    if is_offline():
        reasons.append("official CIFAR-10 not downloaded (SRLAB_OFFLINE=1: no download attempted)")
    elif not _url_reachable(CIFAR10.url):
        reasons.append("official CIFAR-10 not downloaded (download host unreachable)")
    else:
        try:
            ds = CIFAR10SR(root, train=split == "train", scale=scale, download=True)
            return _announce(ds, verbose)
        except Exception as err:  # a failed download must not end the lesson
            reasons.append(f"official CIFAR-10 download failed ({err})")
    folder = os.environ.get("SRLAB_CIFAR10_DIR")
    if folder:
        split_dir = Path(folder).expanduser() / split
        if split_dir.is_dir():
            ds = PairsFromHR(_ImageFolderHR(split_dir), scale,
                             source=f"CIFAR-10 (JPEG q75 copy) image folder {split_dir}"
                             if "jpeg" in str(folder).lower() or _is_jpeg_copy(split_dir)
                             else f"CIFAR-10 image folder {split_dir}")
            return _announce(ds, verbose, reasons)
        reasons.append(f"SRLAB_CIFAR10_DIR={folder} has no '{split}' folder")
    else:
        reasons.append("SRLAB_CIFAR10_DIR not set")
    n = 10_000 if split == "train" else 1_000
    ds = EmbeddedPatches(size=32, n=n, seed=0 if split == "train" else 1, scale=scale)
    return _announce(ds, verbose, reasons)


def _is_jpeg_copy(split_dir: Path) -> bool:
    first = next(split_dir.rglob("*.*"), None)
    return first is not None and first.suffix.lower() in (".jpg", ".jpeg")


def _announce(ds: Dataset, verbose: bool, reasons: list[str] | None = None) -> Dataset:
    if verbose:
        why = f" because {'; '.join(reasons)}" if reasons else ""
        print(f"[srlab.data] using {ds.source}, {len(ds)} pairs{why}")
    return ds


def spread(total: int, n: int) -> list[int]:
    """``n`` indices evenly spread over ``range(total)`` (all of it when n >= total).

    Image folders are sorted by class (the first 1000 CIFAR test images are all airplanes),
    so a subset must be spread, not the first ``n``.
    """
    if n >= total:
        return list(range(total))
    return [i * total // n for i in range(n)]


class _HRImages(Dataset):
    """The HR side of an SR pair dataset, without computing the LR images."""

    def __init__(self, pairs: Dataset) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> torch.Tensor:
        if isinstance(self.pairs, PairsFromHR):
            return self.pairs.hr_image(i)
        return self.pairs[i][1]


def cifar10_labels(split: str = "train", limit: int | None = None) -> tuple[torch.Tensor,
                                                                           list[str]]:
    """The class index (N,) int64 of every image ``cifar10_hr(split, limit)`` returns, in the
    same order, and the class names: from torchvision's targets (official set) or the
    ``<split>/<class>/`` folder names (an image-folder copy). The embedded-photo fallback has
    no classes: a ``ValueError``."""
    ds = load_cifar10_sr(split, scale=2, verbose=False)
    base = getattr(ds, "hr_images", None)
    if isinstance(base, CIFAR10):
        labels, classes = list(base.targets), list(base.classes)
    elif isinstance(base, _ImageFolderHR):
        classes = sorted({p.parent.name for p in base.paths})
        index = {name: i for i, name in enumerate(classes)}
        labels = [index[p.parent.name] for p in base.paths]
    else:
        raise ValueError(f"{ds.source} has no class labels: set SRLAB_CIFAR10_DIR to an image "
                         "folder of CIFAR-10 or download the official set")
    labels = torch.tensor(labels, dtype=torch.long)
    return (labels if limit is None else labels[spread(len(labels), limit)]), classes


def cifar10_hr(split: str = "train", limit: int | None = None, *, cache: bool = True,
               verbose: bool = True) -> tuple[torch.Tensor, str]:
    """The HR images of a split as one uint8 tensor (N, 3, 32, 32), and the source label.

    ``limit`` takes that many images spread evenly over the split. A whole CIFAR-10 split (not
    the embedded-photo fallback) is cached as uint8 in ``data_root()/cache`` after it is first
    read (atomic write), so later runs start at once; a ``limit`` uses the cache when it exists.
    """
    ds = load_cifar10_sr(split, scale=2, verbose=verbose)
    cacheable = cache and "CIFAR" in ds.source
    path = data_root() / "cache" / f"cifar10_{split}_hr_uint8.pt"
    hr = None
    if cacheable and path.is_file():
        try:
            saved = checkpoint.load(path, required=frozenset({"hr", "source"}))
            if saved["source"] == ds.source and len(saved["hr"]) == len(ds):
                hr = saved["hr"]
        except ValueError:
            hr = None  # an unreadable cache is rebuilt
    if hr is not None:
        return (hr if limit is None else hr[spread(len(hr), limit)]), ds.source
    images = _HRImages(ds)
    if limit is not None:
        images = Subset(images, spread(len(ds), limit))
    hr = torch.cat([(batch * 255).round().to(torch.uint8)
                    for batch in tqdm(DataLoader(images, batch_size=500), desc=f"reading {split}",
                                      disable=not verbose, leave=False)])
    if cacheable and limit is None:
        checkpoint.save({"hr": hr, "source": ds.source}, path)
    return hr, ds.source
