"""Runtime settings shared by every notebook: seeding, device choice and problem scale.

Each chapter starts with ``seed_everything(0)`` and ``device()`` so that a run prints the
same numbers every time and uses a GPU when one is present. ``scale()`` tells a notebook
which size to train at: the CPU sizes are what CI executes; on a GPU (or when the
``SEQCOURSE_SCALE`` environment variable asks for it) notebooks may train larger models.
"""

from __future__ import annotations

import os
import random
from typing import Literal, TypeVar

import numpy as np
import torch

__all__ = ["seed_everything", "device", "scale", "pick", "describe"]

Scale = Literal["cpu", "gpu"]
T = TypeVar("T")

_SCALES: tuple[str, ...] = ("cpu", "gpu")


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and make cuDNN deterministic.

    Returns the seed so a notebook can print it.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
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
    """One line for a notebook's setup cell: torch version, device and scale."""
    dev = device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    return f"torch {torch.__version__} | device {dev} ({name}) | scale {scale()}"
