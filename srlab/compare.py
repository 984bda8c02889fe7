"""Any SR method as a row of one comparison table: the prototyping API of notebook 06.

A method is a function ``sample(lr, seed) -> sr`` with a name, a step count and its cost
(``Method``; ``Method.from_model`` wraps a TinyUNetSR / ResShiftSR / ResDiffSR);
``method_rows`` measures every method alike on CIFAR-style test pairs: cost (parameters, MACs,
ms at batch 1 with its spread, and images/s batched on the CPU), PSNR/SSIM, HF ratio, FD-CIFAR
and diversity. Print the rows with ``srlab.evaluate.format_table``; ``fastest`` names the
fastest row only where the gap exceeds the timing noise.

The comparison's own rows: ``ROW_BUDGET`` / ``ROW_LABELS``, ``fresh_row`` and ``train_rows``
(every row trained alike), ``row_methods``, ``shipped_rows`` (the ``cmp_*`` weights) and
``comparison_rows`` (shipped, or retrained with ``SRLAB_RETRAIN_ROWS=1``), ``card_methods``
(the card-budget TinyUNets as reference rows), ``PAPER_TABLE`` (the paper's Table 1 as printed,
beside ours); and ``ABLATION`` / ``train_ablation``, the TinyUNet variants of the model card.
``srlab.bench`` prints them.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from srlab import pretrained
from srlab.config import num_threads, output_dir, seed_everything
from srlab.cost import count_macs, measure_latency
from srlab.data import PatchSampler, cifar10_hr
from srlab.degradation import bicubic, make_pairs
from srlab.evaluate import METRICS, evaluate, fd_cifar_features, sample_diversity
from srlab.models import ResDiffSR, ResShiftSR, TinyUNetSR
from srlab.models.resshift_sr import sinsr_loss, sinsr_student
from srlab.train import fit

Sample = Callable[[torch.Tensor, int], torch.Tensor]  # (lr, seed) -> sr


@dataclass
class Method:
    """One SR method as a row of a comparison table.

    ``sample(lr, seed) -> sr``: (N, 3, h, w) in [0, 1] -> (N, 3, 2h, 2w) in [0, 1]; a
    deterministic method ignores ``seed``. ``steps``: network calls per image (0 for
    bicubic); ``params`` and ``macs`` (multiply-accumulates per image, all steps) for the cost
    columns; ``stochastic``: measure the diversity across seeds.
    """

    name: str
    sample: Sample
    steps: int = 1
    params: int = 0
    macs: float = 0.0
    stochastic: bool = False

    @classmethod
    def from_model(cls, name: str, model: nn.Module, steps: int | None = None,
                   lr_size: int = 16) -> Method:
        """A ``TinyUNetSR`` / ``ResShiftSR`` (anything with ``upscale(lr, steps, seed)`` and a
        TinyUNet ``net``) at ``steps`` (default: its own), MACs counted on a ``lr_size`` LR
        image."""
        model.eval()
        diffusion = getattr(model, "is_diffusion", False)
        if diffusion:
            steps = steps or (getattr(model, "step_counts", None) or (5,))[0]
        else:
            steps = 1
        if hasattr(model, "macs_per_image"):  # e.g. ResDiff: a CNN pass plus the steps
            macs = model.macs_per_image(steps, lr_size)
        else:
            side = SCALE_OF_CIFAR * lr_size
            macs = count_macs(model.net, (1, model.net.config["in_channels"], side, side)) * steps
        params = sum(p.numel() for p in model.parameters())  # frozen parts count too
        return cls(name, lambda lr, seed: model.upscale(lr, steps=steps, seed=seed), steps,
                   params, macs, stochastic=diffusion)


SCALE_OF_CIFAR = 2  # every method of the CIFAR-10 comparison is x2


def bicubic_method() -> Method:
    """Bicubic x2 as a ``Method`` (no network: 0 steps, 0 parameters)."""
    up = bicubic(SCALE_OF_CIFAR)
    return Method("bicubic", lambda lr, seed: up(lr), steps=0)


def method_rows(methods: Sequence[Method], data: tuple[torch.Tensor, torch.Tensor], *,
                seed: int = 0, diversity_seeds: int = 4, diversity_images: int = 250,
                fd_cifar: bool = True, timing: bool = True, threads: int = 2,
                repeats: int = 20, batch: int = 256) -> list[dict]:
    """One row per method on CIFAR-style test pairs ``data`` = (lr, hr): {"name", "steps",
    "params_m", "macs_m" (millions per image), "ms" (median per image at batch 1 on the CPU
    with ``threads`` threads), "ms_iqr" (the interquartile range of those ``repeats`` times: the
    timing noise), "ips" (images per second at batch ``batch``, same threads), "psnr_rgb",
    "ssim_rgb", "psnr_y", "ssim_y", "hf_ratio", "fd" (FD-CIFAR), "diversity" (stochastic
    methods, ``diversity_seeds`` seeds of the first ``diversity_images``)}.

    The batch-1 times are taken in ``repeats`` (>= 2) rounds that call every method once each,
    so a machine that gets busier or quieter during the run slows every row alike. Timing is
    skipped (NaN) without ``timing``."""
    lr_all = data[0]
    fd_features = fd_cifar_features() if fd_cifar else None
    rows = []
    for m in methods:
        calls = iter(range(seed, seed + 2**62))

        def run(lr: torch.Tensor, m: Method = m, calls: Iterator[int] = calls) -> torch.Tensor:
            return m.sample(lr, next(calls))

        run.scale = SCALE_OF_CIFAR
        res = evaluate(run, data, SCALE_OF_CIFAR, fd_features=fd_features)
        spread = None
        if m.stochastic and diversity_seeds > 1:
            spread = sample_diversity(m.sample, lr_all[:diversity_images],
                                      range(seed, seed + diversity_seeds))
        rows.append({"name": m.name, "steps": m.steps, "params_m": m.params / 1e6,
                     "macs_m": m.macs / 1e6, "ms": float("nan"), "ms_iqr": float("nan"),
                     "ips": float("nan"), **{k: res[k] for k in METRICS},
                     "hf_ratio": res["hf_ratio"], "fd": res["fd"], "diversity": spread})
    if timing:
        with num_threads(threads):
            fns = [lambda x, m=m: m.sample(x, seed) for m in methods]
            for row, (ms, iqr) in zip(rows, interleaved_ms(fns, lr_all[:1], repeats),
                                      strict=True):
                row.update(ms=ms, ms_iqr=iqr)
            many = lr_all[:batch]
            for row, fn in zip(rows, fns, strict=True):
                lat = measure_latency(fn, many, warmup=1, repeats=3)
                row["ips"] = len(many) / lat.median_ms * 1000
    return rows


def interleaved_ms(fns: Sequence[Callable[[torch.Tensor], object]], x: torch.Tensor,
                   repeats: int = 20, warmup: int = 3) -> list[tuple[float, float]]:
    """(median, interquartile range) in ms of each ``fn(x)``, timed in ``repeats`` rounds that
    call every function once (after ``warmup`` untimed calls each), so slow drifts of the
    machine's load hit every function alike. ``repeats`` >= 2."""
    if repeats < 2 or warmup < 0:
        raise ValueError(f"need repeats >= 2 and warmup >= 0, got {repeats}, {warmup}")
    times: list[list[float]] = [[] for _ in fns]
    with torch.no_grad():
        for fn in fns:
            for _ in range(warmup):
                fn(x)
    for _ in range(repeats):
        for t, fn in zip(times, fns, strict=True):
            t.append(measure_latency(fn, x, warmup=0, repeats=1).median_ms)
    out = []
    for t in times:
        q = statistics.quantiles(t, n=4)
        out.append((statistics.median(t), q[2] - q[0]))
    return out


