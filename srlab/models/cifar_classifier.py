"""A small CIFAR-10 classifier whose features define FD-CIFAR, a Fréchet distance between the
distributions of SR and HR images (``srlab.evaluate``; taught in notebook 05).

FID needs Inception-v3's ImageNet weights, which cannot be downloaded offline, and LPIPS needs
VGG/AlexNet weights; this network is trained by the course itself on CIFAR-10 and ships with
it (model card: ``srlab/weights/README.md``). Its FD values are only comparable with other
FD-CIFAR values, never with published FIDs.

Three stages of 3x3 convolutions with batch norm and ReLU (32x32 -> 16x16 -> 8x8), global
average pooling to ``width[-1]`` features, a linear layer to 10 class logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from srlab.checks import check_image

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # the usual CIFAR-10 channel statistics
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def _block(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True)]


class CifarClassifier(nn.Module):
    """(N, 3, 32, 32) RGB in [0, 1] -> (N, 10) logits; ``features`` -> (N, width[-1])."""

    kind = "cifar_classifier"

    def __init__(self, width: Sequence[int] = (24, 48, 96), n_classes: int = 10) -> None:
        super().__init__()
        if len(width) != 3 or min(width) < 1 or n_classes < 2:
            raise ValueError(f"width must be 3 positive channel counts and n_classes >= 2, got "
                             f"{tuple(width)}, {n_classes}")
        a, b, c = (int(w) for w in width)
        self.config = {"width": [a, b, c], "n_classes": int(n_classes)}
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1))
        self.body = nn.Sequential(
            *_block(3, a), *_block(a, a), nn.MaxPool2d(2),
            *_block(a, b), *_block(b, b), nn.MaxPool2d(2),
            *_block(b, c), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c, n_classes)

    @classmethod
    def from_config(cls, config: dict) -> CifarClassifier:
        return cls(tuple(config.get("width", (24, 48, 96))), config.get("n_classes", 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, width[-1]) pooled features (what FD-CIFAR compares)."""
        check_image(x, "x", channels=3, value_range=not self.training)
        return self.body((x.float() - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
