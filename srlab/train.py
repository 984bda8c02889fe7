"""The training loop: ``fit``, one for every network of the course (notebooks 02, 04 and 05).

Adam with optional step decay, bf16 autocast on CUDA, tqdm progress, evaluation every
``eval_every`` steps, atomic resumable checkpoints, and the history for plotting. Before a
long run it says how long it will take, measured on the first steps.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from srlab import checkpoint
from srlab.checks import check_int, check_positive
from srlab.config import get_device

BatchFn = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
ETA_AFTER = 5  # steps timed (after the first) before the time estimate is printed
ETA_PRINT_ABOVE_S = 60.0  # runs estimated shorter than this start without a message


def _loss_fn(loss: str | LossFn) -> LossFn:
    if callable(loss):
        return loss
    if loss == "l1":
        return lambda model, lr, hr: F.l1_loss(model(lr).float(), hr)
    if loss == "l2":
        return lambda model, lr, hr: F.mse_loss(model(lr).float(), hr)
    if loss == "model":  # the model's own training loss, e.g. TinyUNetSR.loss (diffusion)
        return lambda model, lr, hr: model.loss(lr, hr)
    raise ValueError(f"loss must be 'l1', 'l2', 'model' or a callable loss_fn(model, lr, hr), "
                     f"got {loss!r}")


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


def load_checkpoint(path: str | os.PathLike, kind: str, config: dict) -> dict:
    """A training checkpoint of this ``kind`` and ``config`` (anything else is a ValueError)."""
    ckpt = checkpoint.load(path, required=frozenset({"kind", "config", "model", "optimizer",
                                                     "step", "history", "rng"}))
    if ckpt["kind"] != kind or ckpt["config"] != config:
        raise ValueError(
            f"checkpoint {path} holds kind={ckpt['kind']!r} config={ckpt['config']}, but "
            f"this run is kind={kind!r} config={config}; pass another ckpt_path or resume=False"
        )
    return ckpt


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3.5 min`` or ``2.1 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def fit(model: nn.Module, train_data: Dataset | BatchFn, *, steps: int, batch_size: int,
        lr: float = 1e-4, loss: str | LossFn = "l1",
        eval_fn: Callable[[nn.Module], float] | None = None, eval_name: str = "eval",
        eval_every: int | None = None, ckpt_path: str | os.PathLike | None = None,
        resume: bool = True, config: dict | None = None, seed: int = 0,
        device: str | torch.device | None = None, amp: bool = True,
        lr_milestones: list[int] | None = None, progress: bool = True, log_every: int = 10,
        ckpt_every: int | None = None, num_workers: int = 0) -> dict:
    """Train ``model`` for ``steps`` Adam steps and return the history.

    train_data: a Dataset of (lr, hr) pairs, or ``batch_fn(batch_size, generator) -> (lr, hr)``
    (e.g. a ``srlab.data.PatchSampler``). loss: "l1", "l2" (on ``model(lr)`` vs ``hr``),
    "model" (the model's own ``model.loss(lr, hr)``) or ``loss_fn(model, lr, hr) -> scalar``.
    ``eval_fn(model) -> float`` runs every ``eval_every`` steps and at the end; ``eval_name``
    says what it measures (e.g. "Set5 PSNR-Y (dB)") and is kept in the history.
    ``lr_milestones``: steps where the learning rate halves. Checkpoints (atomic) go to
    ``ckpt_path`` at every evaluation, every ``ckpt_every`` steps, at the end and on Ctrl-C;
    with ``resume`` an existing checkpoint of the same kind/``config`` (default
    ``model.config``) is continued, another kind/config is a ``ValueError``.
    Returns {"step", "loss", "eval_step", "eval", "eval_name", "seconds"}.
    """
    steps = check_int(steps, "steps", minimum=0)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    device = torch.device(device) if device is not None else get_device()
    kind = getattr(model, "kind", type(model).__name__.lower())
    config = dict(config if config is not None else getattr(model, "config", {}))
    loss_fn = _loss_fn(loss)
    milestones = sorted(lr_milestones or [])
    ckpt_every = ckpt_every or eval_every or 1000
    model.to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    use_amp = amp and device.type == "cuda"  # bf16: no loss scaling needed
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    history = {"step": [], "loss": [], "eval_step": [], "eval": [], "eval_name": eval_name,
               "seconds": 0.0}
    step = 0
    if ckpt_path is not None and resume and Path(ckpt_path).exists():
        ckpt = load_checkpoint(ckpt_path, kind, config)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, history = ckpt["step"], ckpt["history"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        gen.set_state(ckpt["rng"]["generator"])
        if device.type == "cuda" and ckpt["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        if progress:
            print(f"resuming {kind} from {ckpt_path} at step {step} of {steps}")

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
            value = float(eval_fn(model))
        model.train()
        history["eval_step"].append(step)
        history["eval"].append(value)
        return value

    def save() -> None:
        history["seconds"] = seconds0 + time.perf_counter() - t0
        checkpoint.save({
            "kind": kind, "config": config, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "step": step, "history": history,
            "rng": {"torch": torch.get_rng_state(), "generator": gen.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else []},
        }, ckpt_path)

    seconds0, t0 = history["seconds"], time.perf_counter()
    first_steps, timer = step, None
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
            loss_value.backward()
            opt.step()
            step += 1
            running += loss_value.detach().float()
            n_running += 1
            if step == first_steps + 1:  # the first step includes one-off set-up costs
                timer = time.perf_counter()
            elif step == first_steps + 1 + ETA_AFTER and progress:
                per_step = (time.perf_counter() - timer) / ETA_AFTER
                left = per_step * (steps - step)
                if left > ETA_PRINT_ABOVE_S:
                    tqdm.write(f"fit: {steps - first_steps} steps planned, {per_step * 1000:.0f} ms"
                               f" per step measured on {device}: about {format_seconds(left)} "
                               f"more. Interrupting keeps a checkpoint"
                               + (f" in {ckpt_path}" if ckpt_path else " only with ckpt_path"))
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
            evaluate_now = eval_fn is not None and (
                (eval_every and step % eval_every == 0) or step == steps)
            if evaluate_now:
                postfix[eval_name] = f"{run_eval():.3f}"
                bar.set_postfix(postfix)
            if ckpt_path is not None and (evaluate_now or step % ckpt_every == 0
                                          or step == steps):
                save()
            bar.update(1)
    except KeyboardInterrupt:
        if ckpt_path is not None:
            save()
        where = f"; checkpoint of step {step} saved in {ckpt_path}" if ckpt_path else ""
        print(f"interrupted at step {step}{where}")
    finally:
        bar.close()
    history["seconds"] = seconds0 + time.perf_counter() - t0
    model.eval()
    return history
