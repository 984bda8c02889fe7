"""Checks for the exercises of notebook 05 (solutions/05_tinyunet_diffusion_sr.ipynb).

The checks compare with ``srlab.models.TinyUNetSR`` (its ``denoise``, ``upscale`` and
``sampler``), the diffusion core and ``srlab.evaluate``, using the shipped weights
``tinyunet_diffusion_linear`` / ``_cosine`` on random images and random crops of the embedded
photos (no network, no training). Those weights diffuse the scaled residual x0 = s (hr - up),
s = ``model.config["residual_scale"]``; the answers handle any s (s = 1 included).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache, wraps

import torch
import torch.nn.functional as F

from srlab import pretrained
from srlab.config import num_threads
from srlab.course.registry import Wrong, close, register
from srlab.data import EmbeddedPatches
from srlab.degradation import bicubic_down, bicubic_up, quantize
from srlab.diffusion import ddim_timesteps, diffusion_loss, q_sample
from srlab.evaluate import evaluate
from srlab.metrics import psnr
from srlab.models import TinyUNetSR


def _randint(lo: int, hi: int, rng: torch.Generator) -> int:
    """A random integer in [lo, hi] (both included)."""
    return int(torch.randint(lo, hi + 1, (), generator=rng))


def _same(got: object, candidate: torch.Tensor, atol: float = 1e-5) -> bool:
    """True when ``got`` is a tensor equal to ``candidate`` (used to recognise typical mistakes)."""
    return (isinstance(got, torch.Tensor) and got.shape == candidate.shape
            and torch.allclose(got.detach().double(), candidate.detach().double(), atol=atol,
                               rtol=1e-4))


def _one_thread(checker: Callable) -> Callable:
    """Run a checker on one CPU thread: the TinyUNet is too small to gain from more, and on a
    busy machine several threads make every call slow."""

    @wraps(checker)
    def run(answer, rng: torch.Generator, strict: bool) -> str:
        with num_threads(1):
            return checker(answer, rng, strict)

    return run


@cache
def _shipped(name: str) -> TinyUNetSR:
    return pretrained.load(f"tinyunet_diffusion_{name}")  # type: ignore[return-value]


@lru_cache(maxsize=1)
def _patches():
    return EmbeddedPatches(n=48, seed=5)


def _images(n: int, h: int, w: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(lr (n, 3, h, w), hr (n, 3, 2h, 2w)): smooth random HR images with some texture."""
    coarse = torch.rand(n, 3, max(h // 3, 2), max(w // 3, 2), generator=rng)
    hr = F.interpolate(coarse, size=(2 * h, 2 * w), mode="bilinear", align_corners=False)
    hr = (hr + 0.06 * torch.randn(hr.shape, generator=rng)).clamp(0, 1)
    return bicubic_down(hr, 2), hr


# -- 05.1 -----------------------------------------------------------------------------------------

@register(
    "05.1", "the denoiser's input: noisy residual, bicubic image, noise level",
    lesson="notebooks/05_tinyunet_diffusion_sr.ipynb, section 2 (the TinyUNet) and 3",
    hints=["Three pieces, concatenated along the channels (dim=1) in this order: x_t (3 ch), the "
           "bicubic image up (3 ch), and one constant channel holding the noise level.",
           "The noise level of sample i is sigma = sqrt(1 - alpha_bar[t_i]) = "
           "schedule.sqrt_one_minus_alpha_bar[t_i], the standard deviation of the noise in x_t "
           "(not t itself, not alpha_bar).",
           "level = schedule.sqrt_one_minus_alpha_bar[t].to(x_t.dtype).view(-1, 1, 1, 1)"
           ".expand(-1, 1, H, W); return torch.cat([x_t, up, level], dim=1)."],
    solution="""def denoiser_input(x_t, up, t, schedule):
    n, _, h, w = x_t.shape
    sigma = schedule.sqrt_one_minus_alpha_bar[t].to(x_t.dtype).view(n, 1, 1, 1)
    return torch.cat([x_t, up, sigma.expand(n, 1, h, w)], dim=1)""",
)
@_one_thread
def check_denoiser_input(answer, rng: torch.Generator, strict: bool) -> str:
    configs = [dict(schedule=("linear", "cosine")[_randint(0, 1, rng)], T=_randint(20, 1000, rng))]
    if strict:
        configs.append(dict(schedule="cosine", T=_randint(20, 1000, rng), zero_terminal_snr=True))
    done = []
    for config in configs:
        model = TinyUNetSR(**config).eval()
        sched = model.schedule("cpu")
        n = _randint(2, 5, rng)
        h, w = 4 * _randint(2, 6, rng), 4 * _randint(2, 6, rng)
        x_t = torch.randn(n, 3, h, w, generator=rng)
        up = torch.rand(n, 3, h, w, generator=rng)
        t = torch.randint(0, sched.T, (n,), generator=rng)
        t[-1] = sched.T - 1
        seen: list[torch.Tensor] = []
        hook = model.net.register_forward_pre_hook(
            lambda mod, args, seen=seen: seen.append(args[0]))
        try:
            with torch.no_grad():
                model.denoise(x_t, t, up)
        finally:
            hook.remove()
        expected = seen[0]
        got = answer(x_t, up, t, sched)
        if (isinstance(got, torch.Tensor) and got.shape == expected.shape
                and not _same(got, expected, atol=1e-6)):  # wrong: look for a typical mistake
            level = got[:, 6:7].detach().double()
            for values, hint in (
                (sched.alpha_bar[t], "the level channel holds alpha_bar_t: it must be the noise "
                                     "level sqrt(1 - alpha_bar_t)"),
                (sched.sqrt_alpha_bar[t], "the level channel holds sqrt(alpha_bar_t), the "
                                          "signal scale: it must be the noise level "
                                          "sqrt(1 - alpha_bar_t)"),
                (1 - sched.alpha_bar[t], "the level channel holds the noise variance 1 - "
                                         "alpha_bar_t: take its square root"),
                (t.double(), "the level channel holds t: the network is told the noise level "
                             "sqrt(1 - alpha_bar_t), not the timestep"),
                (t.double() / sched.T, "the level channel holds t / T: it must be sqrt(1 - "
                                       "alpha_bar_t), which depends on the schedule"),
            ):
                if _same(level, values.view(-1, 1, 1, 1).expand_as(level).double()):
                    raise Wrong(hint)
            if _same(got[:, :3], up) and _same(got[:, 3:6], x_t):
                raise Wrong("the channel order is wrong: x_t first, then the bicubic image, then "
                            "the level (the trained weights expect this order)")
        close(got, expected, f"the 7-channel input ({config['schedule']} schedule, "
              f"T={config['T']}, x_t {tuple(x_t.shape)})", atol=1e-6)
        done.append(f"{model.describe()}, x_t {tuple(x_t.shape)}")
    return ("equals what TinyUNetSR.denoise feeds its TinyUNet (read with a forward hook) for "
            + "; ".join(done) + " (to 1e-6).")


# -- 05.2 -----------------------------------------------------------------------------------------

def _loss_variant(model: TinyUNetSR, lr, hr, t, noise, mistake: str) -> torch.Tensor:
    sched = model.schedule("cpu")
    up = bicubic_up(lr, 2)
    x0 = {"hr": hr, "2hr-1": 2 * hr - 1, "unscaled": hr - up}.get(mistake, model.to_x0(hr, up))
    x_t = q_sample(x0, t, noise, sched)
    with torch.no_grad():
        pred = model.denoise(x_t, t, up)
    target = noise if mistake == "eps" else x0
    if mistake == "l1":
        return (pred - target).abs().mean()
    if mistake == "sum":
        return ((pred - target) ** 2).sum()
    return ((pred - target) ** 2).mean()


@register(
    "05.2", "one training step's loss: x0-prediction of the residual",
    lesson="notebooks/05_tinyunet_diffusion_sr.ipynb, section 3 (one training step, line by line)",
    hints=["What is diffused is the residual over bicubic upsampling, scaled: x0 = s (hr - "
           "bicubic_up(lr, 2)) with s = model.config['residual_scale'], not the HR image; the "
           "bicubic image is the condition given to model.denoise.",
           "x_t = q_sample(x0, t, noise, model.schedule()); the model predicts x0, so the target "
           "of the loss is x0 (not the noise).",
           "Return torch.mean((model.denoise(x_t, t, up) - x0) ** 2)."],
    solution="""def x0_loss(model, lr, hr, t, noise):
    up = bicubic_up(lr, 2)
    x0 = model.config["residual_scale"] * (hr - up)
    x_t = q_sample(x0, t, noise, model.schedule())
    return torch.mean((model.denoise(x_t, t, up) - x0) ** 2)""",
)
@_one_thread
def check_x0_loss(answer, rng: torch.Generator, strict: bool) -> str:
    names = ["linear"] + (["cosine"] if strict else [])
    done = []
    for name in names:
        model = _shipped(name)
        sched = model.schedule("cpu")
        n = _randint(3, 8, rng)
        lr, hr = _images(n, 16, 16, rng)
        t = torch.randint(0, sched.T, (n,), generator=rng)
        noise = torch.randn(hr.shape, generator=rng)
        up = bicubic_up(lr, 2)
        with torch.no_grad():
            expected = diffusion_loss(model.denoise, model.to_x0(hr, up), up, sched, "x0",
                                      t=t, noise=noise)
        got = answer(model, lr, hr, t, noise)
        if isinstance(got, torch.Tensor) and got.numel() != 1:
            raise Wrong(f"return one number (the mean over the batch), got shape "
                        f"{tuple(got.shape)}")
        if isinstance(got, (int, float)):
            got = torch.tensor(float(got))
        if isinstance(got, torch.Tensor):
            got = got.detach().reshape(())
            wrong = not _same(got, expected.reshape(()), atol=1e-7)
            for mistake, hint in () if not wrong else (
                ("eps", "your target is the noise: this model predicts x0 (the residual), so the "
                        "loss compares its output with x0"),
                ("unscaled", "you diffused the residual unscaled: this model diffuses x0 = s (hr - "
                             f"up) with s = model.config['residual_scale'] = "
                             f"{model.config['residual_scale']:.2f}"),
                ("hr", "you diffused the HR image: diffuse the residual, scaled: x0 = s (hr - "
                       "bicubic_up(lr, 2))"),
                ("2hr-1", "you diffused 2 hr - 1: this model diffuses the residual, scaled: x0 = "
                          "s (hr - bicubic_up(lr, 2))"),
                ("sum", "you summed the squared errors: take their mean"),
                ("l1", "that is the L1 loss: the DDPM loss is the mean SQUARED error"),
            ):
                if _same(got, _loss_variant(model, lr, hr, t, noise, mistake), atol=1e-7):
                    raise Wrong(hint)
        close(got, expected.reshape(()), f"the loss of {n} random pairs ({model.describe()})",
              atol=1e-7, rtol=1e-4)
        done.append(f"{n} random 16x16 -> 32x32 pairs with the shipped {model.tag}")
    return ("equals srlab.diffusion.diffusion_loss(model.denoise, s (hr - up), up, schedule, 'x0') "
            "with the same t and noise on " + "; ".join(done) + " (relative 1e-4).")


# -- 05.3 -----------------------------------------------------------------------------------------

@torch.no_grad()
def _upscale_variant(model: TinyUNetSR, lr: torch.Tensor, steps: int, seed: int, *,
                     spacing: str = "trailing", last_is_x0: bool = True, clip_at_s: bool = True,
                     unscale: bool = True, add_up: bool = True, clamp: bool = True) -> torch.Tensor:
    """DDIM with x0-prediction written out, or a typical mistake of it."""
    s = model.config["residual_scale"]
    c = s if clip_at_s else 1.0
    sched = model.schedule("cpu")
    up = bicubic_up(lr, 2)
    x = torch.randn(up.shape, generator=torch.Generator().manual_seed(seed))
    ts = ddim_timesteps(sched.T, steps, spacing)
    for i, t in enumerate(ts):
        ab = float(sched.alpha_bar[t])
        if i + 1 < len(ts):
            ab_next = float(sched.alpha_bar[ts[i + 1]])
        else:
            ab_next = 1.0 if last_is_x0 else float(sched.alpha_bar[0])
        x0_hat = model.denoise(x, torch.full((len(x),), t), up).clamp(-c, c)
        eps_hat = (x - ab**0.5 * x0_hat) / (1 - ab) ** 0.5
        x = ab_next**0.5 * x0_hat + (1 - ab_next) ** 0.5 * eps_hat
    x = x / s if unscale else x
    if not add_up:
        return x
    return (up + x).clamp(0, 1) if clamp else up + x


@register(
    "05.3", "the few-step DDIM sampler, written out",
    lesson="notebooks/05_tinyunet_diffusion_sr.ipynb, section 8 (watching the "
           "sampler work); the DDIM step of notebook 04, section 4",
    hints=["up = bicubic_up(lr, 2); x_T = torch.randn(up.shape, generator=torch.Generator()"
           ".manual_seed(seed)); visit ddim_timesteps(T, steps, 'trailing'); the output image is "
           "clamp(up + x0 / s, 0, 1) with s = model.config['residual_scale'].",
           "At every visited t: x0_hat = model.denoise(x, t_batch, up).clamp(-s, s) (the model "
           "predicts x0 = s * residual, and the residual is in [-1, 1]); "
           "eps_hat = (x - sqrt(ab_t) x0_hat) / sqrt(1 - ab_t); "
           "x = sqrt(ab_next) x0_hat + sqrt(1 - ab_next) eps_hat (eta = 0).",
           "ab_next is alpha_bar of the next visited timestep, and 1.0 after the last one (so "
           "the final x is x0_hat). Wrap the loop in torch.no_grad()."],
    solution="""def my_upscale(model, lr, steps, seed):
    s = model.config["residual_scale"]
    sched = model.schedule()
    up = bicubic_up(lr, 2)
    x = torch.randn(up.shape, generator=torch.Generator().manual_seed(seed))
    ts = ddim_timesteps(sched.T, steps, "trailing")
    with torch.no_grad():
        for i, t in enumerate(ts):
            ab = float(sched.alpha_bar[t])
            ab_next = float(sched.alpha_bar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            x0_hat = model.denoise(x, torch.full((len(x),), t), up).clamp(-s, s)
            eps_hat = (x - ab**0.5 * x0_hat) / (1 - ab) ** 0.5
            x = ab_next**0.5 * x0_hat + (1 - ab_next) ** 0.5 * eps_hat
    return (up + x / s).clamp(0, 1)""",
)
@_one_thread
def check_my_upscale(answer, rng: torch.Generator, strict: bool) -> str:
    cases = [("linear", _randint(1, 5, rng), _randint(1, 3, rng), 16, 16),
             ("linear", _randint(1, 5, rng), _randint(1, 3, rng), 16, 16)]
    if strict:
        cases += [("cosine", 5, 1, 12, 20), ("cosine", _randint(1, 4, rng), 2, 16, 16)]
    done = []
    for name, steps, n, h, w in cases:
        model = _shipped(name)
        lr, _ = _images(n, h, w, rng)
        seed = _randint(0, 10_000, rng)
        expected = model.upscale(lr, steps=steps, seed=seed)
        got = answer(model, lr, steps, seed)
        where = f"{steps} step{'s' * (steps > 1)}, seed {seed}, {n} LR image(s) {h}x{w}"
        if (isinstance(got, torch.Tensor) and got.shape == expected.shape
                and not _same(got, expected)):  # wrong: look for a typical mistake
            again = answer(model, lr, steps, seed)
            if not _same(again, got, atol=0):
                raise Wrong("two calls with the same seed gave different images: draw x_T with "
                            "torch.randn(up.shape, generator=torch.Generator().manual_seed(seed))")
            if _same(got, expected - bicubic_up(lr, 2)):
                raise Wrong(f"{where}: you returned the residual: the image is clamp(up + x0 / s, "
                            "0, 1) with up = bicubic_up(lr, 2)")
            s = model.config["residual_scale"]
            for kwargs, hint in (
                (dict(spacing="leading"), "you visit leading timesteps: use trailing spacing, "
                                          "which starts at t = T - 1 where x_T is pure noise"),
                (dict(spacing="linspace"), "you visit linspace timesteps: use trailing spacing"),
                (dict(last_is_x0=False), "after the last visited step ab_next = 1 (the final x "
                                         "is x0_hat), not alpha_bar[0]"),
                (dict(unscale=False), f"the final x is x0 = s * residual: divide it by s = "
                                      f"model.config['residual_scale'] = {s:.2f} before adding "
                                      "it to the bicubic image"),
                (dict(clip_at_s=False), f"you clipped x0_hat to [-1, 1]: x0 = s * residual "
                                        f"lies in [-s, s], s = {s:.2f}"),
                (dict(unscale=False, clip_at_s=False), "this is the sampler of an unscaled "
                 f"residual: clip x0_hat to [-s, s] and return clamp(up + x0 / s), s = {s:.2f}"),
                (dict(add_up=False), "you returned the residual: the image is clamp(up + x0 / s, "
                                     "0, 1) with up = bicubic_up(lr, 2)"),
                (dict(clamp=False), "clamp the image to [0, 1]"),
            ):
                wrong = _upscale_variant(model, lr, steps, seed, **kwargs)
                if _same(got, wrong) and not _same(wrong, expected):
                    raise Wrong(f"{where}: {hint}")
        close(got, expected, f"the SR image ({where}, shipped {model.tag})", atol=1e-5)
        done.append(f"{where} ({model.tag})")
    return "equals model.upscale(lr, steps, seed) for " + "; ".join(done) + " (to 1e-5)."


# -- 05.4 -----------------------------------------------------------------------------------------

def _table_variant(model, lr, hr, steps_list, mistake: str) -> dict[int, float]:
    out = {}
    for s in steps_list:
        sr = model.upscale(lr, steps=s, seed=0)
        if mistake != "no_quantize":
            sr = quantize(sr)
        if mistake == "batch_mse":
            out[s] = float(10 * torch.log10(1 / (sr - hr).pow(2).mean()))
        else:
            out[s] = float(psnr(sr, hr, y_channel=mistake == "y", shave=2 if mistake == "y" else 0))
    return out


@register(
    "05.4", "a PSNR-vs-steps table",
    lesson="notebooks/05_tinyunet_diffusion_sr.ipynb, section 7 (Table 1, measured here)",
    hints=["For every step count s: sr = model.upscale(lr, steps=s, seed=0), round it to 8 bits "
           "like a saved PNG, then take the RGB PSNR of each image against hr and average.",
           "srlab.degradation.quantize(sr) rounds to 8 bits; srlab.metrics.psnr(sr, hr) averages "
           "the per-image PSNR (RGB, whole image, no shave).",
           "Return {s: float(psnr(quantize(model.upscale(lr, steps=s, seed=0)), hr)) for s in "
           "steps_list}."],
    solution="""def psnr_vs_steps(model, lr, hr, steps_list):
    table = {}
    for s in steps_list:
        sr = quantize(model.upscale(lr, steps=s, seed=0))
        table[s] = float(psnr(sr, hr))
    return table""",
)
@_one_thread
def check_psnr_vs_steps(answer, rng: torch.Generator, strict: bool) -> str:
    patches = _patches()
    names = ["linear"] + (["cosine"] if strict else [])
    done = []
    for name in names:
        model = _shipped(name)
        idx = torch.randperm(len(patches), generator=rng)[:_randint(4, 8, rng)]
        lr, hr = patches.lr[idx], patches.hr[idx]
        steps_list = sorted(torch.randperm(5, generator=rng)[:_randint(2, 3, rng)].add(1).tolist())
        got = answer(model, lr, hr, steps_list)
        if not isinstance(got, dict):
            raise Wrong(f"return a dict {{steps: PSNR}}, got {type(got).__name__}")
        if sorted(got) != steps_list:
            raise Wrong(f"the keys must be the step counts {steps_list}, got {sorted(got)}")
        got = {s: float(v) for s, v in got.items()}
        expected = {s: evaluate(model.sampler(steps=s, seed=0), (lr, hr), 2)["psnr_rgb"]
                    for s in steps_list}
        wrong = any(abs(got[s] - expected[s]) > 1e-4 for s in steps_list)
        for mistake, hint in () if not wrong else (
            ("no_quantize", "round the outputs to 8 bits first (srlab.degradation.quantize), as "
                            "saving a PNG does and as the course's table does"),
            ("batch_mse", "you took one MSE over the whole batch: average the PSNR of each "
                          "image instead (psnr is not linear in the MSE)"),
            ("y", "that is the luma (Y) PSNR with a shaved border: the table column is RGB on "
                  "the whole image"),
        ):
            variant = _table_variant(model, lr, hr, steps_list, mistake)
            if all(abs(got[s] - variant[s]) < 2e-5 for s in steps_list) and any(
                    abs(variant[s] - expected[s]) > 2e-5 for s in steps_list):
                raise Wrong(hint)
        for s in steps_list:
            if abs(got[s] - expected[s]) > 1e-4:
                raise Wrong(f"{s} step{'s' * (s > 1)}: got {got[s]:.4f} dB, expected "
                            f"{expected[s]:.4f} dB (the table uses seed=0 for every step count)")
        done.append(f"steps {steps_list} on {len(idx)} embedded-photo crops ({model.tag})")
    return ("matches srlab.evaluate.evaluate(model.sampler(steps=s, seed=0), (lr, hr), 2)"
            "['psnr_rgb'] for " + "; ".join(done) + " (to 1e-4 dB).")
