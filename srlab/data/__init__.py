"""Data for SR: image files, embedded photos, benchmark sets, CIFAR-10, training batches.

One module per source: ``images`` (files and folders), ``embedded`` (photos inside
scikit-image), ``benchmarks`` (Set5, Set14, ...), ``cifar10``, ``batches`` (the device-resident
``PatchSampler``) and ``download`` (DIV2K, and the test sets Set5, Set14, B100, Urban100).
The degradation model itself (``bicubic_down``) lives in ``srlab.degradation``.
"""

from srlab.data.batches import LabelledBatches, PatchSampler
from srlab.data.benchmarks import (
    BENCHMARK_NAMES,
    EVAL_SETS,
    available_benchmarks,
    benchmark_set,
    benchmark_sources,
    benchmarks_for_notebook,
)
from srlab.data.cifar10 import CIFAR10SR, cifar10_hr, cifar10_labels, load_cifar10_sr, spread
from srlab.data.download import download_benchmarks, download_div2k
from srlab.data.embedded import EmbeddedPatches, embedded_images
from srlab.data.images import ImageFolderSR, centre_crop, list_images, load_image, to_tensor

__all__ = [
    "BENCHMARK_NAMES", "EVAL_SETS", "CIFAR10SR", "EmbeddedPatches", "ImageFolderSR",
    "LabelledBatches",
    "PatchSampler", "available_benchmarks", "benchmark_set", "benchmark_sources",
    "benchmarks_for_notebook", "centre_crop", "cifar10_hr", "cifar10_labels",
    "download_benchmarks",
    "download_div2k", "embedded_images", "list_images", "load_cifar10_sr", "load_image",
    "spread", "to_tensor",
]
