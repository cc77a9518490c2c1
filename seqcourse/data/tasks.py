"""Synthetic sequence tasks with known answers, for the recurrent networks of chapter 2.

Each task isolates one thing a recurrent network must do, so a learning curve says
which ability a model has:

    parity          y_t = x_1 xor ... xor x_t            memory of the whole past; no fixed
                                                          window of inputs solves it
    delayed_recall  y_t = s_{t-d}                         hold a symbol for d steps
    future_tagging  y_t = s_{t+k}                         needs the future: bidirectional
    mackey_glass    dx/dt = beta x(t-tau)/(1+x(t-tau)^n) - gamma x(t)
                                                          a chaotic series to predict
                                                          (echo state networks)

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same
data on every machine. Labels that are not defined (before the first delayed symbol, past
the end of the sequence) are -100, the ``ignore_index`` of ``F.cross_entropy`` and of
``seqcourse.train.sequence_cross_entropy``. Inputs are float32, labels int64 (long).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from seqcourse._checks import check_int

__all__ = ["IGNORE_INDEX", "delayed_recall", "future_tagging", "mackey_glass", "parity"]

IGNORE_INDEX = -100  # label of positions where the target is undefined


# ---------------------------------------------------------------------------- validation
def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return float(value)


def _symbols(n: int, T: int, n_symbols: int, seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """Random symbols s (n, T) in {0..n_symbols-1} and their one-hot codes (n, T, n_symbols)."""
    s = np.random.default_rng(seed).integers(0, n_symbols, size=(n, T))
    onehot = np.eye(n_symbols, dtype=np.float32)[s]
    return s, torch.from_numpy(onehot)


# ---------------------------------------------------------------------------- tasks
def parity(
    n: int, T: int, lag: int | None = None, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Running parity of random bits (chapter 2).

    x: (n, T, 1) float32 bits in {0, 1}; y: (n, T) int64 with
    y_t = x_1 xor x_2 xor ... xor x_t (= cumulative sum mod 2) when ``lag`` is None, or the
    parity of the last ``lag`` bits, y_t = x_{t-lag+1} xor ... xor x_t, when it is given
    (then y_t = -100 for the first lag - 1 steps, where fewer bits exist). The running
    parity flips with every 1, so no window of recent inputs predicts it: the state must
    carry one bit forever.
    """
    n, T = check_int(n, "n", 1), check_int(T, "T", 1)
    if lag is not None:
        lag = check_int(lag, "lag", 1)
        if lag > T:
            raise ValueError(f"lag must be in [1, T={T}] or None, got {lag}")
    bits = np.random.default_rng(seed).integers(0, 2, size=(n, T))
    csum = np.cumsum(bits, axis=1)
    if lag is None:
        y = csum % 2
    else:
        prefix = np.concatenate([np.zeros((n, 1), dtype=csum.dtype), csum], axis=1)  # (n, T+1)
        y = np.full((n, T), IGNORE_INDEX, dtype=np.int64)
        y[:, lag - 1 :] = (prefix[:, lag:] - prefix[:, : T + 1 - lag]) % 2
    x = torch.from_numpy(bits.astype(np.float32)[..., None])
    return x, torch.from_numpy(y.astype(np.int64))


