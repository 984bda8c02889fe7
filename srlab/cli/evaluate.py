"""``python -m srlab eval msrn|smsrn|tinyunet ...``: a PSNR/SSIM table for shipped or own weights.

MSRN/SMSRN: every evaluation set found (Set5, Set14, B100, BSD68, Urban100, each named by its
folder; B100 and BSD68 are different sets) or the embedded photos, Y channel, ``scale`` pixels
shaved. TinyUNet: the CIFAR-10 test split, RGB on the whole image and Y with 2 pixels shaved,
with CPU ms per image at 1-5 DDIM steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from srlab import pretrained
from srlab.data import benchmark_sources, cifar10_hr
from srlab.degradation import bicubic, make_pairs
from srlab.evaluate import evaluate, evaluate_table, format_table


def run_eval(args: argparse.Namespace) -> dict | list[dict]:
    if args.model in ("tinyunet", "resshift"):
        return eval_tinyunet(args)
    return eval_benchmarks(args)


def eval_benchmarks(args: argparse.Namespace) -> dict:
    """One row per set and model: bicubic and each ``--weights`` (default ``<kind>_x<scale>``)."""
    scale = args.scale or 4
    device = torch.device(args.device or "cpu")
    names = args.weights or [f"{args.model}_x{scale}"]
    models = {Path(w).stem: pretrained.load(w, device, kind=args.model, scale=scale)
              for w in names}
    models = {"bicubic": bicubic(scale), **models}
    print(f"{', '.join(names)}: Y channel, shave {scale}, 8-bit outputs"
          + (f", first {args.limit} images per set" if args.limit else ""))
    results, rows = {}, []
    for set_name, data in benchmark_sources(scale, args.sets).items():
        results[set_name] = {}
        for name, model in models.items():
            res = evaluate(model, data, scale, limit=args.limit, tile=args.tile, device=device,
                           progress=True)
            results[set_name][name] = res
            rows.append({"set": set_name, "name": name, "n": res["n"], "psnr_y": res["psnr_y"],
                         "ssim_y": res["ssim_y"]})
    print(format_table(rows))
    return results


def eval_tinyunet(args: argparse.Namespace) -> list[dict]:
    """Step / Param(M) / ms / PSNR / SSIM on CIFAR-10 test pairs (``--limit`` spread over the
    split) for each ``--weights`` (default: every shipped TinyUNet)."""
    if args.scale not in (None, 2):
        raise ValueError(f"TinyUNet is an x2 model (16x16 -> 32x32), got --scale {args.scale}")
    if args.model == "resshift" and not args.weights:
        raise ValueError("eval resshift: give --weights (no ResShift weights are shipped)")
    names = args.weights or list(pretrained.TINYUNET_NAMES)
    models = {Path(w).stem: pretrained.load(w, kind=args.model) for w in names}
    hr, source = cifar10_hr("test", args.limit)
    pairs = make_pairs(hr.float() / 255, 2)
    print(f"TinyUNet x2 on {source} ({len(hr)} images); PSNR/SSIM: RGB on the whole image, -Y: "
          f"luma with 2 px shaved; 8-bit outputs; ms: CPU per image at batch 1, "
          f"{torch.get_num_threads()} threads")
    rows = evaluate_table(models, pairs, 2, args.n_steps, seed=args.seed)
    print(format_table(rows))
    return rows
