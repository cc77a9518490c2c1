"""Synthetic sequence tasks with known answers, for the recurrent networks of chapters 2 and 4.

Each task isolates one thing a recurrent network must do, so a learning curve says
which ability a model has:

    parity          y_t = x_1 xor ... xor x_t            memory of the whole past; no fixed
                                                          window of inputs solves it
    delayed_recall  y_t = s_{t-d}                         hold a symbol for d steps
    future_tagging  y_t = s_{t+k}                         needs the future: bidirectional
    mackey_glass    dx/dt = beta x(t-tau)/(1+x(t-tau)^n) - gamma x(t)
                                                          a chaotic series to predict
                                                          (echo state networks)
    adding          y = sum of the two marked numbers     two values from far apart, one
                                                          answer at the end (chapter 4)
    temporal_order  y = the order of X/Y at two early     information at the start, the
                    positions among distractors           question at the end (chapter 4)
    copy_task       T random bit vectors, a delimiter,    store a whole sequence, replay it
                    then the same T vectors again         in order (chapter 7, memory)

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same
data on every machine. Labels that are not defined (before the first delayed symbol, past
the end of the sequence) are -100, the ``ignore_index`` of ``F.cross_entropy`` and of
``seqcourse.train.sequence_cross_entropy``. Inputs are float32, labels int64 (long).
"""

from __future__ import annotations

import numpy as np
import torch

from seqcourse._checks import check_int, check_positive

__all__ = [
    "IGNORE_INDEX",
    "TEMPORAL_ORDER_SYMBOLS",
    "adding",
    "copy_task",
    "delayed_recall",
    "future_tagging",
    "mackey_glass",
    "parity",
    "temporal_order",
]

IGNORE_INDEX = -100  # label of positions where the target is undefined


# ---------------------------------------------------------------------------- validation
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
    tau, dt = check_positive(tau, "tau"), check_positive(dt, "dt")
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


# ------------------------------------------------------------------ long-lag tasks (ch. 4)
def adding(n: int, T: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015).

    x: (n, T, 2) float32: channel 0 holds numbers drawn uniformly from [0, 1), channel 1
    marks two of them with a 1 (one in the first half, t < T // 2, one in the second);
    y: (n,) float32, the sum of the two marked numbers. T >= 2. Predicting the mean, 1,
    always gives a mean squared error of 1/6 (the variance of a sum of two uniforms): a
    model below that has learned to carry a marked value across up to T - 1 steps.
    """
    n, T = check_int(n, "n", 1), check_int(T, "T", 2)
    rng = np.random.default_rng(seed)
    values = rng.random((n, T))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    marks = np.zeros((n, T))
    rows = np.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = np.stack([values, marks], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


TEMPORAL_ORDER_SYMBOLS = ("a", "b", "c", "d", "X", "Y", "B", "E")  # one-hot channel order


def temporal_order(n: int, T: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The temporal order problem (Hochreiter & Schmidhuber 1997, experiment 6a).

    A sequence starts with B, ends with E, and is filled with distractors drawn from
    {a, b, c, d}, except at two positions t_1 in [T/10, 2T/10) and t_2 in [5T/10, 6T/10)
    (rounded down, each range at least one step), which hold X or Y. The class is the
    order of the two: 0 = XX, 1 = XY, 2 = YX, 3 = YY. x: (n, T, 8) float32 one-hot over
    ``TEMPORAL_ORDER_SYMBOLS``; y: (n,) int64. T >= 10. Chance accuracy is 1/4; the answer
    is due at the end, 0.4 T or more steps after the last relevant symbol.
    """
    n, T = check_int(n, "n", 1), check_int(T, "T", 10)
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 4, size=(n, T))  # distractors a..d
    s[:, 0], s[:, -1] = 6, 7  # B ... E
    rows = np.arange(n)
    t1 = rng.integers(T // 10, max(2 * T // 10, T // 10 + 1), size=n)
    t2 = rng.integers(5 * T // 10, max(6 * T // 10, 5 * T // 10 + 1), size=n)
    first, second = rng.integers(0, 2, size=n), rng.integers(0, 2, size=n)  # 0 = X, 1 = Y
    s[rows, t1] = 4 + first
    s[rows, t2] = 4 + second
    x = np.eye(len(TEMPORAL_ORDER_SYMBOLS), dtype=np.float32)[s]
    y = (2 * first + second).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def copy_task(n: int, T: int, bits: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The copy task of Graves et al. (2014): see T random bit vectors, then write them out.

    x: (n, 2T + 1, bits + 1) float32. Steps 0..T-1 hold the vectors (channel ``bits`` is 0),
    step T the delimiter (only channel ``bits`` is 1), steps T+1..2T are blank: the model
    answers there. y: (n, T, bits) float32 in {0, 1}, the vectors to reproduce at steps
    T+1..2T, y[:, t] = x[:, t, :bits]. Scored per bit (chance 1/2) or per sequence.
    """
    n, T, bits = check_int(n, "n", 1), check_int(T, "T", 1), check_int(bits, "bits", 1)
    y = np.random.default_rng(seed).integers(0, 2, size=(n, T, bits)).astype(np.float32)
    x = np.zeros((n, 2 * T + 1, bits + 1), dtype=np.float32)
    x[:, :T, :bits] = y
    x[:, T, bits] = 1.0
    return torch.from_numpy(x), torch.from_numpy(y)
