"""``python -m srlab demo``: the course in one minute, offline, on the embedded photos."""

from __future__ import annotations

from pathlib import Path

import torch

from srlab import config, pretrained
from srlab.cost import conv_cost, count_macs, count_params, separable_cost, separable_ratio
from srlab.data import bicubic_down, bicubic_up, embedded_images, mod_crop, quantize
from srlab.layers import DepthwiseSeparableConv2d
from srlab.metrics import psnr, ssim


def bicubic_table(images: dict[str, torch.Tensor], scales: tuple[int, ...] = (2, 4)
                  ) -> list[tuple[str, int, float, float]]:
    """Bicubic baseline per image and scale: (name, scale, PSNR-Y, SSIM-Y), shave = scale."""
    rows = []
    for scale in scales:
        for name, img in images.items():
            hr = mod_crop(img, scale)
            sr = bicubic_up(bicubic_down(hr, scale), scale, quantize=True)
            rows.append((name, scale, psnr(sr, hr, y_channel=True, shave=scale).item(),
                         ssim(sr, hr, y_channel=True, shave=scale).item()))
    return rows


def cost_table(k: int = 3, d: int = 64, n: int = 128, size: int = 64) -> str:
    """Standard vs depthwise-separable conv: formula cost, measured MACs and parameters."""
    standard = torch.nn.Conv2d(d, n, k, padding=k // 2)
    separable = DepthwiseSeparableConv2d(d, n, k)
    shape = (1, d, size, size)
    lines = [f"k={k}, D={d}, N={n}, on a {size}x{size} feature map",
             f"{'':<12}{'MACs/pixel (eq.)':>18}{'MACs (measured)':>18}{'params':>10}"]
    for name, formula, model in (("standard", conv_cost(k, d, n), standard),
                                 ("separable", separable_cost(k, d, n), separable)):
        lines.append(f"{name:<12}{formula:>18,}{count_macs(model, shape):>18,}"
                     f"{count_params(model):>10,}")
    measured = count_macs(separable, shape) / count_macs(standard, shape)
    lines.append(f"ratio: 1/N + 1/k^2 = {separable_ratio(k, n):.4f}, measured {measured:.4f}")
    return "\n".join(lines)


def run_demo(out_dir: str | Path = "outputs") -> Path:
    """Print the environment, bicubic baselines, the conv cost table and the shipped x4
    models on one photo; save the LR | bicubic | MSRN | SMSRN | HR figure."""
    import matplotlib

    matplotlib.use("Agg")
    from srlab.viz import compare

    print(config.describe())
    images = embedded_images()
    print(f"\nembedded photos (scikit-image): {', '.join(images)}")
    print("\nbicubic baseline, PSNR / SSIM on the Y channel, shave = scale")
    print(f"{'image':<20}{'x2':>18}{'x4':>18}")
    rows = bicubic_table(images)
    by_name: dict[str, list[str]] = {}
    for name, _, p, s in rows:
        by_name.setdefault(name, []).append(f"{p:6.2f} / {s:.4f}")
    for name, cells in by_name.items():
        print(f"{name:<20}" + "".join(f"{c:>18}" for c in cells))
    for scale in (2, 4):
        mean_p = sum(r[2] for r in rows if r[1] == scale) / len(images)
        print(f"mean x{scale}: {mean_p:.2f} dB")
    print("\n" + cost_table())

    hr = mod_crop(images["chelsea"], 4)
    lr = bicubic_down(hr, 4)
    outputs = {"bicubic x4": bicubic_up(lr, 4, quantize=True)}
    print("\nshipped x4 models on 'chelsea' (PSNR / SSIM on Y, shave 4):")
    for name in ("msrn_x4", "smsrn_x4"):
        model = pretrained.load(name)
        with torch.no_grad():
            sr = quantize(model(lr))
        outputs[name.replace("_x4", "").upper() + " x4"] = sr
        print(f"{name:<10} {count_params(model):>10,} params  "
              f"{psnr(sr, hr, y_channel=True, shave=4).item():6.2f} dB / "
              f"{ssim(sr, hr, y_channel=True, shave=4).item():.4f}")
    fig = compare(lr, outputs, hr, zoom=(60, 150, 96, 96))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "demo.png"
    fig.savefig(path, dpi=110)
    print(f"\nwrote {path}")
    return path
