"""Image files as tensors, and folders of HR photos as whole-image SR pairs.

Every image is a float tensor in [0, 1], RGB; ``load_image`` gives (1, 3, H, W), datasets
yield (lr (3, h, w), hr (3, h*s, w*s)) pairs (taught in notebook 00).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from srlab.checks import check_scale
from srlab.degradation import bicubic_down, mod_crop

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


# -- image files ------------------------------------------------------------------------------


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) float tensor in [0, 1], RGB (greyscale -> RGB)."""
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read {path} as an image: {err}") from err
    return to_tensor(arr)


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 or float [0, 1] array -> (1, 3, H, W) float32 tensor in [0, 1]."""
    t = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).unsqueeze(0)
    return t.float() / 255 if t.dtype == torch.uint8 else t.float()


def centre_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` pixels of (..., H, W) (all of a side shorter than it)."""
    h, w = img.shape[-2:]
    top, left = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return img[..., top : top + size, left : left + size]


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files (by suffix) in ``folder``, sorted; a clear error if none or no folder."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    return paths


class ImageFolderSR(Dataset):
    """Whole-image (lr, hr) pairs from a folder of HR images, as SR benchmarks use them.

    HR is mod-cropped to ``scale``, LR made with ``bicubic_down``: (3, h, w), (3, h*s, w*s).
    ``names`` holds the file stems. A file that is not an image raises a ``ValueError``
    naming the file when it is read.
    """

    def __init__(self, path: str | os.PathLike, scale: int) -> None:
        self.scale = check_scale(scale)
        self.paths = list_images(path)
        self.names = [p.stem for p in self.paths]
        self.source = f"{Path(path).name} ({len(self.paths)} images in {path})"

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        hr = mod_crop(load_image(self.paths[i]), self.scale)
        return bicubic_down(hr, self.scale)[0], hr[0]
