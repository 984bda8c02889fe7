"""Run-time settings read from environment variables, device choice and seeding.

Environment variables (all optional):

- ``SRLAB_FAST=1``      fast mode: tiny budgets, every notebook runs in seconds (CI sets it).
- ``SRLAB_FULL=1``      full mode: the model cards' recipes (hours on a CPU; meant for a GPU).
- neither               default mode: a student's run, every notebook in minutes on a CPU,
                        shipped weights for the headline results.
- ``SRLAB_OFFLINE=1``   never try to download anything (CI and the tests set it).
- ``SRLAB_DATA``        where datasets are cached (default ``~/.cache/srlab``).
- ``SRLAB_OUTPUTS``     where notebooks and commands write checkpoints and figures
                        (default ``outputs`` in the working directory).
- ``SRLAB_DEVICE``      force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
- ``SRLAB_CIFAR10_DIR`` an image-folder copy of CIFAR-10 (``<split>/<class>/*.png|jpg``).
- ``SRLAB_BENCHMARKS``  a folder holding benchmark sets (``Set5/``, ``Set14/``, ...).

Every setting is read when it is used, so a notebook can change mode without a restart.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
MODES = ("fast", "default", "full")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def mode() -> str:
    """``"fast"`` (``SRLAB_FAST``), ``"full"`` (``SRLAB_FULL``) or ``"default"``."""
    if _flag("SRLAB_FAST") and _flag("SRLAB_FULL"):
        raise ValueError("SRLAB_FAST and SRLAB_FULL are both set: choose one mode")
    return "fast" if _flag("SRLAB_FAST") else "full" if _flag("SRLAB_FULL") else "default"


def is_fast() -> bool:
    """True when ``SRLAB_FAST`` is set: notebooks and scripts use tiny budgets."""
    return mode() == "fast"


def is_offline() -> bool:
    """True when ``SRLAB_OFFLINE`` is set: no download is attempted."""
    return _flag("SRLAB_OFFLINE")


def budget(fast: T, default: T, full: T | None = None) -> T:
    """Pick a budget by mode, e.g. ``steps = budget(fast=20, default=300, full=24_000)``.

    ``full`` defaults to ``default`` (for budgets that need no GPU-sized version).
    """
    m = mode()
    if m == "fast":
        return fast
    return full if m == "full" and full is not None else default


def data_root() -> Path:
    """Folder where datasets are stored (``SRLAB_DATA``, default ``~/.cache/srlab``)."""
    root = os.environ.get("SRLAB_DATA") or Path.home() / ".cache" / "srlab"
    return Path(root).expanduser()


def output_dir() -> Path:
    """Writable folder for checkpoints and figures (``SRLAB_OUTPUTS``, default ``./outputs``).

    Never inside the installed package: a notebook run from anywhere writes where it runs.
    """
    out = Path(os.environ.get("SRLAB_OUTPUTS") or "outputs").expanduser()
    out.mkdir(parents=True, exist_ok=True)
    return out


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


MEMORY_FORMATS = ("auto", "contiguous", "channels_last")


def memory_format_on(name: str, device: torch.device) -> torch.memory_format:
    """The tensor layout a convolutional network runs in on ``device``.

    ``name``: "contiguous" (NCHW), "channels_last" (NHWC) or "auto": channels_last on the CPU
    (one fixed choice; notebook 03 times both layouts, part by part, on the machine it runs on),
    and the default NCHW elsewhere.
    """
    if name not in MEMORY_FORMATS:
        raise ValueError(f"unknown memory_format {name!r}; expected one of {MEMORY_FORMATS}")
    if name == "auto":
        name = "channels_last" if torch.device(device).type == "cpu" else "contiguous"
    return torch.channels_last if name == "channels_last" else torch.contiguous_format


@contextmanager
def num_threads(n: int) -> Iterator[int]:
    """Run torch on ``n`` CPU threads inside the ``with`` block, then restore the setting.

    A notebook cell that times or trains on a fixed thread count scopes it this way, so later
    cells run as before. Yields the thread count in effect (``n``).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"num_threads: expected an integer >= 1, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); returns a CPU ``torch.Generator``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe(brief: bool = False) -> str:
    """One-paragraph summary of the environment, printed by ``python -m srlab info``; with
    ``brief``, the one line a lecture prints (torch, device, threads, mode)."""
    device = get_device()
    if brief:
        return (f"torch {torch.__version__} on {device} ({torch.get_num_threads()} CPU threads), "
                f"{mode()} mode")
    labels = {"fast": "fast (SRLAB_FAST=1)", "full": "full (SRLAB_FULL=1)",
              "default": "default (set SRLAB_FAST=1 or SRLAB_FULL=1 to change)"}
    lines = [
        f"torch {torch.__version__} | device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        f"mode: {labels[mode()]} | "
        f"offline: {'yes (SRLAB_OFFLINE=1)' if is_offline() else 'no'} | "
        f"torch threads: {torch.get_num_threads()}",
        f"data root: {data_root()}",
    ]
    return "\n".join(lines)
