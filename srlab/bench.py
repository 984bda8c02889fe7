"""Benchmarks: measure and print, never assert (``python -m srlab bench sr|tinyunet|diffusion-sr``).

The printed tables say what was reached on this machine, next to the targets of the issues
that set them (met, or missed by how much). Thread counts are the caller's choice.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Mapping

import torch

from srlab import compare, config, cost, pretrained
from srlab.config import output_dir
from srlab.data import benchmark_sources, cifar10_hr
from srlab.degradation import bicubic, bicubic_up, make_pairs
from srlab.evaluate import (
    evaluate,
    evaluate_table,
    format_paper_comparison,
    format_table,
    paper_comparison,
)
from srlab.layers import DepthwiseSeparableConv2d
from srlab.models import MSRN, SMSRN, FastSampler, TinyUNetSR


def _sr_models(scale: int) -> dict:
    """name -> (callable, note): bicubic and the shipped MSRN/SMSRN (random init if missing)."""
    models = {"bicubic": (bicubic(scale), "")}
    for cls in (MSRN, SMSRN):
        name = f"{cls.kind}_x{scale}"
        if name in pretrained.available():
            models[cls.kind.upper()] = (pretrained.load(name), f"shipped {name}")
        else:
            models[cls.kind.upper()] = (cls(scale=scale).eval(), "random init: no shipped weights")
    return models


def params_by_swap(standard: MSRN, separable: MSRN) -> list[dict]:
    """Where the separable swap's parameter saving comes from (notebook 03, section 1).

    ``standard``: an MSRN; ``separable``: the same network with some k x k convs replaced by
    ``DepthwiseSeparableConv2d`` (e.g. ``SMSRN`` of the same size). Returns rows {"part",
    "msrn", "smsrn", "share"}: one per kernel size replaced ("3x3 convs made separable (17)"),
    then "kept standard" (every other parameter, the same in both) and "total"; ``share`` is
    smsrn / msrn. A ``ValueError`` when the two networks differ anywhere but in the swap.
    """
    replaced = [name for name, m in separable.named_modules()
                if isinstance(m, DepthwiseSeparableConv2d)]
    by_k: dict[int, list[str]] = {}
    for name in replaced:
        conv = standard.get_submodule(name)
        if not isinstance(conv, torch.nn.Conv2d):
            raise ValueError(f"params_by_swap: {name} is separable in one network but a "
                             f"{type(conv).__name__} in the other")
        by_k.setdefault(conv.kernel_size[0], []).append(name)
    rows = []
    for k, names in sorted(by_k.items()):
        std = sum(cost.count_params(standard.get_submodule(n)) for n in names)
        sep = sum(cost.count_params(separable.get_submodule(n)) for n in names)
        rows.append({"part": f"{k}x{k} convs made separable ({len(names)})", "msrn": std,
                     "smsrn": sep})
    total_std, total_sep = cost.count_params(standard), cost.count_params(separable)
    kept = total_std - sum(r["msrn"] for r in rows)
    if kept != total_sep - sum(r["smsrn"] for r in rows):
        raise ValueError("params_by_swap: the layers that were not swapped differ between the "
                         "two networks; compare a network with its own separable version")
    rows += [{"part": "kept standard (1x1 convs, tail)", "msrn": kept, "smsrn": kept},
             {"part": "total", "msrn": total_std, "smsrn": total_sep}]
    return [{**r, "share": r["smsrn"] / r["msrn"]} for r in rows]


def macs_by_part(model: MSRN, h: int = 128) -> dict[str, int]:
    """MACs of each part of ``model`` (an MSRN or SMSRN of any scale) for one h x h LR image,
    each part counted by ``cost.count_macs`` at the resolution it runs at (an x4 upsampler's
    second conv at twice the LR side, the reconstruction conv at the HR side): label -> MACs.
    The labels name the part and its pixels relative to the LR image; they add up to
    ``cost.count_macs(model, (1, 3, h, h))``."""
    if isinstance(h, bool) or not isinstance(h, int) or h < 1:
        raise ValueError(f"macs_by_part: h must be an integer >= 1, got {h!r}")
    upsampler = [m for m in model.tail[2] if isinstance(m, torch.nn.Conv2d)]
    parts = {"head": [model.head], f"{len(model.body)} blocks": list(model.body),
             "fusion 1x1 + 3x3": list(model.tail[:2]),
             **{f"upsampler conv {i + 1}": [m] for i, m in enumerate(upsampler)},
             "reconstruction 3x3": [model.tail[3]],
             "mean shifts 1x1": [model.sub_mean, model.add_mean]}
    shapes: dict[torch.nn.Module, tuple[int, ...]] = {}

    def record(module: torch.nn.Module, args: tuple) -> None:  # the input shape, nothing else
        shapes[module] = tuple(args[0].shape)

    hooks = [m.register_forward_pre_hook(record) for modules in parts.values() for m in modules]
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.n_colors, h, h, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    out = {}
    for label, modules in parts.items():
        pixels = {shapes[m][-1] * shapes[m][-2] // (h * h) for m in modules}
        where = ("LR" if pixels == {1} else f"{pixels.pop()}x the LR pixels" if len(pixels) == 1
                 else "LR and HR")
        out[f"{label} ({where})"] = sum(cost.count_macs(m, shapes[m]) for m in modules)
    return out


def macs_table(standard: MSRN, separable: MSRN, h: int = 8) -> list[dict]:
    """``macs_by_part`` of both networks as rows {"part", "msrn", "smsrn", "share",
    "of_smsrn"}: MACs per LR pixel (the MACs of an h x h LR image / h^2), separable /
    standard, and the part's share of the separable network's MACs; the last row, "total",
    is counted on the whole networks. Every part's MACs grow exactly with the pixel count, so a
    small ``h`` gives the same per-pixel numbers as a large one, faster."""
    a, b = macs_by_part(standard, h), macs_by_part(separable, h)
    totals = [cost.count_macs(m, (1, m.n_colors, h, h)) for m in (standard, separable)]
    rows = [{"part": p, "msrn": a[p] / h**2, "smsrn": b[p] / h**2} for p in a]
    rows.append({"part": "total", "msrn": totals[0] / h**2, "smsrn": totals[1] / h**2})
    return [{**r, "share": r["smsrn"] / r["msrn"], "of_smsrn": r["smsrn"] * h**2 / totals[1]}
            for r in rows]


def interleaved_latency(models: Mapping[str, Callable[[torch.Tensor], object]], x: torch.Tensor,
                        repeats: int = 10, warmup: int = 1) -> dict[str, cost.Latency]:
    """``cost.measure_latency`` of each of ``models`` on ``x``, the models taking turns call by
    call (after ``warmup`` untimed calls each), so a change of the machine's load during the
    measurement hits all of them alike: name -> ``cost.Latency`` (median and IQR over the
    ``repeats`` calls). The thread count is the caller's (``config.num_threads``)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for fn in models.values():
        cost.measure_latency(fn, x, warmup=warmup, repeats=1)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats):
        for name, fn in models.items():
            times[name].append(cost.measure_latency(fn, x, warmup=0, repeats=1).median_ms)
    out = {}
    for name, t in times.items():
        q = statistics.quantiles(t, n=4) if len(t) > 1 else [t[0]] * 3
        out[name] = cost.Latency(statistics.median(t), q[2] - q[0], min(t), repeats,
                                 str(x.device))
    return out


