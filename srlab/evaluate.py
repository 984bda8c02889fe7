"""Evaluation: any model on any test data, one result format, and the tables built from it.

``evaluate(model, data, scale)`` clamps and rounds the model's output to 8 bits and scores it
against HR twice, so every table can say which convention it reports:

- ``psnr_y`` / ``ssim_y``: BT.601 luma with ``shave`` (default ``scale``) border pixels
  removed, the SR-paper convention (MSRN, SMSRN and their benchmark tables);
- ``psnr_rgb`` / ``ssim_rgb``: all three channels of the whole image (the TinyUNet paper's
  CIFAR-10 convention);
- ``hf_ratio``: the SR images' share of spectral energy above what the LR image can hold,
  over the HR images' share, pooled over the whole set (``srlab.metrics.hf_ratio``; 1 = as
  much fine detail as the real images). ``evaluate_table`` adds ``diversity`` for samplers
  and, on 32x32 images, ``fd`` (FD-CIFAR: the Fréchet distance between SR and HR images in the
  feature space of the course's CIFAR-10 classifier; not FID, not comparable with it).

``SMSRN_PAPER_X4`` holds the SMSRN paper's Table 1 and ``paper_comparison`` sets our MSRN and
SMSRN next to it, set by set.

Taught in notebooks 00 (the conventions), 02-03 (benchmark sets) and 05 (CIFAR-10).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from srlab import config, data, pretrained
from srlab.checks import check_image, check_int, check_scale
from srlab.cost import count_params, measure_latency
from srlab.degradation import BORDERS, bicubic, bicubic_down, bicubic_up, mod_crop, quantize
from srlab.metrics import diversity, frechet_distance, high_frequency_energy, psnr, ssim

Model = Callable[[torch.Tensor], torch.Tensor]
METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


def forward_tiled(model: Model, lr: torch.Tensor, scale: int, tile: int | None = None,
                  overlap: int = 8) -> torch.Tensor:
    """``model(lr)`` for (N, C, h, w), cut into ``tile`` x ``tile`` LR tiles when given.

    Tiles overlap by ``overlap`` LR pixels and the overlaps are averaged, so memory stays
    bounded for big images. Returns (N, C, h*scale, w*scale).
    """
    h, w = lr.shape[-2:]
    if tile is None or (h <= tile and w <= tile):
        return model(lr)
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")

    def starts(size: int) -> list[int]:
        t = min(tile, size)
        pos = list(range(0, size - t + 1, tile - overlap))
        return pos if pos[-1] + t == size else pos + [size - t]

    out = weight = None
    for top in starts(h):
        for left in starts(w):
            th, tw = min(tile, h), min(tile, w)
            piece = model(lr[..., top : top + th, left : left + tw])
            if out is None:
                out = piece.new_zeros(*piece.shape[:2], h * scale, w * scale)
                weight = piece.new_zeros(1, 1, h * scale, w * scale)
            region = (..., slice(top * scale, (top + th) * scale),
                      slice(left * scale, (left + tw) * scale))
            out[region] += piece
            weight[region] += 1
    return out / weight


def iter_batches(data, scale: int, batch_size: int = 500
                 ) -> Iterator[tuple[list[str], torch.Tensor, torch.Tensor]]:
    """(names, lr (B, 3, h, w), hr (B, 3, h*s, w*s)) batches from any test data:

    - a tuple ``(lr, hr)`` of batched tensors (e.g. CIFAR-10), cut into ``batch_size`` chunks;
    - a Dataset of (lr, hr) pairs (e.g. ``benchmark_set``), one image at a time;
    - HR images as a dict name -> (1, 3, H, W) or a list, LR made here (mod-crop + bicubic).
    """
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        lr, hr = data
        for i in range(0, len(lr), batch_size):
            names = [str(k) for k in range(i, min(i + batch_size, len(lr)))]
            yield names, lr[i : i + batch_size], hr[i : i + batch_size]
        return
    if isinstance(data, Mapping) or (isinstance(data, list | tuple)
                                     and all(isinstance(x, torch.Tensor) for x in data)):
        items = data.items() if isinstance(data, Mapping) else enumerate(data)
        for name, hr in items:
            hr = check_image(hr if hr.ndim == 4 else hr.unsqueeze(0), f"image {name}")
            hr = mod_crop(hr, scale)
            yield [str(name)], bicubic_down(hr, scale), hr
        return
    names = getattr(data, "names", None)
    for i in range(len(data)):
        lr, hr = data[i]
        yield [names[i] if names else str(i)], lr.unsqueeze(0), hr.unsqueeze(0)


def evaluate(model: Model, data, scale: int | None = None, *, shave: int | None = None,
             tile: int | None = None, batch_size: int = 500, limit: int | None = None,
             device: str | torch.device | None = None, progress: bool = False,
             fd_features: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict:
    """PSNR/SSIM of ``model`` (any callable lr -> sr, e.g. a network or ``bicubic(4)``).

    data: see ``iter_batches``. ``scale`` defaults to ``model.scale``. Outputs are clamped and
    quantised to 8 bits. ``tile`` (LR pixels) bounds memory on big images; ``limit`` scores
    the first ``limit`` images only. Returns {"names", "per_image": {metric: [...]},
    "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb" (means), "hf_ratio" (band 1 / (2 scale)
    cycles/pixel: what the LR image cannot hold), "fd" (Fréchet distance between the
    ``fd_features(x) -> (N, D)`` of the SR and of the HR images, when given, else None),
    "n", "scale", "shave"}.
    """
    model_scale = getattr(model, "scale", None)
    scale = check_scale(scale if scale is not None else model_scale)
    if model_scale is not None and model_scale != scale:
        raise ValueError(f"the model is a x{model_scale} network, but the evaluation scale is "
                         f"x{scale}; evaluate with scale={model_scale} or load x{scale} weights")
    shave = scale if shave is None else check_int(shave, "shave", minimum=0)
    if limit is not None:
        limit = check_int(limit, "limit", minimum=1)
    if device is None:
        param = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
        device = param.device if param is not None else torch.device("cpu")
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    names: list[str] = []
    per_image: dict[str, list[float]] = {m: [] for m in METRICS}
    energy = torch.zeros(4, dtype=torch.float64)  # high / total, of SR and of HR
    feats_sr: list[torch.Tensor] = []
    feats_hr: list[torch.Tensor] = []
    with torch.no_grad():
        for batch_names, lr, hr in tqdm(iter_batches(data, scale, batch_size),
                                        disable=not progress, leave=False):
            if limit is not None and len(names) >= limit:
                break
            if hr.shape[-2:] != (lr.shape[-2] * scale, lr.shape[-1] * scale):
                raise ValueError(f"test pair {batch_names[0]} is lr {tuple(lr.shape[-2:])} / hr "
                                 f"{tuple(hr.shape[-2:])}, which is not x{scale}")
            lr, hr = lr.to(device), hr.to(device)
            sr = forward_tiled(model, lr, scale, tile).float()
            if sr.shape != hr.shape:
                raise ValueError(f"model output {tuple(sr.shape)} does not match the HR image "
                                 f"{tuple(hr.shape)} of {batch_names[0]} at scale x{scale}")
            sr = quantize(sr)
            if limit is not None and len(names) + len(batch_names) > limit:
                keep = limit - len(names)
                sr, hr, batch_names = sr[:keep], hr[:keep], batch_names[:keep]
            energy += torch.stack([*high_frequency_energy(sr, 0.5 / scale),
                                   *high_frequency_energy(hr, 0.5 / scale)]).cpu()
            if fd_features is not None:
                feats_sr.append(fd_features(sr).double().cpu())
                feats_hr.append(fd_features(hr).double().cpu())
            names += batch_names
            for metric, fn in (("psnr", psnr), ("ssim", ssim)):
                per_image[f"{metric}_y"] += fn(sr, hr, y_channel=True, shave=shave,
                                               reduction="none").tolist()
                per_image[f"{metric}_rgb"] += fn(sr, hr, reduction="none").tolist()
    if was_training:
        model.train()
    if not names:
        raise ValueError("evaluate: the test data is empty")
    if limit is not None:
        names, per_image = names[:limit], {k: v[:limit] for k, v in per_image.items()}
    means = {k: sum(v) / len(v) for k, v in per_image.items()}
    share_sr = float(energy[0] / energy[1]) if energy[1] > 0 else 0.0  # a flat SR image: 0
    hf = share_sr / float(energy[2] / energy[3]) if energy[2] > 0 else None
    fd = None
    if fd_features is not None:
        fd = float(frechet_distance(torch.cat(feats_sr), torch.cat(feats_hr)))
    return {"names": names, "per_image": per_image, **means, "hf_ratio": hf, "fd": fd,
            "n": len(names), "scale": scale, "shave": shave}


FD_CIFAR_WEIGHTS = "cifar10_classifier"  # the shipped network whose features define FD-CIFAR


def fd_cifar_features(device: str | torch.device = "cpu"
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The shipped CIFAR-10 classifier's ``features``: (N, 3, 32, 32) in [0, 1] -> (N, D),
    for ``evaluate(..., fd_features=...)`` (FD-CIFAR)."""
    return pretrained.load(FD_CIFAR_WEIGHTS, device, kind="cifar_classifier").features


