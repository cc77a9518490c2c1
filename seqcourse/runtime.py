"""Runtime settings shared by every notebook: seeding, device choice, scale and precision.

Each chapter starts with ``SEED = seed_everything(0)`` and ``device()`` so that a run prints
the same numbers every time and uses a GPU when one is present; every other seed on the page
is written ``SEED + k``. ``seed_everything`` adds the integer in the environment variable
``SEQCOURSE_SEED_SHIFT`` (default 0) to the seed it is given, so the whole book can be rerun
on other seeds without editing a page: a claim a page asserts must hold for every shift.

``scale()`` tells a notebook which size to train at: the CPU sizes are what CI executes; on
a GPU (or when ``SEQCOURSE_SCALE`` asks for it) notebooks may train larger models.

``full_precision()`` and ``tolerance()`` serve the pages' equality checks against PyTorch.
cuDNN runs float32 recurrent layers and convolutions in TF32 by default (10 mantissa bits,
measured 1.8e-3 against nn.LSTM on an H200); the checks switch that off while they run.
Even in full float32 a GPU sums in another order than the CPU (measured up to 2e-5 relative on an
H200 against 4e-7 on the CPU), so the tolerance depends on the dtype *and* the device.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Literal, TypeVar

import numpy as np
import torch

__all__ = [
    "seed_shift",
    "seed_everything",
    "device",
    "scale",
    "pick",
    "describe",
    "full_precision",
    "tolerance",
]

Scale = Literal["cpu", "gpu"]
T = TypeVar("T")

_SCALES: tuple[str, ...] = ("cpu", "gpu")


_MAX_SEED = 2**32
_MAX_SHIFT = 2**20


def seed_shift() -> int:
    """The integer in ``SEQCOURSE_SEED_SHIFT`` (default 0), added to every seed a page sets."""
    raw = os.environ.get("SEQCOURSE_SEED_SHIFT", "").strip()
    if not raw:
        return 0
    try:
        shift = int(raw)
    except ValueError:
        raise ValueError(
            f"SEQCOURSE_SEED_SHIFT must be a non-negative integer, got {raw!r}"
        ) from None
    if not 0 <= shift < _MAX_SHIFT:
        raise ValueError(f"SEQCOURSE_SEED_SHIFT must be in [0, {_MAX_SHIFT}), got {shift}")
    return shift


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) with ``seed + seed_shift()``.

    Also makes cuDNN deterministic. Returns the seed actually used, so a page can derive
    its other seeds from it (``SEED = seed_everything(0)``, then ``seed=SEED + 1``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < _MAX_SEED - _MAX_SHIFT:
        raise ValueError(f"seed must be in [0, 2**32 - 2**20), got {seed}")
    seed = int(seed) + seed_shift()
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - legacy global RNG, for code that still uses it
    torch.manual_seed(seed)  # seeds CUDA too when present
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return seed


def device() -> torch.device:
    """The device notebooks run on: CUDA when available, else the CPU.

    ``SEQCOURSE_DEVICE=cpu`` forces the CPU even on a GPU machine.
    """
    forced = os.environ.get("SEQCOURSE_DEVICE", "").strip().lower()
    if forced and forced not in ("cpu", "cuda"):
        raise ValueError(f"SEQCOURSE_DEVICE must be 'cpu' or 'cuda', got {forced!r}")
    if forced == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def scale() -> Scale:
    """'gpu' when notebooks should train at GPU size, else 'cpu'.

    Defaults to 'gpu' exactly when ``device()`` is CUDA; ``SEQCOURSE_SCALE`` overrides it.
    """
    forced = os.environ.get("SEQCOURSE_SCALE", "").strip().lower()
    if forced:
        if forced not in _SCALES:
            raise ValueError(f"SEQCOURSE_SCALE must be one of {_SCALES}, got {forced!r}")
        return forced  # type: ignore[return-value]
    return "gpu" if device().type == "cuda" else "cpu"


def pick(cpu: T, gpu: T) -> T:
    """Choose a setting by scale: ``hidden = pick(cpu=128, gpu=512)``."""
    return gpu if scale() == "gpu" else cpu


def describe() -> str:
    """One line for a notebook's setup cell: torch version, device, scale and seed shift."""
    dev = device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    return (
        f"torch {torch.__version__} | device {dev} ({name}) | scale {scale()} "
        f"| seed shift {seed_shift()}"
    )


def _precision_flags() -> list[tuple[object, str]]:
    """The (object, attribute) pairs that let float32 run in TF32 on NVIDIA GPUs."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    if hasattr(cudnn, "rnn") and hasattr(cudnn.rnn, "fp32_precision"):  # torch >= 2.9
        return [
            (cudnn.rnn, "fp32_precision"),
            (cudnn.conv, "fp32_precision"),
            (matmul, "fp32_precision"),
        ]
    return [(cudnn, "allow_tf32"), (matmul, "allow_tf32")]  # pragma: no cover - older torch


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Run float32 in full IEEE precision inside the block (no TF32), then restore.

    cuDNN's recurrent layers and convolutions use TF32 for float32 by default on Ampere
    and newer GPUs, which rounds products to 10 mantissa bits: fine for training, wrong
    for a check that a from-scratch layer equals PyTorch's. On the CPU this changes nothing.
    """
    flags = _precision_flags()
    saved = [getattr(obj, name) for obj, name in flags]
    try:
        for obj, name in flags:
            setattr(obj, name, False if name == "allow_tf32" else "ieee")
        yield
    finally:
        for (obj, name), value in zip(flags, saved, strict=True):
            setattr(obj, name, value)


# Relative tolerances (error / max|reference|) for a from-scratch computation against
# PyTorch's, inside full_precision(). float64 agrees to rounding everywhere. float32 on the
# CPU measured <= 4e-7 in the book's checks; on a GPU cuDNN's fused kernels sum in another
# order, measured up to 2e-5 on an H200 with TF32 off, so the GPU bound is 1e-4.
_TOLERANCES = {
    ("cpu", torch.float64): 1e-10,
    ("cuda", torch.float64): 1e-10,
    ("cpu", torch.float32): 1e-5,
    ("cuda", torch.float32): 1e-4,
}


def tolerance(dtype: torch.dtype, device: torch.device | str) -> float:
    """Relative tolerance for comparing a from-scratch result with PyTorch's.

    dtype: torch.float32 or torch.float64; device: 'cpu', 'cuda' or a torch.device.
    """
    kind = torch.device(device).type
    if (kind, dtype) not in _TOLERANCES:
        raise ValueError(
            f"(device, dtype) must be one of {sorted((k, str(d)) for k, d in _TOLERANCES)}, "
            f"got ({kind!r}, {dtype})"
        )
    return _TOLERANCES[(kind, dtype)]