def fastest(rows: Sequence[dict]) -> tuple[dict, list[dict]]:
    """The row with the lowest median ``ms`` and the other rows that tie with it: those whose
    median lies within the timing noise, the larger of the two rows' ``ms_iqr``. A row is only
    "faster" than a tie when the gap exceeds that noise."""
    if not rows:
        raise ValueError("fastest: no rows")
    if any(not r["ms"] == r["ms"] for r in rows):  # NaN: timing was skipped
        raise ValueError("fastest: a row has no timing (method_rows(..., timing=False))")
    best = min(rows, key=lambda r: r["ms"])
    ties = [r for r in rows if r is not best
            and r["ms"] - best["ms"] <= max(r["ms_iqr"], best["ms_iqr"])]
    return best, ties


# --- the comparison rows of notebook 06 and ``bench diffusion-sr``: recipes and training ------

# one budget for every row (``python -m srlab bench diffusion-sr --train`` uses it)
ROW_BUDGET = {"steps": 4000, "batch_size": 128, "lr": 2e-3}
ROW_LABELS = {  # row name (shipped weights: "cmp_<name>") -> the table's label
    "regression": "regression",
    # SR3-style: conditioned on the upsampled image as SR3 is, but the *residual* over it is
    # diffused, as in SRDiff (Li et al. 2022); SR3 itself diffuses the HR image
    "sr3_linear_s1": "SR3-style residual DDIM linear, s=1",
    "sr3_linear": "SR3-style residual DDIM linear, s=1/std",
    "sr3_cosine": "SR3-style residual DDIM cosine, s=1/std",
    "resshift_t15": "ResShift T=15",
    "resshift_t4": "ResShift T=4",
    "sinsr_student": "SinSR-style student",
    "resdiff": "ResDiff-style",
}
ROWS = tuple(ROW_LABELS)