def fell(ratio: float, reference: float, spread: float = 0.0) -> str:
    """How a measured ratio (e.g. SMSRN/MSRN time) fell compared with a reference ratio (e.g.
    the MACs'): "less than", "about as much as" or "more than", where ``spread`` is the
    measurement's relative uncertainty (e.g. the summed IQR / median of both timings): within
    ``reference * (1 +- spread)`` it is "about as much as"."""
    if reference <= 0 or ratio <= 0 or spread < 0:
        raise ValueError(f"fell: need ratio > 0, reference > 0, spread >= 0, got {ratio}, "
                         f"{reference}, {spread}")
    if ratio > reference * (1 + spread):
        return "less than"
    return "more than" if ratio < reference * (1 - spread) else "about as much as"


LATENCY_RATIO_TARGET = 0.35  # issue 12: SMSRN / MSRN CPU time, each in its best layout
LAYOUTS = ("contiguous", "channels_last")


def sr_layout_times(models: dict[str, MSRN], x: torch.Tensor, repeats: int = 5,
                    rounds: int = 2) -> dict:
    """CPU milliseconds of each network on ``x`` (N, 3, h, w) in each memory layout: the
    whole forward ("total"), its ``features`` (head + blocks) and its ``reconstruct`` (the
    tail), each timed on its own (so features + tail need not equal total); the median and
    the IQR over all ``rounds`` x ``repeats`` calls, the rounds interleaved. Returns
    {name: {layout: {"total", "features", "tail"}}, "iqr": {name: {layout: {part: IQR}}},
    "best": {name: layout}, "ratio": SMSRN / MSRN total, each in its best layout,
    "tail_floor": SMSRN's tail / MSRN's best total, the ratio left if SMSRN's features cost
    nothing} (ratios when both are given)."""
    times: dict = {name: {fmt: {"total": [], "features": [], "tail": []} for fmt in LAYOUTS}
                   for name in models}
    saved = {name: model.memory_format for name, model in models.items()}
    try:
        for _ in range(rounds):
            for fmt in LAYOUTS:
                xf = x.contiguous(memory_format=torch.channels_last if fmt == "channels_last"
                                  else torch.contiguous_format)
                for name, model in models.items():
                    model.memory_format = fmt
                    with torch.no_grad():
                        feats = model.features(xf)
                    parts = {"total": (model, xf), "features": (model.features, xf),
                             "tail": (model.reconstruct, feats)}
                    for part, (fn, inp) in parts.items():
                        cost.measure_latency(fn, inp, warmup=0, repeats=1)  # warm-up
                        times[name][fmt][part] += [
                            cost.measure_latency(fn, inp, warmup=0, repeats=1).median_ms
                            for _ in range(repeats)]
    finally:
        for name, model in models.items():
            model.memory_format = saved[name]
    out: dict = {name: {fmt: {part: statistics.median(v) for part, v in parts.items()}
                        for fmt, parts in by_fmt.items()} for name, by_fmt in times.items()}
    out["iqr"] = {name: {fmt: {part: _iqr(v) for part, v in parts.items()}
                         for fmt, parts in by_fmt.items()} for name, by_fmt in times.items()}
    out["best"] = {name: min(LAYOUTS, key=lambda f, n=name: out[n][f]["total"])
                   for name in models}
    if {"MSRN", "SMSRN"} <= set(models):
        m, s = (out[n][out["best"][n]] for n in ("MSRN", "SMSRN"))
        out["ratio"] = s["total"] / m["total"]
        out["tail_floor"] = s["tail"] / m["total"]
    return out


