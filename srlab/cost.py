"""What a network costs: the SMSRN paper's convolution cost equations, parameters, MACs, latency.

The equations count multiply-accumulates (MACs) per output pixel of a k x k convolution with
D input and N output channels; multiply by H x W for a whole feature map.

Taught in notebook 01 (and used in 03 for MSRN vs SMSRN).
"""

from __future__ import annotations

import math
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


PARTS = ("standard", "depthwise", "pointwise", "separable")


def conv_bytes(d_in: int, d_out: int, pixels: int, n_params: int, itemsize: int = 4) -> int:
    """The fewest bytes a conv can move: it reads its input (``d_in`` x ``pixels`` values) and its
    ``n_params`` parameters and writes its output (``d_out`` x ``pixels``), each once;
    ``itemsize`` 4 is float32. ``pixels`` is B x H x W of the feature map."""
    return itemsize * (d_in * pixels + d_out * pixels + n_params)


def roofline_ms(macs: float, nbytes: float, mac_rate: float, bandwidth: float) -> float:
    """The roofline model's lower bound on a layer's time, in ms.

    The layer must do ``macs`` at no more than ``mac_rate`` MACs/s and move ``nbytes`` at no more
    than ``bandwidth`` bytes/s, so t >= max(macs / mac_rate, nbytes / bandwidth).
    """
    if mac_rate <= 0 or bandwidth <= 0:
        raise ValueError(f"rates must be positive, got {mac_rate} MACs/s and {bandwidth} B/s")
    return 1000 * max(macs / mac_rate, nbytes / bandwidth)


