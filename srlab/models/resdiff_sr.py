"""ResDiff-style x2 SR (Shang et al., AAAI 2024) at TinyUNet scale: a CNN predicts the image,
diffusion models only what the CNN misses (a comparison row of notebook 06).

Two TinyUNets. The **CNN** (3 -> 3 channels) maps the bicubic image u to ``c = u + cnn(u)``;
it is trained first (``cnn_loss``: L1 plus an FFT amplitude term, which pushes it towards the
right spectrum rather than the blurriest answer) and then frozen. The **denoiser** diffuses
``x0 = s (hr - c)``, the CNN's residual on the noise's scale (``residual_scale`` s = 1 / its std,
measured after the CNN is trained), seeing ``concat(x_t, c, high(c), low(c), sigma_t)``
(13 channels: the CNN image split into a Gaussian low-pass and the rest, ResDiff's frequency
conditioning) and predicting x0; sampling is DDIM with trailing spacing as ``TinyUNetSR``. Two
networks: about twice the parameters of one TinyUNet (the row says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from srlab.checks import check_image, check_pair
from srlab.cost import count_macs
from srlab.degradation import bicubic_up
from srlab.diffusion.ddim import ddim_sample, ddim_timesteps
from srlab.diffusion.ddpm import diffusion_loss
from srlab.diffusion.schedules import make_schedule
from srlab.metrics import gaussian_kernel_1d
from srlab.models.tinyunet import TinyUNet
from srlab.models.tinyunet_sr import seeded_calls

SCALE = 2
X0_RANGE = 4.0  # the x0-prediction's output range: 4 standard deviations of the scaled residual


def split_frequencies(x: torch.Tensor, size: int = 5, sigma: float = 1.0
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(high, low) of images (N, C, H, W): low = Gaussian blur (``size``, ``sigma``, reflected
    borders), high = x - low."""
    g = gaussian_kernel_1d(size, sigma).to(x.device, x.dtype)
    c, pad = x.shape[1], size // 2
    low = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    low = F.conv2d(low, g.view(1, 1, size, 1).expand(c, 1, size, 1), groups=c)
    low = F.conv2d(low, g.view(1, 1, 1, size).expand(c, 1, 1, size), groups=c)
    return x - low, low


