"""Tests for the 2-D toy diffusion helpers used by notebook 04."""

from __future__ import annotations

import math

import pytest
import torch

from srlab.config import num_threads
from srlab.diffusion import ddim_sample, make_schedule
from srlab.diffusion.toy import (
    ToyDenoiser,
    sliced_wasserstein,
    toy_data,
    train_toy,
)


@pytest.mark.parametrize("name", ["ring", "moons"])
def test_toy_data_shape_range_and_seed(name):
    a = toy_data(name, 500, torch.Generator().manual_seed(0))
    b = toy_data(name, 500, torch.Generator().manual_seed(0))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert a.abs().max().item() < 1.2


def test_ring_points_sit_on_the_circle():
    x = toy_data("ring", 2000, torch.Generator().manual_seed(1))
    radius = x.norm(dim=1)
    assert radius.mean().item() == pytest.approx(0.8, abs=0.01)
    angles = torch.atan2(x[:, 1], x[:, 0]) / (2 * math.pi / 8)
    assert (angles - angles.round()).abs().max().item() < 0.35  # close to one of 8 directions


def test_toy_data_bad_input():
    with pytest.raises(ValueError, match="unknown toy dataset 'square'"):
        toy_data("square", 10)
    with pytest.raises(ValueError, match="positive integer"):
        toy_data("ring", 0)


def test_toy_denoiser_shapes_and_bad_input():
    model = ToyDenoiser(100, hidden=32)
    out = model(torch.randn(7, 2), torch.randint(0, 100, (7,)), None)
    assert out.shape == (7, 2)
    with pytest.raises(ValueError, match=r"expected points of shape \(N, 2\)"):
        model(torch.randn(7, 3), torch.zeros(7, dtype=torch.long))


def test_sliced_wasserstein_properties():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 2, generator=g)
    assert sliced_wasserstein(a, a) == 0.0
    d = torch.tensor([0.6, -0.8])  # |d| = 1
    shifted = sliced_wasserstein(a, a + d, n_projections=500)
    assert shifted == pytest.approx(1 / math.sqrt(2), rel=0.05)
    b = torch.randn(1500, 2, generator=g)  # another sample of the same law, other size
    assert sliced_wasserstein(a, b) < 0.1 < sliced_wasserstein(a, 2 * b)
    assert sliced_wasserstein(a, b) == pytest.approx(sliced_wasserstein(b, a), rel=1e-6)
    with pytest.raises(ValueError, match="point clouds"):
        sliced_wasserstein(a, torch.randn(10, 3))


def test_train_toy_learns_and_is_deterministic():
    n_threads = torch.get_num_threads()
    s = make_schedule("cosine", 100)
    data = toy_data("ring", 2000, torch.Generator().manual_seed(0))

    def train():
        torch.manual_seed(0)
        model = ToyDenoiser(100, hidden=64)
        return model, train_toy(model, data, s, "eps", steps=150, batch_size=128, seed=0)

    model, losses = train()
    _, again = train()
    assert losses == again
    assert sum(losses[-30:]) / 30 < 0.8 * sum(losses[:30]) / 30
    # the trained model beats an untrained one at reproducing the data with 20 DDIM steps
    ref = toy_data("ring", 500, torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    untrained = ToyDenoiser(100, hidden=64)
    with num_threads(1):
        d = [sliced_wasserstein(ddim_sample(m, (500, 2), None, s, 20, clip_x0=False,
                                            generator=torch.Generator().manual_seed(2)), ref)
             for m in (model, untrained)]
    assert d[0] < d[1]
    assert torch.get_num_threads() == n_threads  # restored after training
    with pytest.raises(ValueError, match="model was built for T=100"):
        train_toy(model, data, make_schedule("cosine", 50), steps=1)
