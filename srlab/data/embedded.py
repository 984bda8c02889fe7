"""Photos that ship inside scikit-image: real images for every notebook, with no network.

``embedded_images()`` gives the colour photos; ``EmbeddedPatches`` cuts CIFAR-sized SR pairs
from them, the offline stand-in for CIFAR-10 (taught in notebook 00, used in 05).
"""

from __future__ import annotations

import skimage.data
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from srlab.checks import check_int, check_scale
from srlab.data.batches import PatchSampler
from srlab.data.images import to_tensor

EMBEDDED_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "hubble_deep_field")


def embedded_images() -> dict[str, torch.Tensor]:
    """The colour photographs that ship inside scikit-image: name -> (1, 3, H, W) in [0, 1]."""
    images = {}
    for name in EMBEDDED_NAMES:
        if name == "motorcycle":  # left view of the stereo pair
            arr = skimage.data.stereo_motorcycle()[0]
        else:
            arr = getattr(skimage.data, name)()
        images[name] = to_tensor(arr[..., :3])
    return images


class EmbeddedPatches(Dataset):
    """``n`` random ``size`` x ``size`` HR crops of the embedded photos, with their LR.

    Each photo is first shrunk ``shrink`` times so that a 32x32 crop holds a CIFAR-like amount
    of content (the photos are ~500 px wide; CIFAR objects fill 32 px). The crops are drawn
    once by ``PatchSampler`` (random photo, position, flips and transpose), deterministic for
    a ``seed``. Yields (lr (3, size/s, size/s), hr (3, size, size)).
    """

    def __init__(self, size: int = 32, n: int = 2048, seed: int = 0, scale: int = 2,
                 shrink: int = 4) -> None:
        self.scale = check_scale(scale)
        check_int(n, "n", minimum=1)
        if size % self.scale:
            raise ValueError(f"patch size {size} must be divisible by scale {scale}")
        photos = []
        for img in embedded_images().values():
            h, w = img.shape[-2:]
            photos.append(F.interpolate(img, size=(h // shrink, w // shrink), mode="bicubic",
                                        antialias=True).clamp(0, 1))
        sampler = PatchSampler(photos, self.scale, size // self.scale, device="cpu",
                               augment="dihedral")
        self.lr, self.hr = sampler(n, torch.Generator().manual_seed(seed))
        self.source = f"embedded scikit-image photos ({n} random {size}x{size} crops)"

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lr[i], self.hr[i]
