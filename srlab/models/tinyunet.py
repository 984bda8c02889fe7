"""TinyUNet (Hwang et al.): a ~0.12M-parameter U-Net, the denoiser of few-step diffusion SR.

As in the paper: an encoder of two convolutions, a decoder of two transposed convolutions,
ReLU after every layer but the last, a sigmoid at the output, and a U-Net skip connection::

    x (N, C_in, H, W)
    enc1  Conv2d          k4 s2  C_in -> c1    (N, c1, H/2, W/2)   + ReLU
    enc2  Conv2d          k3 s2  c1   -> c2    (N, c2, H/4, W/4)   + ReLU
    dec1  ConvTranspose2d k4 s2  c2   -> c1    (N, c1, H/2, W/2)   + ReLU
          concat with enc1's output (skip)     (N, 2*c1, H/2, W/2)
    dec2  ConvTranspose2d k4 s2  2*c1 -> C_out (N, C_out, H, W)
    out = lo + (hi - lo) * sigmoid(.)          values in (lo, hi)

Both encoder convolutions are strided (the paper does not give strides): the network works at
1/2 and 1/4 resolution and the last transposed conv returns to full size, like a sub-pixel
SR network. This keeps one pass at ~9M multiply-accumulates for a 32x32 output, which matters
because a diffusion sampler calls it 3-5 times per image. H and W must be multiples of 4.

``out_range`` maps the sigmoid to the target's range: (0, 1) for an image, (-1, 1) for a
residual over bicubic upsampling or an x0-prediction, (-4, 4) for eps/v predictions.

Taught in notebook 05.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlab.checks import check_image


class TinyUNet(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W) in ``out_range``; H, W multiples of 4.

    ``width`` = (c1, c2): channels at 1/2 and 1/4 resolution. The last layer starts at zero,
    so a fresh network outputs the middle of ``out_range`` (zero residual: plain bicubic).
    """

    def __init__(self, in_channels: int = 7, out_channels: int = 3,
                 width: tuple[int, int] = (48, 96),
                 out_range: tuple[float, float] = (-1.0, 1.0)) -> None:
        super().__init__()
        c1, c2 = (int(w) for w in width)
        lo, hi = (float(v) for v in out_range)
        if min(in_channels, out_channels, c1, c2) < 1:
            raise ValueError(f"channel counts must be >= 1, got in={in_channels}, "
                             f"out={out_channels}, width={width}")
        if not lo < hi:
            raise ValueError(f"out_range must be (lo, hi) with lo < hi, got {out_range}")
        self.config = {"in_channels": int(in_channels), "out_channels": int(out_channels),
                       "width": [c1, c2], "out_range": [lo, hi]}
        self.enc1 = nn.Conv2d(in_channels, c1, 4, stride=2, padding=1)
        self.enc2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.dec1 = nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)
        self.dec2 = nn.ConvTranspose2d(2 * c1, out_channels, 4, stride=2, padding=1)
        nn.init.zeros_(self.dec2.weight)
        nn.init.zeros_(self.dec2.bias)

    def check_input(self, x: object) -> torch.Tensor:
        """Raise a clear error unless x is a float (N, in_channels, H, W) with H, W % 4 == 0."""
        check_image(x, "TinyUNet input", channels=self.config["in_channels"], value_range=False)
        h, w = x.shape[-2:]
        if h % 4 or w % 4 or h == 0 or w == 0:
            raise ValueError(f"TinyUNet input: H and W must be positive multiples of 4 (two "
                             f"stride-2 stages), got {h}x{w}")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h1 = F.relu(self.enc1(x))
        h2 = F.relu(self.enc2(h1))
        h3 = F.relu(self.dec1(h2))
        z = self.dec2(torch.cat([h3, h1], dim=1))
        lo, hi = self.config["out_range"]
        return lo + (hi - lo) * torch.sigmoid(z.float())  # fp32: small residuals stay exact

    def layer_shapes(self, x: torch.Tensor) -> list[tuple[str, tuple[int, ...], int]]:
        """(layer name, output shape, parameters) for every step of ``forward`` on ``x``."""
        self.check_input(x)
        rows = [("input", tuple(x.shape), 0)]
        with torch.no_grad():
            h1 = F.relu(self.enc1(x))
            rows.append(("enc1 conv k4 s2 + ReLU", tuple(h1.shape), _n(self.enc1)))
            h2 = F.relu(self.enc2(h1))
            rows.append(("enc2 conv k3 s2 + ReLU", tuple(h2.shape), _n(self.enc2)))
            h3 = F.relu(self.dec1(h2))
            rows.append(("dec1 convT k4 s2 + ReLU", tuple(h3.shape), _n(self.dec1)))
            cat = torch.cat([h3, h1], dim=1)
            rows.append(("concat skip (dec1, enc1)", tuple(cat.shape), 0))
            out = self(x)
            rows.append(("dec2 convT k4 s2 + sigmoid", tuple(out.shape), _n(self.dec2)))
        return rows


def _n(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
