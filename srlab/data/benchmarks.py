"""The classic SR test sets (Set5, Set14, B100, BSD68, Urban100, Manga109, Sun80), from folders.

``benchmark_set(name, scale)`` gives whole-image (lr, hr) pairs; ``benchmark_sources``
gives every set found, or the embedded photos when none is (taught in notebooks 00, 02, 03);
``benchmarks_for_notebook`` downloads the missing ones in Colab and says how to get them
elsewhere.

B100 (also called BSD100) is the 100 test images of the Berkeley segmentation set that SR
papers report; BSD68 is a 68-image subset of them chosen for denoising benchmarks, with a
different mean PSNR. Tables name each set by its folder, so the two are never mixed up.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from srlab.config import data_root, is_offline
from srlab.data.download import (
    BENCHMARK_APPROX_MB,
    BENCHMARK_DOWNLOADABLE,
    download_benchmarks,
)
from srlab.data.embedded import embedded_images
from srlab.data.images import ImageFolderSR, centre_crop

BENCHMARK_NAMES = ("Set5", "Set14", "B100", "BSD68", "Urban100", "Manga109", "Sun80")
# every set but Sun80, which trains the shipped models
EVAL_SETS = ("Set5", "Set14", "B100", "BSD68", "Urban100", "Manga109")


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


def benchmark_sources(scale: int, sets: list[str] | None = None, *, crop: int | None = None,
                      verbose: bool = True) -> dict[str, ImageFolderSR | dict[str, torch.Tensor]]:
    """Name -> test data for ``srlab.evaluate``: the sets asked for (default: every one of
    ``EVAL_SETS`` found), else the embedded photos (HR images, centre-cropped to ``crop``
    pixels when given), saying so."""
    names = list(sets) if sets else [n for n in EVAL_SETS if n in available_benchmarks()]
    if names:
        return {name: benchmark_set(name, scale) for name in names}
    photos = embedded_images()
    if crop is not None:
        photos = {k: centre_crop(v, crop) for k, v in photos.items()}
    if verbose:
        print("[srlab.data] no benchmark set found (set SRLAB_BENCHMARKS, see README: Data); "
              f"using the {len(photos)} embedded photos" + (f", {crop}x{crop} centre crops"
                                                            if crop else ""))
    return {"embedded": photos}


def benchmarks_for_notebook(names: Sequence[str] = BENCHMARK_DOWNLOADABLE) -> list[str]:
    """Make the test sets ``names`` available where that is cheap, and say what happened.

    In Google Colab (and without ``SRLAB_OFFLINE``) the missing ones are downloaded with
    ``download_benchmarks`` (about 250 MB, announced first); anywhere else nothing is
    downloaded and one line says how to get them. A failed download is reported, not raised,
    so the notebook goes on with what it has. Returns the sets of ``names`` now found.
    """
    missing = [n for n in names if n not in available_benchmarks()]
    if missing and "google.colab" in sys.modules and not is_offline():
        try:
            download_benchmarks(missing)
        except (RuntimeError, OSError) as err:
            print(f"[srlab.data] benchmark download failed ({err}); going on without "
                  f"{', '.join(missing)}")
    found = [n for n in names if n in available_benchmarks()]
    still = [n for n in names if n not in found]
    if still:
        print(f"[srlab.data] benchmark sets found: {', '.join(found) or 'none'}; to get "
              f"{', '.join(still)} (about {BENCHMARK_APPROX_MB} MB in one archive) run "
              f"srlab.data.download_benchmarks({still!r})"
              + (" after unsetting SRLAB_OFFLINE" if is_offline() else ""))
    else:
        print(f"[srlab.data] benchmark sets found: {', '.join(found)}")
    return found