class ResDiffSR(nn.Module):
    """``upscale(lr, steps=5, seed=0)``: (N, 3, h, w) in [0, 1] -> (N, 3, 2h, 2w) in [0, 1]: one
    CNN pass, then ``steps`` DDIM steps of the denoiser."""

    kind = "resdiff"
    scale = SCALE
    is_diffusion = True

    def __init__(self, schedule: str = "linear", T: int = 1000, residual_scale: float = 1.0,
                 width: Sequence[int] = (48, 96), cnn_width: Sequence[int] = (48, 96),
                 default_steps: int = 5, fft_weight: float = 0.05) -> None:
        super().__init__()
        self.cnn = TinyUNet(3, 3, tuple(cnn_width), (-1.0, 1.0))
        self.net = TinyUNet(13, 3, tuple(width), (-X0_RANGE, X0_RANGE))
        self.config = {"schedule": {"name": schedule, "T": int(T), "zero_terminal_snr": False},
                       "residual_scale": float(residual_scale),
                       "width": [int(w) for w in width],
                       "cnn_width": [int(w) for w in cnn_width],
                       "default_steps": int(default_steps), "fft_weight": float(fft_weight),
                       "scale": SCALE}
        self._schedules: dict = {}

    @classmethod
    def from_config(cls, config: dict) -> ResDiffSR:
        s = config.get("schedule") or {}
        return cls(s.get("name", "linear"), s.get("T", 1000), config.get("residual_scale", 1.0),
                   tuple(config.get("width", (48, 96))), tuple(config.get("cnn_width", (48, 96))),
                   config.get("default_steps", 5), config.get("fft_weight", 0.05))

    @property
    def tag(self) -> str:
        return f"resdiff_{self.config['schedule']['name']}"

    def schedule(self, device: torch.device | str = "cpu"):
        key = str(torch.device(device))
        if key not in self._schedules:
            self._schedules[key] = make_schedule(**self.config["schedule"], device=device)
        return self._schedules[key]

    def cnn_image(self, lr: torch.Tensor) -> torch.Tensor:
        """The CNN's prediction c = u + cnn(u), (N, 3, 2h, 2w), not clamped."""
        up = bicubic_up(lr, SCALE)
        return up + self.cnn(up)

    def cnn_loss(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Stage 1: L1(c, hr) + fft_weight * L1(|FFT2 c|, |FFT2 hr|) (per-pixel mean)."""
        check_pair(lr, hr, SCALE)
        c = self.cnn_image(lr).float()
        spectrum = (torch.fft.fft2(c).abs() - torch.fft.fft2(hr).abs()).abs().mean()
        return F.l1_loss(c, hr) + self.config["fft_weight"] * spectrum

    def residual_std(self, lr: torch.Tensor, hr: torch.Tensor) -> float:
        """Standard deviation of hr - c: ``1 / residual_std`` is the scale for stage 2."""
        with torch.no_grad():
            return float((hr - self.cnn_image(lr)).double().std())

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x0_hat from x_t, t (N,) and cond = concat(c, high(c), low(c)) (N, 9, H, W)."""
        sigma = self.schedule(x_t.device).sqrt_one_minus_alpha_bar[t].to(x_t.dtype)
        level = sigma.view(-1, 1, 1, 1).expand(x_t.shape[0], 1, *x_t.shape[-2:])
        return self.net(torch.cat([x_t, cond.to(x_t.dtype), level], dim=1)).float()

    def _cond(self, c: torch.Tensor) -> torch.Tensor:
        high, low = split_frequencies(c)
        return torch.cat([c, high, low], dim=1)

    def loss(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Stage 2 (the CNN frozen): the DDPM loss of x0 = s (hr - c), x0-prediction, t drawn
        from the timesteps a 1-5 step trailing DDIM visits."""
        check_pair(lr, hr, SCALE)
        with torch.no_grad():
            c = self.cnn_image(lr)
        x0 = (hr - c) * self.config["residual_scale"]
        T = self.config["schedule"]["T"]
        visited = torch.tensor(sorted({t for n in range(1, 6) for t in ddim_timesteps(T, n)}))
        t = visited[torch.randint(0, len(visited), (len(hr),))]
        return diffusion_loss(self.denoise, x0, self._cond(c), self.schedule(hr.device), "x0",
                              t=t)

    @torch.no_grad()
    def upscale(self, lr: torch.Tensor, steps: int | None = None, seed: int = 0) -> torch.Tensor:
        check_image(lr, "lr", channels=3)
        h, w = lr.shape[-2:]
        if h % 2 or w % 2:
            raise ValueError(f"lr: TinyUNet needs an even LR height and width, got {h}x{w}")
        steps = self.config["default_steps"] if steps is None else steps
        in_dtype, dev = lr.dtype, next(self.parameters()).device
        c = self.cnn_image(lr.float().to(dev))
        s = self.config["residual_scale"]
        x0 = ddim_sample(self.denoise, c.shape, self._cond(c), self.schedule(dev), steps,
                         spacing="trailing", prediction="x0", clip_x0=s,
                         generator=torch.Generator().manual_seed(int(seed)))
        return (c + x0 / s).clamp(0, 1).to(in_dtype)

    def macs_per_image(self, steps: int, lr_size: int = 16) -> float:
        """One CNN pass and ``steps`` denoiser passes on an ``lr_size`` LR image."""
        side = SCALE * lr_size
        return (count_macs(self.cnn, (1, 3, side, side))
                + steps * count_macs(self.net, (1, 13, side, side)))

    def sampler(self, steps: int | None = None, seed: int = 0
                ) -> Callable[[torch.Tensor], torch.Tensor]:
        """As ``TinyUNetSR.sampler``: call k draws its noise from ``seed + k``."""
        return seeded_calls(lambda lr, s: self.upscale(lr, steps=steps, seed=s), seed)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.upscale(lr)