def copy_bandwidth(nbytes: int = 64 * 2**20, repeats: int = 5,
                   device: torch.device | str = "cpu") -> float:
    """Memory bandwidth in bytes/s, as a plain copy reaches it on ``device``.

    Copies a float32 tensor of ``nbytes`` into one allocated beforehand (so no page faults are
    timed): ``nbytes`` read plus ``nbytes`` written. One untimed copy, then the fastest of
    ``repeats`` (the best the memory did, as a roof should be).
    """
    if repeats < 1 or nbytes < 4:
        raise ValueError(f"need repeats >= 1 and nbytes >= 4, got {repeats}, {nbytes}")
    src = torch.rand(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    best = float("inf")
    for i in range(repeats + 1):
        synchronize(src.device)
        start = time.perf_counter()
        dst.copy_(src)
        synchronize(src.device)
        if i > 0:
            best = min(best, time.perf_counter() - start)
    return 2 * src.numel() * 4 / best


@dataclass
class SeparableTiming:
    """Times of a standard k x k conv (D -> N channels), of the separable layer that replaces it,
    and of that layer's depthwise and pointwise parts alone, on one input of ``pixels`` = B x H x W
    pixels; ``times`` maps each of ``PARTS`` to its ``Latency``. With the MACs and the bytes
    each part moves, so that rates and arithmetic intensities follow."""

    k: int
    d: int
    n: int
    pixels: int
    times: dict[str, Latency]
    device: str
    threads: int

    def _check(self, part: str) -> None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")

    def ms(self, part: str) -> float:
        """Median time of ``part`` in ms."""
        self._check(part)
        return self.times[part].median_ms

    def macs(self, part: str) -> int:
        """MACs of ``part`` on the whole feature map: equations (1)-(4) times the pixels."""
        self._check(part)
        k, d, n = self.k, self.d, self.n
        per_pixel = {"standard": conv_cost(k, d, n), "depthwise": depthwise_cost(k, d),
                     "pointwise": pointwise_cost(d, n), "separable": separable_cost(k, d, n)}
        return per_pixel[part] * self.pixels

    def nbytes(self, part: str) -> int:
        """Fewest bytes ``part`` moves (``conv_bytes``, float32). The separable layer moves its
        two parts' bytes: the depthwise output is written, then read back by the pointwise conv."""
        self._check(part)
        k, d, n, p = self.k, self.d, self.n, self.pixels
        depthwise = conv_bytes(d, d, p, k * k * d + d)
        pointwise = conv_bytes(d, n, p, d * n + n)
        return {"standard": conv_bytes(d, n, p, k * k * d * n + n), "depthwise": depthwise,
                "pointwise": pointwise, "separable": depthwise + pointwise}[part]

    def intensity(self, part: str) -> float:
        """Arithmetic intensity of ``part``: MACs per byte moved."""
        return self.macs(part) / self.nbytes(part)

    def mac_rate(self, part: str) -> float:
        """MACs per second ``part`` reached (at its median time)."""
        return self.macs(part) / (self.ms(part) / 1000)

    def byte_rate(self, part: str) -> float:
        """Bytes per second ``part`` moved (at its median time)."""
        return self.nbytes(part) / (self.ms(part) / 1000)

    @property
    def time_ratio(self) -> float:
        """Separable / standard time, measured: compare it with ``mac_ratio``."""
        return self.ms("separable") / self.ms("standard")

    @property
    def mac_ratio(self) -> float:
        """Separable / standard MACs: 1/N + 1/k^2 (equation (5))."""
        return separable_ratio(self.k, self.n)

    @property
    def depthwise_mac_share(self) -> float:
        """The depthwise part's share of the separable layer's MACs: k^2 / (k^2 + N)."""
        return depthwise_cost(self.k, self.d) / separable_cost(self.k, self.d, self.n)

    @property
    def depthwise_time_share(self) -> float:
        """The depthwise part's time over the whole separable layer's time (measured)."""
        return self.ms("depthwise") / self.ms("separable")

    def summary(self, tolerance: float = 1.2) -> str:
        """One clause, computed from the times: the time ratio next to the MAC ratio, and whether
        the time shrank less than, about as much as, or more than the MACs (within a factor
        ``tolerance``, "about as much"), or did not shrink."""
        if self.time_ratio >= 1:
            verdict = "slower than the standard layer" if self.time_ratio > 1 else "not faster"
        elif self.time_ratio > tolerance * self.mac_ratio:
            verdict = "time shrank less than the MACs"
        elif self.time_ratio * tolerance < self.mac_ratio:
            verdict = "time shrank more than the MACs"
        else:
            verdict = "time shrank about as much as the MACs"
        return (f"k={self.k}: {self.time_ratio:.2f} of the standard layer's time for "
                f"{self.mac_ratio:.4f} of its MACs ({verdict})")


def time_standard_vs_separable(k: int, x: torch.Tensor, n: int | None = None, warmup: int = 3,
                               repeats: int = 10, seed: int = 0) -> SeparableTiming:
    """Time ``nn.Conv2d(D, N, k, padding=k // 2)`` against ``DepthwiseSeparableConv2d(D, N, k)``
    and its depthwise and pointwise parts alone, on ``x`` of shape (B, D, H, W) on ``x``'s device
    (N defaults to D; weights seeded by ``seed``; the pointwise part runs on ``x`` too, which has
    the shape of the depthwise output).

    After ``warmup`` untimed calls each, the four are called in turn in each of ``repeats``
    rounds, so a change of the machine's load hits all alike; each gets the median and IQR over
    the rounds. The thread count is the caller's (``config.num_threads``).
    """
    if x.ndim != 4:
        raise ValueError(f"x must be (B, D, H, W), got shape {tuple(x.shape)}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    d = x.shape[1]
    n = d if n is None else n
    torch.manual_seed(seed)
    standard = nn.Conv2d(d, n, k, padding=k // 2).to(x.device).eval()
    separable = DepthwiseSeparableConv2d(d, n, k).to(x.device).eval()
    layers = dict(zip(PARTS, (standard, separable.depthwise, separable.pointwise, separable),
                      strict=True))
    for layer in layers.values():
        measure_latency(layer, x, warmup=warmup, repeats=1)
    times: dict[str, list[float]] = {part: [] for part in PARTS}
    for _ in range(repeats):
        for part, layer in layers.items():
            times[part].append(measure_latency(layer, x, warmup=0, repeats=1).median_ms)
    latencies = {}
    for part, t in times.items():
        q = statistics.quantiles(t, n=4) if len(t) > 1 else [t[0]] * 3
        latencies[part] = Latency(statistics.median(t), q[2] - q[0], min(t), repeats, str(x.device))
    b, _, h, w = x.shape
    return SeparableTiming(k, d, n, b * h * w, latencies, str(x.device), torch.get_num_threads())


def _g(value: float, width: int) -> str:
    """``value`` to 3 significant digits, no exponent, right-aligned in ``width``
    (1678, 13.4, 4.71, 0.0512)."""
    decimals = max(0, 2 - math.floor(math.log10(abs(value)))) if value else 0
    return f"{value:>{width}.{decimals}f}"


def format_timings(rows: Sequence[SeparableTiming]) -> str:
    """``time_standard_vs_separable`` results as a table, one row per kernel size and part: the
    median time and its IQR (ms), the MACs and bytes the part must handle, and the MAC and byte
    rates it reached (``SeparableTiming.summary`` gives the ratios). With several rows of one
    layer size, a last line gives the spread of the pointwise part's times across rows: the same
    1x1 conv each time, so the spread is run-to-run noise."""
    lines = [f"{'k':>2}  {'layer':<10}{'median ms':>10}{'IQR ms':>8}{'MACs (M)':>10}"
             f"{'MB moved':>10}{'GMAC/s':>8}{'GB/s':>7}"]
    for r in rows:
        for part in PARTS:
            lines.append(f"{r.k:>2}  {part:<10}{_g(r.ms(part), 10)}{_g(r.times[part].iqr_ms, 8)}"
                         f"{r.macs(part) / 1e6:>10.1f}{r.nbytes(part) / 1e6:>10.1f}"
                         f"{_g(r.mac_rate(part) / 1e9, 8)}{_g(r.byte_rate(part) / 1e9, 7)}")
    if len(rows) > 1 and len({(r.d, r.n, r.pixels) for r in rows}) == 1:
        pw = [r.ms("pointwise") for r in rows]
        lines.append(f"noise: the pointwise part is the same 1x1 conv in every row: "
                     f"{_g(min(pw), 0)} to {_g(max(pw), 0)} ms, {max(pw) / min(pw) - 1:.0%} apart")
    return "\n".join(lines)


def roofline_sentence(rows: Sequence[SeparableTiming], part: str, mac_rate: float,
                      bandwidth: float, near: float = 2.0) -> str:
    """Two sentences, computed: where ``part`` of each timed layer sits against the roofline
    with roofs ``mac_rate`` (MACs/s) and ``bandwidth`` (bytes/s).

    For each kernel size: its intensity, which roof bounds it (memory below the balance
    mac_rate / bandwidth, compute above) and its median time over the bound. Within a factor
    ``near`` of the bound it runs near its roof (its time follows its bytes or its MACs);
    further away, something the model leaves out sets its time.
    """
    if not rows:
        raise ValueError("no timings given")
    balance = mac_rate / bandwidth
    clauses, times_bound, roofs = [], [], set()
    for r in rows:
        bound = roofline_ms(r.macs(part), r.nbytes(part), mac_rate, bandwidth)
        roof = "memory" if r.intensity(part) < balance else "compute"
        times_bound.append(r.ms(part) / bound)
        roofs.add(roof)
        clauses.append(f"k={r.k}: {r.intensity(part):.1f} MACs/byte, {roof}-bound, "
                       f"{times_bound[-1]:.1f}x its bound")
    roof = roofs.pop() if len(roofs) == 1 else None
    where = f"the {roof} roof" if roof else "its roof"
    if all(x <= near for x in times_bound):
        follows = {"memory": "the bytes it moves", "compute": "its MACs"}.get(roof, "its roof")
        verdict = f"Near {where}: its time follows {follows}"
    elif all(x > near for x in times_bound):
        verdict = (f"Far below {where}: neither its bytes nor its MACs set its time, something "
                   "the model leaves out does, such as per-call overhead, a less-tuned kernel or "
                   "threads waiting on a busy processor")
    else:
        verdict = "Near its roof for one kernel size, far below it for another"
    return (f"{part.capitalize()} (balance {balance:.1f} MACs/byte): " + "; ".join(clauses)
            + f". {verdict}.")


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
