"""Noise schedules for diffusion models: linear, cosine and zero-terminal-SNR rescaling.

A schedule is a 1-D tensor of ``T`` betas (``beta_t`` is the variance of the noise added at
step ``t``, timesteps are 0-indexed: ``t = 0 .. T-1``). :class:`NoiseSchedule` turns the betas
into every quantity the forward process and the samplers need:

    alpha_t = 1 - beta_t,   alpha_bar_t = prod_{s <= t} alpha_s,
    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,
    SNR(t) = alpha_bar_t / (1 - alpha_bar_t).

Taught in notebook 04.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch

from srlab.checks import check_choice, check_int

SCHEDULES = ("linear", "cosine")


def _check_T(T: object) -> int:
    return check_int(T, "T (the number of diffusion steps)", minimum=1)


def linear_schedule(T: int) -> torch.Tensor:
    """DDPM betas from 1e-4 to 0.02 (Ho et al. 2020), scaled by 1000/T as in improved-diffusion.

    Returns a float64 tensor (T,). For T < 50 the scaled betas would reach 1 or more; they are
    capped at 0.999 (the cap of the cosine schedule) so every T gives a valid schedule.
    """
    T = _check_T(T)
    scale = 1000.0 / T
    betas = torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64)
    return betas.clamp(max=0.999)


def cosine_schedule(T: int, s: float = 0.008) -> torch.Tensor:
    """Cosine schedule of Nichol & Dhariwal 2021 (eq. 17): float64 betas (T,), capped at 0.999.

    alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) * pi/2),
    beta_t = min(1 - alpha_bar(t+1) / alpha_bar(t), 0.999) for t = 0 .. T-1.
    """
    T = _check_T(T)
    if not (isinstance(s, (int, float)) and 0 <= s < 1):
        raise ValueError(f"cosine_schedule: offset s must be a float in [0, 1), got {s!r}")
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(min=0.0, max=0.999)


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Rescale betas so the last step has zero SNR (Lin et al. 2024, Algorithm 1).

    sqrt(alpha_bar) is shifted so its last value is 0 and scaled so its first value is
    unchanged. Returns float64 betas (T,) whose last beta is exactly 1 (alpha_bar_{T-1} = 0):
    the final x_t is pure noise, as it is at sampling time. Needs T >= 2.
    """
    betas = _as_betas(betas)
    if betas.numel() < 2:
        raise ValueError("rescale_zero_terminal_snr needs at least 2 betas")
    sqrt_ab = torch.cumprod(1 - betas, 0).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * (first / (first - last))
    alpha_bar = sqrt_ab**2
    alphas = torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])
    return 1 - alphas


