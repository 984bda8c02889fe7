"""Any SR method as a row of one comparison table: the prototyping API of notebook 06.

A method is a function ``sample(lr, seed) -> sr`` with a name, a step count and its cost
(``Method``; ``Method.from_model`` wraps a TinyUNetSR / ResShiftSR / ResDiffSR);
``method_rows`` measures every method alike on CIFAR-style test pairs: cost (parameters, MACs,
ms at batch 1 and images/s batched on the CPU), PSNR/SSIM, HF ratio, FD-CIFAR and diversity.
Print the rows with ``srlab.evaluate.format_table``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from srlab.config import num_threads
from srlab.cost import count_macs, measure_latency
from srlab.degradation import bicubic
from srlab.evaluate import METRICS, evaluate, fd_cifar_features, sample_diversity

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
    with ``threads`` threads), "ips" (images per second at batch ``batch``, same threads),
    "psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y", "hf_ratio", "fd" (FD-CIFAR), "diversity"
    (stochastic methods, ``diversity_seeds`` seeds of the first ``diversity_images``)}.
    Timing is skipped (NaN) without ``timing``."""
    lr_all = data[0]
    fd_features = fd_cifar_features() if fd_cifar else None
    rows = []
    for m in methods:
        calls = iter(range(seed, seed + 2**62))

        def run(lr: torch.Tensor, m: Method = m, calls: Iterator[int] = calls) -> torch.Tensor:
            return m.sample(lr, next(calls))

        run.scale = SCALE_OF_CIFAR
        res = evaluate(run, data, SCALE_OF_CIFAR, fd_features=fd_features)
        ms = ips = float("nan")
        if timing:
            with num_threads(threads):
                one = lr_all[:1]
                ms = measure_latency(lambda x, m=m: m.sample(x, seed), one, warmup=3,
                                     repeats=repeats).median_ms
                many = lr_all[:batch]
                lat = measure_latency(lambda x, m=m: m.sample(x, seed), many, warmup=1, repeats=3)
                ips = len(many) / lat.median_ms * 1000
        spread = None
        if m.stochastic and diversity_seeds > 1:
            spread = sample_diversity(m.sample, lr_all[:diversity_images],
                                      range(seed, seed + diversity_seeds))
        rows.append({"name": m.name, "steps": m.steps, "params_m": m.params / 1e6,
                     "macs_m": m.macs / 1e6, "ms": ms, "ips": ips,
                     **{k: res[k] for k in METRICS}, "hf_ratio": res["hf_ratio"],
                     "fd": res["fd"], "diversity": spread})
    return rows
