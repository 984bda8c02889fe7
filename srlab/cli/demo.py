"""``python -m srlab demo``: the course in one minute, offline, on the embedded photos."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import torch

from srlab import config, pretrained
from srlab.config import output_dir
from srlab.cost import cost_table, count_params
from srlab.data import embedded_images
from srlab.degradation import bicubic_down, bicubic_up, mod_crop, quantize
from srlab.evaluate import bicubic_table
from srlab.metrics import psnr, ssim
from srlab.viz import compare


def run_demo(out_dir: str | Path | None = None) -> Path:
    """Print the environment, bicubic baselines, the conv cost table and the shipped x4
    models on one photo; save the LR | bicubic | MSRN | SMSRN | HR figure."""
    matplotlib.use("Agg")
    print(config.describe())
    images = embedded_images()
    print(f"\nembedded photos (scikit-image): {', '.join(images)}")
    print("\nbicubic baseline, PSNR / SSIM on the Y channel, shave = scale")
    print(f"{'image':<20}{'x2':>18}{'x4':>18}")
    rows = bicubic_table(images)
    by_name: dict[str, list[str]] = {}
    for r in rows:
        by_name.setdefault(r["name"], []).append(f"{r['psnr_y']:6.2f} / {r['ssim_y']:.4f}")
    for name, cells in by_name.items():
        print(f"{name:<20}" + "".join(f"{c:>18}" for c in cells))
    for scale in (2, 4):
        mean_p = sum(r["psnr_y"] for r in rows if r["scale"] == scale) / len(images)
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
    out = Path(out_dir) if out_dir else output_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "demo.png"
    fig.savefig(path, dpi=110)
    print(f"\nwrote {path}")
    return path
