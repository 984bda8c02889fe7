"""Training and evaluation: one loop (``fit``) for every network in the course.

- ``fit``: Adam, optional step decay, bf16 autocast on CUDA, tqdm progress, atomic resumable
  checkpoints, returns the history for plotting. The loss is L1/L2 on ``model(lr)`` or any
  ``loss_fn(model, lr, hr)`` (the diffusion model passes its own).
- ``PatchSampler``: random HR crops, rescale in [0.5, 1], flips, 90-degree rotations and
  ``bicubic_down`` LR, all on the training device (no CPU bottleneck).
- ``evaluate``: per-image and mean PSNR/SSIM of 8-bit SR outputs, as SR papers report them.
- ``cli_train`` / ``cli_eval``: ``python -m srlab train|eval msrn|smsrn``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from srlab.checks import check_image, check_scale
from srlab.config import get_device, seed_everything
from srlab.data import bicubic_down, bicubic_up, list_images, load_image, mod_crop, quantize
from srlab.metrics import psnr, ssim

BatchFn = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

# -- training data on the device ----------------------------------------------------------


class PatchSampler:
    """Random (lr, hr) training batches cut from HR images held in memory on ``device``.

    Per batch: a rescale factor s in ``rescale`` (the HR crop of ``patch_size * scale / s``
    pixels is resized to ``patch_size * scale``), then per sample a random crop position,
    horizontal/vertical flip and transpose (with the flips: all 8 rotations/reflections),
    and LR = ``bicubic_down(hr, scale)``. Images are stored as uint8 (80 photos of 1024x768
    take 190 MB). Call as ``lr, hr = sampler(batch_size, generator)``: (B, 3, p, p) and
    (B, 3, p*scale, p*scale) float32 in [0, 1]; all randomness comes from ``generator``.
    """

    def __init__(self, images: list[torch.Tensor], scale: int, patch_size: int, *,
                 device: str | torch.device | None = None, augment: bool = True,
                 rescale: tuple[float, float] = (0.5, 1.0)) -> None:
        self.scale = check_scale(scale)
        if patch_size < 1:
            raise ValueError(f"patch_size (LR pixels) must be >= 1, got {patch_size}")
        if not images:
            raise ValueError("PatchSampler needs at least one image")
        lo, hi = rescale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"rescale must satisfy 0 < lo <= hi <= 1, got {rescale}")
        self.device = torch.device(device) if device is not None else get_device()
        self.hr_patch = patch_size * self.scale
        self.augment, self.rescale = augment, (lo, hi) if augment else (1.0, 1.0)
        self.images = []
        for i, img in enumerate(images):
            img = check_image(img if img.ndim == 4 else img.unsqueeze(0), f"images[{i}]",
                              channels=3)
            if min(img.shape[-2:]) < self.hr_patch:
                raise ValueError(f"images[{i}] is {img.shape[-2]}x{img.shape[-1]}, smaller than "
                                 f"the HR patch {self.hr_patch} (patch_size {patch_size} x scale "
                                 f"{self.scale}); use a smaller patch_size")
            self.images.append((img[0] * 255).round().to(torch.uint8).to(self.device))
        self.sizes = torch.tensor([img.shape[-2:] for img in self.images])  # (n, 2) H, W
        self.min_side = int(self.sizes.min())

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, scale: int, patch_size: int,
                    **kwargs) -> PatchSampler:
        """Load every image of ``folder`` (see ``srlab.data.list_images``)."""
        return cls([load_image(p) for p in list_images(folder)], scale, patch_size, **kwargs)

    def __len__(self) -> int:
        return len(self.images)

    def __call__(self, batch_size: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.rescale
        s = lo + (hi - lo) * float(torch.rand((), generator=generator))
        crop = min(round(self.hr_patch / s), self.min_side)
        idx = torch.randint(len(self.images), (batch_size,), generator=generator)
        room = self.sizes[idx] - crop + 1  # (B, 2) valid top/left positions
        pos = (torch.rand(batch_size, 2, generator=generator) * room).long()
        hr = torch.stack([self.images[i][:, t : t + crop, l : l + crop]
                          for i, (t, l) in zip(idx.tolist(), pos.tolist(), strict=True)])
        hr = hr.float() / 255
        if crop != self.hr_patch:
            hr = F.interpolate(hr, size=(self.hr_patch, self.hr_patch), mode="bicubic",
                               antialias=True, align_corners=False)
            hr = quantize(hr)
        if self.augment:
            flips = torch.randint(0, 2, (3, batch_size, 1, 1, 1), generator=generator)
            flips = flips.bool().to(self.device)
            hr = torch.where(flips[0], hr.flip(-1), hr)
            hr = torch.where(flips[1], hr.flip(-2), hr)
            hr = torch.where(flips[2], hr.transpose(-1, -2), hr)
        return bicubic_down(hr, self.scale), hr


# -- the training loop ----------------------------------------------------------------------


def _loss_fn(loss: str | LossFn) -> LossFn:
    if callable(loss):
        return loss
    if loss == "l1":
        return lambda model, lr, hr: F.l1_loss(model(lr).float(), hr)
    if loss == "l2":
        return lambda model, lr, hr: F.mse_loss(model(lr).float(), hr)
    raise ValueError(f"loss must be 'l1', 'l2' or a callable loss_fn(model, lr, hr), got {loss!r}")


def _dataset_batches(ds: Dataset, batch_size: int, gen: torch.Generator, num_workers: int
                     ) -> Iterator:
    """Endless batches of a Dataset, indices drawn with replacement from ``gen``."""

    class _Batches:
        def __iter__(self):
            while True:
                yield torch.randint(len(ds), (batch_size,), generator=gen).tolist()

    if len(ds) == 0:
        raise ValueError("train_data is an empty dataset")
    return iter(DataLoader(ds, batch_sampler=_Batches(), num_workers=num_workers))


def save_checkpoint(payload: dict, path: str | os.PathLike) -> None:
    """``torch.save`` to a temp file in the same folder, then ``os.replace`` (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path: str | os.PathLike, kind: str | None = None,
                    config: dict | None = None) -> dict:
    """Read a training checkpoint (``weights_only=True``); check its kind/config if given."""
    from srlab.pretrained import read_checkpoint

    ckpt = read_checkpoint(path)
    if kind is not None and (ckpt["kind"] != kind or ckpt.get("config") != config):
        raise ValueError(
            f"checkpoint {path} holds kind={ckpt['kind']!r} config={ckpt.get('config')}, but "
            f"this run is kind={kind!r} config={config}; pass another ckpt_path or resume=False"
        )
    return ckpt


