"""Recurrent networks from scratch and backpropagation through time (chapter 2).

An Elman network reads x_1..x_T one step at a time and keeps a hidden state h_t, with
h_0 given (zeros by default) and f = tanh or relu:

    forward (eq-rnn-forward)   a_t = W_xh x_t + W_hh h_{t-1} + b_h,   h_t = f(a_t)

PyTorch splits the bias in two, b_h = b_ih + b_hh; ``ElmanRNN`` keeps that split so that
its parameters carry nn.RNN's names and shapes. Backpropagation through time runs the
recursion backwards with delta_t = dL/da_t and delta_{T+1} = 0, and sums the gradients of
the shared weights over time:

    BPTT      (eq-bptt-delta)  delta_t = (W_hh^T delta_{t+1} + dL_t/dh_t) ⊙ f'(a_t)
    gradients (eq-bptt-grads)  dL/dW_xh = sum_t delta_t x_t^T,  dL/dW_hh = sum_t delta_t h_{t-1}^T,
                               dL/db_h = sum_t delta_t,         dL/dh_0 = W_hh^T delta_1

How far a gradient travels is the norm of a product of Jacobians, which shrinks or grows
geometrically with the spectral radius of W_hh (vanishing and exploding gradients):

    Jacobian (eq-bptt-jacobian)  dh_T/dh_t = prod_{s=t+1..T} diag(f'(a_s)) W_hh

Two small variants: the Jordan network feeds its output back instead of its state, and
leaky-integrator units move only a fraction alpha towards the new value per step:

    Jordan   (eq-jordan)   h_t = tanh(W_xh x_t + W_yh y_{t-1} + b_h),   y_t = W_hy h_t + b_y
    leaky    (eq-leaky)    h_t = (1 - alpha) h_{t-1} + alpha tanh(W_xh x_t + W_hh h_{t-1} + b_h)

Contents: ``ElmanRNN`` (a from-scratch nn.RNN, equal to it to rounding), ``JordanRNN``,
``LeakyRNN``, the NumPy reference in the CS231n convention (``rnn_step_forward`` ...
``rnn_backward``, rows as samples: h = tanh(x @ Wx + h_prev @ Wh + b)), gradient-check
helpers, spectral tools, and ``CharRNN``, the character language model of the chapter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import (
    check_bool,
    check_int,
    check_sequence,
    check_state,
    check_temperature,
    initial_state,
)

__all__ = [
    "ElmanRNN",
    "JordanRNN",
    "LeakyRNN",
    "CharRNN",
    "elman_layer",
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "numerical_gradient",
    "rel_error",
    "spectral_radius",
    "scale_to_spectral_radius",
    "hidden_jacobian_norms",
]

_NONLINEARITIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
}


# ---------------------------------------------------------------------------- validation
def _check_nonlinearity(value: Any) -> str:
    if value not in _NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {value!r}")
    return value


# ------------------------------------------------------------------------ the Elman RNN
def elman_layer(
    x: torch.Tensor,
    h: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
    nonlinearity: str = "tanh",
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer, one direction of eq. (eq-rnn-forward), with f = tanh or relu:

        h_t = f(W_xh x_t + b_ih + W_hh h_{t-1} + b_hh)

    x: (B, T, D) inputs; h: (B, H) initial state; W_xh: (H, D); W_hh: (H, H); biases (H,)
    or None. ``reverse`` runs from t = T down to 1 (the backward half of a bidirectional
    layer). Returns (output (B, T, H) with output[:, t] = h_t, h_last (B, H)).
    """
    f = _NONLINEARITIES[nonlinearity]
    xw = F.linear(x, W_xh, b_ih)  # (B, T, H): W_xh x_t + b_ih for every t in one matmul
    # unbind gives the T slices (B, H) at once; indexing xw[:, t] in the loop would be as
    # correct, but the backward pass of each index writes a whole (B, T, H) zero tensor
    xw_steps = xw.unbind(dim=1)
    steps = range(len(xw_steps) - 1, -1, -1) if reverse else range(len(xw_steps))
    hs: list[torch.Tensor] = [h] * len(xw_steps)
    for t in steps:
        h = f(xw_steps[t] + F.linear(h, W_hh, b_hh))  # (B, H)
        hs[t] = h
    return torch.stack(hs, dim=1), h  # (B, T, H), (B, H)


