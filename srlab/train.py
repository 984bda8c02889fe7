"""The training loop: ``fit``, one for every network of the course (notebooks 02, 04 and 05).

One step is forward, loss, backward, Adam step (notebook 02 writes it in six lines first); ``fit``
repeats it with a fresh batch each time and adds the rest: optional step decay, bf16 autocast
on CUDA, tqdm progress, evaluation every ``eval_every`` steps, atomic resumable checkpoints
(``run_name``: load-else-train in a notebook), and the history for plotting. Before a
long run it says how long it will take, measured on the first steps.

Started by ``torchrun --nproc_per_node N``, the same loop is data-parallel
(DistributedDataParallel; NCCL on GPUs, gloo on the CPU): every rank draws the random numbers
of the whole batch from the shared seed and cuts only its own rows, so N processes train on
exactly the batches one process would (same global ``batch_size``), and rank 0 alone
evaluates, logs and writes checkpoints.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from srlab import checkpoint
from srlab.checks import check_int, check_positive
from srlab.config import get_device, memory_format_on, output_dir

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


# -- more than one process (torchrun) -------------------------------------------------------


def rank_and_world() -> tuple[int, int]:
    """(rank, number of processes): (0, 1) unless this process was started by torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: str | torch.device) -> torch.device:
    """Join torchrun's process group when ``WORLD_SIZE`` > 1 (NCCL for CUDA, else gloo) and
    return this rank's device (``cuda:LOCAL_RANK`` for CUDA); a single process is unchanged."""
    device = torch.device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def finish_distributed() -> None:
    """Wait for every rank, then leave the process group (nothing to do in one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class _LossOf(nn.Module):
    """``loss_fn(model, lr, hr)`` as a module, so DistributedDataParallel sees the forward pass
    (and averages the gradients) whether the loss calls ``model(lr)`` or ``model.loss``."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.model, lr, hr)


def _takes_rows(batch_fn: BatchFn) -> bool:
    try:
        return "rows" in inspect.signature(batch_fn).parameters
    except (TypeError, ValueError):
        return False


def _dataset_batches(ds: Dataset, batch_size: int, gen: torch.Generator, num_workers: int,
                     rows: slice) -> Iterator:
    """Endless batches of a Dataset, indices drawn with replacement from ``gen``; this rank
    loads the ``rows`` of each batch."""

    class _Batches:
        def __iter__(self):
            while True:
                yield torch.randint(len(ds), (batch_size,), generator=gen).tolist()[rows]

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


def run_checkpoint(run_name: str, steps: int, batch_size: int) -> Path:
    """Where ``fit(..., run_name=...)`` keeps its checkpoint: ``<run_name>_<steps>x<batch_size>
    .ckpt`` in ``srlab.config.output_dir()`` (``SRLAB_OUTPUTS``, default ``outputs/``), so runs
    of another length or batch (e.g. fast mode's) never resume each other."""
    if not isinstance(run_name, str) or not run_name or any(c in run_name for c in "/\\:"):
        raise ValueError(f"run_name must be a non-empty name without '/', '\\' or ':', "
                         f"got {run_name!r}")
    return output_dir() / f"{run_name}_{steps}x{batch_size}.ckpt"


