"""Few-step diffusion super-resolution with TinyUNet (x2: CIFAR-10 16x16 -> 32x32).

Conditional diffusion in the spirit of SR3, with the TinyUNet paper's "residual over
upsampling": the bicubic image ``up = bicubic_up(lr, 2)`` is given, and what is diffused is
the residual it misses,

    x0 = residual_scale * (hr - up)        values in [-1, 1] (residual_scale = 1),

which is exactly the [-1, 1] range that the DDIM sampler's ``clip_x0`` assumes. The denoiser
sees ``concat(x_t, up, sigma_t)`` (7 channels; sigma_t = sqrt(1 - alpha_bar_t) as a constant
channel) and predicts x0 (default), eps or v through the TinyUNet's sigmoid, mapped to
(-1, 1) for x0 and (-4, 4) for eps/v. The output image is ``clamp(up + x0_hat / residual_scale)``.

Sampling is deterministic DDIM (eta = 0, trailing spacing, a seeded x_T) in 1-5 steps.
The regression baseline is the same TinyUNet fed ``up`` alone, trained with L1 to output the
residual in one pass.

Main entry points: ``TinyUNetSR`` (``.upscale(lr, steps=5, seed=0)``), ``model_from_checkpoint``,
``PairBank`` (GPU-resident CIFAR batches), ``evaluate_table``, ``cli_train`` / ``cli_eval``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from srlab.checks import check_image
from srlab.diffusion.ddim import SPACINGS, ddim_sample, ddim_timesteps
from srlab.diffusion.ddpm import PREDICTIONS, diffusion_loss, prediction_target, q_sample
from srlab.diffusion.schedules import SCHEDULES, NoiseSchedule, make_schedule
from srlab.models.tinyunet import TinyUNet

SCALE = 2
MODES = ("diffusion", "regression")
TRAIN_TIMESTEPS = ("sampler", "all")
MAX_STEPS = 5  # the sampler step counts trained for with train_timesteps="sampler": 1..5
KIND = "tinyunet"


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
                 train_timesteps: str = "sampler", loss: str = "l2") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        if spacing not in SPACINGS:
            raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"T must be an integer >= 1, got {T!r}")
        if train_timesteps not in TRAIN_TIMESTEPS:
            raise ValueError(f"train_timesteps must be one of {TRAIN_TIMESTEPS}, "
                             f"got {train_timesteps!r}")
        if loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {loss!r}")
        if not residual_scale > 0:
            raise ValueError(f"residual_scale must be > 0, got {residual_scale!r}")
        diffusion = mode == "diffusion"
        if diffusion:
            in_ch = 7
            out_range = (-1.0, 1.0) if prediction == "x0" else (-4.0, 4.0)
        else:
            in_ch = 3
            out_range = (-1.0, 1.0) if residual else (0.0, 1.0)
        self.net = TinyUNet(in_ch, 3, tuple(width), out_range)
        self.config = {
            "mode": mode, "residual": bool(residual), "residual_scale": float(residual_scale),
            "width": [int(w) for w in width], "scale": SCALE, "default_steps": int(default_steps),
        }
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
                  "default_steps": c.get("default_steps", 5)}
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
        diffused residual (diffusion; MSE on the prediction, t ~ U{0..T-1}).

        lr (N, 3, h, w), hr (N, 3, 2h, 2w), both in [0, 1]. Returns a scalar tensor.
        """
        _check_pair(lr, hr)
        up = _upsample(lr)
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
        h, w = lr.shape[-2:]
        if h % 2 or w % 2:
            raise ValueError(f"lr: TinyUNet needs an even LR height and width (two stride-2 "
                             f"stages on the {SCALE}x image), got {h}x{w}; crop it with "
                             "srlab.data.mod_crop(lr, 2)")
        dev = next(self.parameters()).device
        up = _upsample(lr.to(dev))
        if not self.is_diffusion:
            sr = self._regress(up).clamp(0, 1)
            return (sr, {"t": [], "x": [], "x0_hat": [], "sr": [sr]}) if return_trajectory \
                else sr
        sched = self.schedule(dev)
        if schedule is not None:
            self.check_schedule(schedule)
        steps = self.config["default_steps"] if steps is None else steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= sched.T:
            raise ValueError(f"steps must be an integer in [1, T={sched.T}], got {steps!r}")
        gen = torch.Generator().manual_seed(int(seed))
        out = ddim_sample(self.denoise, up.shape, up, sched, steps, eta=eta,
                          spacing=self.config["spacing"], prediction=self.config["prediction"],
                          clip_x0=True, generator=gen, return_trajectory=return_trajectory)
        if not return_trajectory:
            return self.from_x0(out, up)
        x0, traj = out
        traj["sr"] = [self.from_x0(x, up) for x in traj["x0_hat"]]
        return self.from_x0(x0, up), traj

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``upscale(lr)`` with the default number of steps and seed 0."""
        return self.upscale(lr)


def _upsample(lr: torch.Tensor) -> torch.Tensor:
    from srlab.data import bicubic_up

    return bicubic_up(lr, SCALE)


def pairs_from_hr(hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(lr, hr) for a batch of HR images (N, 3, H, W) in [0, 1], H and W even: the LR is
    ``bicubic_down(hr, 2)`` (8-bit quantised), the degradation the models were trained on."""
    from srlab.data import bicubic_down

    check_image(hr, "hr", channels=3)
    h, w = hr.shape[-2:]
    if h % SCALE or w % SCALE:
        raise ValueError(f"hr: a batch of {h}x{w} images is not divisible by the scale {SCALE}; "
                         f"crop it first with srlab.data.mod_crop(hr, {SCALE})")
    return bicubic_down(hr, SCALE), hr