class ElmanRNN(nn.Module):
    """A multi-layer Elman RNN written from eq. (eq-rnn-forward); a drop-in for nn.RNN.

    Same arguments, parameter names and shapes as ``torch.nn.RNN(batch_first=True)``:
    ``weight_ih_l{k}`` (H, D_in), ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (H,), with the suffix ``_reverse`` for the backward direction. D_in is
    input_size for layer 0 and num_directions * H above it: a bidirectional layer passes
    on both directions concatenated. Layers are computed one after the other, each with
    ``elman_layer``; outputs, final states and gradients equal nn.RNN's to rounding.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bidirectional: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = H = check_int(hidden_size, "hidden_size")
        self.num_layers = check_int(num_layers, "num_layers")
        self.nonlinearity = _check_nonlinearity(nonlinearity)
        self.bidirectional = check_bool(bidirectional, "bidirectional")
        self.bias = check_bool(bias, "bias")
        self.num_directions = 2 if bidirectional else 1
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else self.num_directions * H
            for suffix in ("", "_reverse")[: self.num_directions]:
                self.register_parameter(
                    f"weight_ih_l{layer}{suffix}", nn.Parameter(torch.empty(H, d_in))
                )
                self.register_parameter(
                    f"weight_hh_l{layer}{suffix}", nn.Parameter(torch.empty(H, H))
                )
                for kind in ("ih", "hh"):
                    param = nn.Parameter(torch.empty(H)) if bias else None
                    self.register_parameter(f"bias_{kind}_l{layer}{suffix}", param)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.RNN's initialisation: every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)]."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    def _layer_params(self, layer: int, direction: int) -> list[torch.Tensor | None]:
        suffix = "_reverse" if direction == 1 else ""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return [getattr(self, f"{name}_l{layer}{suffix}") for name in names]

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, input_size); h0: (num_layers * num_directions, B, H) or None (zeros).

        Returns (output (B, T, num_directions * H), the last layer's h_t for every t;
        h_n (num_layers * num_directions, B, H), every layer's and direction's final state,
        index layer * num_directions + direction, as nn.RNN).
        """
        B, _ = check_sequence(x, self.input_size, self.weight_ih_l0)
        n_states = self.num_layers * self.num_directions
        if h0 is None:
            h0 = x.new_zeros(n_states, B, self.hidden_size)
        else:
            check_state(h0, (n_states, B, self.hidden_size), self.weight_ih_l0, "h0")
        layer_input, h_n = x, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                params = self._layer_params(layer, direction)
                out, h_last = elman_layer(
                    layer_input, h0[k], *params, self.nonlinearity, reverse=direction == 1
                )
                outputs.append(out)  # (B, T, H)
                h_n.append(h_last)  # (B, H)
            layer_input = torch.cat(outputs, dim=-1)  # (B, T, num_directions * H)
        return layer_input, torch.stack(h_n)

    @classmethod
    def from_torch(cls, module: nn.RNN) -> ElmanRNN:
        """An ElmanRNN holding a copy of ``module``'s weights, on its device, in its dtype.

        ``module`` must be batch_first. Its dropout between layers (training mode only) is
        not reproduced: with dropout > 0 the two agree in eval mode.
        """
        if not isinstance(module, nn.RNN):
            raise TypeError(f"module must be a torch.nn.RNN, got {type(module).__name__}")
        if not module.batch_first:
            raise ValueError("module must be built with batch_first=True, got batch_first=False")
        new = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.nonlinearity,
            module.bidirectional,
            module.bias,
        )
        first = next(module.parameters())
        new = new.to(device=first.device, dtype=first.dtype)
        new.load_state_dict(module.state_dict())
        return new

    def to_torch(self) -> nn.RNN:
        """The nn.RNN(batch_first=True) with a copy of these weights (device and dtype kept)."""
        first = self.weight_ih_l0
        module = nn.RNN(
            self.input_size,
            self.hidden_size,
            self.num_layers,
            nonlinearity=self.nonlinearity,
            bias=self.bias,
            batch_first=True,
            bidirectional=self.bidirectional,
            device=first.device,
            dtype=first.dtype,
        )
        module.load_state_dict(self.state_dict())
        return module

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"nonlinearity={self.nonlinearity!r}, bidirectional={self.bidirectional}, "
            f"bias={self.bias}"
        )


