"""Few-step diffusion super-resolution with TinyUNet (x2: CIFAR-10 16x16 -> 32x32).

Conditional diffusion in the spirit of SR3, with the TinyUNet paper's "residual over
upsampling": the bicubic image ``up = bicubic_up(lr, 2)`` is given, and what is diffused is
the residual it misses,

    x0 = residual_scale * (hr - up)        values in [-s, s], s = residual_scale,

and the DDIM sampler clips x0_hat to that range. With ``residual_scale = 1`` (the first shipped
weights) the residual's standard deviation on CIFAR-10 is about 0.06, a tenth of the noise at
every timestep a 1-5 step sampler visits, so x_t carries almost no signal; ``residual_scale =
1 / std`` (``residual_std``, measured on the training images; the shipped weights) puts it
on the noise's scale (notebook 05). The denoiser sees ``concat(x_t, up, sigma_t)`` (7 channels;
sigma_t = sqrt(1 - alpha_bar_t) as a constant channel) and predicts x0 (default), eps or v
through the TinyUNet's sigmoid, mapped to (-s, s) for x0 and (-4, 4) for eps/v. The output image
is ``clamp(up + x0_hat / residual_scale)``.

Sampling is deterministic DDIM (eta = 0, trailing spacing, a seeded x_T) in 1-5 steps.
The regression baseline is the same TinyUNet fed ``up`` alone, trained with L1 to output the
residual in one pass.

Taught in notebook 05. ``TinyUNetSR(...).upscale(lr, steps=5, seed=0)``; build one from a
checkpoint's config with ``srlab.models.build("tinyunet", config)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from srlab.checks import check_choice, check_image, check_int, check_pair, check_positive
from srlab.degradation import bicubic_down, bicubic_up
from srlab.diffusion.ddim import SPACINGS, ddim_sample, ddim_timesteps
from srlab.diffusion.ddpm import PREDICTIONS, diffusion_loss, prediction_target, q_sample
from srlab.diffusion.schedules import SCHEDULES, NoiseSchedule, make_schedule
from srlab.models.tinyunet import TinyUNet

SCALE = 2
MODES = ("diffusion", "regression")
TRAIN_TIMESTEPS = ("sampler", "all")
MAX_STEPS = 5  # the sampler step counts trained for with train_timesteps="sampler": 1..5
KIND = "tinyunet"


def seeded_calls(sample: Callable[[torch.Tensor, int], torch.Tensor], seed: int = 0
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``sample(lr, seed)`` as a model ``lr -> sr`` (with ``.scale``) whose call k uses seed
    ``seed + k``: what every sampler's ``.sampler()`` gives ``srlab.evaluate``."""
    calls = iter(range(seed, seed + 2**62))

    def upscale(lr: torch.Tensor) -> torch.Tensor:
        return sample(lr, next(calls))

    upscale.scale = SCALE
    return upscale