def _iqr(t: list[float]) -> float:
    """The interquartile range of a list of times (0 for a single one)."""
    if len(t) < 2:
        return 0.0
    q = statistics.quantiles(t, n=4)
    return q[2] - q[0]


def layout_rows(t: dict) -> list[dict]:
    """``sr_layout_times`` as rows {"name", "layout", "total_ms", "total_iqr_ms",
    "features_ms", "tail_ms"} for ``srlab.evaluate.format_table``: per network its NCHW and
    channels_last milliseconds (the total's IQR beside it; None without ``t["iqr"]``), then
    "speed-up (x)", the NCHW time over the channels_last time (above 1: channels_last was
    faster), part by part."""
    rows = []
    iqr = t.get("iqr", {})
    for name in t["best"]:
        nchw, nhwc = t[name]["contiguous"], t[name]["channels_last"]
        for layout, fmt, r in (("NCHW", "contiguous", nchw),
                               ("channels_last", "channels_last", nhwc),
                               ("speed-up (x)", None, {p: nchw[p] / nhwc[p] for p in nchw})):
            spread = iqr.get(name, {}).get(fmt, {}).get("total") if fmt else None
            rows.append({"name": name, "layout": layout, "total_ms": r["total"],
                         "total_iqr_ms": spread, "features_ms": r["features"],
                         "tail_ms": r["tail"]})
    return rows


