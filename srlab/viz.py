"""Figures for the notebooks: image grids and LR | method | HR comparisons with a zoom."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

from srlab.checks import check_scale
from srlab.degradation import cubic_kernel
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
    metric_names: bool = False,
):
    """LR | each output | HR, with PSNR/SSIM (vs HR) in the titles and an optional zoom row.

    lr: (1, 3, h, w), outputs: name -> (1, 3, H, W), hr: (1, 3, H, W), all in [0, 1].
    ``zoom`` = (top, left, height, width) in HR pixels draws a box and a zoomed crop row.
    Metrics come from ``srlab.metrics`` (Y channel and a ``scale``-pixel shave by default);
    each title says which, e.g. "31.48 dB / 0.8064 (Y, shave 4)", or with ``metric_names``
    "PSNR-Y 31.48 dB, SSIM-Y 0.8064, shave 4". The LR title gives its size as H x W.
    """
    scale = hr.shape[-1] // lr.shape[-1]
    shave = scale if shave is None else shave
    convention = f"{'Y' if y_channel else 'RGB'}, shave {shave}"
    suffix = "-Y" if y_channel else ""
    panels = {"LR (nearest)": _upsample_nearest(lr, hr.shape[-2:])}
    titles = [f"LR {lr.shape[-2]}x{lr.shape[-1]} (x{scale})"]
    for name, out in outputs.items():
        p = psnr(out, hr, y_channel=y_channel, shave=shave).item()
        s = (
            ssim(out, hr, y_channel=y_channel, shave=shave).item()
            if min(hr.shape[-2:]) - 2 * shave >= 11
            else float("nan")
        )
        panels[name] = out
        titles.append(f"{name}\nPSNR{suffix} {p:.2f} dB, SSIM{suffix} {s:.4f}, shave {shave}"
                      if metric_names else f"{name}\n{p:.2f} dB / {s:.4f} ({convention})")
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
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    panels = [
        ("(a) standard: N filters of k x k x D", n, k, d, n),
        ("(b) depthwise: D filters of k x k x 1", d, k, 1, d),
        ("(c) pointwise: N filters of 1 x 1 x D", n, 1, d, n),
    ]
    for ax, (title, n_filters, ksize, depth, out_ch) in zip(axes, panels):
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 6)
        ax.axis("off")
        ax.set_title(title, fontsize=11)
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
        ax.text(1.4, 0.8, f"input\nD={d}", ha="center", fontsize=10)
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
            4.6, 0.3, f"{n_filters} filter(s)\n{ksize}x{ksize}x{depth}", ha="center", fontsize=10
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
        ax.text(8.3, 0.8, f"output\n{out_ch} channels", ha="center", fontsize=10)
        ax.annotate("", xy=(7.0, 2.6), xytext=(6.2, 2.6), arrowprops={"arrowstyle": "->"})
    fig.tight_layout()
    return fig


def show_receptive_fields(lr: torch.Tensor, centre: tuple[int, int], fields: Mapping[str, int],
                          *, patch: int = 25, size: float = 4.2):
    """What one output pixel sees: nested squares of receptive fields drawn on a real LR image.

    lr: (1, 3, h, w) in [0, 1]; ``centre`` = (row, col) of the output pixel in LR pixels;
    ``fields``: label -> width in LR pixels (odd), one square each, centred on that pixel.
    Left: the whole image with the zoomed region boxed; right: ``patch`` x ``patch`` LR
    pixels around ``centre`` (clipped to the image) with a pixel grid and the squares.
    Returns the matplotlib Figure.
    """
    h, w = lr.shape[-2:]
    row, col = centre
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"centre {centre} lies outside the {h}x{w} image")
    if any(not isinstance(k, int) or k < 1 or k % 2 == 0 for k in fields.values()):
        raise ValueError(f"field widths must be odd positive integers, got {dict(fields)}")
    top, left = max(0, min(row - patch // 2, h - patch)), max(0, min(col - patch // 2, w - patch))
    bottom, right = min(h, top + patch), min(w, left + patch)
    fig, (ax_all, ax) = plt.subplots(1, 2, figsize=(2 * size, size))
    ax_all.imshow(to_numpy_image(lr), interpolation="nearest")
    ax_all.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                               color="red", lw=1.5))
    ax_all.set_title(f"LR image, {w}x{h} pixels", fontsize=10)
    ax_all.axis("off")
    extent = (left - 0.5, right - 0.5, bottom - 0.5, top - 0.5)
    ax.imshow(to_numpy_image(lr[..., top:bottom, left:right]), interpolation="nearest",
              extent=extent)
    for x in range(left, right + 1):
        ax.axvline(x - 0.5, color="white", lw=0.3, alpha=0.5)
    for y in range(top, bottom + 1):
        ax.axhline(y - 0.5, color="white", lw=0.3, alpha=0.5)
    colours = ("tab:orange", "tab:green", "tab:blue", "tab:purple", "tab:cyan", "tab:pink")
    for i, (label, k) in enumerate(fields.items()):
        ax.add_patch(Rectangle((col - k / 2, row - k / 2), k, k, fill=False, lw=2,
                               color=colours[i % len(colours)], label=f"{k}x{k}: {label}"))
    ax.plot([col], [row], "s", color="red", ms=4, label="the output pixel")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_title(f"zoom: {right - left}x{bottom - top} LR pixels", fontsize=10)
    ax.axis("off")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def draw_memory_layouts(channels: int = 2, height: int = 3, width: int = 3,
                        centre: tuple[int, int] = (1, 1), k: int = 3):
    """The values of a (1, ``channels``, ``height``, ``width``) tensor holding 0, 1, 2, ... in
    NCHW order, and the order they sit in memory in NCHW (``contiguous``) and NHWC
    (``channels_last``), read from PyTorch's strides (notebook 03).

    Marked in both strips: in red the values one k x k depthwise window centred on pixel
    ``centre`` = (row, column) of channel 0 reads (zero padding: the window is clipped at the
    border), in green the values a 1x1 pointwise conv reads at that pixel (all channels).
    Returns the matplotlib Figure.
    """
    from matplotlib.patches import Circle

    for name, v in (("channels", channels), ("height", height), ("width", width), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"draw_memory_layouts: {name} must be an integer >= 1, got {v!r}")
    if channels * height * width > 48:
        raise ValueError("draw_memory_layouts: at most 48 values fit in a strip, got "
                         f"{channels} x {height} x {width}")
    cy, cx = centre
    if not (0 <= cy < height and 0 <= cx < width):
        raise ValueError(f"draw_memory_layouts: centre {centre} is outside the "
                         f"{height}x{width} image")
    r = k // 2
    window = {(0, y, x) for y in range(max(cy - r, 0), min(cy + r + 1, height))
              for x in range(max(cx - r, 0), min(cx + r + 1, width))}
    pointwise = {(c, cy, cx) for c in range(channels)}
    t = torch.empty(1, channels, height, width)
    layouts = {"NCHW (contiguous)": t.stride(),
               "NHWC (channels_last)": t.contiguous(memory_format=torch.channels_last).stride()}
    colours = ("#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9")  # light
    n = channels * height * width
    fig, ax = plt.subplots(figsize=(max(8.0, 0.55 * (n + 4)), 5.2))

    def cell(x0: float, y0: float, c: int, y: int, x: int) -> None:
        ax.add_patch(Rectangle((x0, y0), 1, 1, fc=colours[c % len(colours)], ec="0.3", lw=0.8))
        ax.text(x0 + 0.5, y0 + 0.5, str(c * height * width + y * width + x), ha="center",
                va="center", fontsize=10)
        if (c, y, x) in window:
            ax.add_patch(Rectangle((x0 + 0.06, y0 + 0.06), 0.88, 0.88, fill=False, ec="tab:red",
                                   lw=2.5))
        if (c, y, x) in pointwise:  # a ring round the value, at the cell's centre
            ax.add_patch(Circle((x0 + 0.5, y0 + 0.5), 0.3, fill=False, ec="tab:green", lw=2.5))

    top = 2 * 2.6 + 0.6  # the planes sit above the two strips
    for c in range(channels):
        x0 = 4 + c * (width + 1)
        ax.text(x0 + width / 2, top + height + 0.3, f"channel {c}", ha="center", fontsize=10)
        for y in range(height):
            for x in range(width):
                cell(x0 + x, top + height - 1 - y, c, y, x)
    for row, (label, (_, sc, sy, sx)) in enumerate(layouts.items()):
        y0 = 2.6 * (1 - row) + 0.4
        ax.text(3.7, y0 + 0.5, label, ha="right", va="center", fontsize=10)
        for c in range(channels):
            for y in range(height):
                for x in range(width):
                    cell(4 + c * sc + y * sy + x * sx, y0, c, y, x)
        ax.text(3.7, y0 + 1.15, "memory offset", ha="right", fontsize=9, color="0.35")
        for i in range(n):
            ax.text(4.5 + i, y0 + 1.15, str(i), ha="center", fontsize=9, color="0.35")
    ax.plot([], [], color="tab:red", lw=2.5,
            label=f"read by one {k}x{k} depthwise window at pixel {tuple(centre)} of channel 0")
    ax.plot([], [], "o", mfc="none", mec="tab:green", mew=2.5, ms=10,
            label=f"read by a 1x1 pointwise conv at pixel {tuple(centre)} (every channel)")
    ax.set_xlim(-1, 4 + n + 0.5)
    ax.set_ylim(-0.5, top + height + 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.02), ncol=1, fontsize=9, frameon=False)
    ax.set_title(f"A (1, {channels}, {height}, {width}) tensor and the order its values sit "
                 "in memory", fontsize=11)
    fig.tight_layout()
    return fig


def stacked_barh(bars: Mapping[str, Mapping[str, float]], xlabel: str, title: str = "",
                 totals: Mapping[str, float] | None = None):
    """Horizontal stacked bars: one bar per entry of ``bars`` (label -> {segment: value}), the
    segments in the order of the first entry, with a legend; the x axis in plain numbers (no
    offset or power-of-ten notation). ``totals``: label -> a measured total drawn as a black
    marker on that bar (for parts timed on their own, whose sum need not be the total).
    Returns the matplotlib Figure."""
    if not bars:
        raise ValueError("stacked_barh: no bars to draw")
    labels = list(bars)
    segments = list(next(iter(bars.values())))
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(labels) + 1.6))
    left = [0.0] * len(labels)
    for i, seg in enumerate(segments):
        values = [float(bars[label].get(seg, 0.0)) for label in labels]
        ax.barh(labels, values, left=left, color=plt.cm.tab10.colors[i % 10], label=seg)
        left = [a + b for a, b in zip(left, values, strict=True)]
    if totals:
        ax.scatter([totals[label] for label in labels if label in totals],
                   [label for label in labels if label in totals], marker="D", s=45,
                   color="black", zorder=3, label="total, timed on its own")
    ax.invert_yaxis()
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def params_vs_psnr(published: Mapping[str, tuple[float, float]],
                   measured: Mapping[str, tuple[float, float]], measured_on: str,
                   n_images: int):
    """Parameters vs x4 PSNR, like the SMSRN paper's Fig. 1: ``published`` name -> (params,
    Set5 PSNR in dB) as blue dots, ``measured`` name -> (params, PSNR) as red stars, measured on
    ``measured_on`` (a set name, or "embedded") with ``n_images`` images. The stars share the
    published points' axes only when they were measured on Set5; otherwise they get their own
    panel, since PSNRs on other images are not comparable. Returns the matplotlib Figure."""
    same = measured_on == "Set5"
    what = "the embedded photos" if measured_on == "embedded" else measured_on
    fig, axes = plt.subplots(1, 1 if same else 2, figsize=(7, 4.5) if same else (12, 4.5),
                             squeeze=False)
    ax_pub, ax_ours = axes[0, 0], axes[0, 0 if same else 1]
    networks = sorted((p, v, name) for name, (p, v) in published.items() if p > 0)
    for i, (p, v, name) in enumerate(networks):  # neighbours' labels alternate, with leaders
        ax_pub.scatter(p / 1e6, v, color="tab:blue")
        ax_pub.annotate(name, (p / 1e6, v), textcoords="offset points", fontsize=9,
                        xytext=(8, 14 if i % 2 == 0 else -18),
                        arrowprops={"arrowstyle": "-", "lw": 0.6, "color": "0.4"})
    for name, (p, v) in published.items():
        if p <= 0:  # a method without parameters (bicubic): a reference line, not a network
            for ax in dict.fromkeys((ax_pub, ax_ours)):
                ax.axhline(v, color="0.5", ls="--", lw=1)
                ax.annotate(f"{name} (no parameters): {v:.2f} dB", (0.02, v),
                            xycoords=("axes fraction", "data"), textcoords="offset points",
                            xytext=(0, 4), fontsize=9, color="0.35")
    for name, (p, v) in measured.items():
        ax_ours.scatter(p / 1e6, v, color="tab:red", marker="*", s=140)
        ax_ours.annotate(f"{name} here ({v:.2f} dB)", (p / 1e6, v), textcoords="offset points",
                         xytext=(5, -12), fontsize=9, color="tab:red")
    ax_pub.scatter([], [], color="tab:blue", label="published networks (x4, Set5)")
    ax_ours.scatter([], [], color="tab:red", marker="*", s=140,
                    label=f"measured here\n(x4, {what}, {n_images} image"
                          f"{'s' if n_images != 1 else ''})")
    for ax in dict.fromkeys((ax_pub, ax_ours)):
        ax.set_xscale("log")
        ax.set_xticks([0.5, 1, 2, 5, 10], ["0.5", "1", "2", "5", "10"])
        ax.set_xlabel("parameters (millions, log scale)")
        ax.set_ylabel("PSNR (dB, Y)")
        ax.set_xlim(0.4, 12)
        ax.margins(y=0.15)
        ax.legend(loc="lower right" if same or ax is ax_pub else "center right", fontsize=9)
    ax_pub.set_title("x4 SR on Set5: parameters vs PSNR" if same else "published: x4 SR on Set5")
    if not same:
        ax_ours.set_title(f"measured here: x4 SR on {what}\n(not Set5, so not comparable with "
                          "the left panel)")
    fig.tight_layout()
    return fig


def plot_cubic_kernels(scale: int = 4, a_values: Sequence[float] = (-0.5, -0.75)):
    """Keys' cubic kernel (``srlab.degradation.cubic_kernel``), and how downsampling uses it.

    Left: w(t) for each ``a`` in ``a_values``. Right: the a = -0.5 kernel stretched for
    x``scale`` downsampling, w(t / s) / s with t in HR pixels, and as dots the weights of the
    4 s HR pixels around one LR pixel centre that it averages (their sum is in the legend; it
    is 1). Returns the matplotlib Figure.
    """

    s = check_scale(scale)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    t = torch.linspace(-2.5, 2.5, 501, dtype=torch.float64)
    for a in a_values:
        axes[0].plot(t, cubic_kernel(t, a), label=f"a = {a}")
    axes[0].set(xlabel="distance from the output sample (input pixels)", ylabel="weight",
                title="Keys cubic kernel")
    t_hr = t * s
    taps = torch.arange(-2 * s, 2 * s, dtype=torch.float64) + 0.5  # HR pixel centres
    weights = cubic_kernel(taps / s) / s
    axes[1].plot(t_hr, cubic_kernel(t_hr / s) / s, label=f"stretched by s = {s}: w(t/s)/s")
    axes[1].plot(taps, weights, "o", ms=4, color="C0",
                 label=f"its {len(taps)} HR pixels' weights (sum {weights.sum():.3f})")
    axes[1].set(xlabel="distance from the LR pixel centre (HR pixels)",
                ylabel="weight per HR pixel", title=f"a = -0.5, for x{s} downsampling")
    axes[0].legend(fontsize=10)
    axes[1].legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                   frameon=False)  # below the panel, off the curve
    for ax in axes:
        ax.axhline(0, color="k", lw=0.5)
    fig.tight_layout()
    return fig


def _as_2d_map(value_map: torch.Tensor) -> torch.Tensor:
    """(H, W), (1, H, W) or (1, 1, H, W) -> the (H, W) map, detached; else a clear error."""
    m = value_map.detach()
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"value_map: expected (H, W), (1, H, W) or (1, 1, H, W), got shape "
                         f"{tuple(value_map.shape)}")
    return m


def show_map(value_map: torch.Tensor, *, image: torch.Tensor | None = None, title: str = "",
             label: str = "", cmap: str = "magma", vmin: float | None = None,
             vmax: float | None = None, size: float = 4.0):
    """A per-pixel map (a local SSIM, a difference) as colours with a colour bar.

    value_map: (H, W), (1, H, W) or (1, 1, H, W). ``image`` (1, 3, H', W') in [0, 1], when
    given, is shown on the left, centre-cropped to the map's H x W: a map over "valid"
    windows (SSIM's 11x11) is smaller than its image, and the crop shows exactly the pixels
    it covers. Returns the matplotlib Figure.
    """
    m = _as_2d_map(value_map)
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    h, w = m.shape
    ncols = 1 if image is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(size * ncols + 1, size * h / w + 0.8),
                             squeeze=False)  # each panel ``size`` inches wide
    if image is not None:
        top, left = (image.shape[-2] - h) // 2, (image.shape[-1] - w) // 2
        if top < 0 or left < 0:
            raise ValueError(f"image {tuple(image.shape[-2:])} is smaller than the map {(h, w)}")
        crop = image[..., top:top + h, left:left + w]
        axes[0, 0].imshow(to_numpy_image(crop), interpolation="nearest")
        axes[0, 0].set_title("image (the pixels the map covers)", fontsize=10)
        axes[0, 0].axis("off")
    ax = axes[0, -1]
    shown = ax.imshow(m.float().cpu().numpy(), cmap=cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    bar = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.08)  # as tall as the map
    fig.colorbar(shown, cax=bar, label=label)
    fig.tight_layout()
    return fig


def show_corner(value_map: torch.Tensor, size: int = 32, *, lines: Mapping[str, int] | None = None,
                title: str = "", label: str = "", cmap: str = "inferno", scale: float = 4.0):
    """The top-left ``size`` x ``size`` corner of a per-pixel map (e.g. the difference of two
    images), with a colour bar and, for each entry of ``lines`` (label -> width d in pixels),
    the inner edge of the frame of width d along the top and left borders: an L whose corner
    sits at pixel (d, d). For "where do two images differ, and does a d-pixel shave remove
    it?" value_map: (H, W), (1, H, W) or (1, 1, H, W), H and W at least ``size``. Returns the
    matplotlib Figure."""
    m = _as_2d_map(value_map)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= min(m.shape):
        raise ValueError(f"size must be an integer from 1 to {min(m.shape)} (the map is "
                         f"{m.shape[0]}x{m.shape[1]}), got {size!r}")
    lines = dict(lines or {})
    if any(isinstance(d, bool) or not isinstance(d, int) or not 0 < d < size
           for d in lines.values()):
        raise ValueError(f"line widths must be integers from 1 to {size - 1}, got {lines}")
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    fig, ax = plt.subplots(figsize=(scale + 1.2, scale + 0.6))
    shown = ax.imshow(m[:size, :size].float().cpu().numpy(), cmap=cmap, interpolation="nearest")
    styles = ("-", "--", ":", "-.")
    for i, (name, d) in enumerate(lines.items()):
        ax.plot([d - 0.5, d - 0.5, size - 0.5], [size - 0.5, d - 0.5, d - 0.5],
                color=("tab:cyan", "limegreen")[i % 2], lw=2, ls=styles[i % len(styles)],
                label=name)
    ax.set(xlim=(-0.5, size - 0.5), ylim=(size - 0.5, -0.5), xlabel="column (pixels)",
           ylabel="row (pixels)")
    ax.set_title(title, fontsize=10)
    if lines:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(lines), fontsize=9,
                  frameon=False)
    bar = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.08)
    fig.colorbar(shown, cax=bar, label=label)
    fig.tight_layout()
    return fig


def show_field_masks(masks: Mapping[str, torch.Tensor], *, size: float = 3.2):
    """Receptive-field masks (e.g. from ``srlab.models.msrn.receptive_field``) with a pixel grid.

    ``masks``: title -> (H, W) bool or 0/1 tensor, white where an input pixel reaches the centre
    output pixel. Each panel has one grid line per pixel, ticks every 5 pixels counted from the
    centre pixel (outlined in red), so the window's width can be counted. Returns the Figure.
    """
    if not masks:
        raise ValueError("show_field_masks: no masks to show")
    fig, axes = plt.subplots(1, len(masks), figsize=(size * len(masks), size + 0.3),
                             squeeze=False)
    for ax, (title, mask) in zip(axes.flat, masks.items()):
        if mask.ndim != 2:
            raise ValueError(f"show_field_masks: mask {title!r} must be (H, W), got shape "
                             f"{tuple(mask.shape)}")
        h, w = mask.shape
        cy, cx = h // 2, w // 2
        ax.imshow(mask.detach().float().cpu().numpy(), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        for x in range(w + 1):
            ax.axvline(x - 0.5, color="0.5", lw=0.4)
        for y in range(h + 1):
            ax.axhline(y - 0.5, color="0.5", lw=0.4)
        ax.add_patch(Rectangle((cx - 0.5, cy - 0.5), 1, 1, fill=False, ec="tab:red", lw=1.5))
        ax.set_xticks([cx + d for d in range(-(cx // 5) * 5, w - cx, 5)])
        ax.set_xticklabels([str(d) for d in range(-(cx // 5) * 5, w - cx, 5)], fontsize=8)
        ax.set_yticks([cy + d for d in range(-(cy // 5) * 5, h - cy, 5)])
        ax.set_yticklabels([str(d) for d in range(-(cy // 5) * 5, h - cy, 5)], fontsize=8)
        ax.tick_params(length=2)
        ax.set_title(title, fontsize=10)
    axes[0, 0].set_ylabel("pixels from the centre", fontsize=9)
    fig.tight_layout()
    return fig


def draw_msrb(n_feats: int = 64):
    """A multi-scale residual block as boxes and arrows (notebook 02, section 2).

    The input x goes into a 3x3 and a 5x5 path (conv + ReLU each); both outputs are
    concatenated and the concatenation feeds *both* second-stage convs (the exchange); their
    outputs are concatenated again, a 1x1 conv maps them back to ``n_feats`` channels, and x is
    added (the skip). The arrows carry the channel counts for ``n_feats``. Returns the Figure.
    """
    from matplotlib.patches import FancyBboxPatch

    if isinstance(n_feats, bool) or not isinstance(n_feats, int) or n_feats < 1:
        raise ValueError(f"draw_msrb: n_feats must be an integer >= 1, got {n_feats!r}")
    n = n_feats
    fig, ax = plt.subplots(figsize=(12, 3.8))
    boxes = {  # name: (centre x, centre y, text, face colour)
        "x": (0.5, 0, "x", "0.9"),
        "s1": (2.6, 1.1, "3x3 conv\n+ ReLU: $S_1$", "#fdd0a2"),
        "p1": (2.6, -1.1, "5x5 conv\n+ ReLU: $P_1$", "#c6dbef"),
        "c1": (4.8, 0, "concat\n$[S_1, P_1]$", "0.85"),
        "s2": (7.0, 1.1, "3x3 conv\n+ ReLU: $S_2$", "#fdd0a2"),
        "p2": (7.0, -1.1, "5x5 conv\n+ ReLU: $P_2$", "#c6dbef"),
        "c2": (9.2, 0, "concat\n$[S_2, P_2]$", "0.85"),
        "fuse": (11.2, 0, "1x1 conv", "#c7e9c0"),
        "add": (12.75, 0, "+", "white"),
        "out": (14.0, 0, "M", "0.9"),
    }
    half = {"x": 0.35, "add": 0.25, "out": 0.35}
    for name, (x, y, text, colour) in boxes.items():
        w = 2 * half.get(name, 0.75)
        ax.add_patch(FancyBboxPatch((x - w / 2, y - 0.38), w, 0.76, fc=colour, ec="0.3",
                                    boxstyle="round,pad=0.02,rounding_size=0.15"))
        ax.text(x, y, text, ha="center", va="center", fontsize=10 if name != "add" else 14)

    def arrow(a: str, b: str, label: str = "") -> None:
        (xa, ya), (xb, yb) = boxes[a][:2], boxes[b][:2]
        start = (xa + half.get(a, 0.75), ya)
        end = (xb - half.get(b, 0.75), yb)
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "lw": 1.2})
        if label:
            ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.12, label, ha="center",
                    fontsize=8, color="0.25")

    for a, b, ch in (("x", "s1", n), ("x", "p1", n), ("s1", "c1", n), ("p1", "c1", n),
                     ("c1", "s2", 2 * n), ("c1", "p2", 2 * n), ("s2", "c2", 2 * n),
                     ("p2", "c2", 2 * n), ("c2", "fuse", 4 * n), ("fuse", "add", n),
                     ("add", "out", n)):
        arrow(a, b, str(ch))
    top = 2.0  # the skip runs above the block
    ax.plot([boxes["x"][0], boxes["x"][0], boxes["add"][0]], [0.38, top, top], color="0.3",
            lw=1.2)
    ax.annotate("", xy=(boxes["add"][0], 0.38), xytext=(boxes["add"][0], top),
                arrowprops={"arrowstyle": "->", "lw": 1.2, "color": "0.3"})
    ax.text(6.6, top + 0.1, f"skip: x itself ({n} channels) is added at the end", ha="center",
            fontsize=9, color="0.25")
    ax.text(4.8, -1.25, "the exchange: both\nsecond-stage convs\nread both paths", ha="center",
            va="center", fontsize=8, color="0.25")
    for x, text in ((2.6, "stage 1"), (7.0, "stage 2"), (11.2, "fusion")):
        ax.text(x, -1.85, text, ha="center", fontsize=9, style="italic")
    ax.set_xlim(-0.2, 14.6)
    ax.set_ylim(-2.2, 2.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"A multi-scale residual block (MSRB), n = {n} features; the numbers on the "
                 "arrows are channels", fontsize=11)
    fig.tight_layout()
    return fig


def plot_loss(history: Mapping[str, Sequence[float]], *, title: str = "", log: bool = True,
              ylabel: str = "L1 loss, mean |SR - HR|"):
    """A training loss curve: ``history["loss"]`` against ``history["step"]`` (as returned by
    ``srlab.train.fit``), one marker per logged point. With ``log`` the y axis is logarithmic
    (equal drops are equal factors) and its ticks read as plain numbers (0.05, not 5 x 10^-2).
    Returns the matplotlib Figure."""
    from matplotlib.ticker import FuncFormatter

    steps, loss = list(history.get("step", [])), list(history.get("loss", []))
    if not loss or len(steps) != len(loss):
        raise ValueError(f"plot_loss: history needs 'step' and 'loss' lists of one non-zero "
                         f"length, got {len(steps)} steps and {len(loss)} losses")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(steps, loss, marker="o")
    ax.set(xlabel="training step", ylabel=ylabel + (" (log scale)" if log else ""), title=title)
    if log:
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    fig.tight_layout()
    return fig


def draw_sr_network(separable: bool = True, n_blocks: int = 8, scale: int = 4):
    """MSRN (``separable=False``) or SMSRN (``separable=True``) as a row of boxes, input to
    output (notebook 03, section 2): head -> ``n_blocks`` (S)MSRBs -> fusion -> upsampler
    (conv, PixelShuffle x2, per factor 2 of an x4 ``scale``) -> reconstruction. The layers SMSRN
    makes depthwise-separable are orange, the standard ones green, PixelShuffle (no
    parameters) grey; under each box the resolution it runs at (LR, or its side relative to
    the LR side). Returns the matplotlib Figure."""
    from matplotlib.patches import FancyBboxPatch

    if scale not in (2, 3, 4):
        raise ValueError(f"draw_sr_network: scale must be 2, 3 or 4, got {scale!r}")
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 1:
        raise ValueError(f"draw_sr_network: n_blocks must be an integer >= 1, got {n_blocks!r}")
    swapped, kept, free = "#fdd0a2", "#c7e9c0", "0.88"
    head = "head\n3x3 conv" + ("\nseparable" if separable else "")
    blocks = f"{n_blocks} {'SMSRB' if separable else 'MSRB'}s\n3x3, 5x5 convs" + (
        "\nseparable" if separable else "")
    steps = [(2, 2)] * 2 if scale == 4 else [(scale, scale)]
    boxes = [("LR image", "0.95", "LR"), (head, swapped if separable else kept, "LR"),
             (blocks, swapped if separable else kept, "LR"),
             ("fusion\n1x1 + 3x3\nconvs", kept, "LR")]
    side = 1
    for i, (_, f) in enumerate(steps):
        label = "LR" if side == 1 else f"{side}x side"
        boxes.append((f"upsampler\nconv {i + 1}", kept, label))
        side *= f
        boxes.append((f"Pixel-\nShuffle x{f}", free, f"-> {side}x side"))
    boxes += [("recon-\nstruction\n3x3 conv", kept, f"{side}x side (HR)"),
              ("SR image", "0.95", f"{side}x side")]
    fig, ax = plt.subplots(figsize=(1.35 * len(boxes) + 1, 3.0))
    for i, (text, colour, where) in enumerate(boxes):
        x = 1.35 * i
        ax.add_patch(FancyBboxPatch((x - 0.55, -0.55), 1.1, 1.1, fc=colour, ec="0.3",
                                    boxstyle="round,pad=0.02,rounding_size=0.1"))
        ax.text(x, 0, text, ha="center", va="center", fontsize=8.5)
        ax.text(x, -0.8, where, ha="center", va="center", fontsize=8.5, color="0.25")
        if i:
            ax.annotate("", xy=(x - 0.57, 0), xytext=(x - 0.78, 0),
                        arrowprops={"arrowstyle": "->", "lw": 1.2})
    for colour, label in ((swapped, "made depthwise-separable in SMSRN"),
                          (kept, "standard conv (kept in SMSRN)"),
                          (free, "no parameters")):
        ax.add_patch(Rectangle((0, 0), 0, 0, fc=colour, ec="0.3", label=label))
    ax.set_xlim(-0.8, 1.35 * (len(boxes) - 1) + 0.8)
    ax.set_ylim(-1.5, 0.7)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(loc="lower center", ncol=3, fontsize=9, frameon=False)
    ax.set_title(f"{'SMSRN' if separable else 'MSRN'} x{scale}: each layer and the resolution "
                 "it runs at", fontsize=11)
    fig.tight_layout()
    return fig
