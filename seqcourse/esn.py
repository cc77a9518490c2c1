"""Echo state networks: a fixed random reservoir and a trained linear readout (chapter 2).

Reservoir computing (Jaeger 2001) keeps the recurrent weights random and fixed and trains
only a linear readout, in closed form. With input u_t (D), reservoir state x_t (N, x_0 = 0),
leak rate a in (0, 1] and output y_t (O):

    reservoir (eq-esn-state)   x_t = (1 - a) x_{t-1} + a tanh(W_in [1; u_t] + W x_{t-1})
    readout   (eq-esn-readout) y_t = W_out [1; u_t; x_t]
    ridge     (eq-esn-ridge)   W_out = Y^T Z (Z^T Z + lambda I)^-1,  Z rows [1; u_t; x_t]^T

W is rescaled to a chosen spectral radius rho(W) < 1 (eq-bptt-jacobian of the chapter shows
why): then the state forgets where it started and depends only on the recent inputs, the
echo state property. The first ``washout`` states, still marked by x_0, are left out of the
fit. ``generate`` runs the network closed-loop: each prediction is the next input.

NumPy, float64; time-major arrays (one long series), as in the lab's Mackey-Glass task.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from seqcourse._checks import check_int
from seqcourse.rnn import scale_to_spectral_radius

__all__ = ["EchoStateNetwork"]


def _number(value: Any, name: str, low: float, high: float, low_open: bool, rule: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number {rule}, got {type(value).__name__} {value!r}")
    value = float(value)
    above = value > low if low_open else value >= low
    if not (math.isfinite(value) and above and value <= high):
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return value


def _series(value: Any, name: str, width: int | None) -> np.ndarray:
    """A finite (T, width) float64 array; a (T,) array is one feature."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an array (T, features), got {type(value).__name__}"
        ) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name} must have shape (T, features) with T >= 1, got {arr.shape}")
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"{name} must have {width} features (shape (T, {width})), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite values, got NaN or inf")
    return arr


