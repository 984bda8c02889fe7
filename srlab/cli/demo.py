"""``python -m srlab demo``: the course in one minute, offline: the x4 networks on an embedded
photo, then x2 diffusion SR (regression vs two diffusion seeds) on CIFAR-10 and photo thumbnails
and the few-step comparison table."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib
import torch

from srlab import config, pretrained
from srlab.compare import TABLE_COLUMNS, method_rows, row_methods, shipped_rows
from srlab.config import output_dir
from srlab.cost import cost_table, count_params
from srlab.data import cifar10_hr, embedded_images
from srlab.degradation import bicubic_down, bicubic_up, make_pairs, mod_crop, quantize
from srlab.evaluate import bicubic_table, format_table
from srlab.metrics import psnr, ssim
from srlab.viz import compare, show_images


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
    diffusion_demo(images, out)
    return path


def diffusion_demo(images: dict[str, torch.Tensor], out: Path, n_table: int = 200) -> Path:
    """x2 SR of three CIFAR-10 test images and two 64x64 photo thumbnails: LR | bicubic |
    regression | 5-step diffusion (s = 1/std, two seeds) | HR, from the shipped comparison
    rows; then their table on the first ``n_table`` test images. Writes demo_diffusion.png."""
    t0 = time.perf_counter()
    hr_uint8, source = cifar10_hr("test", limit=n_table, verbose=False)
    lr_test, hr_test = make_pairs(hr_uint8.float() / 255, 2)
    nets = shipped_rows()
    regression, diffusion = nets["regression"], nets["sr3_linear"]
    thumbs = [bicubic_down(mod_crop(images[name], 4)[..., :256, :256], 4, quantize=True)
              for name in ("chelsea", "astronaut")]  # 64x64 HR: CIFAR-like scale
    pairs = [(lr_test[i:i + 1], hr_test[i:i + 1]) for i in range(min(3, len(hr_test)))]
    pairs += [make_pairs(t, 2) for t in thumbs]
    titles = ["LR", "bicubic", "regression", "diffusion, seed 0", "diffusion, seed 1", "HR"]
    cells, labels = [], []
    with torch.no_grad():
        for row, (lr, hr) in enumerate(pairs):
            cells += [lr, bicubic_up(lr, 2, quantize=True), quantize(regression.upscale(lr)),
                      quantize(diffusion.upscale(lr, steps=5, seed=0)),
                      quantize(diffusion.upscale(lr, steps=5, seed=1)), hr]
            labels += titles if row == 0 else [""] * len(titles)
    fig = show_images(cells, labels, ncols=len(titles), size=1.6)
    path = out / "demo_diffusion.png"
    fig.savefig(path, dpi=110)
    print(f"\nx2 diffusion SR ({len(pairs) - 2} CIFAR-10 test images from {source}, 2 photo "
          f"thumbnails): wrote {path}")
    rows = method_rows(row_methods(nets), (lr_test, hr_test), repeats=5, diversity_images=100)
    print(f"\nthe few-step comparison (shipped rows, one training budget) on {len(hr_test)} test "
          "images; ms: batch 1, 2 CPU threads; python -m srlab bench diffusion-sr prints it on "
          "the whole test split:")
    print(format_table(rows, TABLE_COLUMNS))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return path
