"""MSRN (Li et al., ECCV 2018) and its depthwise-separable version SMSRN (Kim et al., 2021).

Both take an RGB batch in [0, 1] of shape (N, 3, h, w) and return (N, 3, h*scale, w*scale).
Inside, the image is scaled to MSRN's 0-255 range and the DIV2K mean is subtracted, as in the
official code; outputs are clamped to [0, 1] in eval mode (training sees the raw output).

``receptive_field`` measures what one output pixel of a block sees, ``parameter_table`` counts
the parameters part by part. Taught in notebooks 02 (MSRN) and 03 (SMSRN).
"""

from __future__ import annotations

import torch
from torch import nn

from srlab.checks import check_choice, check_image, check_scale
from srlab.config import MEMORY_FORMATS, memory_format_on
from srlab.layers import DepthwiseSeparableConv2d

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)
RGB_RANGE = 255.0


def conv(in_ch: int, out_ch: int, kernel_size: int, separable: bool = False) -> nn.Module:
    """A "same"-padded k x k conv with bias, standard or depthwise-separable."""
    if separable:
        return DepthwiseSeparableConv2d(in_ch, out_ch, kernel_size, bias=True)
    return nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=True)


class MeanShift(nn.Conv2d):
    """Adds ``sign * rgb_range * mean`` per channel as a frozen 1x1 conv (12 fixed numbers).

    The official MSRN sets ``requires_grad`` on the module object, which freezes nothing; here
    the weight and bias themselves get ``requires_grad=False``.
    """

    def __init__(self, mean: tuple[float, ...] = DIV2K_MEAN, sign: int = -1,
                 rgb_range: float = RGB_RANGE) -> None:
        c = len(mean)
        super().__init__(c, c, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(c).view(c, c, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(mean))
        self.weight.requires_grad = False
        self.bias.requires_grad = False


class MSRB(nn.Module):
    """Multi-scale residual block: (N, n_feats, H, W) -> (N, n_feats, H, W).

    Two parallel branches (3x3 and 5x5) exchange features twice, the concatenation of the second
    stage (4 * n_feats channels) is fused by a 1x1 ``confusion`` conv and added to the input.
    With ``separable=True`` every 3x3/5x5 conv is depthwise-separable (SMSRB); the 1x1 stays.
    """

    def __init__(self, n_feats: int = 64, separable: bool = False) -> None:
        super().__init__()
        self.conv_3_1 = conv(n_feats, n_feats, 3, separable)
        self.conv_5_1 = conv(n_feats, n_feats, 5, separable)
        self.conv_3_2 = conv(2 * n_feats, 2 * n_feats, 3, separable)
        self.conv_5_2 = conv(2 * n_feats, 2 * n_feats, 5, separable)
        self.confusion = nn.Conv2d(4 * n_feats, n_feats, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = torch.cat([self.relu(self.conv_3_1(x)), self.relu(self.conv_5_1(x))], dim=1)
        s2 = torch.cat([self.relu(self.conv_3_2(s1)), self.relu(self.conv_5_2(s1))], dim=1)
        return self.confusion(s2) + x


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling: x2 and x4 as one/two rounds of conv(n -> 4n) + PixelShuffle(2),
    x3 as conv(n -> 9n) + PixelShuffle(3). No activation (as in MSRN)."""

    def __init__(self, scale: int, n_feats: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:  # power of two
            for _ in range(scale.bit_length() - 1):
                layers += [conv(n_feats, 4 * n_feats, 3), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [conv(n_feats, 9 * n_feats, 3), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"MSRN supports scale 2, 3, 4 or 8, got {scale}")
        super().__init__(*layers)


class MSRN(nn.Module):
    """Multi-scale residual network for x``scale`` SR.

    ``sub_mean`` -> head 3x3 -> ``n_blocks`` MSRBs -> concat[M1..Mn, head] -> 1x1 -> 3x3 ->
    upsampler -> 3x3 -> ``add_mean``. ``separable=True`` gives SMSRN (head conv and the
    3x3/5x5 convs of every block depthwise-separable; the tail stays standard).
    Input (N, n_colors, h, w) float in [0, 1]; output (N, n_colors, h*scale, w*scale), NCHW.

    ``memory_format`` is the layout the convolutions run in (``srlab.config.memory_format_on``):
    "auto" (channels_last on the CPU: one fixed choice, not measured per machine),
    "contiguous" or "channels_last". Only the
    input is converted (a convolution runs channels_last when its input is), so the weights,
    the state dict and the output stay in the default layout. Notebook 03 times both.
    """

    kind = "msrn"

    def __init__(self, scale: int = 4, n_feats: int = 64, n_blocks: int = 8, n_colors: int = 3,
                 separable: bool = False, memory_format: str = "auto") -> None:
        super().__init__()
        scale = check_scale(scale, allowed=(2, 3, 4, 8))
        self.memory_format = check_choice(memory_format, MEMORY_FORMATS, "memory_format")
        if n_colors != 3:
            raise ValueError(f"n_colors must be 3 (the DIV2K mean shift is RGB), got {n_colors}")
        if n_blocks < 1 or n_feats < 1:
            raise ValueError(f"n_blocks and n_feats must be >= 1, got {n_blocks}, {n_feats}")
        self.scale, self.n_colors = scale, n_colors
        self.config = dict(scale=scale, n_feats=n_feats, n_blocks=n_blocks, n_colors=n_colors)
        if separable and type(self) is MSRN:
            self.config["separable"] = True
        self.sub_mean = MeanShift(sign=-1)
        self.head = conv(n_colors, n_feats, 3, separable)
        self.body = nn.ModuleList(MSRB(n_feats, separable) for _ in range(n_blocks))
        self.tail = nn.Sequential(
            nn.Conv2d(n_feats * (n_blocks + 1), n_feats, 1),
            conv(n_feats, n_feats, 3),
            Upsampler(scale, n_feats),
            conv(n_feats, n_colors, 3),
        )
        self.add_mean = MeanShift(sign=+1)

    @classmethod
    def from_config(cls, config: dict) -> MSRN:
        """Rebuild from a checkpoint's ``config``; keys that are not constructor arguments
        (e.g. the training settings under "train") are ignored."""
        keys = ("scale", "n_feats", "n_blocks", "n_colors") + (("separable",) if cls is MSRN
                                                               else ())
        return cls(**{k: v for k, v in config.items() if k in keys})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the [0, 1] range check syncs with the GPU, so it runs at inference only
        check_image(x, "lr", channels=self.n_colors, value_range=not self.training)
        if x.shape[-1] < 1 or x.shape[-2] < 1:
            raise ValueError(f"lr: expected a non-empty image, got shape {tuple(x.shape)}")
        in_dtype, dtype = x.dtype, self.sub_mean.weight.dtype
        if in_dtype != dtype:
            return self.forward(x.to(dtype)).to(in_dtype)  # float16/64 images: compute in fp32
        x = x.contiguous(memory_format=memory_format_on(self.memory_format, x.device))
        x = self.reconstruct(self.features(x)).contiguous()
        return x if self.training else x.clamp(0.0, 1.0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) fp32 in [0, 1] -> (N, n_feats * (n_blocks + 1), h, w): the head and
        every block, the part separability makes cheap (no input checks: ``forward`` does)."""
        x = self.head(self.sub_mean(x * RGB_RANGE))
        feats = [x]
        for block in self.body:
            feats.append(block(feats[-1]))
        # MSRN concatenates the block outputs M1..Mn first and the head output last
        return torch.cat(feats[1:] + feats[:1], dim=1)

    def reconstruct(self, feats: torch.Tensor) -> torch.Tensor:
        """``features`` -> (N, 3, h * scale, w * scale), not clamped: the tail (fusion 1x1,
        3x3, upsampler, 3x3), standard convolutions in MSRN and SMSRN alike."""
        return self.add_mean(self.tail(feats)) / RGB_RANGE


class SMSRN(MSRN):
    """MSRN with depthwise-separable 3x3/5x5 convs (SMSRN paper, Fig. 3). Same I/O as MSRN."""

    kind = "smsrn"

    def __init__(self, scale: int = 4, n_feats: int = 64, n_blocks: int = 8,
                 n_colors: int = 3, memory_format: str = "auto") -> None:
        super().__init__(scale, n_feats, n_blocks, n_colors, separable=True,
                         memory_format=memory_format)


# -- what the network looks at and where its parameters are (notebook 02) -------------------


def receptive_field(module: nn.Module, channels: int, size: int = 21, seed: int = 0
                    ) -> tuple[int, torch.Tensor]:
    """The receptive field of the centre output pixel of ``module``, measured.

    ``module`` maps (1, channels, size, size) to a feature map of the same height and width
    (stride-1, "same"-padded convolutions, e.g. an ``MSRB``). One random input (from ``seed``)
    goes through it; the gradient of the centre output pixel (summed over channels) is non-zero
    exactly at the input pixels it depends on. Returns (width, mask): the width in pixels of
    that window and its (size, size) bool mask. ``size`` is odd; a window that reaches the
    border of the input is a ``ValueError`` (pass a larger ``size``).
    """
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be an integer >= 1, got {channels!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 3 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 3, got {size!r}")
    gen = torch.Generator().manual_seed(seed)
    param = next(module.parameters(), None)
    x = torch.randn(1, channels, size, size, generator=gen)
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    x.requires_grad_(True)
    with torch.enable_grad():
        out = module(x)
        if out.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"receptive_field: the module changed the size {size}x{size} to "
                             f"{tuple(out.shape[-2:])}; it needs a same-size feature map")
        (grad,) = torch.autograd.grad(out[0, :, size // 2, size // 2].sum(), x)
    mask = (grad[0].abs().sum(dim=0) > 0).cpu()  # the parameters' .grad stay untouched
    rows, cols = mask.any(dim=1).nonzero(), mask.any(dim=0).nonzero()
    if rows.numel() == 0:
        raise ValueError("receptive_field: no input pixel reaches the centre output pixel")
    if rows.min() == 0 or cols.min() == 0 or rows.max() == size - 1 or cols.max() == size - 1:
        raise ValueError(f"receptive_field: the window reaches the border of the {size}x{size} "
                         "input, so it may be wider; pass a larger size")
    width = int(max(rows.max() - rows.min(), cols.max() - cols.min())) + 1
    return width, mask


def _conv_text(module: nn.Module) -> str:
    """'3x3 64->256' for a conv, 'separable 3x3 64->256' for a depthwise-separable one."""
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0]
        return f"{k}x{k} {module.in_channels}->{module.out_channels}"
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    k = convs[0].kernel_size[0]
    return f"separable {k}x{k} {convs[0].in_channels}->{convs[-1].out_channels}"


def parameter_table(model: MSRN) -> list[dict]:
    """MSRN's (or SMSRN's) trainable parameters part by part, in the order data flows.

    Returns rows {"part", "layers", "params", "share"} for the head, the ``n_blocks`` MSRBs,
    the hierarchical fusion (1x1 and 3x3), the upsampler and the reconstruction conv, then a
    "total" row; ``share`` is the fraction of the total. The parts add up to
    ``count_params(model)`` (the frozen mean shifts are not counted).
    """
    if not isinstance(model, MSRN):
        raise TypeError(f"parameter_table expects an MSRN or SMSRN, got {type(model).__name__}")

    def count(*modules: nn.Module) -> int:
        return sum(p.numel() for m in modules for p in m.parameters() if p.requires_grad)

    fusion, conv3, upsampler, recon = model.tail
    ups = [m for m in upsampler if isinstance(m, nn.Conv2d)]
    shuffle = upsampler[1].upscale_factor
    block = "SMSRB" if model.config.get("separable") or isinstance(model, SMSRN) else "MSRB"
    parts = [
        ("head", _conv_text(model.head), count(model.head)),
        ("body", f"{len(model.body)} x {block}", count(model.body)),
        ("fusion", f"{_conv_text(fusion)}, {_conv_text(conv3)}", count(fusion, conv3)),
        ("upsampler", f"{len(ups)} x ({_conv_text(ups[0])}, shuffle {shuffle})",
         count(upsampler)),
        ("reconstruction", _conv_text(recon), count(recon)),
    ]
    total = sum(n for _, _, n in parts)
    rows = [{"part": p, "layers": text, "params": n, "share": n / total} for p, text, n in parts]
    return rows + [{"part": "total", "layers": "", "params": total, "share": 1.0}]
