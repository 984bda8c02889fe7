"""The FD-CIFAR feature network: shapes, config round trip, the labelled batches it trains on,
and the shipped weights."""

import pytest
import torch

from srlab import pretrained
from srlab.data import LabelledBatches
from srlab.models import CifarClassifier, build


def test_shapes_features_and_config_round_trip():
    torch.manual_seed(0)
    net = CifarClassifier().eval()
    x = torch.rand(5, 3, 32, 32)
    assert net(x).shape == (5, 10) and net.features(x).shape == (5, 96)
    again = build("cifar_classifier", net.config)
    assert type(again) is CifarClassifier and again.config == net.config
    with pytest.raises(ValueError, match=r"expected values in \[0, 1\]"):
        net(x * 2)
    with pytest.raises(ValueError, match="width must be 3 positive"):
        CifarClassifier(width=(8, 16))


def test_labelled_batches_augment_and_split_into_rows():
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(6)
    batches = LabelledBatches(images, labels, device="cpu", pad=2)
    x, y = batches(10, torch.Generator().manual_seed(0))
    assert x.shape == (10, 3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.long
    # every sample is a shifted (reflection-padded) and maybe flipped copy of image y
    padded = torch.nn.functional.pad(images.float() / 255, (2,) * 4, mode="reflect")
    for img, label in zip(x, y.tolist(), strict=True):
        windows = [padded[label, :, t:t + 8, s:s + 8] for t in range(5) for s in range(5)]
        assert any(torch.equal(img, w) or torch.equal(img, w.flip(-1)) for w in windows)
    x0, y0 = batches(10, torch.Generator().manual_seed(0), rows=slice(0, 5))
    x1, y1 = batches(10, torch.Generator().manual_seed(0), rows=slice(5, 10))
    assert torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)
    with pytest.raises(ValueError, match="uint8"):
        LabelledBatches(images.float(), labels)
    with pytest.raises(ValueError, match=r"labels: expected shape \(6,\)"):
        LabelledBatches(images, labels[:3])


def test_shipped_classifier_loads_and_gives_features():
    net = pretrained.load("cifar10_classifier", kind="cifar_classifier")
    assert not net.training and type(net) is CifarClassifier
    feats = net.features(torch.rand(4, 3, 32, 32))
    assert feats.shape == (4, net.config["width"][-1]) and torch.isfinite(feats).all()
