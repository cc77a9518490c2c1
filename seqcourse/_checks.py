"""Argument checks shared by the package: one wording for every module's error messages."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["check_int", "check_temperature"]


def check_int(value: Any, name: str, low: int = 1) -> int:
    """``value`` as an int >= ``low``; TypeError or ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value}")
    return int(value)


def check_temperature(temperature: Any) -> float:
    """A sampling temperature: a finite number > 0."""
    if isinstance(temperature, bool) or not (
        isinstance(temperature, int | float) and math.isfinite(temperature)
    ):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return float(temperature)
