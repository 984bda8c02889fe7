"""Figures for the notebooks: image grids and LR | method | HR comparisons with a zoom."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

from srlab.metrics import psnr, ssim

Box = tuple[int, int, int, int]  # (top, left, height, width) in HR pixels


def to_numpy_image(x: torch.Tensor):
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] -> (H, W, 3) NumPy array for ``imshow``."""
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"expected a (3, H, W) or (1, 3, H, W) image, got shape {tuple(x.shape)}")
    return x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def show_images(
    images: Mapping[str, torch.Tensor] | Sequence[torch.Tensor],
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 3.0,
    nearest: bool = True,
):
    """Show images side by side (a dict gives the titles). Returns the matplotlib Figure."""
    if isinstance(images, Mapping):
        titles, images = list(images.keys()), list(images.values())
    images = list(images)
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, images)):
        ax.imshow(to_numpy_image(img), interpolation="nearest" if nearest else "antialiased")
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    fig.tight_layout()
    return fig


def _upsample_nearest(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(lr, size=size, mode="nearest")


def compare(
    lr: torch.Tensor,
    outputs: Mapping[str, torch.Tensor],
    hr: torch.Tensor,
    zoom: Box | None = None,
    *,
    y_channel: bool = True,
    shave: int | None = None,
    size: float = 3.2,
):
    """LR | each output | HR, with PSNR/SSIM (vs HR) in the titles and an optional zoom row.

    lr: (1, 3, h, w), outputs: name -> (1, 3, H, W), hr: (1, 3, H, W), all in [0, 1].
    ``zoom`` = (top, left, height, width) in HR pixels draws a box and a zoomed crop row.
    Metrics come from ``srlab.metrics`` (Y channel and a ``scale``-pixel shave by default);
    each title says which, e.g. "31.48 dB / 0.8064 (Y, shave 4)".
    """
    scale = hr.shape[-1] // lr.shape[-1]
    shave = scale if shave is None else shave
    convention = f"{'Y' if y_channel else 'RGB'}, shave {shave}"
    panels = {"LR (nearest)": _upsample_nearest(lr, hr.shape[-2:])}
    titles = [f"LR {lr.shape[-1]}x{lr.shape[-2]} (x{scale})"]
    for name, out in outputs.items():
        p = psnr(out, hr, y_channel=y_channel, shave=shave).item()
        s = (
            ssim(out, hr, y_channel=y_channel, shave=shave).item()
            if min(hr.shape[-2:]) - 2 * shave >= 11
            else float("nan")
        )
        panels[name] = out
        titles.append(f"{name}\n{p:.2f} dB / {s:.4f} ({convention})")
    panels["HR"] = hr
    titles.append("HR (ground truth)")
    rows = 2 if zoom else 1
    fig, axes = plt.subplots(
        rows, len(panels), figsize=(size * len(panels), size * rows), squeeze=False
    )
    for col, (img, title) in enumerate(zip(panels.values(), titles)):
        ax = axes[0, col]
        ax.imshow(to_numpy_image(img), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        if zoom:
            top, left, h, w = zoom
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, color="red", lw=1.5))
            crop = img[..., top : top + h, left : left + w]
            axes[1, col].imshow(to_numpy_image(crop), interpolation="nearest")
            axes[1, col].axis("off")
    fig.tight_layout()
    return fig


def draw_conv_diagram(d: int = 4, n: int = 3, k: int = 3):
    """Sketch standard, depthwise and pointwise convolution as stacks of channel slabs.

    A schematic for notebook 01: ``d`` input channels, ``n`` output channels, ``k`` x ``k``
    kernels. Returns the matplotlib Figure.
    """
    colours = plt.cm.tab10.colors
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = [
        ("(a) standard: N filters of k x k x D", n, k, d, n),
        ("(b) depthwise: D filters of k x k x 1", d, k, 1, d),
        ("(c) pointwise: N filters of 1 x 1 x D", n, 1, d, n),
    ]
    for ax, (title, n_filters, ksize, depth, out_ch) in zip(axes, panels):
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 6)
        ax.axis("off")
        ax.set_title(title, fontsize=10)
        for c in range(d):  # input feature map: D slabs
            ax.add_patch(
                Rectangle(
                    (0.3 + 0.18 * c, 1.5 + 0.18 * c),
                    2.2,
                    2.2,
                    fc=colours[c % 10],
                    ec="k",
                    alpha=0.55,
                )
            )
        ax.text(1.4, 0.8, f"input\nD={d}", ha="center", fontsize=9)
        for f in range(min(n_filters, 4)):  # filters: each k x k x depth
            x0, y0 = 3.8 + 0.55 * f, 4.4 - 1.0 * f
            for c in range(depth):
                colour = colours[(f if depth == 1 else c) % 10]
                side = 0.25 + 0.1 * ksize
                ax.add_patch(
                    Rectangle(
                        (x0 + 0.07 * c, y0 + 0.07 * c), side, side, fc=colour, ec="k", alpha=0.8
                    )
                )
        ax.text(
            4.6, 0.3, f"{n_filters} filter(s)\n{ksize}x{ksize}x{depth}", ha="center", fontsize=9
        )
        for c in range(out_ch):  # output feature map
            ax.add_patch(
                Rectangle(
                    (7.2 + 0.18 * c, 1.5 + 0.18 * c),
                    2.0,
                    2.0,
                    fc=colours[c % 10] if depth == 1 else "0.7",
                    ec="k",
                    alpha=0.6,
                )
            )
        ax.text(8.3, 0.8, f"output\n{out_ch} channels", ha="center", fontsize=9)
        ax.annotate("", xy=(7.0, 2.6), xytext=(6.2, 2.6), arrowprops={"arrowstyle": "->"})
    fig.tight_layout()
    return fig