def layout_verdict(t: dict, earlier: Mapping[str, cost.Latency] | None = None) -> list[str]:
    """Computed sentences on ``sr_layout_times`` ``t`` (notebook 03, section 5): for which
    networks channels_last was the faster layout, each network's features and tail speed-ups
    (NCHW / channels_last), and, given ``earlier`` (name -> ``cost.Latency`` of the same
    networks on the same input in channels_last, e.g. from ``interleaved_latency``), whether
    the two timings of the same setup agree within their summed IQRs (if not, the machine
    was busy)."""
    names = list(t["best"])
    faster = [n for n in names if t["best"][n] == "channels_last"]
    lines = [f"channels_last was the faster layout for: {', '.join(faster) or 'neither'}"]
    for n in names:
        nchw, nhwc = t[n]["contiguous"], t[n]["channels_last"]
        lines.append(f"{n}: channels_last speed-up {nchw['features'] / nhwc['features']:.2f}x "
                     f"on the features, {nchw['tail'] / nhwc['tail']:.2f}x on the tail")
    if earlier:
        iqr = t.get("iqr", {})
        off = [n for n in names if n in earlier and abs(t[n]["channels_last"]["total"]
               - earlier[n].median_ms) > earlier[n].iqr_ms
               + iqr.get(n, {}).get("channels_last", {}).get("total", 0.0)]
        lines.append("the two timings of the same setup disagree: the machine was busy; rerun "
                     "for stable numbers" if off else "the channels_last totals agree with "
                     "the earlier timing of the same setup, within their spread")
    return lines


def format_layout_times(t: dict) -> list[str]:
    """``sr_layout_times`` as printed lines: ms per network and layout, then the ratios."""
    names = list(t["best"])
    lines = [f"{'':<7}{'layout':<15}{'total ms':>10}{'features':>10}{'tail':>8}"]
    for name in names:
        for fmt in LAYOUTS:
            r = t[name][fmt]
            best = "  <- faster" if t["best"][name] == fmt else ""
            lines.append(f"{name:<7}{fmt:<15}{r['total']:>10.1f}{r['features']:>10.1f}"
                         f"{r['tail']:>8.1f}{best}")
    if "ratio" in t:
        verdict = "met" if t["ratio"] <= LATENCY_RATIO_TARGET else (
            f"MISSED by {t['ratio'] - LATENCY_RATIO_TARGET:.3f}")
        lines.append(f"SMSRN/MSRN CPU time, each in its faster layout: {t['ratio']:.3f}x "
                     f"(target <= {LATENCY_RATIO_TARGET}x: {verdict}); with features that "
                     f"cost nothing, SMSRN's tail alone would still be {t['tail_floor']:.3f}x")
    return lines


