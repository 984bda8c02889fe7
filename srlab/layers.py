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


def check_separable(layer: nn.Module, d: int, n: int, k: int) -> str:
    """Check a hand-written separable layer against the definition; say what differs.

    ``layer`` must hold a ``depthwise`` ``nn.Conv2d`` with one k x k filter per channel
    (weight (d, 1, k, k), ``groups=d``) that keeps the size H x W (padding k // 2, stride 1),
    and a ``pointwise`` 1x1 ``nn.Conv2d`` d -> n (weight (n, d, 1, 1)); on an input (B, d, H, W)
    it must give ``DepthwiseSeparableConv2d``'s output with the same weights. Raises
    ``ValueError`` naming the first difference; returns a one-line confirmation.
    """
    for name in ("depthwise", "pointwise"):
        if not isinstance(getattr(layer, name, None), nn.Conv2d):
            raise ValueError(f"the layer needs an nn.Conv2d attribute called {name!r}")
    dw, pw = layer.depthwise, layer.pointwise
    if tuple(dw.weight.shape) != (d, 1, k, k):
        raise ValueError(
            f"depthwise weight has shape {tuple(dw.weight.shape)}, expected ({d}, 1, {k}, {k}): "
            f"{d} channels in and out, one {k}x{k} filter per channel; with groups={dw.groups} "
            f"each filter sees {dw.in_channels // dw.groups} input channel(s): set groups={d}")
    x = torch.rand(2, d, 2 * k + 3, 2 * k + 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        size = tuple(dw(x).shape[-2:])
        if size != tuple(x.shape[-2:]):
            raise ValueError(
                f"the depthwise conv turns {tuple(x.shape[-2:])} pixels into {size} (padding "
                f"{dw.padding}, stride {dw.stride}): padding={k // 2} and stride 1 keep the size")
        if tuple(pw.weight.shape) != (n, d, 1, 1):
            raise ValueError(f"pointwise weight has shape {tuple(pw.weight.shape)}, expected "
                             f"({n}, {d}, 1, 1): {n} filters of 1 x 1 x {d}")
        reference = DepthwiseSeparableConv2d(d, n, k, bias=dw.bias is not None)
        if (dw.bias is None) != (pw.bias is None):
            raise ValueError("give both convs a bias or neither")
        for mine, ref in ((dw, reference.depthwise), (pw, reference.pointwise)):
            ref.weight.copy_(mine.weight)
            if mine.bias is not None:
                ref.bias.copy_(mine.bias)
        order = "forward must apply self.depthwise first, then self.pointwise"
        try:
            y = layer(x)
        except RuntimeError as err:
            raise ValueError(f"the parts are right but forward failed ({err}): {order}") from err
        expected = reference(x)
        if y.shape != expected.shape or not torch.allclose(y, expected, atol=1e-5):
            raise ValueError(f"the parts are right but the output differs: {order}")
    return (f"your layer is a separable conv: depthwise {tuple(dw.weight.shape)}, pointwise "
            f"{tuple(pw.weight.shape)}, same output as srlab's")
