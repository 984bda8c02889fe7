"""``python -m srlab train msrn|smsrn|tinyunet ...``: one skeleton for every model kind.

A kind differs only in its recipe (defaults), its model and its data; everything else is
shared: check the options, build the model, cut batches on the device, ``fit`` with a
resumable checkpoint in ``--out``, then write the fp16 weights ``<out stem>.pt`` and the
history ``<out stem>.json``. Unchanged under ``torchrun --nproc_per_node N`` (data-parallel,
``--batch-size`` is the global batch; rank 0 alone prints and writes files).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from srlab import pretrained
from srlab.config import get_device, output_dir, seed_everything
from srlab.cost import count_params
from srlab.data import (
    LabelledBatches,
    PatchSampler,
    available_benchmarks,
    benchmark_set,
    cifar10_hr,
    cifar10_labels,
)
from srlab.degradation import make_pairs
from srlab.evaluate import evaluate
from srlab.models import MODELS
from srlab.train import finish_distributed, fit, init_distributed, rank_and_world


@dataclass(frozen=True)
class Recipe:
    """Defaults of one model kind; ``milestones``: fractions of the steps where lr halves."""

    scale: int
    steps: int
    batch_size: int
    lr: float
    milestones: tuple[float, ...]
    patch_size: int | None = None


RECIPES = {
    "msrn": Recipe(scale=4, steps=20_000, batch_size=16, lr=2e-4, milestones=(1 / 2, 3 / 4),
                   patch_size=48),
    "smsrn": Recipe(scale=4, steps=20_000, batch_size=16, lr=2e-4, milestones=(1 / 2, 3 / 4),
                    patch_size=48),
    "tinyunet": Recipe(scale=2, steps=20_000, batch_size=128, lr=2e-3,
                       milestones=(1 / 2, 3 / 4, 7 / 8)),
    "resshift": Recipe(scale=2, steps=20_000, batch_size=128, lr=2e-3,
                       milestones=(1 / 2, 3 / 4, 7 / 8)),
    # the FD-CIFAR feature network (scale is unused: it classifies 32x32 HR images)
    "cifar_classifier": Recipe(scale=2, steps=3000, batch_size=128, lr=2e-3,
                               milestones=(1 / 2, 3 / 4)),
}
CIFAR_KINDS = ("tinyunet", "resshift", "cifar_classifier")  # CIFAR-10, --data: one folder
CIFAR_SR = ("tinyunet", "resshift")  # x2 SR on CIFAR-10


def check_args(args: argparse.Namespace) -> Recipe:
    """Every option that can be checked before data is read; returns the kind's recipe."""
    recipe = RECIPES[args.model]
    if args.scale is not None and args.model in CIFAR_KINDS and args.scale != 2:
        what = ("TinyUNet is an x2 model (16x16 -> 32x32)" if args.model in CIFAR_SR
                else "the classifier works on 32x32 CIFAR-10 images and takes no --scale")
        raise ValueError(f"{what}, got --scale {args.scale}")
    if args.model not in CIFAR_KINDS and not args.data:
        raise ValueError(f"train {args.model}: --data DIR [DIR ...] is required (folders of HR "
                         "training images, e.g. DIV2K from srlab.data.download_div2k)")
    if args.model in CIFAR_KINDS and args.data and len(args.data) != 1:
        raise ValueError(f"train {args.model}: --data takes one folder (an image-folder copy of "
                         f"CIFAR-10), got {len(args.data)}")
    for folder in args.data or []:
        if not Path(folder).expanduser().is_dir():
            raise FileNotFoundError(f"--data {folder} is not a folder")
    return recipe


def build_model(args: argparse.Namespace, scale: int, residual_scale: float = 1.0) -> nn.Module:
    if args.model == "tinyunet":
        return MODELS["tinyunet"](mode=args.mode, schedule=args.schedule,
                                  T=args.timesteps or 1000, prediction=args.prediction,
                                  residual_scale=residual_scale)
    if args.model == "resshift":
        return MODELS["resshift"](T=args.timesteps or 15, min_noise=args.min_noise)
    if args.model == "cifar_classifier":
        return MODELS["cifar_classifier"]()
    return MODELS[args.model](scale=scale)


