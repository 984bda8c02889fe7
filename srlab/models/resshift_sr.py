"""ResShift-style x2 SR with a TinyUNet (CIFAR-10 16x16 -> 32x32): a comparison row of notebook 06.

Images are mapped to [-1, 1]; y is the bicubic image, x0 the HR image. The TinyUNet sees
``concat(x_t, y, sqrt(eta_t))`` (7 channels, the last a constant noise-level channel, as in
``TinyUNetSR``) and predicts x0 as ``y + f`` (``residual=True``, the default: like every other
TinyUNet of the course it only has to learn what bicubic misses; its sigmoid is mapped to
(-2, 2), the range of HR - bicubic in this scale) or x0 itself (sigmoid mapped to (-1, 1)). It
is trained with the MSE of x0_hat at a timestep drawn uniformly from 1..T
(``srlab.diffusion.resshift``).
Sampling takes exactly T network calls: stochastic (ResShift) or deterministic (SinSR's ODE).
A ``one_step`` model (a SinSR-style student, ``sinsr_student`` + ``sinsr_loss``) maps x_T to
x0 in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from srlab.checks import check_image, check_pair
from srlab.degradation import bicubic_up
from srlab.diffusion.resshift import ShiftSchedule, shift_q_sample, shift_sample, shift_schedule
from srlab.models.tinyunet import TinyUNet
from srlab.models.tinyunet_sr import seeded_calls

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

SCALE = 2


class ResShiftSR(nn.Module):
    """``upscale(lr, seed=0)``: (N, 3, h, w) in [0, 1], h and w even -> (N, 3, 2h, 2w) in [0, 1],
    in ``T`` network calls. ``deterministic=True`` samples with SinSR's ODE instead of the
    posterior. Schedule options as ``srlab.diffusion.shift_schedule``."""

    kind = "resshift"
    scale = SCALE
    is_diffusion = True

    def __init__(self, T: int = 15, kappa: float = 2.0, power: float = 0.3,
                 min_noise: float = 0.04, width: Sequence[int] = (48, 96),
                 deterministic: bool = False, residual: bool = True,
                 one_step: bool = False) -> None:
        super().__init__()
        self._schedule = shift_schedule(T, kappa, power, min_noise)
        self.net = TinyUNet(7, 3, tuple(width), (-2.0, 2.0) if residual else (-1.0, 1.0))
        self.config = {"T": int(T), "kappa": float(kappa), "power": float(power),
                       "min_noise": float(min_noise), "width": [int(w) for w in width],
                       "deterministic": bool(deterministic), "residual": bool(residual),
                       "one_step": bool(one_step), "scale": SCALE}
        # the chain has T steps (a student: 1); evaluate_table uses only these
        self.step_counts = (1,) if one_step else (int(T),)

    @classmethod
    def from_config(cls, config: dict) -> ResShiftSR:
        keys = ("T", "kappa", "power", "min_noise", "deterministic", "residual", "one_step")
        kwargs = {k: config[k] for k in keys if k in config}
        return cls(**kwargs, width=tuple(config.get("width", (48, 96))))

    @property
    def schedule(self) -> ShiftSchedule:
        return self._schedule

    @property
    def tag(self) -> str:
        return f"resshift_T{self.config['T']}" + ("_student" if self.config["one_step"] else "")

    def describe(self) -> str:
        c = self.config
        how = ("one step (SinSR-style student)" if c["one_step"] else
               "SinSR ODE" if c["deterministic"] else "posterior sampling")
        return (f"residual shifting, T={c['T']}, kappa={c['kappa']}, power={c['power']}, "
                f"min_noise={c['min_noise']}, x0-prediction, {how}")

    def denoise(self, x_t: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0_hat (N, 3, H, W) from x_t, y (both in the [-1, 1] image scale) and t (N,)."""
        level = self._schedule.eta_at(t).sqrt().to(x_t.dtype).view(-1, 1, 1, 1)
        level = level.expand(x_t.shape[0], 1, *x_t.shape[-2:])
        out = self.net(torch.cat([x_t, y, level], dim=1)).float()
        return y + out if self.config["residual"] else out

    def loss(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """MSE of x0_hat at t uniform in 1..T. lr (N, 3, h, w), hr (N, 3, 2h, 2w) in [0, 1]."""
        check_pair(lr, hr, SCALE)
        y = bicubic_up(lr, SCALE) * 2 - 1
        x0 = hr * 2 - 1
        t = torch.randint(1, self._schedule.T + 1, (len(hr),))
        x_t = shift_q_sample(x0, y, t, torch.randn_like(x0), self._schedule)
        return F.mse_loss(self.denoise(x_t, y, t.to(x0.device)), x0)

    @torch.no_grad()
    def upscale(self, lr: torch.Tensor, steps: int | None = None, seed: int = 0, *,
                return_trajectory: bool = False):
        """The SR image; ``steps`` must be T (1 for a student) or None: residual shifting
        cannot skip steps."""
        check_image(lr, "lr", channels=3)
        T, n = self._schedule.T, self.step_counts[0]
        if steps is not None and steps != n:
            raise ValueError(f"this ResShift model samples in exactly {n} step"
                             f"{'s' * (n != 1)} (T={T}), got steps={steps}")
        h, w = lr.shape[-2:]
        if h % 2 or w % 2:
            raise ValueError(f"lr: TinyUNet needs an even LR height and width, got {h}x{w}")
        in_dtype = lr.dtype
        dev = next(self.parameters()).device
        y = bicubic_up(lr.float().to(dev), SCALE) * 2 - 1
        gen = torch.Generator().manual_seed(int(seed))
        if self.config["one_step"]:
            x_T = self.prior(y, gen)
            x0 = self.denoise(x_T, y, torch.full((len(y),), T, device=dev)).clamp(-1, 1)
            sr = ((x0 + 1) / 2).clamp(0, 1).to(in_dtype)
            traj = {"t": [T], "x": [x_T, x0], "x0_hat": [x0], "sr": [sr]}
            return (sr, traj) if return_trajectory else sr
        out = shift_sample(self.denoise, y, self._schedule, gen,
                           deterministic=self.config["deterministic"],
                           return_trajectory=return_trajectory)
        if return_trajectory:
            x, traj = out
            traj["sr"] = [((x0 + 1) / 2).clamp(0, 1) for x0 in traj["x0_hat"]]
            return ((x + 1) / 2).clamp(0, 1).to(in_dtype), traj
        return ((out + 1) / 2).clamp(0, 1).to(in_dtype)

    def prior(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x_T = y + kappa sqrt(eta_T) z, z drawn on the CPU from ``generator``."""
        z = torch.randn(tuple(y.shape), generator=generator).to(y)
        return y + self._schedule.kappa * float(self._schedule.eta[-1]) ** 0.5 * z

    def sampler(self, steps: int | None = None, seed: int = 0
                ) -> Callable[[torch.Tensor], torch.Tensor]:
        """As ``TinyUNetSR.sampler``: call k draws its noise from ``seed + k``."""
        return seeded_calls(lambda lr, s: self.upscale(lr, steps=steps, seed=s), seed)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.upscale(lr)


def sinsr_student(teacher: ResShiftSR) -> ResShiftSR:
    """A one-step model initialised with the teacher's weights (SinSR starts the student so)."""
    student = ResShiftSR.from_config({**teacher.config, "one_step": True})
    student.load_state_dict(teacher.state_dict())
    return student


def sinsr_loss(teacher: ResShiftSR, gt_weight: float = 1.0) -> LossFn:
    """The student's training loss for ``srlab.train.fit(loss=...)``:

    ||f(x_T, y) - ODE_teacher(x_T)||^2  +  gt_weight ||f(q(x_T | x0, y), y) - x0||^2

    The first term is SinSR's distillation: from the same prior sample x_T the student must land
    in one call where the teacher's deterministic T-step ODE lands. The second, with the ground
    truth, is a simplification of SinSR's consistency-preserving loss: from an x_T diffused
    forward from the HR image the student must return that image. The teacher only runs under
    ``torch.no_grad`` (in eval mode), so it is never trained.
    """
    teacher.eval()
    T = teacher.schedule.T

    def loss(student: nn.Module, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        check_pair(lr, hr, SCALE)
        y = bicubic_up(lr, SCALE) * 2 - 1
        x0 = hr * 2 - 1
        t_T = torch.full((len(hr),), T, device=hr.device)
        x_T = y + teacher.schedule.kappa * float(teacher.schedule.eta[-1]) ** 0.5 * (
            torch.randn_like(y))
        with torch.no_grad():
            target = shift_sample(teacher.denoise, y, teacher.schedule, deterministic=True,
                                  x_T=x_T)
        x_T_gt = shift_q_sample(x0, y, t_T.cpu(), torch.randn_like(x0), teacher.schedule)
        return (F.mse_loss(student.denoise(x_T, y, t_T), target)
                + gt_weight * F.mse_loss(student.denoise(x_T_gt, y, t_T), x0))

    return loss
