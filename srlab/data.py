"""Data for SR: the degradation model (bicubic down + 8-bit quantisation) and datasets.

Every dataset yields ``(lr, hr)`` pairs of float tensors in [0, 1], shape (3, h, w) and
(3, h * scale, w * scale). Sources, from always-available to downloaded:

- ``embedded_images()`` / ``EmbeddedPatches``: colour photos shipped inside scikit-image.
- ``ImageFolderSR``: any folder of images (Set5, Set14, BSD68, Urban100, DIV2K, your photos).
- ``CIFAR10SR`` / ``load_cifar10_sr``: CIFAR-10 (official download, or an image-folder copy).
- ``benchmark_set``: the classic SR test sets, from a folder you point at.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from srlab.checks import check_image, check_scale
from srlab.config import data_root, is_offline
from srlab.download import download_div2k  # noqa: F401  (part of srlab.data's API)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
BENCHMARK_NAMES = ("Set5", "Set14", "B100", "BSD68", "Urban100", "Sun80")

# -- the degradation model ------------------------------------------------------------------


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] values to the 256 levels of an 8-bit image (what saving a PNG does)."""
    return (x.clamp(0, 1) * 255).round() / 255


def mod_crop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop (..., H, W) at the bottom/right so H and W are multiples of ``scale``."""
    scale = check_scale(scale)
    h, w = img.shape[-2:]
    if h < scale or w < scale:
        raise ValueError(f"image of size {h}x{w} is smaller than the scale {scale}")
    return img[..., : h - h % scale, : w - w % scale]


def bicubic_down(hr: torch.Tensor, scale: int, *, quantize: bool = True) -> torch.Tensor:
    """Downsample (N, C, H, W) in [0, 1] by ``scale`` like MATLAB's ``imresize``.

    Antialiased bicubic with a = -0.5: the kernel is stretched by ``scale`` so it also acts
    as the low-pass filter. Inside the image this matches MATLAB and PIL; at the borders
    torch renormalises the truncated kernel (as PIL does) where MATLAB mirrors the image,
    so the outermost ``2 * scale`` pixels differ slightly. Evaluations shave ``scale``
    pixels, which is why they agree with the published bicubic numbers to ~0.01 dB.
    Output (N, C, H/s, W/s), clamped to [0, 1], 8-bit quantised unless ``quantize=False``.
    """
    scale = check_scale(scale)
    check_image(hr, "hr")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(
            f"hr size {h}x{w} is not divisible by scale {scale}; crop it first with mod_crop"
        )
    lr = F.interpolate(hr, size=(h // scale, w // scale), mode="bicubic", antialias=True,
                       align_corners=False).clamp(0, 1)
    return _quantize(lr) if quantize else lr


def bicubic_up(lr: torch.Tensor, scale: int, *, quantize: bool = False) -> torch.Tensor:
    """Upsample (N, C, h, w) in [0, 1] by ``scale`` with bicubic (a = -0.5), clamped to [0, 1].

    ``antialias=True`` selects torch's a = -0.5 kernel (MATLAB's); without it torch uses
    a = -0.75. For upsampling no extra blur is involved.
    """
    scale = check_scale(scale)
    check_image(lr, "lr")
    h, w = lr.shape[-2:]
    up = F.interpolate(lr, size=(h * scale, w * scale), mode="bicubic", antialias=True,
                       align_corners=False).clamp(0, 1)
    return _quantize(up) if quantize else up


_quantize = quantize  # the keyword arguments above shadow the function's name


# -- image files ------------------------------------------------------------------------------


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) float tensor in [0, 1], RGB (greyscale -> RGB)."""
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read {path} as an image: {err}") from err
    return to_tensor(arr)


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 or float [0, 1] array -> (1, 3, H, W) float32 tensor in [0, 1]."""
    t = torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).unsqueeze(0)
    return t.float() / 255 if t.dtype == torch.uint8 else t.float()


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files (by suffix) in ``folder``, sorted; a clear error if none or no folder."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}")
    return paths


class ImageFolderSR(Dataset):
    """(lr, hr) pairs from a folder of HR images; LR made with ``bicubic_down``.

    ``patch_size`` is the LR patch size (HR crops are ``patch_size * scale``); ``None``
    gives whole images, mod-cropped. ``augment`` adds random flips and 90-degree rotations.
    Crops are random but reproducible: item i of epoch-free access uses ``seed`` and i.
    Files that are not images raise a ``ValueError`` naming the file when read.
    """

    def __init__(self, path: str | os.PathLike, scale: int, patch_size: int | None = None,
                 augment: bool = False, seed: int = 0) -> None:
        self.scale = check_scale(scale)
        self.paths = list_images(path)
        self.names = [p.stem for p in self.paths]
        self.patch_size = patch_size
        self.augment = augment
        self.seed = seed
        self._calls = 0
        if patch_size is not None and patch_size < 1:
            raise ValueError(f"patch_size must be a positive LR size, got {patch_size}")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        hr = load_image(self.paths[i])
        if self.patch_size is None:
            hr = mod_crop(hr, self.scale)
        else:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + i * 7919 + self._calls)
            self._calls += 1
            hr = random_crop(hr, self.patch_size * self.scale, gen, name=str(self.paths[i]))
            if self.augment:
                hr = random_flip_rot(hr, gen)
        lr = bicubic_down(hr, self.scale)
        return lr[0], hr[0]


def random_crop(img: torch.Tensor, size: int, gen: torch.Generator, name: str = "image"
                ) -> torch.Tensor:
    """A random ``size`` x ``size`` crop of (N, C, H, W); error if the image is smaller."""
    h, w = img.shape[-2:]
    if size > h or size > w:
        raise ValueError(f"patch of {size}x{size} HR pixels does not fit in {name} ({h}x{w})")
    top = int(torch.randint(0, h - size + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - size + 1, (1,), generator=gen))
    return img[..., top : top + size, left : left + size]


def random_flip_rot(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip, vertical flip and 90-degree rotation of (..., H, W)."""
    flip_h, flip_v, rot = torch.randint(0, 2, (3,), generator=gen).tolist()
    if flip_h:
        img = img.flip(-1)
    if flip_v:
        img = img.flip(-2)
    if rot:
        img = img.transpose(-1, -2)
    return img


