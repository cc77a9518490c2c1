"""Real-time recurrent learning: gradients carried forward in time (chapter 3).

The network is the single-layer tanh Elman network of chapter 2 with a linear readout,

    a_t = W_xh x_t + W_hh h_{t-1} + b,   h_t = tanh(a_t),   y_t = W_hy h_t + b_y,

with theta = (W_xh (H, D), W_hh (H, H), b (H,)) its recurrent parameters, flattened in that
order into n = H*D + H*H + H numbers (b = b_ih + b_hh, nn.RNN's two biases, each of which
gets the gradient of b). The loss is a sum over time, L = sum_t L_t(y_t). Instead of
unrolling backwards (BPTT), RTRL (Williams & Zipser, 1989) carries the sensitivity
P_t = dh_t/dtheta, an (H, n) matrix per sequence, forward with the state:

    sensitivity (eq-rtrl-sensitivity)  P_t = D_t (W_hh P_{t-1} + da_t/dtheta),  P_0 = 0,
                                       D_t = diag(f'(a_t)) = diag(1 - h_t^2)
    gradient    (eq-rtrl-gradient)     dL/dtheta = sum_t (dL_t/dh_t) P_t

where da_t/dtheta holds the immediate dependence: d a_k / d W_ij = delta_ki z_j with z_t the
input x_t (for W_xh), h_{t-1} (for W_hh) or 1 (for b). The readout (W_hy, b_y) is not
recurrent, so its gradient is the ordinary immediate one, dL_t/dW_hy = (dL_t/dy_t) h_t^T.
Every term is available at step t, so the weights can be updated at every step of an
endless stream (online learning), with no stored history.

Williams & Zipser write the same recursion unit by unit for a fully recurrent net whose
unit k sees z(t) = [x(t); h(t); 1] (inputs, previous state and a constant for the bias),
with p^k_ij = dh_k / dw_ij for the weight w_ij from z_j to unit i:

    unit-wise (eq-rtrl-unitwise)
        p^k_ij(t+1) = f'(a_k(t+1)) [sum_l w_kl p^l_ij(t) + delta_ik z_j(t)]

(sum over the recurrent units l; p^k_ij(0) = 0). ``williams_zipser`` computes it with plain
loops, the readable reference; ``ExactRTRL`` is the matrix form, equal to it to rounding.

Exact RTRL is expensive: P has H * n = O(H^3) entries per sequence and W_hh P costs
O(H^2 n) = O(H^4) per step, against O(H^2) per step and O(T H) memory for the states that
BPTT over T steps keeps (O(T H^2) if it also keeps the per-step Jacobians). Two
approximations make it affordable:

    SnAp-1 (eq-snap1)  J_t[k, :] = f'(a_k) (w_kk J_{t-1}[k, :] + z_t)     (Menick et al., 2021)

keeps only the entries of P that are non-zero after one step, p^k_ij with i = k: row k of
(W_xh | W_hh | b) only reaches unit k in one step. It is P with the off-diagonal of W_hh
dropped from the recursion (exact when W_hh is diagonal, biased otherwise). Cost per step
O(H (D + H)) = O(n) time and memory, i.e. O(H^2) for a dense net, as much as the forward
step; the gradient is dL/dW[k, :] ~ sum_t (dL_t/dh_t)_k J_t[k, :].

    UORO (eq-uoro)  h~_t = rho0 D_t W_hh h~_{t-1} + rho1 nu_t,                (Tallec & Ollivier,
                    th~_t = th~_{t-1} / rho0 + (nu_t^T D_t da_t/dtheta) / rho1        2017)

keeps a rank-one estimate P_t ~ h~_t th~_t^T (h~: H numbers, th~: n numbers) with random
signs nu_t in {-1, +1}^H; E[nu nu^T] = I makes the estimate unbiased, E[h~ th~^T] = P_t,
and rho0 = sqrt(|th~| / |D W_hh h~|), rho1 = sqrt(|nu^T D da/dtheta| / |nu|) balance the
two factors to reduce the variance. Cost per step O(H^2 + H D) = O(n) time and O(n)
memory; the gradient estimate (dL_t/dh_t . h~_t) th~_t is unbiased but noisy.

Contents: ``OnlineElman`` (ElmanRNN + readout; its forward works with ``train_tbptt``),
the sensitivity trackers ``ExactRTRL``, ``SnAp1``, ``UORO``, ``williams_zipser`` and
``pack_unitwise``, ``rtrl_gradients`` / ``bptt_gradients`` (one sequence, fixed weights)
and ``OnlineLearner`` (one update per step, by RTRL, SnAp-1, UORO or truncated BPTT).
Shapes: B sequences, T steps, D inputs, H hidden units, O outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from seqcourse._checks import check_choice, check_int, check_positive, check_sequence
from seqcourse.rnn import ElmanRNN
from seqcourse.train import History, clip_grad_norm

__all__ = [
    "METHODS",
    "DEFAULT_MAX_BYTES",
    "OnlineElman",
    "ExactRTRL",
    "SnAp1",
    "UORO",
    "williams_zipser",
    "pack_unitwise",
    "step_loss",
    "rtrl_gradients",
    "bptt_gradients",
    "OnlineLearner",
    "cosine_similarity",
]

METHODS = ("rtrl", "snap1", "uoro", "tbptt")
DEFAULT_MAX_BYTES = 2 * 1024**3  # cap on exact RTRL's sensitivity tensor P: 2 GiB
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------- the model
class OnlineElman(nn.Module):
    """A one-layer tanh Elman network with a linear readout, y_t = W_hy h_t + b_y.

    ``rnn`` is a chapter-2 ``ElmanRNN`` (nn.RNN's parameter names: rnn.weight_ih_l0 (H, D),
    rnn.weight_hh_l0 (H, H), rnn.bias_ih_l0, rnn.bias_hh_l0 (H,)); ``readout`` an
    nn.Linear(H, O). forward(x (B, T, D), h0 (1, B, H) or None) -> (y (B, T, O),
    h_n (1, B, H)), the ``model(x, state)`` convention of ``train_tbptt``.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.rnn = ElmanRNN(input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, check_int(output_size, "output_size"))

    @property
    def input_size(self) -> int:
        return self.rnn.input_size

    @property
    def hidden_size(self) -> int:
        return self.rnn.hidden_size

    def cell(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step: x (B, D), h_{t-1} (B, H) -> h_t = tanh(W_xh x + W_hh h + b) (B, H)."""
        r = self.rnn
        return torch.tanh(
            F.linear(x, r.weight_ih_l0, r.bias_ih_l0) + F.linear(h, r.weight_hh_l0, r.bias_hh_l0)
        )

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out, h_n = self.rnn(x, h0)  # (B, T, H), (1, B, H)
        return self.readout(out), h_n


def _check_model(model: Any) -> OnlineElman:
    if not isinstance(model, OnlineElman):
        raise TypeError(f"model must be a seqcourse.rtrl.OnlineElman, got {type(model).__name__}")
    return model


def _weights(model: OnlineElman) -> tuple[torch.Tensor, torch.Tensor]:
    """W_hh (H, H) and the bias b = b_ih + b_hh (H,), detached."""
    r = model.rnn
    return r.weight_hh_l0.detach(), (r.bias_ih_l0 + r.bias_hh_l0).detach()


def _n_params(H: int, D: int) -> int:
    return H * D + H * H + H


# ---------------------------------------------------------------------------- trackers
class ExactRTRL:
    """Exact RTRL, eq. (eq-rtrl-sensitivity) and (eq-rtrl-gradient), batched over sequences.

    P: (B, H, n), n = H*D + H*H + H, columns ordered vec(W_xh) (row-major), vec(W_hh), b.
    Per step O(H^2 n) = O(H^4) time (the product W_hh P) and O(H n) = O(H^3) memory per
    sequence. Raises ValueError when P would need more than ``max_bytes``.
    """

    def __init__(
        self,
        batch: int,
        hidden_size: int,
        input_size: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        B, H, D = (
            check_int(v, n)
            for v, n in ((batch, "batch"), (hidden_size, "hidden_size"), (input_size, "input_size"))
        )
        n = _n_params(H, D)
        need = B * H * n * torch.empty((), dtype=dtype).element_size()
        if need > max_bytes:
            raise ValueError(
                f"hidden_size={H} is too large for exact RTRL: P holds batch * H * "
                f"(H*D + H*H + H) = {B} * {H} * {n} = {B * H * n:,} entries = {need:,} bytes "
                f"({need / 1024**3:.2f} GiB) > max_bytes = {max_bytes:,} "
                f"({max_bytes / 1024**3:.2f} GiB); use a smaller hidden_size or batch, "
                "method 'snap1' or 'uoro', or raise max_bytes"
            )
        self.H, self.D = H, D
        self.P = torch.zeros(B, H, n, dtype=dtype, device=device)

    def update(
        self, x: torch.Tensor, h_prev: torch.Tensor, h: torch.Tensor, W_hh: torch.Tensor
    ) -> None:
        """x (B, D), h_prev (B, H), h = h_t (B, H), W_hh (H, H): P_{t-1} -> P_t."""
        B, H, D = h.shape[0], self.H, self.D
        P = torch.einsum("kl,bln->bkn", W_hh, self.P)  # W_hh P_{t-1}, (B, H, n)
        # + da_t/dtheta: d a_k / d W[k, j] = z_j, the "diagonal" k = i of each block
        P[:, :, : H * D].view(B, H, H, D).diagonal(dim1=1, dim2=2).add_(x[:, :, None])
        P[:, :, H * D : H * D + H * H].view(B, H, H, H).diagonal(dim1=1, dim2=2).add_(
            h_prev[:, :, None]
        )
        P[:, :, H * D + H * H :].diagonal(dim1=1, dim2=2).add_(1.0)
        self.P = P * (1.0 - h * h)[:, :, None]  # D_t, tanh' = 1 - h^2

    def grad(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """c = dL_t/dh_t (B, H) -> (dW_xh (H, D), dW_hh (H, H), db (H,)), summed over B."""
        H, D = self.H, self.D
        g = torch.einsum("bk,bkn->n", c, self.P)
        return g[: H * D].view(H, D), g[H * D : H * D + H * H].view(H, H), g[H * D + H * H :]


class SnAp1:
    """SnAp-1, eq. (eq-snap1): J (B, H, D + H + 1), J[:, k] ~ dh_k/d(row k of [W_xh|W_hh|b]).

    O(H (D + H)) time and memory per step and sequence (O(H^2) on a dense net).
    """

    def __init__(
        self, batch: int, hidden_size: int, input_size: int, *, dtype=torch.float32, device=None
    ) -> None:
        self.H, self.D = hidden_size, input_size
        self.J = torch.zeros(
            batch, hidden_size, input_size + hidden_size + 1, dtype=dtype, device=device
        )

    def update(
        self, x: torch.Tensor, h_prev: torch.Tensor, h: torch.Tensor, W_hh: torch.Tensor
    ) -> None:
        z = torch.cat([x, h_prev, x.new_ones(x.shape[0], 1)], dim=1)  # (B, D + H + 1)
        self.J = (1.0 - h * h)[:, :, None] * (
            W_hh.diagonal()[None, :, None] * self.J + z[:, None, :]
        )

    def grad(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        G = torch.einsum("bk,bkj->kj", c, self.J)  # (H, D + H + 1)
        return G[:, : self.D], G[:, self.D : self.D + self.H], G[:, -1]


class UORO:
    """UORO, eq. (eq-uoro): P_t ~ h~ th~^T per sequence, h~ (B, H), th~ (B, n); unbiased.

    O(H^2 + H D) time and O(n) memory per step and sequence. ``generator`` draws the signs.
    """

    EPS = 1e-7  # keeps rho0, rho1 finite when a factor is zero (at t = 1)

    def __init__(
        self,
        batch: int,
        hidden_size: int,
        input_size: int,
        *,
        dtype=torch.float32,
        device=None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.H, self.D = hidden_size, input_size
        self.h_tilde = torch.zeros(batch, hidden_size, dtype=dtype, device=device)
        self.theta_tilde = torch.zeros(
            batch, _n_params(hidden_size, input_size), dtype=dtype, device=device
        )
        self.generator = generator

    def update(
        self, x: torch.Tensor, h_prev: torch.Tensor, h: torch.Tensor, W_hh: torch.Tensor
    ) -> None:
        B, H = h.shape
        d = 1.0 - h * h  # (B, H)
        nu = torch.randint(0, 2, (B, H), generator=self.generator).to(h) * 2.0 - 1.0  # signs
        Jh = d * (self.h_tilde @ W_hh.T)  # dh_t/dh_{t-1} h~, (B, H)
        dnu = d * nu
        imm = torch.cat(  # nu^T D_t da_t/dtheta, (B, n)
            [
                (dnu[:, :, None] * x[:, None, :]).flatten(1),
                (dnu[:, :, None] * h_prev[:, None, :]).flatten(1),
                dnu,
            ],
            dim=1,
        )
        norm = torch.linalg.vector_norm
        rho0 = torch.sqrt((norm(self.theta_tilde, dim=1) + self.EPS) / (norm(Jh, dim=1) + self.EPS))
        rho1 = torch.sqrt((norm(imm, dim=1) + self.EPS) / (norm(nu, dim=1) + self.EPS))
        self.h_tilde = rho0[:, None] * Jh + rho1[:, None] * nu
        self.theta_tilde = self.theta_tilde / rho0[:, None] + imm / rho1[:, None]

    def grad(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        H, D = self.H, self.D
        g = ((c * self.h_tilde).sum(1, keepdim=True) * self.theta_tilde).sum(0)  # (n,)
        return g[: H * D].view(H, D), g[H * D : H * D + H * H].view(H, H), g[H * D + H * H :]


def _tracker(method: str, B: int, H: int, D: int, like: torch.Tensor, max_bytes: int, generator):
    kw = {"dtype": like.dtype, "device": like.device}
    if method == "rtrl":
        return ExactRTRL(B, H, D, max_bytes=max_bytes, **kw)
    if method == "snap1":
        return SnAp1(B, H, D, **kw)
    return UORO(B, H, D, generator=generator, **kw)


# ---------------------------------------------------------------------------- unit-wise
def williams_zipser(
    W: np.ndarray, x: np.ndarray, h0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (eq-rtrl-unitwise) for one sequence, with loops (NumPy, the readable reference).

    W: (H, D + H + 1) = [W_xh | W_hh | b], unit k sees z(t) = [x_t; h_{t-1}; 1];
    x: (T, D); h0: (H,) or None (zeros). Returns hs (T, H), hs[t] = h_{t+1}, and
    ps (T, H, H, D + H + 1) with ps[t, k, i, j] = dh_k(t+1)/dw_ij. Python loops,
    O(T H^3 (D + H)) operations: small nets only.
    """
    W = np.asarray(W, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if W.ndim != 2 or x.ndim != 2 or W.shape[1] != x.shape[1] + W.shape[0] + 1:
        raise ValueError(f"W must be (H, D + H + 1) and x (T, D), got W {W.shape} and x {x.shape}")
    H, D = W.shape[0], x.shape[1]
    h = np.zeros(H) if h0 is None else np.asarray(h0, dtype=np.float64)
    p = np.zeros((H, H, D + H + 1))  # p[k, i, j] = dh_k / dw_ij
    hs, ps = [], []
    for t in range(x.shape[0]):
        z = np.concatenate([x[t], h, [1.0]])
        a = W @ z
        h_new = np.tanh(a)
        p_new = np.zeros_like(p)
        for k in range(H):
            fprime = 1.0 - h_new[k] ** 2
            for i in range(H):
                for j in range(D + H + 1):
                    total = sum(W[k, D + l_] * p[l_, i, j] for l_ in range(H))
                    p_new[k, i, j] = fprime * (total + (z[j] if i == k else 0.0))
        h, p = h_new, p_new
        hs.append(h)
        ps.append(p)
    return np.stack(hs), np.stack(ps)


def pack_unitwise(p: np.ndarray | torch.Tensor, input_size: int) -> torch.Tensor:
    """p (..., H, H, D + H + 1) in the unit-wise layout -> P (..., H, n) in ExactRTRL's layout."""
    p = torch.as_tensor(p)
    D, H = input_size, p.shape[-2]
    lead = p.shape[:-3]
    return torch.cat(
        [
            p[..., :D].reshape(*lead, H, H * D),
            p[..., D : D + H].reshape(*lead, H, H * H),
            p[..., D + H],
        ],
        dim=-1,
    )


# ---------------------------------------------------------------------------- gradients
def step_loss(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The default per-step loss L_t, summed over the batch and divided by B.

    Integer targets (B,): cross-entropy of logits y (B, O), positions labelled -100 ignored
    (0 when none is labelled). Float targets (B, O): 0.5 * squared error.
    """
    B = y.shape[0]
    if target.dtype in (torch.int64, torch.int32):
        return F.cross_entropy(y, target.long(), ignore_index=-100, reduction="sum") / B
    return 0.5 * ((y - target) ** 2).sum() / B


def _check_targets(y: Any, B: int, T: int | None, n_out: int, name: str = "y") -> None:
    shape = (B,) if T is None else (B, T)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.is_floating_point():
        if tuple(y.shape) != (*shape, n_out):
            raise ValueError(
                f"{name} (float targets) must have shape {(*shape, n_out)}, got {tuple(y.shape)}"
            )
        if not torch.isfinite(y).all():
            raise ValueError(f"{name} must hold finite values, got NaN or inf")
    elif tuple(y.shape) != shape:
        raise ValueError(f"{name} (class labels) must have shape {shape}, got {tuple(y.shape)}")


def _readout_grads(model: OnlineElman, h: torch.Tensor, target: torch.Tensor, loss_fn: LossFn):
    """L_t and its immediate gradients: dL_t/dh_t (B, H), dL_t/dW_hy, dL_t/db_y."""
    with torch.enable_grad():
        h = h.detach().requires_grad_()
        loss = loss_fn(model.readout(h), target)
        c, gW, gb = torch.autograd.grad(loss, [h, model.readout.weight, model.readout.bias])
    return loss.detach(), c, gW, gb


def _grad_dict(model: OnlineElman, g_xh, g_hh, g_b, g_hy, g_by) -> dict[str, torch.Tensor]:
    return {
        "rnn.weight_ih_l0": g_xh,
        "rnn.weight_hh_l0": g_hh,
        "rnn.bias_ih_l0": g_b,
        "rnn.bias_hh_l0": g_b.clone(),
        "readout.weight": g_hy,
        "readout.bias": g_by,
    }


def rtrl_gradients(
    model: OnlineElman,
    x: torch.Tensor,
    y: torch.Tensor,
    method: str = "rtrl",
    *,
    loss_fn: LossFn = step_loss,
    seed: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[float, dict[str, torch.Tensor]]:
    """L = sum_t L_t over x (B, T, D) and its gradient, forward only, weights fixed.

    method 'rtrl' (exact), 'snap1' or 'uoro' (``seed`` seeds its signs); y: (B, T) labels or
    (B, T, O) floats; loss_fn(y_t (B, O), target_t) -> scalar, default ``step_loss``.
    Returns (L, {parameter name: gradient}), names as in ``model.named_parameters()``.
    """
    model = _check_model(model)
    check_choice(method, "method", METHODS[:3])
    W_xh = model.rnn.weight_ih_l0
    B, T = check_sequence(x, model.input_size, W_xh)
    _check_targets(y, B, T, model.readout.out_features)
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    tracker = _tracker(method, B, model.hidden_size, model.input_size, W_xh, max_bytes, gen)
    W_hh, _ = _weights(model)
    grads = [torch.zeros_like(p) for p in (W_xh, W_hh, model.rnn.bias_ih_l0)]
    g_hy, g_by = torch.zeros_like(model.readout.weight), torch.zeros_like(model.readout.bias)
    total = 0.0
    h = x.new_zeros(B, model.hidden_size)
    with torch.no_grad():
        for t in range(T):
            h_new = model.cell(x[:, t], h)
            tracker.update(x[:, t], h, h_new, W_hh)
            h = h_new
            loss, c, gW, gb = _readout_grads(model, h, y[:, t], loss_fn)
            for acc, g in zip(grads, tracker.grad(c), strict=True):
                acc += g
            g_hy += gW
            g_by += gb
            total += loss.item()
    return total, _grad_dict(model, *grads, g_hy, g_by)


def bptt_gradients(
    model: OnlineElman, x: torch.Tensor, y: torch.Tensor, *, loss_fn: LossFn = step_loss
) -> tuple[float, dict[str, torch.Tensor]]:
    """The reference: L = sum_t L_t and its gradient by autograd (BPTT) over the whole sequence."""
    model = _check_model(model)
    B, T = check_sequence(x, model.input_size, model.rnn.weight_ih_l0)
    _check_targets(y, B, T, model.readout.out_features)
    out, _ = model(x)
    loss = sum(loss_fn(out[:, t], y[:, t]) for t in range(T))
    names, params = zip(*model.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, params)
    return loss.item(), dict(zip(names, grads, strict=True))


def cosine_similarity(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], keys=None) -> float:
    """cos(a, b) of two gradient dicts flattened into vectors (over ``keys``, default all of a)."""
    keys = list(a) if keys is None else list(keys)
    u = torch.cat([a[k].flatten() for k in keys])
    v = torch.cat([b[k].flatten() for k in keys])
    return float(u @ v / (u.norm() * v.norm()).clamp_min(1e-30))


# ---------------------------------------------------------------------------- online learning
class OnlineLearner:
    """Learn from a stream, one weight update per step (RTRL, SnAp-1, UORO) or per k steps.

    method: 'rtrl' | 'snap1' | 'uoro' carry a sensitivity forward and update the weights at
    every step with that step's gradient (dL_t/dh_t) P_t (no unrolling, no stored
    history; the sensitivity carried across updates is the usual online approximation).
    'tbptt' keeps the graph of the last k steps and updates every k steps with BPTT over
    them (k1 = k2 = k), the state carried across, detached. Every row of the batch is an
    independent stream; losses are ``loss_fn`` (default ``step_loss``: summed over the
    batch and divided by B). ``optimizer`` defaults to SGD(model.parameters(), lr).
    """

    def __init__(
        self,
        model: OnlineElman,
        method: str = "rtrl",
        lr: float = 0.01,
        k: int = 10,
        *,
        loss_fn: LossFn = step_loss,
        optimizer: torch.optim.Optimizer | None = None,
        clip: float | None = None,
        seed: int | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.model = _check_model(model)
        check_choice(method, "method", METHODS)
        lr, max_bytes = check_positive(lr, "lr"), check_positive(max_bytes, "max_bytes")
        clip = None if clip is None else check_positive(clip, "clip")
        self.method, self.lr, self.k = method, float(lr), check_int(k, "k")
        self.loss_fn, self.clip, self.max_bytes = loss_fn, clip, int(max_bytes)
        self.optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=self.lr)
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.reset()

    def reset(self) -> None:
        """Forget the state, the sensitivity and any pending TBPTT window (a new stream)."""
        self.h: torch.Tensor | None = None
        self.tracker: Any = None
        self._window_loss: torch.Tensor | None = None
        self._window_len = 0

    def _apply(self, grads: dict[str, torch.Tensor] | None) -> float:
        """Write ``grads`` into .grad (unless autograd did), clip, step; the norm before clip."""
        params = dict(self.model.named_parameters())
        if grads is not None:
            for name, g in grads.items():
                params[name].grad = g
        if self.clip is not None:
            norm = clip_grad_norm(params.values(), self.clip)
        else:
            norm = float(
                torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params.values()]))
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    def step(self, x_t: torch.Tensor, y_t: torch.Tensor) -> float:
        """x_t (B, D), y_t (B,) labels or (B, O) floats -> this step's loss L_t (float).

        The loss is measured before this step's update. ``last_grad_norm`` is the norm of
        the gradient of the update made at this step (NaN when TBPTT made none).
        """
        model, W_xh = self.model, self.model.rnn.weight_ih_l0
        if not isinstance(x_t, torch.Tensor) or x_t.dim() != 2:
            got = tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else type(x_t).__name__
            raise ValueError(f"x_t must have shape (B, D={model.input_size}), got {got}")
        B, _ = check_sequence(x_t[:, None], model.input_size, W_xh, "x_t")
        _check_targets(y_t, B, None, model.readout.out_features, "y_t")
        if self.h is not None and self.h.shape[0] != B:
            raise ValueError(
                f"x_t must hold the batch of {self.h.shape[0]} streams this learner follows, "
                f"got {B}; call reset() first for a new stream"
            )
        h_prev = x_t.new_zeros(B, model.hidden_size) if self.h is None else self.h
        self.last_grad_norm = float("nan")
        if self.method == "tbptt":
            h = model.cell(x_t, h_prev)
            loss = self.loss_fn(model.readout(h), y_t)
            self._window_loss = loss if self._window_loss is None else self._window_loss + loss
            self._window_len += 1
            if self._window_len == self.k:
                self._window_loss.backward()
                self.last_grad_norm = self._apply(None)
                self._window_loss, self._window_len = None, 0
                h = h.detach()
            self.h = h
            return loss.item()
        if self.tracker is None:
            self.tracker = _tracker(
                self.method,
                B,
                model.hidden_size,
                model.input_size,
                W_xh,
                self.max_bytes,
                self.generator,
            )
        with torch.no_grad():
            W_hh, _ = _weights(model)
            h = model.cell(x_t, h_prev)
            self.tracker.update(x_t, h_prev, h, W_hh)
            loss, c, g_hy, g_by = _readout_grads(model, h, y_t, self.loss_fn)
            grads = _grad_dict(model, *self.tracker.grad(c), g_hy, g_by)
        self.h = h
        self.last_grad_norm = self._apply(grads)
        return loss.item()

    def run(
        self, stream_x: torch.Tensor, stream_y: torch.Tensor, progress: bool = False
    ) -> History:
        """stream_x (B, L, D), stream_y (B, L) or (B, L, O): ``step`` along L; a History of
        every step's loss and gradient norm (NaN for TBPTT steps without an update)."""
        B, L = check_sequence(
            stream_x, self.model.input_size, self.model.rnn.weight_ih_l0, "stream_x"
        )
        _check_targets(stream_y, B, L, self.model.readout.out_features, "stream_y")
        history = History()
        for t in tqdm(range(L), desc=f"online {self.method}", disable=not progress):
            loss = self.step(stream_x[:, t], stream_y[:, t])
            history.record(loss, self.last_grad_norm)
        return history