# ------------------------------------------------------------------------------ variants
class JordanRNN(nn.Module):
    """A Jordan network, eq. (eq-jordan): the previous output, not the state, is fed back.

    h_t = tanh(W_xh x_t + W_yh y_{t-1} + b_h), y_t = W_hy h_t + b_y, with y_0 given (zeros
    by default). y_t is whatever the network outputs (values or logits); the recurrence
    runs through the O outputs only, so the network remembers only what it has said.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.output_size = check_int(output_size, "output_size")
        self.xh = nn.Linear(self.input_size, self.hidden_size)  # W_xh, b_h
        self.yh = nn.Linear(self.output_size, self.hidden_size, bias=False)  # W_yh
        self.hy = nn.Linear(self.hidden_size, self.output_size)  # W_hy, b_y

    def forward(
        self, x: torch.Tensor, y0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, input_size); y0: (B, output_size) or None (zeros).

        Returns (outputs (B, T, O) with outputs[:, t] = y_t, y_T (B, O)).
        """
        B, _ = check_sequence(x, self.input_size, self.xh.weight)
        if y0 is None:
            y = x.new_zeros(B, self.output_size)
        else:
            check_state(y0, (B, self.output_size), self.xh.weight, "y0")
            y = y0
        ys = []
        for xw_t in self.xh(x).unbind(dim=1):  # W_xh x_t + b_h, (B, H) each
            h = torch.tanh(xw_t + self.yh(y))  # (B, H)
            y = self.hy(h)  # (B, O)
            ys.append(y)
        return torch.stack(ys, dim=1), y


class LeakyRNN(nn.Module):
    """Leaky-integrator units, eq. (eq-leaky): each step moves a fraction alpha of the way.

    h_t = (1 - alpha) h_{t-1} + alpha tanh(W_xh x_t + W_hh h_{t-1} + b_h), alpha in (0, 1]
    a fixed float. A small alpha makes a slow unit, whose state averages its inputs over
    about 1/alpha steps; alpha = 1 is the Elman RNN. The parameters carry nn.RNN's names
    (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``), so the state dict
    of a one-layer ``ElmanRNN`` loads into it.
    """

    def __init__(self, input_size: int, hidden_size: int, alpha: float = 0.5) -> None:
        super().__init__()
        self.input_size = D = check_int(input_size, "input_size")
        self.hidden_size = H = check_int(hidden_size, "hidden_size")
        if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.floating):
            raise TypeError(f"alpha must be a float in (0, 1], got {type(alpha).__name__}")
        if not (math.isfinite(alpha) and 0.0 < alpha <= 1.0):
            raise ValueError(f"alpha must be a float in (0, 1], got {alpha!r}")
        self.alpha = float(alpha)
        self.weight_ih_l0 = nn.Parameter(torch.empty(H, D))
        self.weight_hh_l0 = nn.Parameter(torch.empty(H, H))
        self.bias_ih_l0 = nn.Parameter(torch.empty(H))
        self.bias_hh_l0 = nn.Parameter(torch.empty(H))
        bound = 1.0 / math.sqrt(H)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, input_size); h0: (1, B, H) or None (zeros).

        Returns (output (B, T, H) with output[:, t] = h_t, h_T (1, B, H)).
        """
        B, _ = check_sequence(x, self.input_size, self.weight_ih_l0)
        h = initial_state(h0, x, self.hidden_size, self.weight_ih_l0)
        xw = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)  # (B, T, H)
        hs = []
        for xw_t in xw.unbind(dim=1):
            target = torch.tanh(xw_t + F.linear(h, self.weight_hh_l0, self.bias_hh_l0))
            h = (1.0 - self.alpha) * h + self.alpha * target  # (B, H)
            hs.append(h)
        return torch.stack(hs, dim=1), h[None]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, alpha={self.alpha}"


# ---------------------------------------------------- NumPy reference (CS231n convention)
# Letters: N sequences, T steps, D input features, H hidden units. Rows are samples, so the
# weights act from the right: Wx (D, H) is W_xh^T and Wh (H, H) is W_hh^T.
def rnn_step_forward(
    x: np.ndarray, h_prev: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """One tanh step, eq. (eq-rnn-forward): h_next = tanh(x @ Wx + h_prev @ Wh + b).

    x: (N, D), h_prev: (N, H), Wx: (D, H), Wh: (H, H), b: (H,).
    Returns (h_next (N, H), cache for ``rnn_step_backward``).
    """
    h_next = np.tanh(x @ Wx + h_prev @ Wh + b)  # (N, H)
    return h_next, (x, h_prev, Wx, Wh, h_next)  # tanh'(a) = 1 - h_next**2: a is not kept


def rnn_step_backward(
    dh_next: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of one step, given dh_next = dL/dh_next (N, H) (all of it, see rnn_backward).

    delta = dL/da = dh_next ⊙ (1 - h_next^2) (eq-bptt-delta). Returns (dx (N, D),
    dh_prev (N, H), dWx (D, H), dWh (H, H), db (H,)).
    """
    x, h_prev, Wx, Wh, h_next = cache
    delta = dh_next * (1.0 - h_next**2)  # (N, H)
    return delta @ Wx.T, delta @ Wh.T, x.T @ delta, h_prev.T @ delta, delta.sum(axis=0)


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, list]:
    """A whole sequence: x (N, T, D), h0 (N, H) -> (h (N, T, H) with h[:, t] = h_t, cache)."""
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx))
    caches = []
    h_prev = h0
    for t in range(T):
        h_prev, step_cache = rnn_step_forward(x[:, t], h_prev, Wx, Wh, b)
        h[:, t] = h_prev
        caches.append(step_cache)
    return h, caches


