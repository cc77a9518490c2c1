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


def test_seed_shift_is_added_to_the_seed(monkeypatch):
    monkeypatch.setenv("SEQCOURSE_SEED_SHIFT", "7")
    assert runtime.seed_shift() == 7
    assert runtime.seed_everything(3) == 10
    shifted = torch.rand(3)
    monkeypatch.delenv("SEQCOURSE_SEED_SHIFT")
    assert runtime.seed_shift() == 0
    assert runtime.seed_everything(10) == 10
    assert torch.equal(torch.rand(3), shifted)  # seed 3 + shift 7 is seed 10
    assert "seed shift 0" in runtime.describe()


@pytest.mark.parametrize("bad", ["-1", "1.5", "many", str(2**20)])
def test_seed_shift_rejects_bad_values(monkeypatch, bad):
    monkeypatch.setenv("SEQCOURSE_SEED_SHIFT", bad)
    with pytest.raises(ValueError, match=f"SEQCOURSE_SEED_SHIFT must be .*got .*{bad}"):
        runtime.seed_everything(0)


def test_full_precision_switches_tf32_off_and_restores():
    flags = runtime._precision_flags()
    before = [getattr(obj, name) for obj, name in flags]
    with runtime.full_precision():
        inside = [getattr(obj, name) for obj, name in flags]
        assert all(value in (False, "ieee") for value in inside)
    assert [getattr(obj, name) for obj, name in flags] == before
    with pytest.raises(RuntimeError), runtime.full_precision():  # restored on error too
        raise RuntimeError("boom")
    assert [getattr(obj, name) for obj, name in flags] == before


def test_tolerance_depends_on_dtype_and_device():
    assert runtime.tolerance(torch.float64, "cpu") < runtime.tolerance(torch.float32, "cpu")
    assert runtime.tolerance(torch.float32, "cpu") < runtime.tolerance(torch.float32, "cuda")
    assert runtime.tolerance(torch.float32, torch.device("cuda", 0)) == 1e-4
    with pytest.raises(ValueError, match=r"\(device, dtype\) must be one of .*got \('cpu'"):
        runtime.tolerance(torch.float16, "cpu")
