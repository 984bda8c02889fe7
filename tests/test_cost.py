import time
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from srlab.cost import (
    conv_cost,
    count_macs,
    count_params,
    depthwise_cost,
    measure_latency,
    pointwise_cost,
    separable_cost,
    separable_ratio,
    synchronize,
)
from srlab.layers import DepthwiseSeparableConv2d


def test_cost_equations():
    assert conv_cost(3, 64, 128) == 9 * 64 * 128  # (1)
    assert depthwise_cost(3, 64) == 9 * 64  # (2)
    assert pointwise_cost(64, 128) == 64 * 128  # (3)
    assert separable_cost(3, 64, 128) == 64 * (9 + 128)  # (4)
    for k, d, n in [(3, 64, 128), (5, 128, 128), (7, 32, 16)]:
        assert separable_cost(k, d, n) / conv_cost(k, d, n) == pytest.approx(separable_ratio(k, n))


def test_paper_ratios_analytic_and_measured():
    for k, expected in [(3, 0.1189), (5, 0.0478)]:
        assert abs(separable_ratio(k, 128) - expected) < 1e-4
        shape = (1, 64, 16, 16)
        standard = count_macs(nn.Conv2d(64, 128, k, padding=k // 2), shape)
        separable = count_macs(DepthwiseSeparableConv2d(64, 128, k), shape)
        assert standard == conv_cost(k, 64, 128) * 16 * 16
        assert separable == separable_cost(k, 64, 128) * 16 * 16
        assert abs(separable / standard - expected) < 1e-4


def test_separable_layer_shapes_and_params():
    layer = DepthwiseSeparableConv2d(64, 128, 5)
    assert layer(torch.zeros(2, 64, 9, 11)).shape == (2, 128, 9, 11)
    assert layer.depthwise.groups == 64
    assert count_params(layer) == (25 * 64 + 64) + (64 * 128 + 128)
    with pytest.raises(ValueError, match="odd"):
        DepthwiseSeparableConv2d(8, 8, 4)


def test_count_params_trainable_only():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1))
    model[1].weight.requires_grad_(False)
    assert count_params(model, trainable_only=False) == 3 * 4 * 9 + 4 + 16 + 4
    assert count_params(model) == 3 * 4 * 9 + 4 + 4


def test_count_macs_reports_failing_shape():
    with pytest.raises(ValueError, match=r"\(1, 5, 8, 8\)"):
        count_macs(nn.Conv2d(3, 8, 3), (1, 5, 8, 8))


def test_measure_latency_returns_positive_times():
    lat = measure_latency(nn.Conv2d(3, 8, 3), torch.zeros(1, 3, 32, 32), warmup=1, repeats=5)
    assert lat.median_ms > 0 and lat.min_ms <= lat.median_ms and lat.iqr_ms >= 0
    assert lat.repeats == 5 and lat.device == "cpu"
    with pytest.raises(ValueError):
        measure_latency(nn.Identity(), torch.zeros(1), repeats=0)


class _FakeQueue:
    """A device that queues work: ``launch`` returns at once, ``synchronize`` waits for it."""

    def __init__(self, seconds: float):
        self.seconds, self.pending, self.calls = seconds, 0.0, []

    def launch(self, x):
        self.pending += self.seconds

    def synchronize(self, *args):
        self.calls.append(args)
        time.sleep(self.pending)
        self.pending = 0.0


@pytest.mark.parametrize("device", ["mps", "cuda"])
def test_measure_latency_waits_for_gpu_work(monkeypatch, device):
    queue = _FakeQueue(0.02)
    monkeypatch.setattr(torch.mps, "synchronize", queue.synchronize)
    monkeypatch.setattr(torch.cuda, "synchronize", queue.synchronize)
    x = SimpleNamespace(device=torch.device(device))  # only .device is read
    lat = measure_latency(queue.launch, x, warmup=1, repeats=3)
    assert len(queue.calls) == 2 * 4  # before and after every call
    assert lat.median_ms >= 15  # the queued 20 ms are inside the timed interval
    assert lat.device == device


def test_synchronize_is_a_no_op_on_the_cpu(monkeypatch):
    def fail(*args):
        raise AssertionError("a GPU was synchronised for a CPU tensor")

    monkeypatch.setattr(torch.mps, "synchronize", fail)
    monkeypatch.setattr(torch.cuda, "synchronize", fail)
    synchronize("cpu")
    assert measure_latency(lambda x: x + 1, torch.zeros(4), warmup=0, repeats=2).repeats == 2
