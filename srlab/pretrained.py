"""Weights: the shipped networks in ``srlab/weights/`` and any srlab weights or checkpoint file.

A weights file is ``{"kind", "config", "model"}`` (fp16 state dict for shipped files; a
training checkpoint adds the optimiser state). ``load`` takes a shipped name (sha256 checked)
or a path and rebuilds the network with ``srlab.models.build``: fp32, eval mode, on ``device``::

    model = srlab.pretrained.load("smsrn_x4")
    sr = model(lr)        # lr (N, 3, h, w) in [0, 1] -> sr (N, 3, 4h, 4w) in [0, 1]

Taught in notebooks 02, 03 and 05; the model card is ``srlab/weights/README.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from srlab import checkpoint
from srlab.models import build

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# name -> sha256 of srlab/weights/<name>.pt (recorded when the file was written)
SHA256: dict[str, str] = {
    "msrn_x4": "13b44e1fa9dfa11eaca909b707305362bfb7494e415e6bc4c49bd55b7dc57dc2",
    "smsrn_x4": "c09d94a3e172de319daf90128445cf9046e86f4e2a41ffcfbd8404a1e5bcf71e",
    "tinyunet_regression": "aa95f575250ada2f759c4de254d6cffa6493d3fe05e637f4ab50a46c84f61bac",
    "tinyunet_diffusion_linear": "70c3e7658fb94335a4d43cbb8967a70b6dc63790b4e69760f57b96bce7281fd1",
    "tinyunet_diffusion_cosine": "57f6257a4c0218b3113bda17ff5d33f09c9b09673c2e57c0c5100ddcc2ec0df4",
    "cifar10_classifier": "7823ae8a57cfabacb1669c0d70d32a391e4857b062e019fd98786cc44d6b50a4",
    # the comparison rows of notebook 06 (srlab.compare.ROWS), one budget: compare.ROW_BUDGET
    "cmp_regression": "07f8755cb0996f4636738ede1d089efc3a794f3c3578608b3fe94fcb2901f4c5",
    "cmp_sr3_linear_s1": "623f18716bada14a3125f5a1f6a541a4630f60d5e7f984ec1e703901b2b582a8",
    "cmp_sr3_linear": "5457213e7c06a895edc599ff040497914eddab48bccf720662cb0e9058779444",
    "cmp_sr3_cosine": "4e813f3595519c56dd9fa82eaa91d36d6368d6a065285c2b0648ffa51f193d02",
    "cmp_resshift_t15": "454d9281cf463e30970f7bf6bc17b2f2d479aeb659bdfcbdd0aed4976fe4d0cb",
    "cmp_resshift_t4": "5229b806f0938a2c97d0c128978cfd1dfaefce9c1574104f1c627371e5798485",
    "cmp_sinsr_student": "9585a9b975cf1ecb3f774f1ccef63c9570f266b5f2bcf63d4c0f73b630922b47",
    "cmp_resdiff": "326c87140df45decfaed35f7c96e3868b377a97c1c5c69cd17074d1090f60dcb",
}
TINYUNET_NAMES = ("tinyunet_regression", "tinyunet_diffusion_linear", "tinyunet_diffusion_cosine")


def available() -> list[str]:
    """Names of the shipped weights that are present in this installation."""
    return sorted(name for name in SHA256 if (WEIGHTS_DIR / f"{name}.pt").is_file())


def shipped_path(name: str) -> Path:
    """The verified file of shipped weights ``name``.

    Raises ``ValueError`` for an unknown name, ``FileNotFoundError`` when the file is missing
    and ``ValueError`` naming the file when its sha256 does not match (truncated or altered).
    """
    if name not in SHA256:
        raise ValueError(f"unknown weights {name!r}: give a file path or a shipped name "
                         f"({', '.join(sorted(SHA256))})")
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} is missing from this installation")
    digest = checkpoint.sha256_of(path)
    if digest != SHA256[name]:
        raise ValueError(f"weights file {path} is corrupt (truncated or altered): sha256 "
                         f"{digest}, expected {SHA256[name]}; reinstall srlab for an intact copy")
    return path


def load(weights: str | os.PathLike, device: str | torch.device = "cpu", *,
         kind: str | None = None, scale: int | None = None) -> nn.Module:
    """The network in ``weights`` (a shipped name such as ``"msrn_x4"``, or a path to any
    srlab weights or checkpoint file), fp32, in eval mode, on ``device``.

    ``kind`` / ``scale``, when given, are checked ("these weights hold an smsrn network, not
    msrn"). Every problem is a ``ValueError`` or ``FileNotFoundError`` with one clear line.
    """
    looks_like_path = Path(weights).suffix in (".pt", ".ckpt", ".pth") or Path(weights).exists()
    path = Path(weights) if looks_like_path else shipped_path(str(weights))
    ckpt = checkpoint.load(path)
    model = from_checkpoint(ckpt, source=str(path))
    if kind is not None and model.kind != kind:
        raise ValueError(f"weights {weights} hold a {model.kind} network, not {kind}")
    if scale is not None and model.scale != scale:
        raise ValueError(f"weights {weights} are for x{model.scale}, not x{scale}")
    return model.to(device).eval()


def from_checkpoint(ckpt: dict, source: str = "checkpoint") -> nn.Module:
    """Build the network a ``{"kind", "config", "model"}`` dict describes and load its weights
    (as fp32)."""
    try:
        model = build(ckpt["kind"], ckpt["config"])
    except (ValueError, TypeError) as err:
        raise ValueError(f"{source}: cannot build the network it describes: {err}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[:2]
        raise ValueError(f"{source}: the weights do not fit a {ckpt['kind']} network with config "
                         f"{ckpt['config']}: {' '.join(first)}") from None
    return model.eval()


def save_weights(model: nn.Module, path: str | os.PathLike) -> str:
    """Write ``model`` as an fp16 weights file ``{"kind", "config", "model"}`` atomically;
    return its sha256 (record it in ``SHA256`` when shipping the file)."""
    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    checkpoint.save({"kind": model.kind, "config": dict(model.config), "model": state}, path)
    return checkpoint.sha256_of(path)
