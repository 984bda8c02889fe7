"""Checkpoint files: atomic writes, safe reads, sha256. A leaf: it imports no other srlab module.

Every file srlab writes with tensors in it (training checkpoints, shipped weights, cached
datasets) goes through ``save``: a temporary file in the same folder, then ``os.replace``, so
an interrupted write never leaves a half file behind. ``load`` reads with
``torch.load(weights_only=True)`` (no code from the file is run) and turns anything that is
not an srlab file into one clear ``ValueError``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

MODEL_KEYS = frozenset({"kind", "config", "model"})  # what a weights file must hold


def save(payload: dict, path: str | os.PathLike) -> Path:
    """``torch.save(payload)`` to a temporary file beside ``path``, then rename it (atomic)."""
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
    return path


def load(path: str | os.PathLike, required: frozenset[str] = MODEL_KEYS) -> dict:
    """Read an srlab file as a dict holding at least the keys ``required``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError("not a srlab weights
    file: ...")`` for anything else (random bytes, a text file, a foreign pickle).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch's message advises weights_only=False: never do that here
        raise ValueError(f"not a srlab weights file: {path} (torch.load cannot read it as a "
                         f"tensor file: {type(err).__name__})") from None
    if not isinstance(payload, dict) or not required <= set(payload):
        raise ValueError(f"not a srlab weights file: {path} (expected a dict with the keys "
                         f"{sorted(required)})")
    return payload


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