def fresh_row(name: str, residual_scale: float) -> nn.Module:
    """An untrained network for row ``name`` (a key of ``ROW_LABELS`` other than the student,
    which starts as a copy of its teacher: ``sinsr_student``). ``residual_scale``: 1 / the
    residual's std on the training images, for the SR3 rows that scale it."""
    makers = {
        "regression": lambda: TinyUNetSR(mode="regression"),
        "sr3_linear_s1": lambda: TinyUNetSR(schedule="linear"),
        "sr3_linear": lambda: TinyUNetSR(schedule="linear", residual_scale=residual_scale),
        "sr3_cosine": lambda: TinyUNetSR(schedule="cosine", residual_scale=residual_scale),
        "resshift_t15": lambda: ResShiftSR(T=15, min_noise=0.04),
        "resshift_t4": lambda: ResShiftSR(T=4, min_noise=0.2),
        "resdiff": lambda: ResDiffSR(schedule="linear"),
    }
    if name not in makers:
        raise ValueError(f"unknown comparison row {name!r}: expected one of "
                         f"{', '.join(makers)} (the student is made from its teacher)")
    return makers[name]()


def train_rows(train_hr: torch.Tensor, names: Sequence[str] = ROWS, *, steps: int,
               batch_size: int, lr: float = 2e-3, device: str | torch.device = "cpu",
               ckpt_dir: str | os.PathLike, source: str = "", teacher: nn.Module | None = None,
               log: Callable[[str], None] = print) -> dict[str, nn.Module]:
    """Train the comparison rows ``names`` alike (Adam, ``steps`` x ``batch_size``, seed 0,
    flips) on ``train_hr`` (N, 3, 32, 32) uint8 HR images; return {name: network} on the CPU
    in eval mode.

    Each run keeps a resumable checkpoint in ``ckpt_dir`` named by row, budget and image count
    (a rerun loads it). The SinSR student is distilled from ``resshift_t4``: trained in the
    same call when listed, else ``teacher``. ResDiff trains its CNN and then its denoiser for
    half the steps each, the same total.
    """
    unknown = [n for n in names if n not in ROW_LABELS]
    if unknown:
        raise ValueError(f"unknown comparison rows {unknown}: expected some of {', '.join(ROWS)}")
    if "sinsr_student" in names and "resshift_t4" not in names and teacher is None:
        raise ValueError("the SinSR student needs its teacher: list 'resshift_t4' too or pass "
                         "teacher=")
    batches = PatchSampler(train_hr, scale=2, patch_size=None, augment="flip", device=device,
                           source=source)
    std = TinyUNetSR.residual_std(train_hr)
    if not std > 0:
        raise ValueError(f"the {len(train_hr)} training images have no detail beyond bicubic "
                         "(residual std 0): expected real HR images, (N, 3, 32, 32) uint8")
    residual_scale = 1 / std
    tag = f"{steps}x{batch_size}_{len(train_hr)}img"
    ckpt_dir = Path(ckpt_dir)
    common = dict(batch_size=batch_size, lr=lr, amp=False, device=device, log_every=25,
                  progress=False)
    nets: dict[str, nn.Module] = {}
    for name in sorted(names, key=ROWS.index):  # the teacher before its student
        seed_everything(0)
        if name == "sinsr_student":
            teach = nets.get("resshift_t4", teacher)
            net = sinsr_student(teach)
            h = fit(net, batches, steps=steps, loss=sinsr_loss(teach.to(device)),
                    ckpt_path=ckpt_dir / f"{name}_{tag}.ckpt", **common)
            teach.cpu()
            seconds = h["seconds"]
        elif name == "resdiff":
            net = fresh_row(name, residual_scale)
            half = max(steps // 2, 1)
            h1 = fit(net, batches, steps=half, loss=lambda m, lr_, hr: m.cnn_loss(lr_, hr),
                     ckpt_path=ckpt_dir / f"{name}_cnn_{tag}.ckpt", **common)
            net.cnn.requires_grad_(False)  # stage 2 trains the denoiser only
            lr_fit, hr_fit = make_pairs(train_hr[:2000].float().to(device) / 255, 2)
            net.config["residual_scale"] = 1 / net.residual_std(lr_fit, hr_fit)
            h = fit(net, batches, steps=half, loss="model",
                    ckpt_path=ckpt_dir / f"{name}_{tag}.ckpt", **common)
            seconds = h1["seconds"] + h["seconds"]
        else:
            net = fresh_row(name, residual_scale)
            h = fit(net, batches, steps=steps, loss="model",
                    ckpt_path=ckpt_dir / f"{name}_{tag}.ckpt", **common)
            seconds = h["seconds"]
        nets[name] = net.cpu().eval()
        log(f"  {ROW_LABELS[name]:<39} {sum(p.numel() for p in net.parameters()):>7,} "
            f"parameters, {seconds:5.0f} s, last loss {h['loss'][-1]:.4f}")
    return nets


def row_methods(nets: dict[str, nn.Module]) -> list[Method]:
    """bicubic, then one ``Method`` per row in ``nets`` (the table's order), plus the
    ResShift T=4 model sampled with SinSR's ODE (the student's teacher) when present."""
    methods = [bicubic_method()]
    for name in sorted(nets, key=ROWS.index):
        methods.append(Method.from_model(ROW_LABELS[name], nets[name]))
        if name == "resshift_t4":
            ode = ResShiftSR.from_config({**nets[name].config, "deterministic": True})
            ode.load_state_dict(nets[name].state_dict())
            methods.append(Method.from_model("ResShift T=4, SinSR ODE", ode.eval()))
    return methods


def card_methods() -> list[Method]:
    """The shipped card-budget TinyUNets (24,000 x 256, not ``ROW_BUDGET``) as reference rows:
    regression, and the 5-step residual DDIM linear, labelled with its residual scale ("s=1/std"
    or "s=1")."""
    linear = pretrained.load("tinyunet_diffusion_linear")
    scale = "s=1" if linear.config["residual_scale"] == 1 else "s=1/std"
    return [Method.from_model("regression (card budget)", pretrained.load("tinyunet_regression")),
            Method.from_model(f"SR3-style residual DDIM linear, {scale} (card budget)", linear,
                              steps=5)]


def shipped_rows(names: Sequence[str] = ROWS) -> dict[str, nn.Module]:
    """The shipped comparison networks (``srlab/weights/cmp_<name>.pt``, trained with
    ``ROW_BUDGET``), {name: network} on the CPU in eval mode."""
    return {name: pretrained.load(f"cmp_{name}") for name in names}


def comparison_rows(retrain: bool | None = None, device: str | torch.device = "cpu",
                    log: Callable[[str], None] = print) -> dict[str, nn.Module]:
    """Notebook 06's rows, {name: network} on the CPU in eval mode: the shipped ones, or with
    ``retrain`` (default: the environment variable ``SRLAB_RETRAIN_ROWS=1``) every row trained
    again with ``ROW_BUDGET`` on the whole CIFAR-10 training split on ``device`` (resumable
    checkpoints in ``output_dir()/diffusion-sr``; hours on a CPU, see the model card)."""
    if retrain is None:
        retrain = os.environ.get("SRLAB_RETRAIN_ROWS") == "1"
    if not retrain:
        return shipped_rows()
    train_hr, source = cifar10_hr("train", verbose=False)
    b = ROW_BUDGET
    return train_rows(train_hr, ROWS, steps=b["steps"], batch_size=b["batch_size"], lr=b["lr"],
                      device=device, ckpt_dir=output_dir() / "diffusion-sr", source=source,
                      log=log)


# The TinyUNet paper's Table 1, as printed: its Param(M) column (1.7-3.4M for SinSR, ResShift,
# ResDiff) matches neither the published models (ResShift / SinSR: about 119M) nor ours, and
# its training and timing settings are not stated; printed next to ours, never mixed into it.
PAPER_TABLE = (
    {"name": "SinSR", "steps": 1, "params_m": 2.1, "ms": 12.4, "psnr_rgb": 27.2, "ssim_rgb": 0.83},
    {"name": "ResShift", "steps": 15, "params_m": 1.7, "ms": 20.2, "psnr_rgb": 28.9,
     "ssim_rgb": 0.85},
    {"name": "ResDiff", "steps": 50, "params_m": 3.4, "ms": 45.5, "psnr_rgb": 29.8,
     "ssim_rgb": 0.86},
    {"name": "TinyUNet (5-step DDIM)", "steps": 5, "params_m": 0.15, "ms": 6.8, "psnr_rgb": 28.5,
     "ssim_rgb": 0.84},
)


PAPER_TABLE_NOTE = ("the TinyUNet paper's rows as printed; their sizes match neither the published "
                    "models (ResShift/SinSR about 119M parameters) nor ours, and its settings are "
                    "not stated")


def format_paper_table() -> str:
    """``PAPER_TABLE`` as an aligned text table, every value as the paper prints it (what the
    rows are: ``PAPER_TABLE_NOTE``)."""
    keys = ("name", "steps", "params_m", "ms", "psnr_rgb", "ssim_rgb")
    lines = [("model", "Step", "Param(M)", "ms", "PSNR", "SSIM")]
    lines += [tuple(str(r[k]) for k in keys) for r in PAPER_TABLE]
    widths = [max(len(line[i]) for line in lines) for i in range(len(keys))]
    return "\n".join(" ".join(v.ljust(w) if i == 0 else v.rjust(w)
                              for i, (v, w) in enumerate(zip(line, widths, strict=True)))
                     for line in lines)


TABLE_COLUMNS = ("name", "steps", "params_m", "macs_m", "ms", "ips", "psnr_rgb", "ssim_rgb",
                 "hf_ratio", "fd", "diversity")


# --- the TinyUNet ablation (model card): the network inside the paper's shape, <= 150k params --

ABLATION = {  # name -> (width, TinyUNet variant options); regression TinyUNets, ROW_BUDGET
    "paper: 48/96, ReLU": ((48, 96), {}),
    "SiLU": ((48, 96), {"activation": "silu"}),
    "full-res first stage, 48/92": ((48, 92), {"first_stride": 1}),
    "separable, 144/384": ((144, 384), {"separable": True}),
    "pixel shuffle, 38/76": ((38, 76), {"upsample": "pixel_shuffle"}),
    "separable + pixel shuffle, 96/192": ((96, 192), {"separable": True,
                                                       "upsample": "pixel_shuffle"}),
}


def ablation_model(name: str, mode: str = "regression") -> TinyUNetSR:
    """A fresh TinyUNetSR (``mode``) with the network of ablation variant ``name``."""
    if name not in ABLATION:
        raise ValueError(f"unknown ablation variant {name!r}: expected one of "
                         f"{', '.join(ABLATION)}")
    width, options = ABLATION[name]
    return TinyUNetSR(mode=mode, width=width, net=options or None)


def train_ablation(train_hr: torch.Tensor, names: Sequence[str] | None = None, *,
                   steps: int, batch_size: int, lr: float = 2e-3,
                   device: str | torch.device = "cpu", ckpt_dir: str | os.PathLike,
                   source: str = "", log: Callable[[str], None] = print
                   ) -> dict[str, TinyUNetSR]:
    """Train the regression TinyUNet of every ablation variant ``names`` as ``train_rows``
    trains its rows (same batches, seed and budget; resumable checkpoints in ``ckpt_dir``);
    return {name: model} on the CPU in eval mode. ``names``: default every variant."""
    names = list(ABLATION) if names is None else names
    batches = PatchSampler(train_hr, scale=2, patch_size=None, augment="flip", device=device,
                           source=source)
    tag = f"{steps}x{batch_size}_{len(train_hr)}img"
    models = {}
    for name in names:
        seed_everything(0)
        model = ablation_model(name)
        h = fit(model, batches, steps=steps, batch_size=batch_size, lr=lr, loss="model",
                amp=False, device=device, log_every=25, progress=False,
                ckpt_path=Path(ckpt_dir) / f"ablation{list(ABLATION).index(name)}_{tag}.ckpt")
        models[name] = model.cpu().eval()
        log(f"  {name:<34} {sum(p.numel() for p in model.parameters()):>7,} parameters, "
            f"{h['seconds']:5.0f} s, last loss {h['loss'][-1]:.4f}")
    return models