def delayed_recall(
    n: int, T: int, delay: int, n_symbols: int = 4, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recall the symbol seen ``delay`` steps ago (chapter 2).

    x: (n, T, n_symbols) float32 one-hot symbols s_t; y: (n, T) int64 with
    y_t = s_{t-delay} for t >= delay and -100 before. delay in [0, T-1]; delay 0 is the
    identity. The model must hold each symbol for ``delay`` steps: the longer the delay,
    the further the gradient has to travel back (vanishing gradients).
    """
    n, T = check_int(n, "n", 1), check_int(T, "T", 1)
    delay = check_int(delay, "delay", 0)
    if delay >= T:
        raise ValueError(f"delay must be in [0, T-1] = [0, {T - 1}], got {delay}")
    n_symbols = check_int(n_symbols, "n_symbols", 2)
    s, x = _symbols(n, T, n_symbols, seed)
    y = np.full((n, T), IGNORE_INDEX, dtype=np.int64)
    y[:, delay:] = s[:, : T - delay]
    return x, torch.from_numpy(y)


def future_tagging(
    n: int, T: int, seed: int = 0, lookahead: int = 1, n_symbols: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tag each position with the symbol ``lookahead`` steps ahead (chapter 2).

    x: (n, T, n_symbols) float32 one-hot symbols s_t; y: (n, T) int64 with
    y_t = s_{t+lookahead} for t < T - lookahead and -100 after. lookahead in [1, T-1].
    A left-to-right network sees none of the answer when it must give it (chance accuracy
    1/n_symbols); a bidirectional one reads it from the backward pass.
    """
    n, T = check_int(n, "n", 1), check_int(T, "T", 2)
    lookahead = check_int(lookahead, "lookahead", 1)
    if lookahead >= T:
        raise ValueError(f"lookahead must be in [1, T-1] = [1, {T - 1}], got {lookahead}")
    n_symbols = check_int(n_symbols, "n_symbols", 2)
    s, x = _symbols(n, T, n_symbols, seed)
    y = np.full((n, T), IGNORE_INDEX, dtype=np.int64)
    y[:, : T - lookahead] = s[:, lookahead:]
    return x, torch.from_numpy(y)


def mackey_glass(
    T: int,
    tau: float = 17,
    seed: int = 0,
    dt: float = 1.0,
    subsample: int = 10,
    washout: int = 500,
) -> np.ndarray:
    """The Mackey-Glass delay differential equation, sampled every ``dt`` (chapter 2).

    dx/dt = beta x(t - tau) / (1 + x(t - tau)^10) - gamma x(t), beta = 0.2, gamma = 0.1:
    the standard benchmark of echo state networks, chaotic for tau >= 17 (periodic for
    small tau). Integrated by 4th-order Runge-Kutta with step h = dt / subsample (the
    delayed value at half steps linearly interpolated; tau / h rounded to whole steps),
    from a history x(t) = 1.2 + 0.2 u, u ~ U(-1/2, 1/2) drawn with ``seed``, then
    ``washout`` samples of transient dropped. Returns (T,) float64, within about [0.2, 1.4].
    """
    T = check_int(T, "T", 1)
    tau, dt = _positive(tau, "tau"), _positive(dt, "dt")
    subsample = check_int(subsample, "subsample", 1)
    washout = check_int(washout, "washout", 0)
    beta, gamma, power = 0.2, 0.1, 10
    h = dt / subsample
    lag = int(round(tau / h))
    if lag < 1:
        raise ValueError(f"tau must be at least one integration step dt/subsample = {h}, got {tau}")
    rng = np.random.default_rng(seed)
    hist = (1.2 + 0.2 * (rng.random(lag + 1) - 0.5)).tolist()  # x(-tau .. 0)

    def f(x: float, x_lag: float) -> float:
        return beta * x_lag / (1.0 + x_lag**power) - gamma * x

    n_steps = (T + washout) * subsample
    out = np.empty(T + washout)
    x = hist[-1]
    for i in range(n_steps):
        x_lag0 = hist[-lag - 1]  # x(t - tau)
        x_lag1 = hist[-lag]  # x(t - tau + h)
        x_half = 0.5 * (x_lag0 + x_lag1)
        k1 = f(x, x_lag0)
        k2 = f(x + 0.5 * h * k1, x_half)
        k3 = f(x + 0.5 * h * k2, x_half)
        k4 = f(x + h * k3, x_lag1)
        x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        hist.append(x)
        if len(hist) > 2 * (lag + 1):
            del hist[: lag + 1]
        if (i + 1) % subsample == 0:
            out[(i + 1) // subsample - 1] = x
    return out[washout:]