def bench_sr(device: str | None = None, sets: list[str] | None = None,
             limit: int | None = None, seed: int = 0) -> dict:
    """Params, MACs and CPU (and ``device``) latency per 128x128 LR image, then PSNR/SSIM
    (Y, shave 4) on every benchmark set found (each named by its folder), for bicubic, MSRN
    and SMSRN x4, and SMSRN vs MSRN next to the paper's Table 1, set by set. Returns
    {"cost", "quality", "paper"}."""
    scale = 4
    torch.manual_seed(seed)
    models = _sr_models(scale)
    x = torch.rand(1, 3, 128, 128)
    print(f"x{scale} SR, LR input 1x3x128x128, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    rows = {}
    for name, (model, note) in models.items():
        is_net = isinstance(model, torch.nn.Module)
        row = {"note": note, "params": cost.count_params(model) if is_net else 0,
               "macs": cost.count_macs(model, x) if is_net else None,
               "cpu": cost.measure_latency(model, x, warmup=1, repeats=5)}  # srlab's layout
        if device and torch.device(device).type != "cpu":
            moved = model.to(device) if is_net else model
            row["device"] = cost.measure_latency(moved, x.to(device), warmup=3, repeats=20)
            if is_net:
                model.to("cpu")
        rows[name] = row
        macs = f"{row['macs'] / 1e9:8.2f} G" if row["macs"] is not None else f"{'-':>10}"
        extra = f" | {device} {row['device'].median_ms:8.2f} ms" if "device" in row else ""
        print(f"{name:<8} params {row['params']:>10,} | MACs {macs} | CPU "
              f"{row['cpu'].median_ms:9.1f} ms (IQR {row['cpu'].iqr_ms:.1f}){extra}"
              f"{'  [' + note + ']' if note else ''}", flush=True)
    m, s = rows["MSRN"], rows["SMSRN"]
    print(f"SMSRN/MSRN: params {s['params'] / m['params']:.2%}, MACs {s['macs'] / m['macs']:.2%}, "
          f"CPU latency {s['cpu'].median_ms / m['cpu'].median_ms:.3f}x (the layout srlab "
          f"chooses: memory_format='auto')")
    print(f"\nCPU ms per layout ({torch.get_num_threads()} threads; features = head + "
          "blocks, tail = fusion + upsampler, the same convolutions in both):")
    layouts = sr_layout_times({n: models[n][0] for n in ("MSRN", "SMSRN")}, x)
    print("\n".join(format_layout_times(layouts)), flush=True)
    if "device" in m:
        print(f"SMSRN/MSRN {device} latency {s['device'].median_ms / m['device'].median_ms:.3f}x")

    print(f"\nPSNR/SSIM, Y channel, shave {scale}, 8-bit outputs"
          f"{f', first {limit} images per set' if limit else ''}")
    quality, table = {}, []
    for set_name, data in benchmark_sources(scale, sets).items():
        res = {n: evaluate(model, data, scale, limit=limit) for n, (model, _) in models.items()}
        quality[set_name] = res
        ratio = res["SMSRN"]["psnr_y"] / res["MSRN"]["psnr_y"]
        table += [{"set": set_name, "name": n, "n": r["n"], "psnr_y": r["psnr_y"],
                   "ssim_y": r["ssim_y"]} for n, r in res.items()]
        print(f"{set_name}: SMSRN/MSRN PSNR {ratio:.2%}, >= 98.5%: "
              f"{'met' if ratio >= 0.985 else 'NOT met'}", flush=True)
    print(format_table(table))
    paper = paper_comparison(quality)
    print("\n" + format_paper_comparison(paper))
    return {"cost": rows, "layouts": layouts, "quality": quality, "paper": paper}


def _tinyunet_targets(rows: list[dict]) -> list[str]:
    """The issue's targets, checked against the measured rows (met / missed by how much)."""
    def row(name: str, steps: int) -> dict | None:
        return next((r for r in rows if r["name"] == name and r["steps"] == steps), None)

    bicubic_row, regression = row("bicubic", 0), row("tinyunet_regression", 1)
    lines = []
    for schedule in ("linear", "cosine"):
        name = f"tinyunet_diffusion_{schedule}"
        five, three = row(name, 5), row(name, 3)
        if five is None:
            continue
        checks = [("5-step PSNR >= bicubic + 2.5 dB",
                   five["psnr_rgb"] - bicubic_row["psnr_rgb"] - 2.5)]
        if regression is not None:
            checks.append(("5-step PSNR within 0.2 dB of regression",
                           0.2 - (regression["psnr_rgb"] - five["psnr_rgb"])))
        if three is not None:
            checks.append(("3 steps within 0.3 dB of 5",
                           0.3 - abs(five["psnr_rgb"] - three["psnr_rgb"])))
        checks.append(("5-step sampler <= 3.4 ms/image (CPU, batch 1)", 3.4 - five["ms"]))
        for what, margin in checks:
            verdict = "met" if margin >= 0 else f"MISSED by {-margin:.2f}"
            lines.append(f"{schedule:<7} {what:<46} {verdict}")
    return lines


FAST_MS_TARGET = 2.5  # issue 13: 5 steps at batch 1 on the CPU, ms per image
OVERHEAD_TARGET = 0.15  # issue 13: sampler time / (5 bare network calls) - 1


def sampling_times(model: TinyUNetSR, steps: int = 5, rounds: int = 15, repeats: int = 40,
                   seed: int = 0) -> dict:
    """Batch-1 CPU milliseconds of one 16x16 LR image (median over ``rounds`` interleaved
    medians of ``repeats`` calls, at the current thread count, with Python's garbage
    collector paused as ``timeit`` does): ``steps`` bare network calls as ``upscale`` makes
    them ("net": eager, NCHW, with the network's input check) and as the fast path makes them
    ("fast_net"), the reference sampler ``model.upscale`` ("reference") and ``FastSampler``
    ("fast"); their overheads (sampler / its bare calls - 1) and the largest difference
    between the two samplers' outputs for the same seed ("max_diff")."""
    cpu = torch.device("cpu")
    lr = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    fast = FastSampler(model, steps)
    level = float(model.schedule(cpu).sqrt_one_minus_alpha_bar[-1])
    x = torch.cat([torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed)),
                   bicubic_up(lr, 2), torch.full((1, 1, 32, 32), level)], dim=1)
    fast_net = fast.network(tuple(x.shape))
    fast_x = x.contiguous(memory_format=fast.memory_format_on(cpu))

    def calls(net, inp):
        def run(_lr: torch.Tensor) -> None:
            for _ in range(steps):
                net(inp)
        return run

    timed = {"net": calls(model.net, x), "fast_net": calls(fast_net, fast_x),
             "reference": lambda z: model.upscale(z, steps=steps, seed=seed),
             "fast": lambda z: fast(z, seed=seed)}
    times: dict[str, list[float]] = {name: [] for name in timed}
    gc_was_on = gc.isenabled()
    gc.disable()  # as timeit does: a collection costs what the whole process holds
    try:
        for _ in range(rounds):  # interleaved, so a slow spell of the machine hits all alike
            for name, fn in timed.items():
                lat = cost.measure_latency(fn, lr, warmup=5, repeats=repeats)
                times[name].append(lat.median_ms)
    finally:
        if gc_was_on:
            gc.enable()
    ms = {name: statistics.median(t) for name, t in times.items()}
    diff = float((fast(lr, seed=seed) - model.upscale(lr, steps=steps, seed=seed)).abs().max())
    return {**ms, "steps": steps, "threads": torch.get_num_threads(), "form": fast.form,
            "overhead_reference": ms["reference"] / ms["net"] - 1,
            "overhead_fast": ms["fast"] / ms["fast_net"] - 1, "max_diff": diff,
            "rounds": rounds, "repeats": repeats}


