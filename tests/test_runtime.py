"""seqcourse.runtime: seeding, device and scale."""

import random

import numpy as np
import pytest
import torch

from seqcourse import runtime


def test_seed_everything_repeats_every_generator():
    def draw():
        runtime.seed_everything(123)
        return np.random.rand(3), torch.rand(3), random.random()  # noqa: NPY002

    a, b = draw(), draw()
    assert np.array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    assert a[2] == b[2]


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_seed_out_of_range(bad):
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(bad)


@pytest.mark.parametrize("bad", [1.5, "0", True])
def test_seed_wrong_type(bad):
    with pytest.raises(TypeError, match="seed"):
        runtime.seed_everything(bad)


def test_device_is_cuda_exactly_when_available(monkeypatch):
    monkeypatch.delenv("SEQCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.device().type == expected


def test_device_can_be_forced_to_cpu(monkeypatch):
    monkeypatch.setenv("SEQCOURSE_DEVICE", "cpu")
    assert runtime.device().type == "cpu"


def test_device_rejects_unknown_setting(monkeypatch):
    monkeypatch.setenv("SEQCOURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="SEQCOURSE_DEVICE"):
        runtime.device()


def test_scale_follows_device_and_override(monkeypatch):
    monkeypatch.delenv("SEQCOURSE_SCALE", raising=False)
    monkeypatch.setenv("SEQCOURSE_DEVICE", "cpu")
    assert runtime.scale() == "cpu"
    assert runtime.pick(cpu=1, gpu=2) == 1
    monkeypatch.setenv("SEQCOURSE_SCALE", "gpu")
    assert runtime.scale() == "gpu"
    assert runtime.pick(cpu=1, gpu=2) == 2
    monkeypatch.setenv("SEQCOURSE_SCALE", "huge")
    with pytest.raises(ValueError, match="SEQCOURSE_SCALE"):
        runtime.scale()


def test_describe_names_device_and_scale(monkeypatch):
    monkeypatch.setenv("SEQCOURSE_DEVICE", "cpu")
    monkeypatch.delenv("SEQCOURSE_SCALE", raising=False)
    line = runtime.describe()
    assert "device cpu" in line and "scale cpu" in line and torch.__version__ in line