def cpu_latency_ms(model: Model, lr_size: int = 16, batch: int = 1, repeats: int = 50,
                   seed: int = 0) -> float:
    """Median milliseconds per image of ``model`` on a random (batch, 3, lr_size, lr_size)
    input on the CPU (for a diffusion sampler: the whole sampler, bicubic included)."""
    x = torch.rand(batch, 3, lr_size, lr_size, generator=torch.Generator().manual_seed(seed))
    return measure_latency(model, x, warmup=min(5, repeats), repeats=repeats).median_ms / batch


def sample_diversity(sample: Callable[[torch.Tensor, int], torch.Tensor], lr: torch.Tensor,
                     seeds: Sequence[int]) -> float:
    """``srlab.metrics.diversity`` of the 8-bit outputs of ``sample(lr, seed)`` for the LR batch
    ``lr`` (N, 3, h, w), one per seed (at least 2): 0 for a sampler that ignores its noise."""
    return float(diversity(torch.stack([quantize(sample(lr, s).float()) for s in seeds])))


def evaluate_table(models: Mapping[str, nn.Module], data, scale: int = 2,
                   n_steps: Sequence[int] = (1, 2, 3, 4, 5), *, timing: bool = True,
                   repeats: int = 50, seed: int = 0, progress: bool = True,
                   diversity_seeds: int = 4, diversity_images: int = 250,
                   fd_cifar: bool = True) -> list[dict]:
    """One row per model (and per entry of ``n_steps`` for diffusion models), bicubic first:
    {"name", "steps", "params_m", "ms", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb",
    "hf_ratio", "diversity", "fd"}.

    ``ms``: CPU median per image at batch 1 on 16x16 LR inputs when ``timing`` (the
    TinyUNet paper's measure), else NaN. Diffusion samplers draw x_T from ``seed``.
    ``diversity`` (samplers only, else None): over the first ``diversity_images`` test
    images, ``diversity_seeds`` samples each (seeds ``seed`` ...; 0 or 1 seed: not measured).
    ``fd``: FD-CIFAR (``fd_cifar_features``) of all test images when ``fd_cifar``, else None;
    with fewer test images than features it is biased upwards, so compare rows of one table.
    """
    entries: list[tuple[str, int, Model, int]] = [("bicubic", 0, bicubic(scale), 0)]
    for name, model in models.items():
        model.eval()
        if getattr(model, "is_diffusion", False):  # step_counts: a chain of fixed length
            entries += [(name, s, model.sampler(steps=s, seed=seed), count_params(model))
                        for s in getattr(model, "step_counts", None) or n_steps]
        else:
            entries.append((name, 1, model, count_params(model)))
    rows = []
    lr_few = next(iter_batches(data, scale, diversity_images))[1] if diversity_seeds > 1 else None
    fd_features = fd_cifar_features() if fd_cifar else None
    for name, steps, model, params in entries:
        t0 = time.perf_counter()
        res = evaluate(model, data, scale, fd_features=fd_features)
        ms = cpu_latency_ms(model, repeats=repeats) if timing else float("nan")
        net = models.get(name)
        spread = None
        if lr_few is not None and getattr(net, "is_diffusion", False):
            device = next(net.parameters()).device
            spread = sample_diversity(
                lambda lr, s, net=net, n=steps: net.upscale(lr, steps=n, seed=s),
                lr_few[:diversity_images].to(device), range(seed, seed + diversity_seeds))
        rows.append({"name": name, "steps": steps, "params_m": params / 1e6, "ms": ms,
                     **{m: res[m] for m in METRICS}, "hf_ratio": res["hf_ratio"],
                     "diversity": spread, "fd": res["fd"]})
        if progress:
            print(f"  {name} ({steps} steps): PSNR {res['psnr_rgb']:.2f} dB "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return rows


def bicubic_table(images: Mapping[str, torch.Tensor], scales: Sequence[int] = (2, 4)
                  ) -> list[dict]:
    """The bicubic baseline per image and scale: {"name", "scale", "psnr_y", "ssim_y"}."""
    rows = []
    for scale in scales:
        res = evaluate(bicubic(scale), images, scale)
        rows += [{"name": name, "scale": scale, "psnr_y": p, "ssim_y": s} for name, p, s in
                 zip(res["names"], res["per_image"]["psnr_y"], res["per_image"]["ssim_y"],
                     strict=True)]
    return rows


# The SMSRN paper's Table 1 (Kim, Kang, Lee, 2021): x4, PSNR (dB) / SSIM on the Y channel, MSRN
# and SMSRN trained alike on DIV2K for 500 epochs. The paper's 98.53% is the ratio of the
# rounded 4-set averages (28.22 / 28.64 dB); per set it goes from 97.29% (Urban100) to 99.20%
# (B100), which is why a ratio is only ever compared with the paper's for the same set.
SMSRN_PAPER_X4: dict[str, dict[str, tuple[float, float]]] = {
    "Set5": {"MSRN": (32.16, 0.8642), "SMSRN": (31.73, 0.8558)},
    "Set14": {"MSRN": (28.63, 0.7460), "SMSRN": (28.30, 0.7354)},
    "B100": {"MSRN": (27.61, 0.7139), "SMSRN": (27.39, 0.7051)},
    "Urban100": {"MSRN": (26.16, 0.7679), "SMSRN": (25.45, 0.7423)},
}


def paper_comparison(psnr: Mapping[str, Mapping[str, float | Mapping]],
                     paper: Mapping[str, Mapping[str, tuple[float, float]]] = SMSRN_PAPER_X4
                     ) -> list[dict]:
    """Our SMSRN vs MSRN next to the paper's, one row per set, never averaged over sets.

    ``psnr``: set name -> {"MSRN": ..., "SMSRN": ...}, each a PSNR in dB or an ``evaluate``
    result (its ``psnr_y`` and ``n`` are used). Returns rows {"set", "n" (images, None when
    not known), "psnr_msrn", "psnr_smsrn", "ratio" (SMSRN/MSRN PSNR), "gap_db" (MSRN - SMSRN),
    "paper_msrn", "paper_smsrn", "paper_ratio", "paper_gap_db"}; the paper's entries are None
    for a set the paper does not report (e.g. BSD68 or the embedded photos).
    """
    rows = []
    for set_name, res in psnr.items():
        if "MSRN" not in res or "SMSRN" not in res:
            raise ValueError(f"paper_comparison: set {set_name!r} needs both 'MSRN' and 'SMSRN', "
                             f"got {sorted(res)}")
        ours = {k: v["psnr_y"] if isinstance(v, Mapping) else float(v)
                for k, v in res.items() if k in ("MSRN", "SMSRN")}
        n = res["MSRN"].get("n") if isinstance(res["MSRN"], Mapping) else None
        row = {"set": set_name, "n": n, "psnr_msrn": ours["MSRN"], "psnr_smsrn": ours["SMSRN"],
               "ratio": ours["SMSRN"] / ours["MSRN"], "gap_db": ours["MSRN"] - ours["SMSRN"],
               "paper_msrn": None, "paper_smsrn": None, "paper_ratio": None, "paper_gap_db": None}
        if set_name in paper:
            pm, ps = paper[set_name]["MSRN"][0], paper[set_name]["SMSRN"][0]
            row.update(paper_msrn=pm, paper_smsrn=ps, paper_ratio=ps / pm, paper_gap_db=pm - ps)
        rows.append(row)
    return rows


def format_paper_comparison(rows: Sequence[Mapping]) -> str:
    """``paper_comparison`` rows as a table under two lines saying what the columns are."""
    return ("x4 PSNR-Y (dB), set by set: SMSRN/MSRN = ratio of the PSNRs, gap = MSRN - SMSRN\n"
            "paper = the SMSRN paper's Table 1 (full DIV2K training); '-': a set it does not "
            "report\n" + format_table(rows))


def paper_verdict(rows: Sequence[Mapping]) -> str:
    """One sentence on ``paper_comparison`` rows, set by set (never averaged): on which sets
    our MSRN - SMSRN gap is larger than the paper's, on which our MSRN is below the paper's,
    and which sets the paper does not report."""
    if not rows:
        raise ValueError("paper_verdict: no rows (run paper_comparison on at least one set)")
    reported = [r for r in rows if r["paper_ratio"] is not None]
    others = [r["set"] for r in rows if r["paper_ratio"] is None]
    if not reported:
        return (f"The paper reports none of these sets ({', '.join(others)}): there is no gap "
                "of the paper's to compare ours with.")

    def sets(names: list[str]) -> str:
        if not names:
            return "no set"
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    larger = [r["set"] for r in reported if r["gap_db"] > r["paper_gap_db"]]
    below = [r["set"] for r in reported if r["psnr_msrn"] < r["paper_msrn"]]
    text = f"Our MSRN - SMSRN gap is larger than the paper's on {sets(larger)}"
    if len(larger) < len(reported):
        text += f", not larger on {sets([r['set'] for r in reported if r['set'] not in larger])}"
    text += f"; our MSRN is below the paper's MSRN on {sets(below)}"
    if others:
        text += f"; the paper does not report {sets(others)}"
    return text + "."


# Published x4 Set5 PSNR-Y (dB) and parameter counts, for a parameters-vs-PSNR plot like the
# SMSRN paper's Fig. 1: each model's own paper (EDSR-baseline: Lim et al. 2017; CARN: Ahn et al.
# 2018; IMDN: Hui et al. 2019), MSRN and SMSRN as the SMSRN paper's Table 1 reports them.
PUBLISHED_X4_SET5: dict[str, tuple[float, float]] = {
    "bicubic": (0, 28.42), "EDSR-baseline": (1.52e6, 32.09), "CARN": (1.59e6, 32.13),
    "IMDN": (715e3, 32.21), "MSRN (SMSRN paper)": (6_078_019, SMSRN_PAPER_X4["Set5"]["MSRN"][0]),
    "SMSRN (SMSRN paper)": (888_929, SMSRN_PAPER_X4["Set5"]["SMSRN"][0]),
}


# (key, header, format) of the columns tables print, in order; None is printed as "-"
COLUMNS = {
    "set": ("set", "s"), "name": ("model", "s"), "n": ("images", "d"), "steps": ("Step", "d"),
    "params_m": ("Param(M)", ".3f"), "ms": ("ms", ".2f"), "psnr_y": ("PSNR-Y", ".2f"),
    "ssim_y": ("SSIM-Y", ".4f"), "psnr_rgb": ("PSNR", ".2f"), "ssim_rgb": ("SSIM", ".4f"),
    "psnr_msrn": ("MSRN", ".2f"), "psnr_smsrn": ("SMSRN", ".2f"), "ratio": ("SMSRN/MSRN", ".2%"),
    "gap_db": ("gap dB", ".2f"), "paper_msrn": ("paper MSRN", ".2f"),
    "paper_smsrn": ("paper SMSRN", ".2f"), "paper_ratio": ("paper ratio", ".2%"),
    "paper_gap_db": ("paper gap dB", ".2f"), "hf_ratio": ("HF ratio", ".3f"),
    "diversity": ("diversity", ".4f"), "fd": ("FD-CIFAR", ".2f"), "macs_m": ("MACs(M)", ".1f"),
    "ips": ("img/s", ".0f"),  # the last two: srlab.compare.method_rows
    # MSRN vs SMSRN part by part (srlab.bench.params_by_swap, macs_table, layout_rows)
    "part": ("part", "s"), "layout": ("layout", "s"), "msrn": ("MSRN", ",.0f"),
    "smsrn": ("SMSRN", ",.0f"), "share": ("SMSRN/MSRN", ".2%"),
    "of_smsrn": ("share of SMSRN", ".1%"), "total_ms": ("total", ".2f"),
    "total_iqr_ms": ("IQR", ".2f"), "features_ms": ("features", ".2f"),
    "tail_ms": ("tail", ".2f"),
}


def format_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as an aligned text table; column widths fit the longest entry.

    ``columns``: keys of ``COLUMNS`` (default: those present in the first row, in
    ``COLUMNS`` order). Text is left-aligned, numbers right-aligned.
    """
    if not rows:
        return "(no rows)"
    columns = list(columns or [k for k in COLUMNS if k in rows[0]])
    cells = [["-" if row[k] is None else format(row[k], COLUMNS[k][1]) for k in columns]
             for row in rows]
    headers = [COLUMNS[k][0] for k in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return " ".join(v.ljust(w) if COLUMNS[k][1] == "s" else v.rjust(w)
                        for v, w, k in zip(values, widths, columns, strict=True)).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in cells])



# Bicubic x4 as SR papers tabulate it (EDSR, MSRN and the SMSRN paper): PSNR (dB) / SSIM,
# Y channel, shave 4.
BICUBIC_PAPER_X4: dict[str, tuple[float, float]] = {"Set5": (28.42, 0.8104),
                                                    "Set14": (26.00, 0.7027)}
COLUMNS.update({"border": ("border rule", "s"), "paper_psnr_y": ("paper PSNR-Y", ".2f"),
                "paper_ssim_y": ("paper SSIM-Y", ".4f"), "psnr_vs_paper": ("PSNR - paper", "+.2f")})


def bicubic_vs_paper(hr_sets: Mapping[str, Sequence[torch.Tensor]], scale: int = 4,
                     paper: Mapping[str, tuple[float, float]] | None = None) -> list[dict]:
    """The bicubic baseline under each border rule, next to the published values.

    hr_sets: set name -> HR images, each (1, 3, H, W) in [0, 1]. For each set and each rule of
    ``srlab.degradation.BORDERS`` ("renormalise": torch/PIL, srlab's default; "symmetric":
    MATLAB's ``imresize``), every image is mod-cropped, downsampled and upsampled (8-bit both
    times) with that rule, and PSNR/SSIM are taken on Y with a ``scale``-pixel shave. ``paper``:
    set name -> (PSNR, SSIM) at this scale (default: ``BICUBIC_PAPER_X4`` at x4, none at other
    scales). Returns rows {"set", "border", "n", "psnr_y", "ssim_y" (means over the set),
    "paper_psnr_y", "paper_ssim_y", "psnr_vs_paper" (ours - paper, dB)}, paper entries None
    for a set the paper does not list. Print them with ``format_table``.
    """
    scale = check_scale(scale)
    paper = (BICUBIC_PAPER_X4 if scale == 4 else {}) if paper is None else paper
    rows = []
    for name, images in hr_sets.items():
        if len(images) == 0:
            raise ValueError(f"bicubic_vs_paper: set {name!r} holds no images")
        for border in BORDERS:
            scores = []
            for i, img in enumerate(images):
                hr = mod_crop(check_image(img, f"{name} image {i}", channels=3), scale)
                lr = bicubic_down(hr, scale, border=border)
                sr = bicubic_up(lr, scale, quantize=True, border=border)
                scores.append((psnr(sr, hr, y_channel=True, shave=scale).item(),
                               ssim(sr, hr, y_channel=True, shave=scale).item()))
            p, s = (sum(v) / len(v) for v in zip(*scores, strict=True))
            pub_p, pub_s = paper.get(name, (None, None))
            rows.append({"set": name, "border": border, "n": len(scores), "psnr_y": p,
                         "ssim_y": s, "paper_psnr_y": pub_p, "paper_ssim_y": pub_s,
                         "psnr_vs_paper": None if pub_p is None else p - pub_p})
    return rows


# Bicubic as SR papers tabulate it (RCAN, Zhang et al. 2018, Table 2; EDSR and MSRN list the same
# values): (set, scale) -> (PSNR-Y in dB, SSIM-Y), shave = scale. BICUBIC_PAPER_X4 is its x4 part.
BICUBIC_PAPER: dict[tuple[str, int], tuple[float, float]] = {
    ("Set5", 2): (33.66, 0.9299), ("Set14", 2): (30.24, 0.8688), ("B100", 2): (29.56, 0.8431),
    ("Urban100", 2): (26.88, 0.8403), ("Set5", 4): (28.42, 0.8104), ("Set14", 4): (26.00, 0.7027),
    ("B100", 4): (25.96, 0.6675), ("Urban100", 4): (23.14, 0.6577),
}
BICUBIC_SETS = ("Set5", "Set14", "B100", "Urban100")  # the sets notebook 00 introduces
COLUMNS.update({"scale": ("scale", "d"), "n_set": ("of", "d")})


def bicubic_benchmarks(names: Sequence[str] = BICUBIC_SETS, scales: Sequence[int] = (2, 4),
                       limit: int | None | str = "by mode") -> list[dict]:
    """The bicubic baseline on the classic test sets, next to the published values.

    For each set of ``names`` found on this machine (in Google Colab the missing ones are
    downloaded first, with ``srlab.data.benchmarks_for_notebook``) and each scale, every HR
    image is mod-cropped, downsampled with ``bicubic_down`` and upsampled with ``bicubic_up``
    (8-bit both times), then scored with PSNR and SSIM on Y with a ``scale``-pixel shave, as
    the papers do. ``limit``: images per set (the first ones); ``"by mode"`` = 5 in fast mode
    (``SRLAB_FAST``), all of them otherwise. Returns rows {"set", "scale", "n" (images
    scored), "n_set" (images in the set), "psnr_y", "ssim_y" (means), "paper_psnr_y",
    "paper_ssim_y" (``BICUBIC_PAPER``; None where it has no entry), "psnr_vs_paper" (ours -
    paper, dB; None where the set was scored in part: a partial mean is not comparable with a
    whole-set value)}. A set that is not found gives no row. Print with ``format_table``.
    """
    if limit == "by mode":
        limit = config.budget(fast=5, default=None)
    elif limit is not None:
        limit = check_int(limit, "limit", minimum=1)
    scales = [check_scale(s) for s in scales]
    if "google.colab" in sys.modules:
        data.benchmarks_for_notebook(names)  # downloads the missing sets, and says so
    rows = []
    for name in [n for n in names if n in data.available_benchmarks()]:
        paths = data.benchmark_set(name, scales[0]).paths
        images = [data.load_image(p) for p in paths[:limit]]
        for scale in scales:
            scores = []
            for img in images:
                hr = mod_crop(img, scale)
                sr = bicubic_up(bicubic_down(hr, scale), scale, quantize=True)
                scores.append((psnr(sr, hr, y_channel=True, shave=scale).item(),
                               ssim(sr, hr, y_channel=True, shave=scale).item()))
            p, s = (sum(v) / len(v) for v in zip(*scores, strict=True))
            pub_p, pub_s = BICUBIC_PAPER.get((name, scale), (None, None))
            whole = len(images) == len(paths)
            rows.append({"set": name, "scale": scale, "n": len(images), "n_set": len(paths),
                         "psnr_y": p, "ssim_y": s, "paper_psnr_y": pub_p, "paper_ssim_y": pub_s,
                         "psnr_vs_paper": p - pub_p if pub_p is not None and whole else None})
    return rows


def single_channel_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files among ``paths`` stored as one-channel (greyscale) images, in order.

    ``srlab.data.load_image`` turns such a file into RGB with R = G = B = g, whose luma is
    Y = 16/255 + (219/255) g, so its PSNR-Y is exactly 20 log10(255/219) = 1.32 dB above the
    PSNR of its grey values. MATLAB evaluation scripts usually convert to Y only images with
    three channels, so they score these files on the grey values (notebook 00, section 6).
    """
    from PIL import Image

    found = []
    for path in map(Path, paths):
        with Image.open(path) as im:
            if len(im.getbands()) == 1 and im.mode != "P":  # "P": a palette, colours inside
                found.append(path)
    return found


def sample_image(sources: Mapping[str, object]) -> tuple[str, str, torch.Tensor]:
    """One HR image to look at from the last test set of ``sources`` (as
    ``srlab.data.benchmark_sources`` returns them): a set's first image, or the embedded
    "coffee" photo (else the first photo). Returns (set name, image name, image (1, 3, H, W)
    in [0, 1])."""
    if not sources:
        raise ValueError("sample_image: no test set given")
    set_name, data = list(sources.items())[-1]
    if isinstance(data, Mapping):
        name = "coffee" if "coffee" in data else next(iter(data))
        return set_name, name, data[name]
    return set_name, data.names[0], data[0][1].unsqueeze(0)