def fit(model: nn.Module, train_data: Dataset | BatchFn, *, steps: int, batch_size: int,
        lr: float = 1e-4, loss: str | LossFn = "l1",
        eval_fn: Callable[[nn.Module], float] | None = None, eval_name: str = "eval",
        eval_every: int | None = None, ckpt_path: str | os.PathLike | None = None,
        run_name: str | None = None,
        resume: bool = True, config: dict | None = None, seed: int = 0,
        device: str | torch.device | None = None, amp: bool = True,
        lr_milestones: list[int] | None = None, progress: bool = True,
        log_every: int | None = None, ckpt_every: int | None = None, num_workers: int = 0,
        until: int | None = None) -> dict:
    """Train ``model`` for ``steps`` Adam steps and return the history.

    train_data: a Dataset of (lr, hr) pairs, or ``batch_fn(batch_size, generator) -> (lr, hr)``
    (e.g. a ``srlab.data.PatchSampler``). loss: "l1", "l2" (on ``model(lr)`` vs ``hr``),
    "model" (the model's own ``model.loss(lr, hr)``) or ``loss_fn(model, lr, hr) -> scalar``.
    ``eval_fn(model) -> float`` runs every ``eval_every`` steps and at the end; ``eval_name``
    says what it measures (e.g. "Set5 PSNR-Y (dB)") and is kept in the history.
    ``lr_milestones``: steps where the learning rate halves. ``log_every``: the mean loss of
    every that many steps goes into the history (default: every 10 steps, more often in runs
    shorter than 80 steps, so a short curve still has about 8 points). Checkpoints (atomic) go
    to ``ckpt_path`` at every evaluation, every ``ckpt_every`` steps (default: every quarter of
    the run, at most 1000 steps apart), at the end and on Ctrl-C; with ``resume`` an existing
    checkpoint of the same kind/``config`` (default ``model.config``) is continued, another
    kind/config is a ``ValueError``. ``run_name`` instead of ``ckpt_path``: the checkpoint is
    ``run_checkpoint(run_name, steps, batch_size)`` in the outputs folder, so running a notebook
    cell again loads the finished run (or resumes an interrupted one). ``until``: stop
    at that step (a checkpoint is written there) of a run planned for ``steps``, so a long run
    can be split into parts, each resuming the last.
    Under torchrun, ``batch_size`` is the global batch (a multiple of the number of
    processes), ``device`` "cuda" means each rank's own GPU, and the logged loss is the mean
    over all ranks; the model's own random numbers (e.g. diffusion noise) come from
    ``seed + rank``, so only rank 0's match a single process.
    Returns {"step", "loss", "eval_step", "eval", "eval_name", "seconds"}.
    """
    steps = check_int(steps, "steps", minimum=0)
    log_every = (max(1, min(10, steps // 8)) if log_every is None
                 else check_int(log_every, "log_every", minimum=1))
    stop = steps if until is None else min(steps, check_int(until, "until", minimum=1))
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    if run_name is not None:
        if ckpt_path is not None:
            raise ValueError("give ckpt_path or run_name, not both")
        ckpt_path = run_checkpoint(run_name, steps, batch_size)
    device = init_distributed(device if device is not None else get_device())
    rank, world = rank_and_world()
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} is the global batch: it must be a multiple "
                         f"of the {world} processes torchrun started")
    rows = slice(rank * batch_size // world, (rank + 1) * batch_size // world)
    progress = progress and rank == 0
    kind = getattr(model, "kind", type(model).__name__.lower())
    config = dict(config if config is not None else getattr(model, "config", {}))
    loss_fn = _loss_fn(loss)
    milestones = sorted(lr_milestones or [])
    ckpt_every = ckpt_every or eval_every or min(1000, max(1, steps // 4))
    model.to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    use_amp = amp and device.type == "cuda"  # bf16: no loss scaling needed
    torch.manual_seed(seed + rank)  # the model's own noise: one stream per rank
    gen = torch.Generator().manual_seed(seed)  # the batches: one stream shared by all ranks
    history = {"step": [], "loss": [], "eval_step": [], "eval": [], "eval_name": eval_name,
               "seconds": 0.0}
    step = 0
    if ckpt_path is not None and resume and Path(ckpt_path).exists():
        ckpt = load_checkpoint(ckpt_path, kind, config)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, history = ckpt["step"], ckpt["history"]
        gen.set_state(ckpt["rng"]["generator"])
        by_rank = ckpt["rng"].get("by_rank") or []
        if world == 1:
            torch.set_rng_state(ckpt["rng"]["torch"])
            if device.type == "cuda" and ckpt["rng"]["cuda"]:
                torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        elif len(by_rank) == world:
            torch.set_rng_state(by_rank[rank]["torch"])
            if device.type == "cuda" and by_rank[rank]["cuda"] is not None:
                torch.cuda.set_rng_state(by_rank[rank]["cuda"], device)
        else:  # written by another number of processes: new noise streams, same batches
            torch.manual_seed(seed + rank + 1000 * step)
        if progress:
            print(f"resuming {kind} from {ckpt_path} at step {step} of {steps}")

    if callable(train_data) and not isinstance(train_data, Dataset):
        if world == 1:
            def next_batch():
                return train_data(batch_size, gen)
        elif _takes_rows(train_data):  # e.g. PatchSampler: cuts only this rank's rows
            def next_batch():
                return train_data(batch_size, gen, rows=rows)
        else:
            def next_batch():
                lr_b, hr_b = train_data(batch_size, gen)
                return lr_b[rows], hr_b[rows]
    else:
        batches = _dataset_batches(train_data, batch_size, gen, num_workers, rows)

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

    def save(gather: bool = True) -> None:
        """Every rank calls it at the same steps (its RNG state is gathered); rank 0 writes.
        ``gather=False`` (Ctrl-C): no collective call, other ranks' noise restarts on resume."""
        by_rank = None
        if world > 1 and gather:
            by_rank = [None] * world
            mine = {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
            dist.all_gather_object(by_rank, mine)
        if rank != 0:
            return
        history["seconds"] = seconds0 + time.perf_counter() - t0
        checkpoint.save({
            "kind": kind, "config": config, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "step": step, "history": history,
            "rng": {"torch": torch.get_rng_state(), "generator": gen.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
                    "by_rank": by_rank},
        }, ckpt_path)

    seconds0, t0 = history["seconds"], time.perf_counter()
    first_steps, timer = step, None
    if world > 1:  # grads in the layout the convolutions run in, as DDP's buckets expect
        model.to(memory_format=memory_format_on(getattr(model, "memory_format", "contiguous"),
                                                device))
    bar = tqdm(total=steps, initial=min(step, steps), desc=f"train {kind}", disable=not progress)
    running, n_running, postfix = torch.zeros((), device=device), 0, {}
    if world == 1:
        def step_loss(lr_b: torch.Tensor, hr_b: torch.Tensor) -> torch.Tensor:
            return loss_fn(model, lr_b, hr_b)
    else:  # averages the gradients over the ranks during backward
        step_loss = DistributedDataParallel(
            _LossOf(model, loss_fn), device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    try:
        while step < stop:
            lr_b, hr_b = next_batch()
            lr_b = lr_b.to(device, non_blocking=True)
            hr_b = hr_b.to(device, non_blocking=True)
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 ** sum(step >= m for m in milestones)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss_value = step_loss(lr_b, hr_b)
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
                left = per_step * (stop - step)
                if left > ETA_PRINT_ABOVE_S:
                    tqdm.write(f"fit: {stop - first_steps} steps planned, {per_step * 1000:.0f} ms"
                               f" per step measured on {device}: about {format_seconds(left)} "
                               f"more. Interrupting keeps a checkpoint"
                               + (f" in {ckpt_path}" if ckpt_path else " only with ckpt_path"))
            if step % log_every == 0 or step == stop:
                if world > 1:
                    dist.all_reduce(running)  # every rank's local mean, summed
                    running /= world
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
                (eval_every and step % eval_every == 0) or step == stop)
            if evaluate_now and rank == 0:  # the other ranks wait at the next step
                postfix[eval_name] = f"{run_eval():.3f}"
                bar.set_postfix(postfix)
            if ckpt_path is not None and (evaluate_now or step % ckpt_every == 0
                                          or step == stop):
                save()
            bar.update(1)
    except KeyboardInterrupt:
        if ckpt_path is not None:
            save(gather=False)
        where = f"; checkpoint of step {step} saved in {ckpt_path}" if ckpt_path else ""
        if rank == 0:
            print(f"interrupted at step {step}{where}")
    finally:
        bar.close()
    history["seconds"] = seconds0 + time.perf_counter() - t0
    model.eval()
    return history