def training_data(args: argparse.Namespace, scale: int, patch_size: int | None,
                  device: torch.device):
    """(batch sampler, eval_fn, eval_name) for the model's kind; CIFAR-10 kinds read their
    ``--data`` folder as ``SRLAB_CIFAR10_DIR`` while the data loads, then the setting is
    restored (``main`` may run inside a longer process: a notebook, a test session)."""
    if args.model in CIFAR_KINDS and args.data:
        with _env("SRLAB_CIFAR10_DIR", str(args.data[0])):
            return _training_data(args, scale, patch_size, device)
    return _training_data(args, scale, patch_size, device)


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def _training_data(args: argparse.Namespace, scale: int, patch_size: int | None,
                   device: torch.device):
    if args.model == "cifar_classifier":
        hr, source = cifar10_hr("train", args.limit)
        labels, _ = cifar10_labels("train", args.limit)
        batches = LabelledBatches(hr, labels, device=device, source=source)
        test_x = cifar10_hr("test", 1000, verbose=False)[0].to(device).float() / 255
        test_y = cifar10_labels("test", 1000)[0].to(device)

        def accuracy(m: nn.Module) -> float:
            return float((m(test_x).argmax(1) == test_y).float().mean()) * 100

        return batches, accuracy, "test accuracy (CIFAR-10, 1000 images, %)"
    if args.model in CIFAR_SR:
        hr, source = cifar10_hr("train", args.limit)
        sampler = PatchSampler(hr, 2, None, device=device, augment="flip", source=source)
        test = make_pairs(cifar10_hr("test", 1000, verbose=False)[0].float() / 255, 2)
        test = tuple(t.to(device) for t in test)

        def eval_fn(m: nn.Module) -> float:
            return evaluate(m.sampler(seed=args.seed), test, 2)["psnr_rgb"]

        return sampler, eval_fn, "test PSNR (CIFAR-10, 1000 images, RGB)"
    sampler = PatchSampler.from_folders(args.data, scale, patch_size, device=device,
                                       rescale=(0.5, 1.0))
    if "Set5" not in available_benchmarks():
        return sampler, None, "eval"
    set5 = benchmark_set("Set5", scale)
    return sampler, lambda m: evaluate(m, set5, scale, device=device)["psnr_y"], "Set5 PSNR-Y"


def _cross_entropy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(images), labels)


def run_train(args: argparse.Namespace) -> dict:
    recipe = check_args(args)
    scale = args.scale or recipe.scale
    steps = args.steps or recipe.steps
    batch_size = args.batch_size or recipe.batch_size
    patch_size = args.patch_size or recipe.patch_size
    lr = args.lr or recipe.lr
    device = init_distributed(args.device or get_device())  # this rank's device under torchrun
    rank, world = rank_and_world()
    if batch_size % world:
        raise ValueError(f"--batch-size {batch_size} is the global batch: it must be a multiple "
                         f"of the {world} processes torchrun started")
    seed_everything(args.seed)
    residual_scale = getattr(args, "residual_scale", 1.0)
    model = build_model(args, scale, 1.0 if residual_scale == "auto" else residual_scale)
    tag = model.tag if args.model in CIFAR_SR else args.model
    what = args.model if args.model == "cifar_classifier" else f"{args.model} x{scale}"
    stem = args.model if args.model == "cifar_classifier" else f"{tag}_x{scale}"
    out = Path(args.out) if args.out else output_dir() / "checkpoints" / f"{stem}.ckpt"
    weights_out = out.with_suffix(".pt") if out.suffix != ".pt" else out.with_name(
        f"{out.stem}_fp16.pt")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    sampler, eval_fn, eval_name = training_data(args, scale, patch_size, device)
    if residual_scale == "auto":  # measured once on the training images, kept in the config
        std = model.residual_std(sampler.stack)
        seed_everything(args.seed)  # the same initial weights as with a number
        model = build_model(args, scale, 1 / std)
        if rank == 0:
            print(f"residual std on the training images {std:.4f}: residual_scale "
                  f"{1 / std:.3f}", flush=True)
    milestones = [int(steps * f) for f in recipe.milestones]
    config = {**model.config, "train": {"data": sampler.source, "batch_size": batch_size,
                                         "patch_size": patch_size, "lr": lr, "seed": args.seed,
                                         "steps": steps}}
    processes = f", {world} processes of {batch_size // world} images" if world > 1 else ""
    if rank == 0:
        print(f"train {what} ({count_params(model):,} "
              f"parameters): {len(sampler)} images from {sampler.source}, {steps} steps, batch "
              f"{batch_size}, lr {lr} (halved at {milestones}), device {device}{processes}",
              flush=True)
    loss = {"tinyunet": "model", "resshift": "model",
            "cifar_classifier": _cross_entropy}.get(args.model, "l1")
    history = fit(model, sampler, steps=steps, batch_size=batch_size, lr=lr, loss=loss,
                  eval_fn=eval_fn,
                  eval_name=eval_name, eval_every=args.eval_every or max(steps // 10, 1),
                  ckpt_path=out, resume=args.resume, config=config, seed=args.seed,
                  device=device, lr_milestones=milestones,
                  amp=args.model not in CIFAR_KINDS,  # nets this small gain nothing from bf16
                  until=args.until)
    model.to("cpu")
    done = history["step"][-1] if history["step"] else 0
    if rank != 0:
        finish_distributed()
        return {"model": args.model, "config": config, "steps": done, "rank": rank}
    digest = pretrained.save_weights(model, weights_out)
    summary = {"model": args.model, "config": config, "steps": done,
               "seconds": history["seconds"], "device": str(device),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
               else "cpu", "weights": str(weights_out), "sha256": digest, "history": history}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    unit = "%" if args.model == "cifar_classifier" else " dB"
    result = (f", {history['eval_name']} {history['eval'][-1]:.2f}{unit}" if history["eval"]
              else "")
    print(f"done: {done} steps in {history['seconds']:.0f} s{result}; checkpoint {out}; "
          f"weights {weights_out} (sha256 {digest})", flush=True)
    if done < steps:
        print(f"stopped at step {done} of {steps}: run the same command without --until "
              "(or with a later one) to continue from the checkpoint", flush=True)
    finish_distributed()
    return summary