def _check_pair(lr: object, hr: object) -> None:
    for x, name in ((lr, "lr"), (hr, "hr")):
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name}: expected a batch (N, 3, H, W), got {got}")
    if hr.shape[0] != lr.shape[0] or tuple(hr.shape[-2:]) != (lr.shape[-2] * SCALE,
                                                              lr.shape[-1] * SCALE):
        raise ValueError(f"hr {tuple(hr.shape)} must be x{SCALE} the size of lr "
                         f"{tuple(lr.shape)}, with the same batch size")


def model_from_checkpoint(ckpt: dict) -> TinyUNetSR:
    """The ready super-resolver (fp32, eval mode, CPU) from a training checkpoint or a shipped
    weights file (``{"kind": "tinyunet", "config", "model"}``)."""
    if not isinstance(ckpt, dict) or ckpt.get("kind") != KIND or "model" not in ckpt:
        kind = ckpt.get("kind") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"expected a TinyUNet checkpoint (kind 'tinyunet'), got {kind!r}")
    model = TinyUNetSR.from_config(ckpt.get("config") or {})
    load_weights(model, ckpt)
    return model.eval()


def load_weights(model: TinyUNetSR, ckpt: dict) -> TinyUNetSR:
    """Load a checkpoint's weights into ``model`` after checking that its mode, schedule, T,
    prediction and residual settings are the model's (a mismatch is a ``ValueError``)."""
    theirs = ckpt.get("config") or {}
    keys = ("mode", "schedule", "prediction", "spacing", "residual", "residual_scale", "width",
            "train_timesteps")
    diffs = [f"{k}: weights {theirs.get(k)!r} vs model {model.config.get(k)!r}"
             for k in keys if theirs.get(k) != model.config.get(k)]
    if diffs:
        raise ValueError("these TinyUNet weights were trained for another sampler/network ("
                         + "; ".join(diffs) + "); build the model with "
                         "TinyUNetSR.from_config(ckpt['config']) or model_from_checkpoint(ckpt)")
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    model.load_state_dict(state)
    return model


# -- data: CIFAR-10 pairs held on the training device ---------------------------------------