def format_sampling(name: str, r: dict) -> list[str]:
    """The batch-1 CPU sampling times of ``sampling_times`` as printed lines."""
    k = r["steps"]
    rows = [(f"{k} bare network calls as upscale makes them (eager, NCHW)", r["net"], ""),
            (f"{k} bare network calls as the fast path makes them", r["fast_net"], ""),
            (f"reference sampler  model.upscale(lr, steps={k})", r["reference"],
             f"overhead {r['overhead_reference']:+.0%} over its {k} network calls"),
            (f"fast path          FastSampler(model, {k})", r["fast"],
             f"overhead {r['overhead_fast']:+.0%} over its {k} network calls")]
    lines = [f"{name} (the fast path's network: {r['form']}):"]
    lines += [f"  {what:<58} {ms:6.2f} ms  {note}".rstrip() for what, ms, note in rows]
    lines.append(f"  same seed: max |fast - reference| = {r['max_diff']:.1e}; fast path "
                 f"{r['reference'] / r['fast']:.2f}x the reference's speed")
    return lines


def _sampling_targets(sampling: dict[str, dict]) -> list[str]:
    """Issue 13's batch-1 CPU targets for the fast path: met, or missed by how much."""
    lines = []
    for name, r in sampling.items():
        schedule = name.rsplit("_", 1)[-1]
        checks = [(f"{r['steps']}-step fast path <= {FAST_MS_TARGET} ms/image (batch 1)",
                   FAST_MS_TARGET - r["fast"], "{:.2f} ms"),
                  (f"fast-path overhead <= {OVERHEAD_TARGET:.0%} over {r['steps']} net calls",
                   OVERHEAD_TARGET - r["overhead_fast"], "{:.0%}")]
        for what, margin, unit in checks:
            verdict = "met" if margin >= 0 else f"MISSED by {unit.format(-margin)}"
            n = r["threads"]
            lines.append(f"{schedule:<7} {what:<46} {verdict} ({n} thread{'s' * (n != 1)})")
    return lines


def _throughput(model, steps: int, device: torch.device, batch: int = 256) -> float:
    """Images per second of ``model.upscale`` on a batch of ``batch`` 16x16 LR images."""
    x = torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(0)).to(device)
    lat = cost.measure_latency(lambda z: model.upscale(z, steps=steps), x, warmup=2, repeats=5)
    return batch / lat.median_ms * 1000