class TinyUNetSR(nn.Module):
    """A TinyUNet x2 super-resolver: diffusion (few-step DDIM) or one-pass regression.

    ``upscale(lr, steps=5, seed=0)``: lr (N, 3, h, w) float in [0, 1], h and w even ->
    (N, 3, 2h, 2w) in [0, 1]. ``forward(lr)`` is ``upscale(lr, default_steps)``. The
    ``config`` dict (mode, schedule, T, prediction, ...) is stored in every checkpoint.
    """

    kind = KIND
    scale = SCALE

    def __init__(self, mode: str = "diffusion", schedule: str = "cosine", T: int = 1000,
                 prediction: str = "x0", zero_terminal_snr: bool = False,
                 spacing: str = "trailing", residual: bool = True, residual_scale: float = 1.0,
                 width: Sequence[int] = (48, 96), default_steps: int = 5,
                 train_timesteps: str = "sampler", loss: str = "l2",
                 net: dict | None = None) -> None:
        super().__init__()
        check_choice(mode, MODES, "mode")
        check_choice(schedule, SCHEDULES, "schedule")
        check_choice(prediction, PREDICTIONS, "prediction")
        check_choice(spacing, SPACINGS, "spacing")
        T = check_int(T, "T", minimum=1)
        check_int(default_steps, "default_steps", minimum=1, maximum=T)
        check_choice(train_timesteps, TRAIN_TIMESTEPS, "train_timesteps")
        check_choice(loss, ("l1", "l2"), "loss")
        residual_scale = check_positive(residual_scale, "residual_scale")
        diffusion = mode == "diffusion"
        if diffusion:
            in_ch = 7
            bound = float(residual_scale) if residual else 1.0  # the range x0 lives in
            out_range = (-bound, bound) if prediction == "x0" else (-4.0, 4.0)
        else:
            in_ch = 3
            out_range = (-1.0, 1.0) if residual else (0.0, 1.0)
        self.net = TinyUNet(in_ch, 3, tuple(width), out_range, **(net or {}))
        self.config = {
            "mode": mode, "residual": bool(residual), "residual_scale": float(residual_scale),
            "width": [int(w) for w in width], "scale": SCALE, "default_steps": int(default_steps),
        }
        if net:  # a TinyUNet variant (its keyword options); the paper's network has none
            self.config["net"] = dict(net)
        if diffusion:
            self.config.update({
                "schedule": {"name": schedule, "T": int(T),
                             "zero_terminal_snr": bool(zero_terminal_snr)},
                "prediction": prediction, "spacing": spacing, "eta": 0.0,
                "train_timesteps": train_timesteps, "loss": loss,
            })
        self._schedules: dict[str, NoiseSchedule] = {}

    @classmethod
    def from_config(cls, config: dict) -> TinyUNetSR:
        """Rebuild from a ``config`` dict (as stored in checkpoints)."""
        c = dict(config)
        kwargs = {"mode": c.get("mode", "diffusion"), "residual": c.get("residual", True),
                  "residual_scale": c.get("residual_scale", 1.0),
                  "width": tuple(c.get("width", (48, 96))),
                  "default_steps": c.get("default_steps", 5), "net": c.get("net")}
        if kwargs["mode"] == "diffusion":
            s = c.get("schedule") or {}
            kwargs.update(schedule=s.get("name", "cosine"), T=s.get("T", 1000),
                          zero_terminal_snr=s.get("zero_terminal_snr", False),
                          prediction=c.get("prediction", "x0"),
                          spacing=c.get("spacing", "trailing"),
                          train_timesteps=c.get("train_timesteps", "all"),
                          loss=c.get("loss", "l2"))
        return cls(**kwargs)

    @property
    def is_diffusion(self) -> bool:
        return self.config["mode"] == "diffusion"

    @property
    def x0_bound(self) -> float:
        """The diffused x0 lies in [-c, c]: c = residual_scale (the residual is in [-1, 1])."""
        return float(self.config["residual_scale"]) if self.config["residual"] else 1.0

    @staticmethod
    def residual_std(hr: torch.Tensor, chunk: int = 4096) -> float:
        """Standard deviation of the residual ``hr - bicubic_up(bicubic_down(hr, 2), 2)`` over
        a batch of HR images (N, 3, H, W), float in [0, 1] or uint8 (all 50,000 CIFAR-10
        training images: read ``chunk`` at a time): ``1 / residual_std`` is the
        ``residual_scale`` that gives the diffused x0 unit variance."""
        total = total_sq = count = 0.0
        for start in range(0, len(hr), chunk):
            part = hr[start : start + chunk]
            part = part.float() / 255 if part.dtype == torch.uint8 else part
            check_image(part, "hr", channels=3)
            r = (part - bicubic_up(bicubic_down(part, SCALE), SCALE)).double()
            total += float(r.sum())
            total_sq += float(r.pow(2).sum())
            count += r.numel()
        if count < 2:
            raise ValueError("residual_std: expected at least one HR image")
        mean = total / count
        return ((total_sq - count * mean**2) / (count - 1)) ** 0.5

    @property
    def tag(self) -> str:
        """``tinyunet_regression`` or ``tinyunet_diffusion_<schedule>``, as the shipped names."""
        if not self.is_diffusion:
            return "tinyunet_regression"
        return f"tinyunet_diffusion_{self.config['schedule']['name']}"

    def describe(self) -> str:
        """One line, e.g. ``diffusion, cosine schedule, T=1000, x0-prediction, trailing``."""
        if not self.is_diffusion:
            return "regression (one pass, L1)"
        s = self.config["schedule"]
        zsnr = ", zero terminal SNR" if s["zero_terminal_snr"] else ""
        return (f"diffusion, {s['name']} schedule, T={s['T']}{zsnr}, "
                f"{self.config['prediction']}-prediction, {self.config['spacing']} spacing")

    # -- the diffusion pieces ------------------------------------------------------------------

    def schedule(self, device: torch.device | str = "cpu") -> NoiseSchedule:
        """The model's noise schedule on ``device`` (built once per device)."""
        if not self.is_diffusion:
            raise ValueError("a regression TinyUNet has no noise schedule")
        key = str(torch.device(device))
        if key not in self._schedules:
            self._schedules[key] = make_schedule(**self.config["schedule"], device=device)
        return self._schedules[key]

    def check_schedule(self, schedule: NoiseSchedule) -> None:
        """Raise ``ValueError`` if ``schedule`` is not the one this model was trained with."""
        if not self.is_diffusion:
            raise ValueError("this TinyUNet is a regression model; it takes no noise schedule")
        schedule.check_matches(self.config["schedule"], what="TinyUNet weights")

    def check_steps(self, steps: int | None) -> int:
        """The number of DDIM steps to sample with: ``steps``, or the trained default for None;
        ``ValueError`` unless it is an integer in [1, T]."""
        T = self.config["schedule"]["T"]
        steps = self.config["default_steps"] if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= T:
            raise ValueError(f"steps must be an integer in [1, T={T}], got {steps!r}")
        return steps

    def sampler_timesteps(self) -> list[int]:
        """Every timestep that DDIM with 1..5 steps visits (what "sampler" training draws)."""
        T, spacing = self.config["schedule"]["T"], self.config["spacing"]
        steps = {t for n in range(1, min(MAX_STEPS, T) + 1) for t in ddim_timesteps(T, n, spacing)}
        return sorted(steps)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """The denoiser ``model(x_t, t, cond)`` of the diffusion core.

        x_t: (N, 3, H, W) noisy residual; t: LongTensor (N,); up: bicubic image (N, 3, H, W).
        Returns the prediction (x0, eps or v, per ``config["prediction"]``), (N, 3, H, W).
        """
        sched = self.schedule(x_t.device)
        sigma = sched.sqrt_one_minus_alpha_bar[t].to(x_t.dtype).view(-1, 1, 1, 1)
        level = sigma.expand(x_t.shape[0], 1, *x_t.shape[-2:])
        return self.net(torch.cat([x_t, up.to(x_t.dtype), level], dim=1)).float()

    def to_x0(self, hr: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """What is diffused: ``residual_scale * (hr - up)``, or ``2 hr - 1`` without residual."""
        if self.config["residual"]:
            return (hr - up) * self.config["residual_scale"]
        return hr * 2 - 1

    def from_x0(self, x0: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """Inverse of ``to_x0``, clamped to [0, 1]."""
        if self.config["residual"]:
            return (up + x0 / self.config["residual_scale"]).clamp(0, 1)
        return ((x0 + 1) / 2).clamp(0, 1)

    # -- training --------------------------------------------------------------------------------

    def loss(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Training loss on a batch: L1 of the SR image (regression) or the DDPM loss of the
        diffused residual (diffusion; MSE on the prediction, t uniform over the timesteps that
        a 1-5 step trailing DDIM visits with ``train_timesteps="sampler"``, over all T with
        ``"all"``).

        lr (N, 3, h, w), hr (N, 3, 2h, 2w), both in [0, 1]. Returns a scalar tensor.
        """
        check_pair(lr, hr, SCALE)
        up = bicubic_up(lr, SCALE)
        if not self.is_diffusion:
            return F.l1_loss(self._regress(up).float(), hr)
        sched = self.schedule(hr.device)
        x0 = self.to_x0(hr, up)
        # t is drawn on the CPU (global RNG) so the core's range check needs no GPU sync;
        # the noise is drawn on the training device (fast, seeded by fit).
        if self.config["train_timesteps"] == "sampler":
            visited = torch.tensor(self.sampler_timesteps())
            t = visited[torch.randint(0, len(visited), (hr.shape[0],))]
        else:
            t = torch.randint(0, sched.T, (hr.shape[0],))
        noise = torch.randn_like(x0)
        prediction = self.config["prediction"]
        if self.config["loss"] == "l2":  # the DDPM loss of the core
            return diffusion_loss(self.denoise, x0, up, sched, prediction, t=t, noise=noise)
        x_t = q_sample(x0, t, noise, sched)
        target = prediction_target(x0, noise, t, sched, prediction)
        return F.l1_loss(self.denoise(x_t, t.to(x0.device), up), target)

    def _regress(self, up: torch.Tensor) -> torch.Tensor:
        out = self.net(up)
        return up + out if self.config["residual"] else out

    # -- inference -------------------------------------------------------------------------------

    @torch.no_grad()
    def upscale(self, lr: torch.Tensor, steps: int | None = None, seed: int = 0, *,
                schedule: NoiseSchedule | None = None, return_trajectory: bool = False,
                eta: float = 0.0):
        """Super-resolve ``lr`` (N, 3, h, w) in [0, 1] -> (N, 3, 2h, 2w) in [0, 1].

        Diffusion: DDIM with ``steps`` model calls (default ``config["default_steps"]``),
        x_T drawn from ``seed`` (same seed, same batch -> same output). Regression: one pass;
        ``steps`` and ``seed`` are accepted and ignored. ``schedule``: optional, checked
        against the trained one. ``return_trajectory`` (diffusion only) also returns the
        core's trajectory dict with every x_t and x0_hat mapped back to images ("sr", "x0").
        """
        check_image(lr, "lr", channels=3)
        in_dtype, lr = lr.dtype, lr.float()
        h, w = lr.shape[-2:]
        if h % 2 or w % 2:
            raise ValueError(f"lr: TinyUNet needs an even LR height and width (two stride-2 "
                             f"stages on the {SCALE}x image), got {h}x{w}; crop it with "
                             "srlab.degradation.mod_crop(lr, 2)")
        dev = next(self.parameters()).device
        up = bicubic_up(lr.to(dev), SCALE)
        if not self.is_diffusion:
            sr = self._regress(up).clamp(0, 1).to(in_dtype)
            return (sr, {"t": [], "x": [], "x0_hat": [], "sr": [sr]}) if return_trajectory \
                else sr
        sched = self.schedule(dev)
        if schedule is not None:
            self.check_schedule(schedule)
        steps = self.check_steps(steps)
        gen = torch.Generator().manual_seed(int(seed))
        out = ddim_sample(self.denoise, up.shape, up, sched, steps, eta=eta,
                          spacing=self.config["spacing"], prediction=self.config["prediction"],
                          clip_x0=self.x0_bound, generator=gen,
                          return_trajectory=return_trajectory)
        if not return_trajectory:
            return self.from_x0(out, up).to(in_dtype)
        x0, traj = out
        traj["sr"] = [self.from_x0(x, up) for x in traj["x0_hat"]]
        return self.from_x0(x0, up).to(in_dtype), traj

    def sampler(self, steps: int | None = None, seed: int = 0
                ) -> Callable[[torch.Tensor], torch.Tensor]:
        """``upscale`` as a model ``lr -> sr`` for ``srlab.evaluate``: call k draws its x_T from
        ``seed + k``, so a long evaluation in batches never reuses one noise field."""
        return seeded_calls(lambda lr, s: self.upscale(lr, steps=steps, seed=s), seed)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``upscale(lr)`` with the default number of steps and seed 0."""
        return self.upscale(lr)