def _as_betas(betas: object) -> torch.Tensor:
    """Validate betas: 1-D, finite, 0 < beta < 1, except a last beta of exactly 1 (zero SNR)."""
    if not isinstance(betas, torch.Tensor):
        try:
            betas = torch.as_tensor(betas, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(
                f"betas: expected a 1-D tensor of floats, got {type(betas).__name__}"
            ) from e
    if betas.ndim != 1 or betas.numel() < 1:
        raise ValueError(
            f"betas: expected a non-empty 1-D tensor (T,), got shape {tuple(betas.shape)}"
        )
    if not betas.is_floating_point():
        raise TypeError(f"betas: expected a float tensor, got dtype {betas.dtype}")
    b = betas.detach().to("cpu", torch.float64)
    if not torch.isfinite(b).all():
        raise ValueError("betas: found NaN or infinite values")
    if (b <= 0).any():
        i = int(torch.nonzero(b <= 0)[0])
        raise ValueError(f"betas must be > 0, got beta[{i}] = {float(b[i]):.4g}")
    # A beta of exactly 1 destroys all signal; allowed only as the final step (zero terminal SNR).
    bad = torch.nonzero(b[:-1] >= 1).flatten().tolist() + ([len(b) - 1] if b[-1] > 1 else [])
    if bad:
        i = bad[0]
        raise ValueError(
            f"betas must be < 1 (only the last may be exactly 1, for zero terminal SNR), "
            f"got beta[{i}] = {float(b[i]):.6g}"
        )
    return b


@dataclass(frozen=True)
class NoiseSchedule:
    """All per-timestep quantities of a diffusion process, computed once from ``betas``.

    ``NoiseSchedule(betas, name="linear")`` validates the betas and computes, as float64
    tensors of shape (T,): ``betas``, ``alphas``, ``alpha_bar``, ``alpha_bar_prev`` (with
    alpha_bar_{-1} = 1), ``sqrt_alpha_bar``, ``sqrt_one_minus_alpha_bar``. The samplers cast
    them to the dtype of x when used. Move to a device with ``.to(device)``.
    """

    betas: torch.Tensor
    name: str = "custom"
    alphas: torch.Tensor = field(init=False, repr=False)
    alpha_bar: torch.Tensor = field(init=False, repr=False)
    alpha_bar_prev: torch.Tensor = field(init=False, repr=False)
    sqrt_alpha_bar: torch.Tensor = field(init=False, repr=False)
    sqrt_one_minus_alpha_bar: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        device = self.betas.device if isinstance(self.betas, torch.Tensor) else "cpu"
        betas = _as_betas(self.betas)
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        if betas[-1] == 1:
            alpha_bar[-1] = 0.0  # exact zero, not a rounding residue
        values = {
            "betas": betas,
            "alphas": alphas,
            "alpha_bar": alpha_bar,
            "alpha_bar_prev": torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]]),
            "sqrt_alpha_bar": alpha_bar.sqrt(),
            "sqrt_one_minus_alpha_bar": (1 - alpha_bar).sqrt(),
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)
        if torch.device(device).type != "cpu":
            moved = self.to(device)
            for key in values:
                object.__setattr__(self, key, getattr(moved, key))

    @property
    def T(self) -> int:
        """Number of diffusion steps."""
        return int(self.betas.numel())

    @property
    def zero_terminal_snr(self) -> bool:
        """True when alpha_bar at the last step is exactly 0 (the last x_t is pure noise)."""
        return bool(self.alpha_bar[-1] == 0)

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def to(self, device: torch.device | str) -> NoiseSchedule:
        """A copy with every tensor on ``device`` (float32 on MPS, which has no float64)."""
        device = torch.device(device)
        dtype = torch.float32 if device.type == "mps" else torch.float64
        moved = copy.copy(self)
        for key in ("betas", "alphas", "alpha_bar", "alpha_bar_prev", "sqrt_alpha_bar",
                    "sqrt_one_minus_alpha_bar"):
            object.__setattr__(moved, key, getattr(self, key).to(device, dtype))
        return moved

    def check_t(self, t: int | torch.Tensor) -> torch.Tensor:
        """Validate timesteps (int or integer tensor, values in [0, T-1]); returns a LongTensor."""
        if isinstance(t, bool):
            raise TypeError(f"t: expected integer timesteps in [0, {self.T - 1}], got a bool")
        if isinstance(t, int):
            t = torch.tensor(t)
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"t: expected an int or an integer tensor of timesteps in [0, {self.T - 1}], "
                f"got {type(t).__name__}"
            )
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"t: expected integer timesteps (torch.long), got dtype {t.dtype}")
        if t.numel() > 0:
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi > self.T - 1:
                raise ValueError(
                    f"t: timesteps must be in [0, {self.T - 1}] for a schedule with T={self.T}, "
                    f"got min {lo}, max {hi}"
                )
        return t.long()

    def snr(self, t: int | torch.Tensor) -> torch.Tensor:
        """Signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t) (0 at a zero-terminal-SNR end)."""
        t = self.check_t(t).to(self.device)
        ab = self.alpha_bar[t]
        return ab / (1 - ab)

    def log_snr(self, t: int | torch.Tensor) -> torch.Tensor:
        """Natural log of :meth:`snr` (-inf where alpha_bar is 0)."""
        return self.snr(t).log()

    def as_dict(self) -> dict:
        """What identifies the schedule, for checkpoints: ``make_schedule(**d)`` rebuilds it."""
        return {"name": self.name, "T": self.T, "zero_terminal_snr": self.zero_terminal_snr}

    def describe(self) -> str:
        """One line, e.g. ``cosine schedule, T=1000, zero terminal SNR``."""
        zsnr = ", zero terminal SNR" if self.zero_terminal_snr else ""
        return f"{self.name} schedule, T={self.T}{zsnr}"

    def check_matches(self, other: dict, what: str = "checkpoint") -> None:
        """Raise ``ValueError`` if ``other`` (an :meth:`as_dict`) describes another schedule."""
        mine = self.as_dict()
        diffs = [f"{k}: {what} has {other.get(k)!r}, this schedule has {mine[k]!r}"
                 for k in mine if other.get(k) != mine[k]]
        if diffs:
            raise ValueError(
                f"noise schedule mismatch with the {what} (" + "; ".join(diffs) + "). "
                f"Rebuild the schedule with make_schedule(**{other!r})."
            )


def make_schedule(
    name: str = "linear",
    T: int = 1000,
    zero_terminal_snr: bool = False,
    device: torch.device | str | None = None,
) -> NoiseSchedule:
    """Build a :class:`NoiseSchedule`: ``name`` in {"linear", "cosine"}, ``T`` steps,
    optionally rescaled to zero terminal SNR, on ``device`` (default CPU)."""
    check_choice(name, SCHEDULES, "schedule")
    betas = linear_schedule(T) if name == "linear" else cosine_schedule(T)
    if zero_terminal_snr:
        betas = rescale_zero_terminal_snr(betas)
    schedule = NoiseSchedule(betas, name=name)
    return schedule.to(device) if device is not None else schedule