def rnn_backward(
    dh: np.ndarray, cache: list
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagation through time, eqs. (eq-bptt-delta) and (eq-bptt-grads).

    dh: (N, T, H), dh[:, t] = dL_t/dh_t, the gradient from above at step t only. Going
    backwards, the gradient reaching h_t is dh[:, t] plus what came back through h_{t+1}
    (W_hh^T delta_{t+1}); the shared weights' gradients are summed over time.
    Returns (dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,)).
    """
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.empty((N, T, D), dtype=dh.dtype)
    dWx, dWh, db = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dh_prev = np.zeros((N, H))  # through h_{t+1}: nothing after the last step
    for t in range(T - 1, -1, -1):
        dx[:, t], dh_prev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dh_prev, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dh_prev, dWx, dWh, db


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6):
    """Central differences of a scalar function: g_i = (f(x + eps e_i) - f(x - eps e_i)) / 2 eps.

    ``f`` is called with ``x`` itself, changed in place one entry at a time and restored
    afterwards, so it may read x through a closure too. x: a float64 array. Returns an
    array shaped like x. With eps = 1e-6 in float64 the error is about 1e-10 relative.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"x must be a float64 numpy array (changed in place), got {got}")
    if not (isinstance(eps, int | float) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = float(f(x))
        x[i] = old - eps
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def rel_error(a: Any, b: Any) -> float:
    """The largest elementwise relative error max |a - b| / max(1e-8, |a| + |b|) (CS231n)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


# ---------------------------------------------------------- spectra and gradient flow
def _as_square(W: Any, name: str = "W") -> np.ndarray:
    arr = W.detach().cpu().double().numpy() if isinstance(W, torch.Tensor) else np.asarray(W)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix (H, H), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite numbers, got NaN, inf or non-numbers")
    return arr.astype(np.float64)


def spectral_radius(W: np.ndarray | torch.Tensor) -> float:
    """rho(W) = max |lambda_i(W)|, the largest eigenvalue magnitude of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(_as_square(W)))))


def scale_to_spectral_radius(W: np.ndarray | torch.Tensor, rho: float) -> Any:
    """W * rho / rho(W): the same matrix (same type) rescaled to spectral radius ``rho``."""
    if not (isinstance(rho, int | float | np.floating) and math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a finite number > 0, got {rho!r}")
    current = spectral_radius(W)
    if current == 0.0:
        raise ValueError("W has spectral radius 0 (nilpotent or zero), it cannot be rescaled")
    return W * (float(rho) / current)


def hidden_jacobian_norms(
    W_hh: Any,
    W_xh: Any,
    b: Any,
    xs: Any,
    h0: Any = None,
    nonlinearity: str = "tanh",
) -> np.ndarray:
    """||dh_T/dh_t||_2 for t = 0..T-1 along one sequence, eq. (eq-bptt-jacobian).

    W_hh: (H, H), W_xh: (H, D), b: (H,) or None, xs: (T, D) one sequence, h0: (H,) or None
    (zeros); numpy arrays or tensors, computed in float64. The forward pass gives
    a_s = W_xh x_s + W_hh h_{s-1} + b; then, from s = T down, the product of D_s W_hh with
    D_s = diag(f'(a_s)) is accumulated. Returns an array (T,), entry t = ||dh_T/dh_t||_2
    (spectral norm), so entry 0 is the effect of the initial state.
    """
    nonlinearity = _check_nonlinearity(nonlinearity)

    def as_array(value: Any) -> np.ndarray:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().numpy()
        return np.asarray(value, dtype=np.float64)

    W = _as_square(W_hh, "W_hh")
    H = W.shape[0]
    U, xs = as_array(W_xh), as_array(xs)
    if xs.ndim != 2 or U.shape != (H, xs.shape[1]):
        raise ValueError(
            f"xs must be (T, D) and W_xh (H, D) = ({H}, D), got {xs.shape} and {U.shape}"
        )
    bias = np.zeros(H) if b is None else as_array(b)
    h = np.zeros(H) if h0 is None else as_array(h0)
    if bias.shape != (H,) or h.shape != (H,):
        raise ValueError(f"b and h0 must have shape ({H},), got {bias.shape} and {h.shape}")
    derivs = []  # f'(a_s) for s = 1..T
    for x in xs:
        a = U @ x + W @ h + bias
        h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)
        derivs.append(1.0 - h**2 if nonlinearity == "tanh" else (a > 0).astype(np.float64))
    T = len(derivs)
    norms = np.empty(T)
    J = np.eye(H)  # dh_T/dh_s, from s = T down
    for s in range(T, 0, -1):
        J = J @ (derivs[s - 1][:, None] * W)  # dh_T/dh_{s-1} = dh_T/dh_s D_s W_hh
        norms[s - 1] = np.linalg.norm(J, 2)
    return norms