class PairBank:
    """All (lr, hr) pairs of a dataset as two uint8 tensors on ``device``.

    Calling ``bank(batch_size, generator)`` returns a random batch with random horizontal
    flips (lr (B, 3, h, w), hr (B, 3, 2h, 2w), float32 in [0, 1]) without leaving the device,
    so training a tiny network is not limited by JPEG decoding. Flipping LR and HR together is
    exact: the bicubic kernel is symmetric. 50k CIFAR pairs take 200 MB.
    """

    def __init__(self, lr: torch.Tensor, hr: torch.Tensor, source: str = "",
                 device: torch.device | str = "cpu", flip: bool = True) -> None:
        if lr.dtype != torch.uint8 or hr.dtype != torch.uint8:
            raise TypeError("PairBank stores uint8 tensors (values 0..255)")
        _check_pair(lr, hr)
        self.device = torch.device(device)
        self.lr, self.hr = lr.to(self.device), hr.to(self.device)
        self.source, self.flip = source, flip

    @classmethod
    def from_dataset(cls, dataset, limit: int | None = None, device: torch.device | str = "cpu",
                     num_workers: int = 0, progress: bool = True) -> PairBank:
        """Read the pairs of a Dataset of (lr, hr) once; with ``limit``, ``limit`` pairs evenly
        spread over the dataset (image folders are sorted by class: the first 1000 CIFAR
        test images are all airplanes)."""
        from torch.utils.data import DataLoader, Subset
        from tqdm.auto import tqdm

        n = len(dataset) if limit is None else min(limit, len(dataset))
        if n == 0:
            raise ValueError("PairBank: the dataset is empty")
        ds = dataset if n == len(dataset) else Subset(dataset, spread(len(dataset), n))
        lrs, hrs = [], []
        loader = DataLoader(ds, batch_size=500, num_workers=num_workers)
        for lr, hr in tqdm(loader, desc="reading pairs", disable=not progress, leave=False):
            lrs.append((lr * 255).round().to(torch.uint8))
            hrs.append((hr * 255).round().to(torch.uint8))
        source = getattr(dataset, "source", type(dataset).__name__)
        return cls(torch.cat(lrs), torch.cat(hrs), source=source, device=device)

    def save(self, path: str | os.PathLike) -> None:
        """Atomic ``torch.save`` of the uint8 tensors and the source label."""
        from srlab.train import save_checkpoint

        save_checkpoint({"lr": self.lr.cpu(), "hr": self.hr.cpu(), "source": self.source},
                        path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str = "cpu") -> PairBank:
        d = torch.load(path, map_location="cpu", weights_only=True)
        return cls(d["lr"], d["hr"], d["source"], device)

    def __len__(self) -> int:
        return len(self.hr)

    def tensors(self, start: int = 0, stop: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs ``start:stop`` as float (lr, hr) in [0, 1], no augmentation."""
        return self.lr[start:stop].float() / 255, self.hr[start:stop].float() / 255

    def __call__(self, batch_size: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self), (batch_size,), generator=generator).to(self.device)
        lr, hr = self.lr[idx].float() / 255, self.hr[idx].float() / 255
        if self.flip:
            mask = (torch.rand(batch_size, generator=generator) < 0.5).view(-1, 1, 1, 1)
            mask = mask.to(self.device)
            lr = torch.where(mask, lr.flip(-1), lr)
            hr = torch.where(mask, hr.flip(-1), hr)
        return lr, hr


def cifar_bank(split: str = "train", limit: int | None = None,
               device: torch.device | str = "cpu", num_workers: int = 0,
               cache: bool = True) -> PairBank:
    """CIFAR-10 x2 pairs (``srlab.data.load_cifar10_sr``) as a ``PairBank``.

    When the source is CIFAR-10 (not the embedded-photo fallback) the whole split is cached
    as uint8 in ``data_root()/cache`` after the first read, so later runs start at once.
    """
    from srlab.config import data_root
    from srlab.data import load_cifar10_sr

    ds = load_cifar10_sr(split, scale=SCALE)
    cacheable = cache and "CIFAR" in ds.source
    path = data_root() / "cache" / f"tinyunet_cifar10_{split}_x{SCALE}.pt"
    if cacheable and path.is_file():
        bank = PairBank.load(path, device)
        if bank.source == ds.source and len(bank) == len(ds):
            return _limit(bank, limit)
    bank = PairBank.from_dataset(ds, None if cacheable else limit, device, num_workers)
    if cacheable:
        bank.save(path)
    return _limit(bank, limit)


def spread(total: int, n: int) -> list[int]:
    """``n`` indices evenly spread over ``range(total)`` (all of it when n >= total)."""
    if n >= total:
        return list(range(total))
    return [i * total // n for i in range(n)]


def _limit(bank: PairBank, limit: int | None) -> PairBank:
    if limit is None or limit >= len(bank):
        return bank
    idx = torch.tensor(spread(len(bank), limit), device=bank.device)
    return PairBank(bank.lr[idx], bank.hr[idx], bank.source, bank.device, bank.flip)


# -- evaluation ------------------------------------------------------------------------------


def bicubic_sr(lr: torch.Tensor, steps: int | None = None, seed: int = 0) -> torch.Tensor:
    """The bicubic baseline with the ``upscale`` signature."""
    return _upsample(lr)


@torch.no_grad()
def evaluate_pairs(upscale: Callable, lr: torch.Tensor, hr: torch.Tensor, steps: int = 5,
                   seed: int = 0, batch_size: int = 1000) -> dict:
    """Mean PSNR/SSIM of 8-bit outputs of ``upscale(lr, steps=, seed=)`` against ``hr``.

    RGB on the whole 32x32 image (``psnr``, ``ssim``) and BT.601 luma with 2 pixels shaved
    (``psnr_y``, ``ssim_y``, the SR-paper convention). Batches use seeds seed, seed+1, ...
    """
    from srlab.data import quantize
    from srlab.metrics import psnr, ssim

    _check_pair(lr, hr)
    vals: dict[str, list[torch.Tensor]] = {"psnr": [], "ssim": [], "psnr_y": [], "ssim_y": []}
    for k, i in enumerate(range(0, len(lr), batch_size)):
        sr = quantize(upscale(lr[i:i + batch_size], steps=steps, seed=seed + k))
        ref = hr[i:i + batch_size].to(sr.device)
        vals["psnr"].append(psnr(sr, ref, reduction="none"))
        vals["ssim"].append(ssim(sr, ref, reduction="none"))
        vals["psnr_y"].append(psnr(sr, ref, y_channel=True, shave=SCALE, reduction="none"))
        vals["ssim_y"].append(ssim(sr, ref, y_channel=True, shave=SCALE, reduction="none"))
    return {k: float(torch.cat(v).mean()) for k, v in vals.items()} | {"n": len(lr)}


def cpu_latency_ms(upscale: Callable, steps: int, batch: int = 1, repeats: int = 50,
                   seed: int = 0) -> float:
    """Median ms per image of the whole sampler (bicubic included) on the CPU."""
    from srlab.cost import measure_latency

    x = torch.rand(batch, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    lat = measure_latency(lambda z: upscale(z, steps=steps, seed=seed), x,
                          warmup=min(5, repeats), repeats=repeats)
    return lat.median_ms / batch


def evaluate_table(models: dict[str, nn.Module], lr: torch.Tensor, hr: torch.Tensor,
                   n_steps: Sequence[int] = (1, 2, 3, 4, 5), *, timing: bool = True,
                   repeats: int = 50, seed: int = 0, progress: bool = True) -> list[dict]:
    """Rows (name, steps, params_m, ms, psnr, ssim, psnr_y, ssim_y) for bicubic and ``models``.

    Diffusion models get one row per entry of ``n_steps``; regression and bicubic one row.
    ``ms``: CPU median per image at batch 1 (whole sampler incl. bicubic), when ``timing``.
    """
    from srlab.cost import count_params

    rows = []
    entries: list[tuple[str, Callable, int, int]] = [("bicubic", bicubic_sr, 0, 0)]
    for name, model in models.items():
        model.eval()
        if getattr(model, "is_diffusion", False):
            entries += [(name, model.upscale, s, count_params(model)) for s in n_steps]
        else:
            entries.append((name, model.upscale, 1, count_params(model)))
    for name, fn, steps, params in entries:
        t0 = time.perf_counter()
        metrics = evaluate_pairs(fn, lr, hr, steps=max(steps, 1), seed=seed)
        ms = cpu_latency_ms(fn, max(steps, 1), repeats=repeats) if timing else float("nan")
        rows.append({"name": name, "steps": steps, "params_m": params / 1e6, "ms": ms,
                     **metrics})
        if progress:
            print(f"  {format_row(rows[-1])}   ({time.perf_counter() - t0:.0f} s)", flush=True)
    return rows


TABLE_HEADER = (f"{'model':<22} {'Step':>4} {'Param(M)':>8} {'ms':>7} {'PSNR':>7} {'SSIM':>7} "
                f"{'PSNR-Y':>7} {'SSIM-Y':>7}")


def format_row(r: dict) -> str:
    return (f"{r['name']:<22} {r['steps']:>4} {r['params_m']:>8.3f} {r['ms']:>7.2f} "
            f"{r['psnr']:>7.2f} {r['ssim']:>7.4f} {r['psnr_y']:>7.2f} {r['ssim_y']:>7.4f}")


def format_table(rows: list[dict]) -> str:
    return "\n".join([TABLE_HEADER] + [format_row(r) for r in rows])


# -- command line ------------------------------------------------------------------------------

SHIPPED = ("tinyunet_regression", "tinyunet_diffusion_linear", "tinyunet_diffusion_cosine")


def build_from_args(args) -> TinyUNetSR:
    """The model a ``train tinyunet`` command line describes."""
    return TinyUNetSR(
        mode=getattr(args, "mode", None) or "diffusion",
        schedule=getattr(args, "schedule", None) or "cosine",
        T=getattr(args, "timesteps", None) or 1000,
        prediction=getattr(args, "prediction", None) or "x0",
        zero_terminal_snr=bool(getattr(args, "zero_snr", False)),
        spacing=getattr(args, "spacing", None) or "trailing",
        residual_scale=getattr(args, "residual_scale", None) or 1.0,
        train_timesteps=getattr(args, "train_timesteps", None) or "sampler",
        loss=getattr(args, "diffusion_loss", None) or "l2",
    )


def _check_cli_scale(args) -> None:
    scale = getattr(args, "scale", None)
    if scale not in (None, SCALE):
        raise ValueError(f"TinyUNet is an x{SCALE} model (16x16 -> 32x32), got --scale {scale}")


def cli_train(args) -> dict:
    """``python -m srlab train tinyunet --mode diffusion|regression --schedule linear|cosine``.

    Trains on CIFAR-10 train pairs held on the device (``cifar_bank``), evaluates the PSNR of
    the default sampler on 1000 test pairs every ``--eval-every`` steps, keeps a resumable
    checkpoint in ``--out`` and writes the fp16 weights ``<out stem>.pt`` and ``<out stem>.json``.
    """
    from srlab.config import get_device, seed_everything
    from srlab.pretrained import save_weights
    from srlab.train import fit

    _check_cli_scale(args)
    if getattr(args, "data", None):
        os.environ["SRLAB_CIFAR10_DIR"] = str(args.data)
    device = torch.device(args.device) if getattr(args, "device", None) else get_device()
    steps = args.steps or 20_000
    batch_size = args.batch_size or 128
    lr = args.lr or 2e-3
    seed = args.seed if args.seed is not None else 0
    seed_everything(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model = build_from_args(args)
    tag = model.config["mode"] + (f"_{model.config['schedule']['name']}"
                                  if model.is_diffusion else "")
    out = Path(args.out or f"checkpoints/tinyunet_{tag}.ckpt")
    weights_out = out.with_suffix(".pt") if out.suffix != ".pt" else out.with_name(
        f"{out.stem}_fp16.pt")
    workers = min(8, os.cpu_count() or 1) if device.type == "cuda" else 0
    train = cifar_bank("train", getattr(args, "limit", None), device, workers)
    test = cifar_bank("test", 1000, device, workers)
    lr_eval, hr_eval = test.tensors()

    def eval_fn(m: TinyUNetSR) -> float:
        return evaluate_pairs(m.upscale, lr_eval, hr_eval, seed=seed)["psnr"]

    milestones = [steps // 2, steps * 3 // 4, steps * 7 // 8]
    config = {**model.config, "train": {"data": train.source, "batch_size": batch_size,
                                         "lr": lr, "seed": seed, "steps": steps}}
    print(f"train tinyunet ({model.describe()}), {sum(p.numel() for p in model.parameters())} "
          f"parameters: {len(train)} pairs from {train.source}, {steps} steps, batch "
          f"{batch_size}, lr {lr} (halved at {milestones}), device {device}", flush=True)
    history = fit(model, train, steps=steps, batch_size=batch_size, lr=lr,
                  loss=lambda m, lr_b, hr_b: m.loss(lr_b, hr_b), eval_fn=eval_fn,
                  eval_every=args.eval_every or max(steps // 10, 1), ckpt_path=out,
                  resume=args.resume if args.resume is not None else True, kind=KIND,
                  config=config, seed=seed, device=device, lr_milestones=milestones,
                  progress=bool(getattr(args, "progress", True)), log_every=50,
                  amp=False)  # a 0.12M-parameter net is launch-bound: fp32 costs nothing
    model.to("cpu")
    digest = save_weights(model, KIND, model.config, weights_out)
    done = history["step"][-1] if history["step"] else 0
    summary = {"model": "tinyunet", "config": config, "steps": done,
               "seconds": history["seconds"], "device": str(device),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
               else "cpu", "weights": str(weights_out), "sha256": digest, "history": history}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    psnr_txt = (f", test PSNR (1000 pairs, default sampler) {history['eval_psnr'][-1]:.2f} dB"
                if history["eval_psnr"] else "")
    print(f"done: {done} steps in {history['seconds']:.0f} s{psnr_txt}; checkpoint {out}; "
          f"weights {weights_out} (sha256 {digest})", flush=True)
    return summary


def load_model(weights: str) -> TinyUNetSR:
    """A shipped name (``tinyunet_diffusion_cosine``) or a weights/checkpoint path."""
    from srlab import pretrained

    if Path(weights).suffix in (".pt", ".ckpt", ".pth") or Path(weights).exists():
        model = pretrained.load_file(weights)
    else:
        model = pretrained.load(weights)
    if getattr(model, "kind", None) != KIND:
        raise ValueError(f"weights {weights} hold a {getattr(model, 'kind', '?')} network, "
                         "not a TinyUNet")
    return model


def cli_eval(args) -> list[dict]:
    """``python -m srlab eval tinyunet [--weights W ...] [--n-steps 1 2 3 4 5] [--limit N]``.

    Prints Step / Param(M) / ms / PSNR / SSIM on the CIFAR-10 test split (every shipped
    TinyUNet when ``--weights`` is not given). ms: CPU, batch 1, ``--threads`` threads.
    """
    from srlab.data import load_cifar10_sr

    _check_cli_scale(args)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    names = [args.weights] if getattr(args, "weights", None) else list(SHIPPED)
    models = {Path(n).stem: load_model(n) for n in names}
    ds = load_cifar10_sr("test", scale=SCALE)
    bank = PairBank.from_dataset(ds, getattr(args, "limit", None), progress=False)
    lr, hr = bank.tensors()
    n_steps = getattr(args, "n_steps", None) or [1, 2, 3, 4, 5]
    print(f"TinyUNet x{SCALE} on {bank.source} ({len(bank)} images); RGB PSNR/SSIM on the whole "
          f"image, Y: luma with {SCALE} px shaved; 8-bit outputs; ms: CPU per image at batch 1, "
          f"{torch.get_num_threads()} threads")
    print(TABLE_HEADER)
    return evaluate_table(models, lr, hr, n_steps, seed=args.seed or 0)
