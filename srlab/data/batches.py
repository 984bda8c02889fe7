"""Training batches cut on the device: the one sampler every training run of the course uses.

Training a small SR network is easily limited by image decoding and host-to-device copies, so
the HR images are read once, kept on the training device as uint8, and every batch is cut,
augmented and degraded there (taught in notebooks 02 and 05).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from srlab.checks import check_choice, check_image, check_int, check_scale
from srlab.config import get_device
from srlab.data.images import list_images, load_image
from srlab.degradation import bicubic_down, quantize

AUGMENTATIONS = ("none", "flip", "dihedral")


class PatchSampler:
    """Random (lr, hr) training batches cut from HR images held on ``device`` as uint8.

    Per batch: a rescale factor s drawn from ``rescale`` (an HR crop of ``patch_size * scale
    / s`` pixels is resized to ``patch_size * scale``); per sample a random image and crop
    position and the augmentation: ``"flip"`` (random horizontal flip), ``"dihedral"`` (flips
    and a transpose: all 8 rotations/reflections) or ``"none"``; then LR = ``bicubic_down(hr,
    scale)``. ``patch_size=None`` takes whole images (all of one size, e.g. CIFAR-10).

    ``images``: a list of (3, H, W) / (1, 3, H, W) float tensors in [0, 1], or one uint8
    tensor (N, 3, H, W) (80 photos of 1024x768 take 190 MB, 50,000 CIFAR images 150 MB).
    Call as ``lr, hr = sampler(batch_size, generator)``: (B, 3, p, p) and (B, 3, p*s, p*s)
    float32 in [0, 1]; all randomness comes from ``generator``. ``rows`` (a slice) cuts only
    those samples of the batch, after drawing the random numbers of all ``batch_size``: the
    rows one process of a data-parallel run trains on, equal to ``sampler(...)[rows]``.
    """

    def __init__(self, images: list[torch.Tensor] | torch.Tensor, scale: int,
                 patch_size: int | None, *, device: str | torch.device | None = None,
                 augment: str = "dihedral", rescale: tuple[float, float] = (1.0, 1.0),
                 source: str = "") -> None:
        self.scale = check_scale(scale)
        self.augment = check_choice(augment, AUGMENTATIONS, "augmentation")
        lo, hi = rescale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"rescale must satisfy 0 < lo <= hi <= 1, got {rescale}")
        self.rescale, self.source = (lo, hi), source
        self.device = torch.device(device) if device is not None else get_device()
        self.images = _as_uint8(images, self.device)
        sizes = [tuple(img.shape[-2:]) for img in self.images]
        self.sizes = torch.tensor(sizes)  # (n, 2): H, W of every image
        self.min_side = int(self.sizes.min())
        if patch_size is None:
            if len(set(sizes)) != 1:
                raise ValueError("patch_size=None (whole images) needs images of one size, got "
                                 f"{len(set(sizes))} sizes; give an LR patch_size")
            patch_size = check_int(self.min_side // self.scale, "LR image size", minimum=1)
        self.patch_size = check_int(patch_size, "patch_size (LR pixels)", minimum=1)
        self.hr_patch = self.patch_size * self.scale
        if self.min_side < self.hr_patch:
            raise ValueError(f"an image is {self.min_side} pixels on its short side, smaller than "
                             f"the HR patch {self.hr_patch} (patch_size {patch_size} x scale "
                             f"{self.scale}); use a smaller patch_size")
        self.stack = None  # one (N, 3, H, W) tensor when all images have one size: one gather
        if len(set(sizes)) == 1:
            self.stack = torch.stack(self.images)
            self.images = list(self.stack)  # views, no second copy

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, scale: int, patch_size: int,
                    **kwargs) -> PatchSampler:
        """Load every image of ``folder`` (see ``srlab.data.list_images``)."""
        return cls.from_folders([folder], scale, patch_size, **kwargs)

    @classmethod
    def from_folders(cls, folders: Sequence[str | os.PathLike], scale: int, patch_size: int,
                     **kwargs) -> PatchSampler:
        """Load every image of every folder (e.g. BSDS200 and T91: the "291" set), leaving
        out, and counting in ``source``, images smaller than the HR patch on a side."""
        if not folders:
            raise ValueError("from_folders: expected at least one folder")
        paths = [p for folder in folders for p in list_images(folder)]
        hr_patch = check_int(patch_size, "patch_size (LR pixels)", minimum=1) * scale
        kept = []
        for path in paths:
            with Image.open(path) as img:  # reads the header only
                if min(img.size) >= hr_patch:
                    kept.append(path)
        names = ", ".join(str(f) for f in folders)
        if not kept:
            raise ValueError(f"every image in {names} is smaller than the HR patch {hr_patch} "
                             f"(patch_size {patch_size} x scale {scale}); use a smaller "
                             "patch_size")
        left_out = len(paths) - len(kept)
        note = (f" ({left_out} smaller than the {hr_patch}-pixel HR patch left out)"
                if left_out else "")
        kwargs.setdefault("source", f"{len(kept)} images in {names}{note}")
        return cls([load_image(p) for p in kept], scale, patch_size, **kwargs)

    def __len__(self) -> int:
        return len(self.images)

    def __call__(self, batch_size: int, generator: torch.Generator, rows: slice | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.rescale
        s = lo + (hi - lo) * float(torch.rand((), generator=generator))
        crop = min(round(self.hr_patch / s), self.min_side)
        idx = torch.randint(len(self.images), (batch_size,), generator=generator)
        room = self.sizes[idx] - crop + 1  # (B, 2) valid top/left positions
        pos = (torch.rand(batch_size, 2, generator=generator) * room).long()
        rows = rows if rows is not None else slice(None)
        idx, pos = idx[rows], pos[rows]
        hr = self._crops(idx, pos, crop).float() / 255
        if crop != self.hr_patch:
            hr = quantize(F.interpolate(hr, size=(self.hr_patch, self.hr_patch), mode="bicubic",
                                        antialias=True, align_corners=False))
        if self.augment != "none":
            n_flips = 1 if self.augment == "flip" else 3
            flips = torch.randint(0, 2, (n_flips, batch_size, 1, 1, 1), generator=generator)
            flips = flips[:, rows].bool().to(self.device)
            hr = torch.where(flips[0], hr.flip(-1), hr)
            if self.augment == "dihedral":
                hr = torch.where(flips[1], hr.flip(-2), hr)
                hr = torch.where(flips[2], hr.transpose(-1, -2), hr)
        return bicubic_down(hr, self.scale), hr

    def _crops(self, idx: torch.Tensor, pos: torch.Tensor, crop: int) -> torch.Tensor:
        """uint8 crops (B, 3, crop, crop) of images ``idx`` at top/left ``pos``."""
        if self.stack is None:
            return torch.stack([self.images[i][:, t : t + crop, l : l + crop]
                                for i, (t, l) in zip(idx.tolist(), pos.tolist(), strict=True)])
        idx, pos = idx.to(self.device), pos.to(self.device)
        if crop == self.stack.shape[-1] == self.stack.shape[-2]:
            return self.stack[idx]
        offsets = torch.arange(crop, device=self.device)
        rows = (pos[:, 0, None] + offsets)[:, None, :, None]  # (B, 1, crop, 1)
        cols = (pos[:, 1, None] + offsets)[:, None, None, :]  # (B, 1, 1, crop)
        channels = torch.arange(3, device=self.device)[None, :, None, None]
        return self.stack[idx[:, None, None, None], channels, rows, cols]


def _as_uint8(images: list[torch.Tensor] | torch.Tensor, device: torch.device
              ) -> list[torch.Tensor]:
    """(3, H, W) uint8 tensors on ``device`` from float images in [0, 1] or a uint8 stack."""
    if isinstance(images, torch.Tensor) and images.dtype == torch.uint8:
        if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
            raise ValueError(f"a uint8 image stack must be (N, 3, H, W) with N >= 1, got "
                             f"{tuple(images.shape)}")
        return list(images.to(device))
    if isinstance(images, torch.Tensor):
        images = list(images)
    if not images:
        raise ValueError("PatchSampler needs at least one image")
    out = []
    for i, img in enumerate(images):
        img = check_image(img if img.ndim == 4 else img.unsqueeze(0), f"images[{i}]", channels=3)
        out.append((img[0] * 255).round().to(torch.uint8).to(device))
    return out


class LabelledBatches:
    """Random (image, label) batches for a classifier, from uint8 images held on ``device``.

    images: (N, 3, H, W) uint8; labels: (N,) int64. Per sample: a random image, a random
    ``pad``-pixel shift (reflection-padded crop, the usual CIFAR augmentation) and a random
    horizontal flip. ``batches(batch_size, generator, rows=None)`` -> (B, 3, H, W) float32 in
    [0, 1] and (B,) int64; ``rows`` as for ``PatchSampler``. All randomness from ``generator``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *,
                 device: str | torch.device | None = None, pad: int = 4,
                 source: str = "") -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected a uint8 (N, 3, H, W) tensor, got "
                             f"{images.dtype} {tuple(images.shape)}")
        if labels.shape != (len(images),):
            raise ValueError(f"labels: expected shape ({len(images)},), got {tuple(labels.shape)}")
        self.device = torch.device(device) if device is not None else get_device()
        self.images, self.labels = images.to(self.device), labels.long().to(self.device)
        self.pad = check_int(pad, "pad", minimum=0)
        self.source = source

    def __len__(self) -> int:
        return len(self.images)

    def __call__(self, batch_size: int, generator: torch.Generator, rows: slice | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.images), (batch_size,), generator=generator)
        shift = torch.randint(0, 2 * self.pad + 1, (batch_size, 2), generator=generator)
        flip = torch.randint(0, 2, (batch_size,), generator=generator).bool()
        rows = rows if rows is not None else slice(None)
        idx, shift, flip = idx[rows].to(self.device), shift[rows], flip[rows].to(self.device)
        x = self.images[idx].float() / 255
        h, w = x.shape[-2:]
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode="reflect")
            x = torch.stack([img[:, t : t + h, s : s + w]
                             for img, (t, s) in zip(x, shift.tolist(), strict=True)])
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        return x, self.labels[idx]