def bench_tinyunet(device: str | None = None, limit: int | None = None, seed: int = 0) -> dict:
    """Step / Param(M) / ms / PSNR / SSIM on the CIFAR-10 test split for bicubic, the
    regression TinyUNet and the diffusion TinyUNets (linear, cosine) at 1-5 DDIM steps; CPU
    latency per image at batch 1 (the whole sampler); batched throughput (CPU, and
    ``device``); batch-1 CPU sampling: 5 bare network calls, the reference sampler and the
    ``FastSampler`` fast path with their overheads; then the issues' targets, met or missed
    by how much."""
    models = {name: pretrained.load(name) for name in pretrained.TINYUNET_NAMES}
    hr_uint8, source = cifar10_hr("test", limit)
    lr, hr = make_pairs(hr_uint8.float() / 255, 2)
    print(f"TinyUNet x2 on {source}: {len(hr)} test images. PSNR/SSIM: RGB, whole 32x32 image; "
          "-Y: BT.601 luma, 2 px shaved; 8-bit outputs; DDIM eta=0, trailing, seed "
          f"{seed}. ms: CPU median per image at batch 1, {torch.get_num_threads()} threads, "
          "whole sampler incl. bicubic")
    rows = evaluate_table(models, (lr, hr), 2, (1, 2, 3, 4, 5), seed=seed)
    print(format_table(rows))
    sampling = {name: sampling_times(model, 5, seed=seed) for name, model in models.items()
                if model.is_diffusion}
    if sampling:
        r = next(iter(sampling.values()))
        print(f"\nbatch-1 sampling on the CPU: one 16x16 LR image, {r['steps']} steps, "
              f"{r['threads']} threads, ms per image (median of {r['rounds']} interleaved "
              f"rounds of {r['repeats']} calls, garbage collector paused):")
    for name, r in sampling.items():
        print("\n".join(format_sampling(name, r)), flush=True)
    devices = [torch.device("cpu")]
    if device and torch.device(device).type != "cpu":
        devices.append(torch.device(device))
    print("\nbatched throughput (images/s, batch 256):")
    throughput = {}
    for dev in devices:
        for name, model in models.items():
            model.to(dev)
            for steps in ((3, 5) if model.is_diffusion else (1,)):
                ips = _throughput(model, steps, dev)
                throughput[(str(dev), name, steps)] = ips
                print(f"  {str(dev):<6} {name:<28} {steps} steps {ips:>10.0f} img/s", flush=True)
            if dev.type != "cpu":  # batch-1 latency of the whole 5-step sampler on the GPU
                x = torch.rand(1, 3, 16, 16, device=dev)
                lat = cost.measure_latency(lambda z, m=model: m.upscale(z, steps=5), x, 5, 50)
                print(f"  {str(dev):<6} {name:<28} batch 1, 5 steps: {lat.median_ms:.2f} ms")
            model.to("cpu")
    print("\ntargets:")
    targets = _tinyunet_targets(rows) + _sampling_targets(sampling)
    for line in targets:
        print("  " + line)
    return {"rows": rows, "sampling": sampling, "throughput": throughput, "targets": targets}


def bench_diffusion_sr(limit: int | None = None, seed: int = 0, train: list[str] | None = None,
                       device: str | None = None, threads: int = 2) -> list[dict]:
    """Notebook 06's comparison table from the shipped rows (``srlab.compare``; all trained
    with ``compare.ROW_BUDGET``) on the CIFAR-10 test split (first ``limit`` images), with
    the shipped card-budget TinyUNets as reference rows and the paper's table beside it.
    ``train``: rows to retrain first with that budget on the training split on ``device``
    (checkpoints and fp16 weights ``cmp_<name>.pt`` in ``output_dir()/diffusion-sr``; a rerun
    resumes); the table then uses them."""
    hr_uint8, source = cifar10_hr("test", limit)
    lr, hr = make_pairs(hr_uint8.float() / 255, 2)
    nets = compare.shipped_rows()
    if train:
        train_hr, train_source = cifar10_hr("train", verbose=False)
        b = compare.ROW_BUDGET
        print(f"retraining {', '.join(train)}: {b['steps']:,} steps of batch {b['batch_size']} on "
              f"{len(train_hr)} images of {train_source}", flush=True)
        ckpt_dir = output_dir() / "diffusion-sr"
        trained = compare.train_rows(
            train_hr, train, steps=b["steps"], batch_size=b["batch_size"], lr=b["lr"],
            device=device or "cpu", ckpt_dir=ckpt_dir, source=train_source,
            teacher=nets["resshift_t4"])
        for name, net in trained.items():  # fp16 files as shipped: cmp_<name>.pt
            digest = pretrained.save_weights(net, ckpt_dir / f"cmp_{name}.pt")
            print(f"  wrote {ckpt_dir / f'cmp_{name}.pt'} (sha256 {digest})")
        nets.update(trained)
    methods = compare.row_methods(nets)
    methods += compare.card_methods()
    b = compare.ROW_BUDGET
    print(f"CIFAR-10 x2 on {source}: {len(hr)} test images, seed {seed}. Every row but the "
          f"last two trained alike: {b['steps']:,} Adam steps of batch {b['batch_size']}, lr "
          f"{b['lr']}, seed 0 (the last two: the model card's 24,000 x 256). ms: CPU median per "
          f"image at batch 1, {threads} threads; img/s: batch 256, same threads. PSNR/SSIM: "
          "RGB, 8-bit outputs; HF ratio: upper-band energy share of SR / HR (1 = as much "
          "detail); FD-CIFAR: Frechet distance in the course classifier's features (not FID); "
          "diversity: mean per-pixel std "
          "over 4 seeds", flush=True)
    rows = compare.method_rows(methods, (lr, hr), seed=seed, threads=threads)
    print(format_table(rows, compare.TABLE_COLUMNS))
    print(f"\n{compare.PAPER_TABLE_NOTE} (not comparable row by row with the table above):")
    print(compare.format_paper_table())
    return rows


