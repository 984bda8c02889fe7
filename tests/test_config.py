"""srlab.config: modes and budgets from environment variables, folders, device, seeding."""

from pathlib import Path

import pytest
import torch

from srlab import config


@pytest.fixture
def env(monkeypatch):
    """Set (value) or unset (None) the mode variables."""
    def set_env(fast=None, full=None):
        for name, value in (("SRLAB_FAST", fast), ("SRLAB_FULL", full)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
    return set_env


@pytest.mark.parametrize("fast, full, expected", [
    (None, None, "default"),
    ("1", None, "fast"),
    ("true", "0", "fast"),
    ("0", None, "default"),
    ("", "", "default"),
    (None, "1", "full"),
    ("no", "YES", "full"),
    (" On ", None, "fast"),
])
def test_mode_from_environment(env, fast, full, expected):
    env(fast, full)
    assert config.mode() == expected
    assert config.is_fast() == (expected == "fast")


def test_both_modes_set_is_an_error(env):
    env("1", "1")
    with pytest.raises(ValueError, match="SRLAB_FAST and SRLAB_FULL are both set"):
        config.mode()
    with pytest.raises(ValueError, match="both set"):
        config.budget(fast=1, default=2, full=3)


def test_budget_by_mode(env):
    env("1")
    assert config.budget(fast=3, default=30, full=300) == 3
    env()
    assert config.budget(fast=3, default=30, full=300) == 30
    env(full="1")
    assert config.budget(fast=3, default=30, full=300) == 300
    assert config.budget(fast=3, default=30) == 30  # full defaults to default
    assert config.budget(fast=3, default=30, full=0) == 0  # a falsy full is still used


def test_offline_flag(monkeypatch):
    monkeypatch.setenv("SRLAB_OFFLINE", "1")
    assert config.is_offline()
    monkeypatch.setenv("SRLAB_OFFLINE", "0")
    assert not config.is_offline()
    monkeypatch.delenv("SRLAB_OFFLINE")
    assert not config.is_offline()


def test_data_root(monkeypatch):
    monkeypatch.setenv("SRLAB_DATA", "~/somewhere")
    assert config.data_root() == Path.home() / "somewhere"
    monkeypatch.delenv("SRLAB_DATA")
    assert config.data_root() == Path.home() / ".cache" / "srlab"


def test_output_dir(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SRLAB_OUTPUTS", raising=False)
    out = config.output_dir()
    assert out == Path("outputs") and (tmp_path / "outputs").is_dir()
    monkeypatch.setenv("SRLAB_OUTPUTS", str(tmp_path / "a" / "b"))
    assert config.output_dir() == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()


def test_get_device(monkeypatch):
    monkeypatch.setenv("SRLAB_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")
    monkeypatch.setenv("SRLAB_DEVICE", "cuda:1")
    assert config.get_device() == torch.device("cuda", 1)  # forced, even without a GPU


def test_seed_everything_repeats():
    config.seed_everything(7)
    a = torch.rand(3)
    gen = config.seed_everything(7)
    assert torch.equal(a, torch.rand(3))
    assert torch.equal(torch.rand(2, generator=gen),
                       torch.rand(2, generator=config.seed_everything(7)))
    config.seed_everything(8)
    assert not torch.equal(a, torch.rand(3))


def test_describe_reports_the_settings(env, monkeypatch, tmp_path):
    env(full="1")
    monkeypatch.setenv("SRLAB_OFFLINE", "1")
    monkeypatch.setenv("SRLAB_DATA", str(tmp_path))
    monkeypatch.setenv("SRLAB_DEVICE", "cpu")
    text = config.describe()
    assert "mode: full (SRLAB_FULL=1)" in text and "offline: yes (SRLAB_OFFLINE=1)" in text
    assert f"data root: {tmp_path}" in text and "device cpu" in text
    brief = config.describe(brief=True)
    assert "\n" not in brief and "on cpu" in brief and brief.endswith("full mode")
    assert "SRLAB_" not in brief and str(tmp_path) not in brief  # no infrastructure in a lecture
    env()
    monkeypatch.delenv("SRLAB_OFFLINE")
    text = config.describe()
    assert "mode: default" in text and "offline: no" in text


def test_num_threads_scopes_the_setting_and_restores_it_on_error():
    before = torch.get_num_threads()
    with config.num_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"):
        with config.num_threads(1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="integer >= 1"):
            with config.num_threads(bad):
                pass
