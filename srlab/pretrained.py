"""Shipped weights in ``srlab/weights/``: verified by sha256, loaded with ``weights_only=True``.

A weights file is ``torch.save({"kind", "config", "model"})`` with an fp16 state dict;
``load`` rebuilds the network in fp32, in eval mode, on the requested device::

    model = srlab.pretrained.load("smsrn_x4")
    sr = model(lr)        # lr (N, 3, h, w) in [0, 1] -> sr (N, 3, 4h, 4w) in [0, 1]
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# name -> sha256 of srlab/weights/<name>.pt (recorded when the file was written)
SHA256: dict[str, str] = {
    "msrn_x4": "13b44e1fa9dfa11eaca909b707305362bfb7494e415e6bc4c49bd55b7dc57dc2",
    "smsrn_x4": "c09d94a3e172de319daf90128445cf9046e86f4e2a41ffcfbd8404a1e5bcf71e",
    "tinyunet_regression": "aa95f575250ada2f759c4de254d6cffa6493d3fe05e637f4ab50a46c84f61bac",
    "tinyunet_diffusion_linear": "d79a27cf8d9c8f725b6de6fcbc3a467aacb7ec6499ff1c0159de5e21552fcb70",
    "tinyunet_diffusion_cosine": "82a2f081a262aa6236e913c2730377af208de96c906100b0dc8510946df41013",
}


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def available() -> list[str]:
    """Names of the shipped weights that are present in this installation."""
    return sorted(name for name in SHA256 if (WEIGHTS_DIR / f"{name}.pt").is_file())


def load(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped network ``name`` (e.g. ``"msrn_x4"``) in eval mode, fp32, on ``device``.

    Raises ``ValueError`` for an unknown name, ``FileNotFoundError`` when the file is missing
    and ``RuntimeError`` naming the file when its sha256 does not match (truncated or altered).
    """
    if name not in SHA256:
        raise ValueError(f"unknown weights {name!r}; shipped names are {sorted(SHA256)}")
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} is missing from this installation")
    digest = sha256_of(path)
    if digest != SHA256[name]:
        raise RuntimeError(
            f"weights file {path} is corrupt (truncated or altered): sha256 {digest}, "
            f"expected {SHA256[name]}; reinstall srlab to get an intact copy"
        )
    return load_file(path, device)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """``torch.load(path, weights_only=True)`` with clear errors for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise RuntimeError(f"cannot read weights file {path}: {err}") from err
    if not isinstance(ckpt, dict) or not {"kind", "config", "model"} <= set(ckpt):
        raise RuntimeError(f"{path} is not an srlab weights file (needs kind, config, model)")
    return ckpt


def load_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a network from any srlab weights or training checkpoint file (no sha check)."""
    ckpt = read_checkpoint(path)
    model = from_checkpoint(ckpt, source=str(path))
    return model.to(device).eval()


def from_checkpoint(ckpt: dict, source: str = "checkpoint") -> nn.Module:
    """Build the network a ``{"kind", "config", "model"}`` dict describes, as fp32."""
    kind = ckpt["kind"]
    if kind == "tinyunet":
        from srlab.diffusion.sr import model_from_checkpoint

        return model_from_checkpoint(ckpt)
    from srlab.models.msrn import build

    if kind not in ("msrn", "smsrn"):
        raise ValueError(f"{source}: unknown model kind {kind!r}")
    model = build(kind, dict(ckpt["config"]))
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{source}: weights do not fit {kind} {ckpt['config']}: {err}") from err
    return model


def save_weights(model: nn.Module, kind: str, config: dict, path: str | os.PathLike) -> str:
    """Write the fp16 shipping file ``{"kind", "config", "model"}`` atomically; return sha256."""
    from srlab.train import save_checkpoint  # the one atomic writer (temp file + os.replace)

    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    save_checkpoint({"kind": kind, "config": dict(config), "model": state}, path)
    return sha256_of(path)