def bench_tinyunet_ablation(limit: int | None = None, device: str | None = None,
                            threads: int = 2) -> list[dict]:
    """Issue 13's ablation: every ``compare.ABLATION`` variant trained (or loaded from its
    checkpoint in ``output_dir()/ablation``) as a regression TinyUNet with
    ``compare.ROW_BUDGET``, then params (the 7-channel diffusion form, the one sampled 5
    times), MACs per call, CPU ms for 5 calls at batch 1 (``threads``) and PSNR / SSIM /
    HF ratio on the CIFAR-10 test split; the best against the paper's network."""
    b = compare.ROW_BUDGET
    train_hr, train_source = cifar10_hr("train", verbose=False)
    print(f"training (or loading) {len(compare.ABLATION)} variants: {b['steps']:,} steps of "
          f"batch {b['batch_size']} on {len(train_hr)} images of {train_source}", flush=True)
    models = compare.train_ablation(train_hr, steps=b["steps"], batch_size=b["batch_size"],
                                    lr=b["lr"], device=device or "cpu",
                                    ckpt_dir=output_dir() / "ablation", source=train_source)
    hr_uint8, source = cifar10_hr("test", limit, verbose=False)
    lr, hr = make_pairs(hr_uint8.float() / 255, 2)
    rows = []
    for name, model in models.items():
        sampled = compare.ablation_model(name, mode="diffusion").net.eval()
        x = torch.rand(1, 7, 32, 32)
        with config.num_threads(threads), torch.no_grad():
            lat = cost.measure_latency(lambda z, n=sampled: [n(z) for _ in range(5)], x, 5, 40)
        res = evaluate(model, (lr, hr), 2)
        rows.append({"name": name, "params_m": cost.count_params(sampled) / 1e6,
                     "macs_m": cost.count_macs(sampled, (1, 7, 32, 32)) / 1e6,
                     "ms": lat.median_ms, "psnr_rgb": res["psnr_rgb"], "ssim_rgb": res["ssim_rgb"],
                     "hf_ratio": res["hf_ratio"]})
    print(f"\nregression TinyUNets on {source}, {len(hr)} test images (PSNR/SSIM RGB, 8-bit); "
          f"Param(M) and MACs(M): the diffusion form (7 input channels), one call on 32x32; ms: "
          f"5 calls at batch 1 on the CPU, {threads} threads (what a 5-step sampler spends in its "
          "network):")
    print(format_table(rows, ["name", "params_m", "macs_m", "ms", "psnr_rgb", "ssim_rgb",
                              "hf_ratio"]))
    paper = rows[0]
    best = max(rows, key=lambda r: r["psnr_rgb"])
    gain = best["psnr_rgb"] - paper["psnr_rgb"]
    bicubic_psnr = evaluate(bicubic(2), (lr, hr), 2)["psnr_rgb"]
    print(f"\nbest: {best['name']}, {gain:+.2f} dB over the paper's network, "
          f"{best['psnr_rgb'] - bicubic_psnr:+.2f} dB over bicubic (target +2.5), 5 calls in "
          f"{best['ms']:.2f} ms (the sampler's target: 2.5 ms in all)")
    return rows