# -- embedded photos (always available, no network) -------------------------------------------

EMBEDDED_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "hubble_deep_field")


def embedded_images() -> dict[str, torch.Tensor]:
    """The colour photographs that ship inside scikit-image: name -> (1, 3, H, W) in [0, 1].

    No network needed: these files are part of the scikit-image wheel.
    """
    import skimage.data

    images = {}
    for name in EMBEDDED_NAMES:
        if name == "motorcycle":  # left view of the stereo pair
            arr = skimage.data.stereo_motorcycle()[0]
        else:
            arr = getattr(skimage.data, name)()
        images[name] = to_tensor(arr[..., :3])
    return images


class EmbeddedPatches(Dataset):
    """``n`` random ``size`` x ``size`` HR crops of the embedded photos, with their LR.

    Each photo is first shrunk so that a 32x32 crop holds a CIFAR-like amount of content
    (the photos are ~500 px wide; CIFAR objects fill 32 px). Deterministic for a ``seed``.
    Yields (lr (3, size/s, size/s), hr (3, size, size)).
    """

    def __init__(self, size: int = 32, n: int = 2048, seed: int = 0, scale: int = 2,
                 shrink: int = 4) -> None:
        self.scale = check_scale(scale)
        if size % self.scale:
            raise ValueError(f"patch size {size} must be divisible by scale {scale}")
        gen = torch.Generator().manual_seed(seed)
        photos = []
        for img in embedded_images().values():
            h, w = img.shape[-2:]
            photos.append(F.interpolate(img, size=(h // shrink, w // shrink), mode="bicubic",
                                        antialias=True).clamp(0, 1))
        hrs = []
        for k in range(n):
            photo = photos[k % len(photos)]
            hrs.append(random_flip_rot(random_crop(photo, size, gen), gen))
        self.hr = quantize(torch.cat(hrs))
        self.lr = bicubic_down(self.hr, self.scale)
        self.source = f"embedded scikit-image photos ({n} random {size}x{size} crops)"

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lr[i], self.hr[i]


# -- CIFAR-10 -----------------------------------------------------------------------------------


class PairsFromHR(Dataset):
    """Wrap a dataset of HR images (3, H, W) into (lr, hr) pairs made by ``bicubic_down``."""

    def __init__(self, hr_images: Dataset, scale: int, source: str) -> None:
        self.hr_images = hr_images
        self.scale = check_scale(scale)
        self.source = source

    def __len__(self) -> int:
        return len(self.hr_images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        hr = self.hr_images[i]
        if isinstance(hr, tuple):  # torchvision datasets yield (image, label)
            hr = hr[0]
        if not isinstance(hr, torch.Tensor):
            hr = to_tensor(np.asarray(hr.convert("RGB")))[0]
        lr = bicubic_down(hr.unsqueeze(0), self.scale)[0]
        return lr, hr


def CIFAR10SR(root: str | os.PathLike, train: bool, scale: int = 2,
              download: bool = False) -> PairsFromHR:
    """CIFAR-10 as SR pairs: (lr (3, 32/s, 32/s), hr (3, 32, 32)), via torchvision."""
    from torchvision.datasets import CIFAR10

    base = CIFAR10(str(root), train=train, download=download)
    split = "train" if train else "test"
    return PairsFromHR(base, scale, source=f"CIFAR-10 official ({split}, {len(base)} images)")


class _ImageFolderHR(Dataset):
    """All images under ``folder/<class>/`` as (3, H, W) tensors (an image-folder copy)."""

    def __init__(self, folder: Path) -> None:
        self.paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ValueError(f"no images found under {folder}")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return load_image(self.paths[i])[0]


def _cifar10_url() -> str:
    from torchvision.datasets import CIFAR10

    return CIFAR10.url


def _cifar10_official_present(root: Path) -> bool:
    return (root / "cifar-10-batches-py" / "batches.meta").exists()


def _url_reachable(url: str, timeout: float = 3.0) -> bool:
    """Can a TCP connection to ``url``'s host be opened within ``timeout`` seconds?"""
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_cifar10_sr(split: str = "train", scale: int = 2, *, verbose: bool = True) -> Dataset:
    """CIFAR-10 SR pairs from the best available source, saying which one and why.

    Order: the official dataset under ``data_root()/cifar10`` (downloaded by torchvision
    unless ``SRLAB_OFFLINE=1`` or the host is unreachable within 3 s); the image-folder
    copy in ``SRLAB_CIFAR10_DIR`` (``<split>/<class>/*.png|jpg``); else ``EmbeddedPatches``.
    The returned dataset has a ``.source`` string; pairs are (3, 32/s, 32/s), (3, 32, 32).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    scale = check_scale(scale)
    root = data_root() / "cifar10"
    reasons = []
    if _cifar10_official_present(root):
        ds = CIFAR10SR(root, train=split == "train", scale=scale, download=False)
        return _announce(ds, verbose)
    if is_offline():
        reasons.append("official CIFAR-10 not downloaded (SRLAB_OFFLINE=1: no download attempted)")
    elif not _url_reachable(_cifar10_url()):
        reasons.append("official CIFAR-10 not downloaded (download host unreachable)")
    else:
        try:
            ds = CIFAR10SR(root, train=split == "train", scale=scale, download=True)
            return _announce(ds, verbose)
        except Exception as err:  # a failed download must not end the lesson
            reasons.append(f"official CIFAR-10 download failed ({err})")
    folder = os.environ.get("SRLAB_CIFAR10_DIR")
    if folder:
        split_dir = Path(folder).expanduser() / split
        if split_dir.is_dir():
            ds = PairsFromHR(_ImageFolderHR(split_dir), scale,
                             source=f"CIFAR-10 (JPEG q75 copy) image folder {split_dir}"
                             if "jpeg" in str(folder).lower() or _is_jpeg_copy(split_dir)
                             else f"CIFAR-10 image folder {split_dir}")
            return _announce(ds, verbose, reasons)
        reasons.append(f"SRLAB_CIFAR10_DIR={folder} has no '{split}' folder")
    else:
        reasons.append("SRLAB_CIFAR10_DIR not set")
    n = 10_000 if split == "train" else 1_000
    ds = EmbeddedPatches(size=32, n=n, seed=0 if split == "train" else 1, scale=scale)
    return _announce(ds, verbose, reasons)


def _is_jpeg_copy(split_dir: Path) -> bool:
    first = next(split_dir.rglob("*.*"), None)
    return first is not None and first.suffix.lower() in (".jpg", ".jpeg")


def _announce(ds: Dataset, verbose: bool, reasons: list[str] | None = None) -> Dataset:
    if verbose:
        why = f" because {'; '.join(reasons)}" if reasons else ""
        print(f"[srlab.data] using {ds.source}, {len(ds)} pairs{why}")
    return ds


# -- benchmark sets -------------------------------------------------------------------------


def _benchmark_roots() -> list[Path]:
    roots = []
    if os.environ.get("SRLAB_BENCHMARKS"):
        roots.append(Path(os.environ["SRLAB_BENCHMARKS"]).expanduser())
    roots.append(data_root() / "benchmarks")
    return roots


def available_benchmarks() -> list[str]:
    """Names of the benchmark sets found on this machine (see ``benchmark_set``)."""
    found = []
    for name in BENCHMARK_NAMES:
        if any((root / name).is_dir() for root in _benchmark_roots()):
            found.append(name)
    return found


def benchmark_set(name: str, scale: int) -> ImageFolderSR:
    """A classic SR test set as whole-image (lr, hr) pairs, HR mod-cropped to ``scale``.

    Looks in ``$SRLAB_BENCHMARKS/<name>`` then ``data_root()/benchmarks/<name>``.
    """
    for root in _benchmark_roots():
        if (root / name).is_dir():
            return ImageFolderSR(root / name, scale)
    looked = ", ".join(str(root / name) for root in _benchmark_roots())
    raise FileNotFoundError(
        f"benchmark set {name!r} not found (looked in: {looked}). Put the HR images of the set "
        f"in a folder named {name} (e.g. from the EDSR/MSRN benchmark archives) under "
        "~/.cache/srlab/benchmarks, or set SRLAB_BENCHMARKS to the folder that holds it."
    )
