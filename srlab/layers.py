"""Building blocks shared by the models: the depthwise-separable convolution.

Taught in notebooks 01 and 03.
"""

from __future__ import annotations

import torch
from torch import nn


class DepthwiseSeparableConv2d(nn.Module):
    """A k x k depthwise conv (one filter per input channel) then a 1x1 pointwise conv.

    Replaces ``nn.Conv2d(in_ch, out_ch, k, padding=k // 2)`` at a cost ratio of
    1/out_ch + 1/k^2 (SMSRN paper, equation (5)). Input (N, in_ch, H, W), output
    (N, out_ch, H, W): "same" padding, stride 1. Both parts carry a bias.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.depthwise = nn.Conv2d(
            in_ch, in_ch, kernel_size, padding=kernel_size // 2, groups=in_ch, bias=bias
        )
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))
