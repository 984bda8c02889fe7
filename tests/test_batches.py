"""srlab.data.PatchSampler: training batches cut, augmented and degraded on the device."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from srlab.data import PatchSampler
from srlab.degradation import bicubic_down, quantize


def photos(n=3, size=24, width=None):
    """Smooth random 8-bit test images (1, 3, size, width or size + 4)."""
    gen = torch.Generator().manual_seed(1)
    return [quantize(F.interpolate(torch.rand(1, 3, 6, 7, generator=gen),
                                   (size, width or size + 4), mode="bilinear",
                                   align_corners=False)) for _ in range(n)]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _is_crop_of(patch, images):
    """Is ``patch`` (3, p, p) a crop of one of ``images`` (1, 3, H, W)?"""
    p = patch.shape[-1]
    for img in images:
        windows = img[0].unfold(1, p, 1).unfold(2, p, 1)  # (3, H-p+1, W-p+1, p, p)
        if (windows == patch[:, None, None]).flatten(3).all(-1).all(0).any():
            return True
    return False


def test_shapes_range_degradation_and_seed():
    images = photos(2) + photos(1, 30)  # two sizes: crops are cut one by one
    sampler = PatchSampler(images, scale=2, patch_size=6, device="cpu")
    assert len(sampler) == 3 and sampler.hr_patch == 12 and sampler.stack is None
    lr, hr = sampler(5, gen())
    assert lr.shape == (5, 3, 6, 6) and hr.shape == (5, 3, 12, 12)
    assert lr.dtype == hr.dtype == torch.float32
    assert 0 <= float(hr.min()) and float(hr.max()) <= 1
    assert torch.equal(lr, bicubic_down(hr, 2))
    lr2, hr2 = sampler(5, gen())
    assert torch.equal(hr, hr2) and torch.equal(lr, lr2)  # same generator state, same batch
    assert not torch.equal(sampler(5, gen(1))[1], hr)


def test_augment_none_gives_plain_crops():
    images = photos(2, 20)
    sampler = PatchSampler(images, 2, 4, device="cpu", augment="none")
    _, hr = sampler(12, gen())
    assert all(_is_crop_of(h, images) for h in hr)


@pytest.mark.parametrize("augment, allowed", [
    ("flip", {"id", "h"}),
    ("dihedral", {"id", "h", "v", "t", "hv", "ht", "vt", "hvt"}),
])
def test_augmentations(augment, allowed):
    # one 16x16 image, whole-image "crops", so every output is a transform of that image
    img = photos(1, 16, 16)[0]
    sampler = PatchSampler(img, 2, None, device="cpu", augment=augment)
    _, hr = sampler(64, gen())
    x = img[0]
    transforms = {"id": x, "h": x.flip(-1), "v": x.flip(-2), "t": x.transpose(-1, -2),
                  "hv": x.flip(-1).flip(-2), "ht": x.flip(-1).transpose(-1, -2),
                  "vt": x.flip(-2).transpose(-1, -2), "hvt": x.flip(-1).flip(-2).transpose(-1, -2)}
    seen = {next(k for k, t in transforms.items() if torch.equal(h, t)) for h in hr}
    assert seen == allowed  # 64 draws: every allowed transform appears, nothing else


def test_uint8_stack_and_list_give_the_same_batches():
    images = photos(4, 20, 20)
    as_list = PatchSampler(images, 2, 5, device="cpu")
    stack = (torch.cat(images) * 255).round().to(torch.uint8)
    as_stack = PatchSampler(stack, 2, 5, device="cpu")
    assert as_list.stack is not None and as_stack.images[0].dtype == torch.uint8
    for a, b in zip(as_list(6, gen(3)), as_stack(6, gen(3)), strict=True):
        assert torch.equal(a, b)
    # the gather path of one-size images equals cutting each crop by slicing
    sliced = PatchSampler(images, 2, 5, device="cpu")
    sliced.stack = None
    assert torch.equal(sliced(6, gen(3))[1], as_stack(6, gen(3))[1])


def test_whole_images():
    stack = (torch.rand(5, 3, 32, 32, generator=gen()) * 255).round().to(torch.uint8)
    sampler = PatchSampler(stack, 2, None, device="cpu", augment="none", source="cifar")
    assert sampler.patch_size == 16 and sampler.source == "cifar"
    lr, hr = sampler(8, gen())
    assert lr.shape == (8, 3, 16, 16) and hr.shape == (8, 3, 32, 32)
    assert all(any(torch.equal((h * 255).round().byte(), s) for s in stack) for h in hr)
    with pytest.raises(ValueError, match="needs images of one size, got 2 sizes"):
        PatchSampler(photos(1, 16, 16) + photos(1, 20, 20), 2, None, device="cpu")


def test_rescale():
    sampler = PatchSampler(photos(2, 40), 2, 6, device="cpu", rescale=(0.5, 1.0))
    lr, hr = sampler(4, gen())
    assert lr.shape == (4, 3, 6, 6) and hr.shape == (4, 3, 12, 12)
    assert torch.equal(hr, quantize(hr)) and torch.equal(lr, bicubic_down(hr, 2))
    for bad in ((0.0, 1.0), (0.8, 0.5), (0.5, 1.5)):
        with pytest.raises(ValueError, match="rescale must satisfy 0 < lo <= hi <= 1"):
            PatchSampler(photos(), 2, 6, device="cpu", rescale=bad)


def test_from_folder(tmp_path):
    for i, img in enumerate(photos(2, 30)):
        arr = (img[0].permute(1, 2, 0) * 255).round().byte().numpy()
        Image.fromarray(arr).save(tmp_path / f"{i}.png")
    (tmp_path / "readme.txt").write_text("ignored")
    sampler = PatchSampler.from_folder(tmp_path, 3, 4, device="cpu", augment="none")
    assert len(sampler) == 2 and sampler.source == f"2 images in {tmp_path}"
    lr, hr = sampler(3, gen())
    assert lr.shape == (3, 3, 4, 4) and hr.shape == (3, 3, 12, 12)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PatchSampler.from_folder(tmp_path / "missing", 2, 4)


@pytest.mark.parametrize("images, kwargs, error, match", [
    (photos(size=8), {"scale": 4, "patch_size": 4}, ValueError, "smaller than the HR patch 16"),
    (photos(), {"scale": 2, "patch_size": 0}, ValueError, "patch_size .* >= 1"),
    (photos(), {"scale": 1, "patch_size": 4}, ValueError, "scale"),
    (photos(), {"scale": 2, "patch_size": 4, "augment": "rotate"}, ValueError,
     "unknown augmentation 'rotate'"),
    ([], {"scale": 2, "patch_size": 4}, ValueError, "at least one image"),
    (torch.zeros(2, 1, 16, 16, dtype=torch.uint8), {"scale": 2, "patch_size": 4}, ValueError,
     r"uint8 image stack must be \(N, 3, H, W\)"),
    ([torch.rand(3, 16, 16) * 255], {"scale": 2, "patch_size": 4}, ValueError,
     r"images\[0\]: expected values in \[0, 1\]"),
    ([torch.rand(1, 16, 16)], {"scale": 2, "patch_size": 4}, ValueError, "3 channels"),
])
def test_bad_arguments(images, kwargs, error, match):
    with pytest.raises(error, match=match):
        PatchSampler(images, device="cpu", **kwargs)


def test_every_image_is_drawn():
    images = [torch.full((1, 3, 8, 8), v / 255) for v in (10, 20, 30)]
    sampler = PatchSampler(images, 2, 2, device="cpu")
    _, hr = sampler(60, gen())
    values = set(np.unique((hr * 255).round().numpy()).tolist())
    assert values == {10.0, 20.0, 30.0}


@pytest.mark.parametrize("same_size", [True, False])
@pytest.mark.parametrize("augment", ["none", "flip", "dihedral"])
def test_rows_are_the_rows_of_the_whole_batch(same_size, augment):
    # what one rank of a data-parallel run cuts: its rows of the batch one process would draw
    images = photos(4) if same_size else photos(2) + photos(2, 30)
    sampler = PatchSampler(images, scale=2, patch_size=5, device="cpu", augment=augment,
                           rescale=(0.6, 1.0))
    g_one, g_rank0, g_rank1 = gen(3), gen(3), gen(3)
    for _ in range(3):  # the generators stay in step: every call draws for the whole batch
        lr, hr = sampler(6, g_one)
        lr0, hr0 = sampler(6, g_rank0, rows=slice(0, 3))
        lr1, hr1 = sampler(6, g_rank1, rows=slice(3, 6))
        assert hr0.shape == (3, 3, 10, 10)
        assert torch.equal(torch.cat([hr0, hr1]), hr) and torch.equal(torch.cat([lr0, lr1]), lr)


def test_from_folders_leaves_out_images_smaller_than_the_patch(tmp_path):
    # the "291" set: BSDS200 photos are large, many T91 images are smaller than a 192-px patch
    for folder, sizes in (("big", (30, 28)), ("mixed", (26, 11, 9))):
        (tmp_path / folder).mkdir()
        for i, size in enumerate(sizes):
            img = photos(1, size)[0]
            Image.fromarray((img[0].permute(1, 2, 0) * 255).round().byte().numpy()).save(
                tmp_path / folder / f"{i}.png")
    folders = [tmp_path / "big", tmp_path / "mixed"]
    sampler = PatchSampler.from_folders(folders, 2, 6, device="cpu")  # HR patch 12
    assert len(sampler) == 3  # 30, 28, 26 kept; 11 and 9 left out
    assert sampler.source == (f"3 images in {folders[0]}, {folders[1]} (2 smaller than the "
                              "12-pixel HR patch left out)")
    assert sampler(2, gen())[1].shape == (2, 3, 12, 12)
    with pytest.raises(ValueError, match="every image in .* is smaller than the HR patch 40"):
        PatchSampler.from_folders(folders, 4, 10, device="cpu")
    with pytest.raises(ValueError, match="at least one folder"):
        PatchSampler.from_folders([], 2, 6)
