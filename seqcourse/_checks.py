"""Argument checks shared by the package: one wording for every module's error messages."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import torch

__all__ = [
    "check_bool",
    "check_choice",
    "check_finite",
    "check_ids",
    "check_int",
    "check_positive",
    "check_sequence",
    "check_state",
    "check_temperature",
]


def check_int(value: Any, name: str, low: int = 1) -> int:
    """``value`` as an int >= ``low``; TypeError or ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def check_positive(value: Any, name: str) -> float:
    """``value`` as a float if it is a finite real number > 0: TypeError naming ``name`` for
    anything that is not a real number (bools included), ValueError for NaN, inf and <= 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a finite number > 0, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_temperature(temperature: Any) -> float:
    """A sampling temperature: a finite number > 0."""
    if isinstance(temperature, bool) or not (
        isinstance(temperature, int | float) and math.isfinite(temperature)
    ):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return float(temperature)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of the strings ``choices``; ValueError naming ``name`` otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool; TypeError naming ``name`` otherwise (1 and 0 are refused)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


_ID_SHAPES = {1: "(N,)", 2: "(B, T)"}


def check_ids(
    x: Any, name: str, vocab: int | None = None, dims: int = 2, shape: str | None = None
) -> torch.Tensor:
    """``x`` if it is a LongTensor of token ids with ``dims`` dimensions, not empty, and
    (when ``vocab`` is given) every id in [0, vocab); TypeError or ValueError naming
    ``name`` and the ``shape`` expected (default "(N,)" or "(B, T)") otherwise. Reads the
    ids' range on the host when ``vocab`` is given."""
    shape = shape or _ID_SHAPES.get(dims, f"of {dims} dimensions")
    if not isinstance(x, torch.Tensor) or x.dtype != torch.long:
        got = f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(
            f"{name} must be a LongTensor {shape} of token ids (torch.int64), got {got}"
        )
    if x.dim() != dims:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must hold at least one id, got shape {tuple(x.shape)}")
    if vocab is not None:
        low, high = int(x.min()), int(x.max())
        if low < 0 or high >= vocab:
            raise ValueError(f"{name} must hold ids in [0, {vocab}), got ids in [{low}, {high}]")
    return x


def _on_cuda(x: torch.Tensor) -> bool:
    return x.device.type == "cuda"


def check_finite(x: torch.Tensor, name: str) -> None:
    """ValueError naming ``name`` if x holds NaN or inf, without a host sync on CUDA.

    Reading the answer on the host (``bool(...)``) would wait for the GPU at every call, and
    is not allowed while a CUDA graph is being captured. On CUDA the check is therefore
    queued on the device (``torch._assert_async``: a failure surfaces at a later
    synchronisation as a RuntimeError carrying this message, and leaves the CUDA context
    unusable), and skipped while the current stream is capturing. Elsewhere it raises at once.
    """
    message = f"{name} must hold finite values, got NaN or inf"
    if _on_cuda(x):
        if not torch.cuda.is_current_stream_capturing():
            torch._assert_async(torch.isfinite(x).all(), message)
        return
    if not torch.isfinite(x).all():
        raise ValueError(message)


def check_sequence(x: Any, size: int, like: torch.Tensor, name: str = "x") -> tuple[int, int]:
    """x must be a finite (B, T, size) tensor with the dtype of ``like``; returns (B, T)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (batch, time, features), got {type(x)}")
    if x.dim() != 3:
        raise ValueError(
            f"{name} must have shape (batch, time, features) = (B, T, {size}), "
            f"got {x.dim()} dimension(s), shape {tuple(x.shape)}"
        )
    if x.shape[2] != size:
        raise ValueError(
            f"{name} must have {size} features (x.shape[2]), got {x.shape[2]}; {name} must "
            f"have shape (batch, time, features) = (B, T, {size}), got {tuple(x.shape)}"
        )
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one sequence of one step, got {x.shape}")
    if x.dtype != like.dtype:
        raise TypeError(f"{name} must have the parameters' dtype {like.dtype}, got {x.dtype}")
    check_finite(x, name)
    return x.shape[0], x.shape[1]


def check_state(h: Any, shape: tuple[int, ...], like: torch.Tensor, name: str) -> None:
    if not isinstance(h, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape}, got {type(h)}")
    if tuple(h.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(h.shape)}")
    if h.dtype != like.dtype:
        raise TypeError(f"{name} must have the parameters' dtype {like.dtype}, got {h.dtype}")
    check_finite(h, name)


def initial_state(h0: Any, x: torch.Tensor, hidden_size: int, like: torch.Tensor) -> torch.Tensor:
    """The first state h_0 (B, H) of a one-layer recurrence over x (B, T, D): zeros when h0 is
    None, else h0 of shape (1, B, H) (nn.RNN's layout), checked against ``like``'s dtype."""
    if h0 is None:
        return x.new_zeros(x.shape[0], hidden_size)
    check_state(h0, (1, x.shape[0], hidden_size), like, "h0")
    return h0[0]
