"""2-D toy diffusion: small target distributions, a tiny MLP denoiser and a distance to the target.

Used by notebook 04 to make few-step sampling failures visible in seconds on a CPU.
All points are float32 tensors (N, 2) with values roughly in [-1, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from srlab.config import num_threads

from .ddpm import diffusion_loss
from .schedules import NoiseSchedule

TOY_DATASETS = ("ring", "moons")


def toy_data(name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples (n, 2) of a 2-D distribution, scaled to lie roughly inside [-1, 1]^2.

    "ring": 8 Gaussian blobs (std 0.05) evenly spaced on a circle of radius 0.8.
    "moons": two interleaved half-circles with Gaussian jitter (std 0.05).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if name == "ring":
        k = torch.randint(0, 8, (n,), generator=generator)
        angle = k.float() * (2 * math.pi / 8)
        centres = 0.8 * torch.stack([angle.cos(), angle.sin()], 1)
        return centres + 0.05 * torch.randn(n, 2, generator=generator)
    if name == "moons":
        u = torch.rand(n, generator=generator) * math.pi
        upper = torch.rand(n, generator=generator) < 0.5
        x = torch.where(upper, u.cos(), 1 - u.cos())
        y = torch.where(upper, u.sin(), 0.5 - u.sin())
        pts = torch.stack([x, y], 1) - torch.tensor([0.5, 0.25])
        return 0.6 * pts + 0.05 * torch.randn(n, 2, generator=generator)
    raise ValueError(f"unknown toy dataset {name!r}; expected one of {TOY_DATASETS}")


def timestep_embedding(t: torch.Tensor, dim: int, T: int) -> torch.Tensor:
    """Sinusoidal embedding (N, dim) of integer timesteps t (N,) in [0, T-1] (Vaswani et al.)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angles = (t.float() / T * 1000.0)[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


class ToyDenoiser(nn.Module):
    """MLP denoiser for 2-D points: ``model(x_t (N, 2), t (N,), cond=None) -> (N, 2)``.

    The time embedding is added after the first layer; ``cond`` is ignored (unconditional).
    """

    def __init__(self, T: int, hidden: int = 128, depth: int = 3, t_dim: int = 32):
        super().__init__()
        self.T, self.t_dim = T, t_dim
        self.inp = nn.Linear(2, hidden)
        self.t_proj = nn.Sequential(nn.Linear(t_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        layers: list[nn.Module] = []
        for _ in range(depth - 1):
            layers += [nn.SiLU(), nn.Linear(hidden, hidden)]
        self.body = nn.Sequential(*layers, nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: object = None) -> torch.Tensor:
        if x_t.ndim != 2 or x_t.shape[1] != 2:
            raise ValueError(f"x_t: expected points of shape (N, 2), got {tuple(x_t.shape)}")
        h = self.inp(x_t) + self.t_proj(timestep_embedding(t, self.t_dim, self.T))
        return self.body(h)


def train_toy(
    model: nn.Module,
    data: torch.Tensor,
    schedule: NoiseSchedule,
    prediction: str = "eps",
    steps: int = 1500,
    batch_size: int = 512,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` with :func:`diffusion_loss` on random batches of ``data`` (N, 2).

    Adam with a cosine learning-rate decay, on one CPU thread (a network this small runs
    faster and steadier on one); returns the loss of every step. Deterministic for a given seed.
    """
    if schedule.T != getattr(model, "T", schedule.T):
        raise ValueError(f"model was built for T={model.T}, schedule has T={schedule.T}")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    model.train()
    with num_threads(1):
        for _ in range(steps):
            batch = data[torch.randint(0, len(data), (batch_size,), generator=g)]
            loss = diffusion_loss(model, batch, None, schedule, prediction, generator=g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    model.eval()
    return losses


def sliced_wasserstein(
    a: torch.Tensor, b: torch.Tensor, n_projections: int = 256, seed: int = 0
) -> float:
    """Sliced 2-Wasserstein distance between point clouds a (N, D) and b (M, D).

    Both clouds are projected on ``n_projections`` random unit directions; in 1-D the
    W2 distance compares sorted values (quantiles at the same levels when N != M).
    0 for identical clouds; for a cloud translated by a vector d it is about |d| / sqrt(D)
    (the mean of (u . d)^2 over unit directions u is |d|^2 / D).
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            "expected two point clouds (N, D) and (M, D), "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(a.shape[1], n_projections, generator=g, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    pa = (a.detach().cpu().double() @ dirs).sort(0).values
    pb = (b.detach().cpu().double() @ dirs).sort(0).values
    if len(pa) != len(pb):
        m = min(len(pa), len(pb))
        q = (torch.arange(m, dtype=torch.float64) + 0.5) / m
        pa, pb = torch.quantile(pa, q, dim=0), torch.quantile(pb, q, dim=0)
    return float(((pa - pb) ** 2).mean().sqrt())