def fit(model: nn.Module, train_data: Dataset | BatchFn, *, steps: int, batch_size: int,
        lr: float = 1e-4, loss: str | LossFn = "l1", eval_data: Dataset | None = None,
        eval_fn: Callable[[nn.Module], float] | None = None, eval_every: int | None = None,
        ckpt_path: str | os.PathLike | None = None, resume: bool = True, kind: str | None = None,
        config: dict | None = None, seed: int = 0, device: str | torch.device | None = None,
        amp: bool = True, lr_milestones: list[int] | None = None, progress: bool = True,
        log_every: int = 10, ckpt_every: int | None = None, num_workers: int = 0) -> dict:
    """Train ``model`` for ``steps`` Adam steps and return the history.

    train_data: a Dataset of (lr, hr) pairs, or ``batch_fn(batch_size, generator) -> (lr, hr)``.
    loss: "l1", "l2" (on ``model(lr)`` vs ``hr``) or ``loss_fn(model, lr, hr) -> scalar``.
    Evaluation every ``eval_every`` steps and at the end: ``eval_fn(model) -> PSNR`` or the
    mean RGB PSNR of 8-bit outputs on ``eval_data``. ``lr_milestones``: steps where the
    learning rate halves. Checkpoints (atomic) go to ``ckpt_path`` at every evaluation, every
    ``ckpt_every`` steps and at the end; with ``resume`` an existing checkpoint of the same
    ``kind``/``config`` is continued (another kind/config is a ``ValueError``). Ctrl-C stops
    cleanly: the last checkpoint is kept and the history so far is returned.
    Returns {"step", "loss", "eval_step", "eval_psnr", "seconds"} (lists, total seconds).
    """
    if steps < 0 or batch_size < 1:
        raise ValueError(f"need steps >= 0 and batch_size >= 1, got {steps}, {batch_size}")
    device = torch.device(device) if device is not None else get_device()
    kind = kind or getattr(model, "kind", type(model).__name__.lower())
    config = dict(config if config is not None else getattr(model, "config", {}))
    loss_fn = _loss_fn(loss)
    milestones = sorted(lr_milestones or [])
    ckpt_every = ckpt_every or eval_every or 1000
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    use_amp = amp and device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=False)  # bf16 needs no loss scaling
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    history = {"step": [], "loss": [], "eval_step": [], "eval_psnr": [], "seconds": 0.0}
    step = 0
    if ckpt_path is not None and resume and Path(ckpt_path).exists():
        ckpt = load_checkpoint(ckpt_path, kind, config)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        step, history = ckpt["step"], ckpt["history"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        gen.set_state(ckpt["rng"]["generator"])
        if device.type == "cuda" and ckpt["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        if progress:
            print(f"resuming {kind} from {ckpt_path} at step {step}")

    if callable(train_data) and not isinstance(train_data, Dataset):
        def next_batch():
            return train_data(batch_size, gen)
    else:
        batches = _dataset_batches(train_data, batch_size, gen, num_workers)

        def next_batch():
            return next(batches)

    def run_eval() -> float:
        model.eval()
        with torch.no_grad():
            value = float(eval_fn(model)) if eval_fn is not None else _mean_psnr(
                model, eval_data, device)
        model.train()
        history["eval_step"].append(step)
        history["eval_psnr"].append(value)
        return value

    def checkpoint() -> None:
        history["seconds"] = seconds0 + time.perf_counter() - t0
        save_checkpoint({
            "kind": kind, "config": config, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scaler": scaler.state_dict(), "step": step,
            "history": history,
            "rng": {"torch": torch.get_rng_state(), "generator": gen.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else []},
        }, ckpt_path)

    do_eval = eval_fn is not None or eval_data is not None
    seconds0, t0 = history["seconds"], time.perf_counter()
    bar = tqdm(total=steps, initial=min(step, steps), desc=f"train {kind}", disable=not progress)
    running, n_running, postfix = torch.zeros((), device=device), 0, {}
    model.train()
    try:
        while step < steps:
            lr_b, hr_b = next_batch()
            lr_b = lr_b.to(device, non_blocking=True)
            hr_b = hr_b.to(device, non_blocking=True)
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 ** sum(step >= m for m in milestones)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss_value = loss_fn(model, lr_b, hr_b)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss_value).backward()
            scaler.step(opt)
            scaler.update()
            step += 1
            running += loss_value.detach().float()
            n_running += 1
            if step % log_every == 0 or step == steps:
                mean_loss = float(running) / n_running
                if not math.isfinite(mean_loss):
                    raise FloatingPointError(
                        f"loss became {mean_loss} at step {step}; try a lower learning rate")
                history["step"].append(step)
                history["loss"].append(mean_loss)
                running.zero_()
                n_running = 0
                postfix["loss"] = f"{mean_loss:.4f}"
                bar.set_postfix(postfix)
            if do_eval and ((eval_every and step % eval_every == 0) or step == steps):
                postfix["psnr"] = f"{run_eval():.2f}"
                bar.set_postfix(postfix)
                if ckpt_path is not None:
                    checkpoint()
            elif ckpt_path is not None and (step % ckpt_every == 0 or step == steps):
                checkpoint()
            bar.update(1)
    except KeyboardInterrupt:
        where = f"; last checkpoint kept in {ckpt_path}" if ckpt_path else ""
        print(f"interrupted at step {step}{where}")
    finally:
        bar.close()
    history["seconds"] = seconds0 + time.perf_counter() - t0
    model.eval()
    return history


def _mean_psnr(model: nn.Module, dataset: Dataset, device: torch.device) -> float:
    """Mean RGB PSNR of 8-bit outputs over a Dataset of (lr, hr) pairs (no shave)."""
    values = []
    for i in range(len(dataset)):
        lr, hr = dataset[i]
        sr = quantize(model(lr.unsqueeze(0).to(device)).float())
        values.append(float(psnr(sr, hr.unsqueeze(0).to(device))))
    return sum(values) / len(values)


# -- evaluation -------------------------------------------------------------------------------


def forward_tiled(model: Callable, lr: torch.Tensor, scale: int, tile: int | None = None,
                  overlap: int = 8) -> torch.Tensor:
    """``model(lr)`` for (N, C, h, w), cut into ``tile`` x ``tile`` LR tiles when given.

    Tiles overlap by ``overlap`` LR pixels and the overlaps are averaged, so memory stays
    bounded for big images. Returns (N, C, h*scale, w*scale).
    """
    h, w = lr.shape[-2:]
    if tile is None or (h <= tile and w <= tile):
        return model(lr)
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")

    def starts(size: int) -> list[int]:
        t = min(tile, size)
        pos = list(range(0, size - t + 1, tile - overlap))
        return pos if pos[-1] + t == size else pos + [size - t]

    out = weight = None
    for top in starts(h):
        for left in starts(w):
            th, tw = min(tile, h), min(tile, w)
            piece = model(lr[..., top : top + th, left : left + tw])
            if out is None:
                out = piece.new_zeros(*piece.shape[:2], h * scale, w * scale)
                weight = piece.new_zeros(1, 1, h * scale, w * scale)
            region = (..., slice(top * scale, (top + th) * scale),
                      slice(left * scale, (left + tw) * scale))
            out[region] += piece
            weight[region] += 1
    return out / weight


def _pairs(dataset, scale: int) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, lr (1,3,h,w), hr (1,3,h*s,w*s)) from a pair Dataset or HR images (dict/list)."""
    hr_only = isinstance(dataset, dict) or (
        isinstance(dataset, list | tuple) and all(isinstance(x, torch.Tensor) for x in dataset))
    if hr_only:
        items = dataset.items() if isinstance(dataset, dict) else enumerate(dataset)
        for name, hr in items:
            hr = check_image(hr if hr.ndim == 4 else hr.unsqueeze(0), f"image {name}")
            hr = mod_crop(hr, scale)
            yield str(name), bicubic_down(hr, scale), hr
        return
    names = getattr(dataset, "names", None)
    for i in range(len(dataset)):
        lr, hr = dataset[i]
        lr, hr = lr.unsqueeze(0), hr.unsqueeze(0)
        if hr.shape[-2:] != (lr.shape[-2] * scale, lr.shape[-1] * scale):
            raise ValueError(
                f"dataset pair {i} is lr {tuple(lr.shape[-2:])} / hr {tuple(hr.shape[-2:])}, "
                f"which is not x{scale}; build the dataset with scale={scale}")
        yield (names[i] if names else str(i)), lr, hr


def evaluate(model: Callable, dataset, scale: int, *, y_channel: bool = True,
             shave: int | None = None, tile: int | None = None,
             device: str | torch.device | None = None, limit: int | None = None,
             progress: bool = False) -> dict:
    """PSNR/SSIM of ``model`` on whole images, the way SR papers measure them.

    dataset: a Dataset of (lr, hr) pairs (e.g. ``benchmark_set``) or HR images as a dict
    name -> (1, 3, H, W) / list (LR made here with mod-crop + ``bicubic_down``).
    ``model`` is any callable lr -> sr (an ``nn.Module`` or e.g. bicubic upsampling); its
    output is clamped and quantised to 8 bits, then compared on the Y channel (BT.601)
    with ``shave`` (default ``scale``) border pixels removed. ``tile`` (LR pixels) bounds
    memory. Returns {"names", "psnr", "ssim" (per image), "mean_psnr", "mean_ssim", ...}.
    """
    scale = check_scale(scale)
    model_scale = getattr(model, "scale", None)
    if model_scale is not None and model_scale != scale:
        raise ValueError(f"the model is a x{model_scale} network, but the evaluation scale is "
                         f"x{scale}; evaluate with scale={model_scale} or load x{scale} weights")
    shave = scale if shave is None else shave
    if device is None:
        param = next(iter(model.parameters()), None) if isinstance(model, nn.Module) else None
        device = param.device if param is not None else torch.device("cpu")
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    names, psnrs, ssims = [], [], []
    total = min(len(dataset), limit) if limit else len(dataset)
    with torch.no_grad():
        for k, (name, lr, hr) in enumerate(tqdm(_pairs(dataset, scale), total=total,
                                                 disable=not progress, leave=False)):
            if limit is not None and k >= limit:
                break
            lr, hr = lr.to(device), hr.to(device)
            sr = forward_tiled(model, lr, scale, tile).float()
            if sr.shape != hr.shape:
                raise ValueError(f"model output {tuple(sr.shape)} does not match the HR image "
                                 f"{tuple(hr.shape)} of {name} at scale x{scale}")
            sr = quantize(sr)
            names.append(name)
            psnrs.append(float(psnr(sr, hr, y_channel=y_channel, shave=shave)))
            ssims.append(float(ssim(sr, hr, y_channel=y_channel, shave=shave)))
    if was_training:
        model.train()
    if not names:
        raise ValueError("evaluate: the dataset is empty")
    return {"names": names, "psnr": psnrs, "ssim": ssims,
            "mean_psnr": sum(psnrs) / len(psnrs), "mean_ssim": sum(ssims) / len(ssims),
            "scale": scale, "y_channel": y_channel, "shave": shave}


def bicubic(scale: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """The bicubic baseline as a callable lr -> sr, usable with ``evaluate``."""
    scale = check_scale(scale)

    def upsample(lr: torch.Tensor) -> torch.Tensor:
        return bicubic_up(lr, scale)

    upsample.scale = scale
    return upsample


# -- command line ----------------------------------------------------------------------------

EVAL_SETS = ("Set5", "Set14", "B100", "BSD68", "Urban100")


def _build(name: str, scale: int) -> nn.Module:
    from srlab.models.msrn import build

    return build(name, {"scale": scale})


def cli_train(args) -> dict:
    """``python -m srlab train msrn|smsrn --data DIR --steps N --out FILE [...]``.

    Trains on random patches of the HR images in ``--data`` (kept on the device), evaluates
    on Set5 when available, keeps a resumable checkpoint in ``--out`` and, when done,
    writes the fp16 weights file ``<out stem>.pt`` (``srlab.pretrained`` format) and the
    history ``<out stem>.json``.
    """
    from srlab import data as srdata
    from srlab.pretrained import save_weights

    name = args.model
    scale = check_scale(args.scale or 4)
    if not args.data:
        raise SystemExit("train: --data DIR is required (a folder of HR images, e.g. DIV2K "
                         "from srlab.data.download_div2k, or any folder of photos)")
    steps = args.steps or 20_000
    batch_size = args.batch_size or 16
    patch_size = args.patch_size or 48
    lr = args.lr or 2e-4
    seed = args.seed if args.seed is not None else 0
    out = Path(args.out or f"checkpoints/{name}_x{scale}.ckpt")
    weights_out = out.with_suffix(".pt") if out.suffix != ".pt" else out.with_name(
        f"{out.stem}_fp16.pt")
    device = torch.device(args.device) if args.device else get_device()
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)

    seed_everything(seed)
    model = _build(name, scale)
    sampler = PatchSampler.from_folder(args.data, scale, patch_size, device=device)
    eval_fn = None
    if "Set5" in srdata.available_benchmarks():
        set5 = srdata.benchmark_set("Set5", scale)
        eval_fn = lambda m: evaluate(m, set5, scale, device=device)["mean_psnr"]  # noqa: E731
    milestones = [steps // 2, steps * 3 // 4]
    config = {**model.config, "train": {"data": str(args.data), "batch_size": batch_size,
                                         "patch_size": patch_size, "lr": lr, "seed": seed}}
    print(f"train {name} x{scale}: {len(sampler)} images from {args.data}, {steps} steps, "
          f"batch {batch_size}, LR patch {patch_size}, lr {lr} (halved at {milestones}), "
          f"device {device}")
    history = fit(model, sampler, steps=steps, batch_size=batch_size, lr=lr, loss="l1",
                  eval_fn=eval_fn, eval_every=args.eval_every or max(steps // 10, 1),
                  ckpt_path=out, resume=args.resume if args.resume is not None else True,
                  kind=name, config=config, seed=seed, device=device, lr_milestones=milestones)
    model.to("cpu")
    digest = save_weights(model, name, model.config, weights_out)
    done = history["step"][-1] if history["step"] else 0
    summary = {"model": name, "scale": scale, "steps": done, "seconds": history["seconds"],
               "device": str(device), "weights": str(weights_out), "sha256": digest,
               "history": history}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    psnr_txt = f", Set5 PSNR {history['eval_psnr'][-1]:.2f} dB" if history["eval_psnr"] else ""
    print(f"done: {done} steps in {history['seconds']:.0f} s{psnr_txt}; checkpoint {out}; "
          f"weights {weights_out} (sha256 {digest})")
    return summary


def load_for_eval(name: str, scale: int, weights: str | None = None,
                  device: str | torch.device = "cpu") -> nn.Module:
    """Shipped weights by name (default ``<name>_x<scale>``) or a weights/checkpoint path,
    checked to be a ``name`` network for x``scale``."""
    from srlab import pretrained

    weights = weights or f"{name}_x{scale}"
    if Path(weights).suffix in (".pt", ".ckpt", ".pth") or Path(weights).exists():
        model = pretrained.load_file(weights, device)
    else:
        model = pretrained.load(weights, device)
    kind = getattr(model, "kind", None)
    if kind != name:
        raise ValueError(f"weights {weights} hold a {kind} network, not {name}")
    if getattr(model, "scale", scale) != scale:
        raise ValueError(f"weights {weights} are for x{model.scale}, not x{scale}; "
                         f"pass --scale {model.scale}")
    return model


def cli_eval(args) -> dict:
    """``python -m srlab eval msrn|smsrn [--scale 4] [--weights W] [--sets ...]``: a PSNR/SSIM
    table (Y channel, ``scale`` shaved, 8-bit output) for every benchmark set found."""
    from srlab import data as srdata

    name, scale = args.model, check_scale(args.scale or 4)
    device = torch.device(args.device) if args.device else torch.device("cpu")
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    model = load_for_eval(name, scale, args.weights, device)
    found = srdata.available_benchmarks()
    sets = list(args.sets) if args.sets else [s for s in EVAL_SETS if s in found]
    limit = getattr(args, "limit", None)
    tile = getattr(args, "tile", None)
    sources = {s: srdata.benchmark_set(s, scale) for s in sets}
    if not sources:
        print("no benchmark set found (set SRLAB_BENCHMARKS); using the embedded photos")
        sources = {"embedded": srdata.embedded_images()}
    print(f"{name} x{scale} ({args.weights or f'{name}_x{scale}'}), Y channel, shave {scale}, "
          f"8-bit output")
    print(f"{'set':<10} {'images':>6} {'bicubic PSNR/SSIM':>19} {name + ' PSNR/SSIM':>19}")
    results = {}
    for set_name, ds in sources.items():
        base = evaluate(bicubic(scale), ds, scale, limit=limit, device=device)
        res = evaluate(model, ds, scale, limit=limit, tile=tile, device=device, progress=True)
        results[set_name] = {"bicubic": base, name: res}
        print(f"{set_name:<10} {len(res['names']):>6} "
              f"{base['mean_psnr']:>10.2f} / {base['mean_ssim']:.4f} "
              f"{res['mean_psnr']:>10.2f} / {res['mean_ssim']:.4f}", flush=True)
    return results
