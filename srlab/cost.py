"""What a network costs: the SMSRN paper's convolution cost equations, parameters, MACs, latency.

The equations count multiply-accumulates (MACs) per output pixel of a k x k convolution with
D input and N output channels; multiply by H x W for a whole feature map.

Taught in notebook 01 (and used in 03 for MSRN vs SMSRN).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from srlab.layers import DepthwiseSeparableConv2d


def conv_cost(k: int, d: int, n: int) -> int:
    """Standard k x k conv, D -> N channels: k^2 * D * N MACs per pixel (equation (1))."""
    return k * k * d * n


def depthwise_cost(k: int, d: int) -> int:
    """Depthwise k x k conv on D channels: k^2 * D MACs per pixel (equation (2))."""
    return k * k * d


def pointwise_cost(d: int, n: int) -> int:
    """Pointwise 1x1 conv, D -> N channels: D * N MACs per pixel (equation (3))."""
    return d * n


def separable_cost(k: int, d: int, n: int) -> int:
    """Depthwise then pointwise: D (k^2 + N) MACs per pixel (equation (4))."""
    return depthwise_cost(k, d) + pointwise_cost(d, n)


def separable_ratio(k: int, n: int) -> float:
    """Separable / standard cost = 1/N + 1/k^2, independent of D (equation (5))."""
    return 1 / n + 1 / k**2


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (only those with ``requires_grad`` unless told otherwise)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
               input_shape: Sequence[int] | torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass, measured by ``torch.utils.flop_counter``.

    ``input_shape`` is e.g. (1, 3, 128, 128) (a zero tensor on the model's device is used)
    or an input tensor. FlopCounterMode counts 2 FLOPs per MAC of conv/matmul ops, so
    MACs = FLOPs / 2. Element-wise ops (ReLU, additions) are not counted, as in papers.
    """
    if isinstance(input_shape, torch.Tensor):
        x = input_shape
    else:
        device = next((p.device for p in getattr(model, "parameters", list)()), torch.device("cpu"))
        x = torch.zeros(tuple(input_shape), device=device)
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(x)
    except Exception as err:
        name = type(model).__name__
        raise ValueError(
            f"count_macs: {name} failed on an input of shape {tuple(x.shape)}: {err}"
        ) from err
    return counter.get_total_flops() // 2


@dataclass
class Latency:
    """Wall-clock time of one call in milliseconds: median and interquartile range."""

    median_ms: float
    iqr_ms: float
    min_ms: float
    repeats: int
    device: str

    def __str__(self) -> str:
        return f"{self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f}, n={self.repeats}, {self.device})"


def synchronize(device: torch.device | str) -> None:
    """Wait until ``device`` has finished its queued work (CUDA, MPS); a no-op on the CPU.

    GPU calls return as soon as the work is queued, so a timer must wait for the device.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def measure_latency(fn: nn.Module | Callable[[torch.Tensor], object], x: torch.Tensor,
                    warmup: int = 3, repeats: int = 10) -> Latency:
    """Time ``fn(x)`` under ``torch.no_grad()``: ``warmup`` untimed calls, then ``repeats``.

    On a GPU (CUDA or Apple MPS) the device of ``x`` is synchronised before and after each
    call, so the time covers the work, not just queueing it. Report the median: single
    runs are noisy. Returns a ``Latency`` in milliseconds.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            synchronize(x.device)
            start = time.perf_counter()
            fn(x)
            synchronize(x.device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return Latency(statistics.median(times), q[2] - q[0], min(times), repeats, str(x.device))


def cost_table(k: int = 3, d: int = 64, n: int = 128, size: int = 64) -> str:
    """Standard vs depthwise-separable conv: formula cost, measured MACs and parameters."""
    standard = nn.Conv2d(d, n, k, padding=k // 2)
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
