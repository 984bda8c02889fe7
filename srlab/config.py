"""Run-time settings read from environment variables, device choice and seeding.

Environment variables (all optional):

- ``SRLAB_FAST=1``      fast mode: tiny budgets so every notebook runs in minutes on a CPU.
- ``SRLAB_OFFLINE=1``   never try to download anything (CI and the tests set it).
- ``SRLAB_DATA``        where datasets are cached (default ``~/.cache/srlab``).
- ``SRLAB_DEVICE``      force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
- ``SRLAB_CIFAR10_DIR`` an image-folder copy of CIFAR-10 (``<split>/<class>/*.png|jpg``).
- ``SRLAB_BENCHMARKS``  a folder holding benchmark sets (``Set5/``, ``Set14/``, ...).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_fast() -> bool:
    """True when ``SRLAB_FAST`` is set: notebooks and scripts use tiny budgets."""
    return _flag("SRLAB_FAST")


def is_offline() -> bool:
    """True when ``SRLAB_OFFLINE`` is set: no download is attempted."""
    return _flag("SRLAB_OFFLINE")


FAST: bool = is_fast()


def budget(fast: T, full: T) -> T:
    """Pick a budget by mode, e.g. ``steps = budget(fast=200, full=20_000)``.

    Reads ``SRLAB_FAST`` at call time, so a notebook can change mode without a restart.
    """
    return fast if is_fast() else full


def data_root() -> Path:
    """Folder where datasets are stored (``SRLAB_DATA``, default ``~/.cache/srlab``)."""
    root = os.environ.get("SRLAB_DATA") or Path.home() / ".cache" / "srlab"
    return Path(root).expanduser()


def get_device() -> torch.device:
    """The best available device: ``SRLAB_DEVICE`` if set, else cuda > mps > cpu."""
    forced = os.environ.get("SRLAB_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); returns a CPU ``torch.Generator``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe() -> str:
    """One-paragraph summary of the environment, printed by ``python -m srlab info``."""
    device = get_device()
    lines = [
        f"torch {torch.__version__} | device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"mode: {'FAST (SRLAB_FAST=1)' if is_fast() else 'full'} | "
        f"offline: {'yes (SRLAB_OFFLINE=1)' if is_offline() else 'no'} | "
        f"torch threads: {torch.get_num_threads()}",
        f"data root: {data_root()}",
    ]
    return "\n".join(lines)