class EchoStateNetwork:
    """An echo state network with a dense random reservoir and a ridge-regression readout.

    input_size: D. reservoir_size: N. spectral_radius: rho(W) > 0, usually just below 1.
    input_scale: W_in is uniform in [-input_scale, input_scale] (bias column included).
    leak: a in (0, 1], eq. (eq-esn-state). ridge: lambda >= 0, eq. (eq-esn-ridge).
    seed: the weights are drawn from ``numpy.random.default_rng(seed)``.
    """

    def __init__(
        self,
        input_size: int,
        reservoir_size: int,
        spectral_radius: float = 0.9,
        input_scale: float = 1.0,
        leak: float = 1.0,
        ridge: float = 1e-6,
        seed: int = 0,
    ) -> None:
        self.input_size = D = check_int(input_size, "input_size")
        self.reservoir_size = N = check_int(reservoir_size, "reservoir_size")
        self.spectral_radius = _number(
            spectral_radius, "spectral_radius", 0.0, math.inf, True, "> 0"
        )
        self.input_scale = _number(input_scale, "input_scale", 0.0, math.inf, True, "> 0")
        self.leak = _number(leak, "leak", 0.0, 1.0, True, "in (0, 1]")
        self.ridge = _number(ridge, "ridge", 0.0, math.inf, False, ">= 0")
        rng = np.random.default_rng(seed)
        self.W_in = rng.uniform(-self.input_scale, self.input_scale, size=(N, 1 + D))  # (N, 1+D)
        W = rng.uniform(-1.0, 1.0, size=(N, N))
        self.W = scale_to_spectral_radius(W, self.spectral_radius)  # (N, N)
        self.W_out: np.ndarray | None = None  # (O, 1 + D + N) after fit

    def __repr__(self) -> str:
        return (
            f"EchoStateNetwork(input_size={self.input_size}, reservoir_size="
            f"{self.reservoir_size}, spectral_radius={self.spectral_radius}, leak={self.leak}, "
            f"ridge={self.ridge}, fitted={self.W_out is not None})"
        )

    def _run(self, u: np.ndarray, x: np.ndarray) -> np.ndarray:
        """States x_1..x_T (T, N) from x_0 = x, eq. (eq-esn-state); u (T, D) validated."""
        a = self.leak
        drive = self.W_in[:, 0] + u @ self.W_in[:, 1:].T  # (T, N): W_in [1; u_t] for every t
        out = np.empty((len(u), self.reservoir_size))
        for t in range(len(u)):
            x = (1.0 - a) * x + a * np.tanh(drive[t] + self.W @ x)
            out[t] = x
        return out

    def _check_washout(self, washout: Any, T: int) -> int:
        if isinstance(washout, bool) or not isinstance(washout, int | np.integer):
            raise TypeError(f"washout must be an int >= 0, got {type(washout).__name__}")
        if not 0 <= washout < T:
            raise ValueError(f"washout must be in [0, T) = [0, {T}), got {washout}")
        return int(washout)

    def states(self, u: Any, washout: int = 0) -> np.ndarray:
        """Reservoir states for input u (T, D) (or (T,) when D = 1), from x_0 = 0.

        Returns (T - washout, N): x_t for t = washout+1..T.
        """
        u = _series(u, "u", self.input_size)
        washout = self._check_washout(washout, len(u))
        return self._run(u, np.zeros(self.reservoir_size))[washout:]

    @staticmethod
    def _design(u: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.hstack([np.ones((len(u), 1)), u, x])  # (T, 1 + D + N): rows [1; u_t; x_t]

    def fit(self, u: Any, y: Any, washout: int = 100) -> EchoStateNetwork:
        """Fit the readout by ridge regression, eq. (eq-esn-ridge), on u (T, D), y (T, O).

        The first ``washout`` steps drive the reservoir but are not fitted. Returns self.
        """
        u = _series(u, "u", self.input_size)
        y = _series(y, "y", None)
        if len(y) != len(u):
            raise ValueError(f"y must have as many steps as u ({len(u)}), got {len(y)}")
        washout = self._check_washout(washout, len(u))
        Z = self._design(u, self._run(u, np.zeros(self.reservoir_size)))[washout:]
        Y = y[washout:]  # (T', O)
        # W_out^T minimises |Z W^T - Y|^2 + lambda |W|^2: the least-squares solution of Z
        # stacked on sqrt(lambda) I against Y stacked on zeros, whose normal equations are
        # eq. (eq-esn-ridge); solved without forming Z^T Z, which squares Z's condition
        M = Z.shape[1]  # 1 + D + N
        Z_aug = np.vstack([Z, math.sqrt(self.ridge) * np.eye(M)])
        Y_aug = np.vstack([Y, np.zeros((M, Y.shape[1]))])
        self.W_out = np.linalg.lstsq(Z_aug, Y_aug, rcond=None)[0].T  # (O, 1+D+N)
        return self

    def _check_fitted(self) -> np.ndarray:
        if self.W_out is None:
            raise ValueError("this EchoStateNetwork is not fitted yet: call fit(u, y) first")
        return self.W_out

    def predict(self, u: Any) -> np.ndarray:
        """Outputs y_t (T, O), eq. (eq-esn-readout), for input u (T, D) from x_0 = 0."""
        W_out = self._check_fitted()
        u = _series(u, "u", self.input_size)
        return self._design(u, self._run(u, np.zeros(self.reservoir_size))) @ W_out.T

    def generate(self, u_warmup: Any, n_steps: int) -> np.ndarray:
        """Closed loop: drive with u_warmup (T, D), then feed each output back as the input.

        Needs a readout trained for one-step-ahead prediction (y_t = u_{t+1}, so O = D).
        The first generated value is the prediction after the last warm-up input.
        Returns (n_steps, O).
        """
        W_out = self._check_fitted()
        if W_out.shape[0] != self.input_size:
            raise ValueError(
                f"generate needs output size == input_size ({self.input_size}) to feed outputs "
                f"back, got output size {W_out.shape[0]}"
            )
        u = _series(u_warmup, "u_warmup", self.input_size)
        if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 0:
            raise ValueError(f"n_steps must be an int >= 0, got {n_steps!r}")
        x = self._run(u, np.zeros(self.reservoir_size))[-1]
        y = self._design(u[-1:], x[None]) @ W_out.T  # (1, O): the prediction of u_{T+1}
        out = np.empty((int(n_steps), self.input_size))
        for k in range(int(n_steps)):
            out[k] = y[0]
            x = self._run(y, x)[-1]
            y = self._design(y, x[None]) @ W_out.T
        return out
