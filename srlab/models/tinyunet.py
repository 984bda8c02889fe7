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

Variants inside the paper's shape, for the ablation in the model card (the defaults are the
paper's network and the shipped weights): ``first_stride=1`` keeps the first stage at full
resolution (enc1 k3 s1, enc2 k4 s2, dec2 a k3 s1 transposed conv; H, W multiples of 2);
``separable=True`` makes enc2 and dec1, the widest layers, depthwise-separable (a strided
depthwise conv and a 1x1 conv: SMSRN's lesson, spent on width); ``upsample="pixel_shuffle"``
replaces each strided transposed conv by a k3 conv to 4x the channels and a pixel shuffle;
``activation`` is "relu" (the paper), "silu" or "gelu".

Taught in notebook 05.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srlab.checks import check_choice, check_image


class TinyUNet(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H, W) in ``out_range``; H, W multiples of 4.

    ``width`` = (c1, c2): channels at 1/2 and 1/4 resolution. The last layer starts at zero,
    so a fresh network outputs the middle of ``out_range`` (zero residual: plain bicubic).
    """

    def __init__(self, in_channels: int = 7, out_channels: int = 3,
                 width: tuple[int, int] = (48, 96),
                 out_range: tuple[float, float] = (-1.0, 1.0), *, first_stride: int = 2,
                 separable: bool = False, upsample: str = "transpose",
                 activation: str = "relu") -> None:
        super().__init__()
        c1, c2 = (int(w) for w in width)
        lo, hi = (float(v) for v in out_range)
        if min(in_channels, out_channels, c1, c2) < 1:
            raise ValueError(f"channel counts must be >= 1, got in={in_channels}, "
                             f"out={out_channels}, width={width}")
        if not lo < hi:
            raise ValueError(f"out_range must be (lo, hi) with lo < hi, got {out_range}")
        check_choice(first_stride, (1, 2), "first_stride")
        check_choice(upsample, UPSAMPLERS, "upsample")
        check_choice(activation, tuple(ACTIVATIONS), "activation")
        self.config = {"in_channels": int(in_channels), "out_channels": int(out_channels),
                       "width": [c1, c2], "out_range": [lo, hi]}
        variant = {"first_stride": first_stride, "separable": bool(separable),
                   "upsample": upsample, "activation": activation}
        self.config.update({k: v for k, v in variant.items() if v != VARIANT_DEFAULTS[k]})
        self.multiple = 2 * first_stride  # H and W must be multiples of this
        self.act = ACTIVATIONS[activation]
        if first_stride == 2:
            self.enc1 = nn.Conv2d(in_channels, c1, 4, stride=2, padding=1)
            self.enc2 = _down(c1, c2, 3, separable)
        else:
            self.enc1 = nn.Conv2d(in_channels, c1, 3, padding=1)
            self.enc2 = _down(c1, c2, 4, separable)
        self.dec1 = _up(c2, c1, upsample, separable)
        if first_stride == 2:
            self.dec2 = _up(2 * c1, out_channels, upsample, False)
        else:
            self.dec2 = nn.ConvTranspose2d(2 * c1, out_channels, 3, padding=1)
        last = self.dec2[0] if isinstance(self.dec2, nn.Sequential) else self.dec2
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def check_input(self, x: object) -> torch.Tensor:
        """Raise a clear error unless x is a float (N, in_channels, H, W) with H, W % 4 == 0."""
        check_image(x, "TinyUNet input", channels=self.config["in_channels"], value_range=False)
        h, w, m = *x.shape[-2:], self.multiple
        if h % m or w % m or h == 0 or w == 0:
            raise ValueError(f"TinyUNet input: H and W must be positive multiples of {m} (its "
                             f"stride-2 stages), got {h}x{w}")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h1 = self.act(self.enc1(x))
        h2 = self.act(self.enc2(h1))
        h3 = self.act(self.dec1(h2))
        z = self.dec2(torch.cat([h3, h1], dim=1))
        lo, hi = self.config["out_range"]
        return lo + (hi - lo) * torch.sigmoid(z.float())  # fp32: small residuals stay exact

    def layer_shapes(self, x: torch.Tensor) -> list[tuple[str, tuple[int, ...], int]]:
        """(layer name, output shape, parameters) for every step of ``forward`` on ``x``."""
        self.check_input(x)
        rows = [("input", tuple(x.shape), 0)]
        act = ACTIVATION_NAMES[self.config.get("activation", "relu")]
        with torch.no_grad():
            h1 = self.act(self.enc1(x))
            rows.append((f"enc1 {_describe(self.enc1)} + {act}", tuple(h1.shape), _n(self.enc1)))
            h2 = self.act(self.enc2(h1))
            rows.append((f"enc2 {_describe(self.enc2)} + {act}", tuple(h2.shape), _n(self.enc2)))
            h3 = self.act(self.dec1(h2))
            rows.append((f"dec1 {_describe(self.dec1)} + {act}", tuple(h3.shape), _n(self.dec1)))
            cat = torch.cat([h3, h1], dim=1)
            rows.append(("concat skip (dec1, enc1)", tuple(cat.shape), 0))
            out = self(x)
            rows.append((f"dec2 {_describe(self.dec2)} + sigmoid", tuple(out.shape),
                         _n(self.dec2)))
        return rows


UPSAMPLERS = ("transpose", "pixel_shuffle")
ACTIVATIONS = {"relu": F.relu, "silu": F.silu, "gelu": F.gelu}
ACTIVATION_NAMES = {"relu": "ReLU", "silu": "SiLU", "gelu": "GELU"}
VARIANT_DEFAULTS = {"first_stride": 2, "separable": False, "upsample": "transpose",
                    "activation": "relu"}


def _down(c_in: int, c_out: int, k: int, separable: bool) -> nn.Module:
    """A stride-2 k x k conv (padding 1), or its depthwise-separable form."""
    if not separable:
        return nn.Conv2d(c_in, c_out, k, stride=2, padding=1)
    return nn.Sequential(nn.Conv2d(c_in, c_in, k, stride=2, padding=1, groups=c_in),
                         nn.Conv2d(c_in, c_out, 1))


def _up(c_in: int, c_out: int, upsample: str, separable: bool) -> nn.Module:
    """x2 upsampling: a k4 s2 transposed conv, or a k3 conv to 4 c_out channels and a pixel
    shuffle; ``separable`` splits either into a depthwise and a 1x1 part (``dec2`` never is,
    so its zero-initialised conv is the Sequential's first layer)."""
    if upsample == "transpose":
        if not separable:
            return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
        return nn.Sequential(nn.Conv2d(c_in, c_out, 1),
                             nn.ConvTranspose2d(c_out, c_out, 4, stride=2, padding=1,
                                                groups=c_out))
    if not separable:
        return nn.Sequential(nn.Conv2d(c_in, 4 * c_out, 3, padding=1), nn.PixelShuffle(2))
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in),
                         nn.Conv2d(c_in, 4 * c_out, 1), nn.PixelShuffle(2))


def _describe(module: nn.Module) -> str:
    """'conv k4 s2', 'depthwise conv k3 s2 + conv k1 s1', 'conv k3 s1 + pixel shuffle', ..."""
    if isinstance(module, nn.Sequential):
        return " + ".join(_describe(m) for m in module)
    if isinstance(module, nn.PixelShuffle):
        return "pixel shuffle"
    name = "convT" if isinstance(module, nn.ConvTranspose2d) else "conv"
    depthwise = "depthwise " if module.groups > 1 else ""
    return f"{depthwise}{name} k{module.kernel_size[0]} s{module.stride[0]}"


def _n(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