# ---------------------------------------------------------- character language model
class CharRNN(nn.Module):
    """A character language model: embedding (V -> E), recurrent layer(s), linear head (H -> V).

    ``use_torch=False`` runs the from-scratch ``ElmanRNN``; ``use_torch=True`` runs
    torch.nn.RNN, several times faster on GPU. The parameter names are the same
    (``embed.weight``, ``rnn.weight_ih_l0``, ..., ``head.weight``), so a state dict moves
    between the two: verify equality with the scratch layer, then train with nn.RNN.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int = 32,
        hidden_size: int = 128,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        use_torch: bool = False,
    ) -> None:
        super().__init__()
        self.vocab_size = V = check_int(vocab_size, "vocab_size")
        E, H = check_int(embed_size, "embed_size"), check_int(hidden_size, "hidden_size")
        L = check_int(num_layers, "num_layers")
        _check_nonlinearity(nonlinearity)
        if not isinstance(use_torch, bool):
            raise TypeError(f"use_torch must be a bool, got {type(use_torch).__name__}")
        self.use_torch = use_torch
        self.embed = nn.Embedding(V, E)
        if use_torch:
            self.rnn: nn.Module = nn.RNN(E, H, L, nonlinearity=nonlinearity, batch_first=True)
        else:
            self.rnn = ElmanRNN(E, H, L, nonlinearity=nonlinearity)
        self.head = nn.Linear(H, V)  # W_hz, b_z

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T) character ids; state: (num_layers, B, H) or None (zeros).

        Returns (logits (B, T, V): s_t, the scores of the character after x_t; state
        (num_layers, B, H) to pass to the next call, for text longer than one window).
        """
        if not isinstance(x, torch.Tensor) or x.dtype not in (torch.int64, torch.int32):
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(f"x must be an integer tensor (B, T) of character ids, got {got}")
        if x.dim() != 2:
            raise ValueError(f"x must have shape (B, T), got shape {tuple(x.shape)}")
        if x.numel() and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ValueError(
                f"x must hold ids in [0, {self.vocab_size}), got {int(x.min())}..{int(x.max())}"
            )
        out, state = self.rnn(self.embed(x), state)  # (B, T, H), (L, B, H)
        return self.head(out), state

    @torch.no_grad()
    def sample(
        self,
        vocab: Any,
        n: int,
        prompt: str = "",
        temperature: float = 1.0,
        seed: int | None = None,
        device: torch.device | str | None = None,
    ) -> str:
        """Draw ``n`` characters after ``prompt`` (returned without the prompt).

        vocab: the ``CharVocab`` the model was trained with (len(vocab) == vocab_size).
        An empty prompt starts from a newline (or the first character if the alphabet has
        no newline). temperature divides the logits: < 1 sharpens, > 1 flattens. The
        draws use a CPU generator seeded with ``seed``, so a seed gives the same text on
        any device. device: where the model runs (default: its parameters' device).
        """
        if len(vocab) != self.vocab_size:
            raise ValueError(
                f"vocab must have vocab_size = {self.vocab_size} characters, got {len(vocab)}"
            )
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        temperature = check_temperature(temperature)
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
        start = prompt or ("\n" if "\n" in vocab else vocab.chars[0])
        ids = vocab.encode(start)  # unknown characters raise here
        device = torch.device(device) if device is not None else self.head.weight.device
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        was_training = self.training
        self.eval()
        try:
            logits, state = self(torch.as_tensor(ids, device=device)[None])
            out = []
            for _ in range(int(n)):
                probs = torch.softmax(logits[0, -1].double().cpu() / temperature, dim=-1)
                nxt = int(torch.multinomial(probs, 1, generator=generator))
                out.append(nxt)
                logits, state = self(torch.tensor([[nxt]], device=device), state)
        finally:
            self.train(was_training)
        return vocab.decode(out)
