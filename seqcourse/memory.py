"""Attention as memory addressing: the read and write heads of a Neural Turing Machine (7).

Graves, Wayne and Danihelka (2014) give a network a memory M (N rows of width W) and heads
that read and write it through a *weighting* w (N,), a distribution over the rows. Every
step is differentiable, so the network learns where to look by gradient descent. A head
turns five controller outputs (key k, key strength beta >= 0, gate g in [0, 1], shift
distribution s, sharpening gamma >= 1) into a weighting in four steps:

    content      w^c_i = softmax_i(beta K[k, M_i]),  K[u, v] = u.v / (|u| |v|)  (eq-ntm-content)
    interpolate  w^g = g w^c + (1 - g) w_{t-1}                             (eq-ntm-interpolate)
    shift        w~_i = sum_j w^g_j s_{(i - j) mod N}                       (eq-ntm-shift)
    sharpen      w_i = w~_i^gamma / sum_j w~_j^gamma                        (eq-ntm-sharpen)

Content addressing is the attention of this chapter with cosine scores times beta; the three
other steps address by *location*: keep the last place (g = 0), move from it (s), and undo
the blur a fractional shift causes (gamma). A read returns r = sum_i w_i M_i (eq-ntm-read); a
write first erases, then adds (eq-ntm-write):

    M_i <- M_i (1 - w_i e) + w_i a,          erase e in [0, 1]^W, add a in R^W.

Shapes, batch first: memory (B, N, W), weightings (B, N), key, erase and add (B, W), beta, g
and gamma (B,), s (B, S) over the offsets -(S-1)/2 .. (S-1)/2 (S odd, S <= N), so that
s = (0, 0, 1) moves the focus one row forward. ``NTM`` is a small trainable machine (an
LSTM controller, one read head, one write head) and ``copy_machine`` the same heads driven
by hand-set controller outputs, which copies a sequence of any length up to N.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_finite, check_int
from seqcourse.gated import lstm_cell

__all__ = [
    "NTM",
    "address",
    "content_weighting",
    "copy_machine",
    "cosine_similarity",
    "interpolate",
    "read",
    "sharpen",
    "shift",
    "write",
]

_EPS = 1e-8  # keeps the cosine finite for an empty (all-zero) row or key
_SUM_TOL = 1e-4  # a weighting's rows must sum to 1 within this (float32 rounding; gradcheck)


# ---------------------------------------------------------------------------- validation
def _tensor(x: Any, name: str, shape: str, dims: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {shape}, got {type(x).__name__}")
    if x.dim() != dims:
        raise ValueError(f"{name} must have shape {shape}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    check_finite(x, name)  # no host read on CUDA: NTM.trace can be recorded in a CUDA graph
    return x


def _first_row(like: torch.Tensor, B: int, rows: int) -> torch.Tensor:
    """(B, rows) weightings all on row 0, of ``like``'s dtype and device. Written without
    F.one_hot, which checks its ids on the host."""
    w = like.new_zeros(B, rows)
    w[:, 0] = 1.0
    return w


def _memory(memory: Any) -> torch.Tensor:
    return _tensor(memory, "memory", "(batch, rows N, width W)", 3)


def _like(x: torch.Tensor, name: str, shape: tuple[int, ...], like: torch.Tensor) -> None:
    if tuple(x.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if x.dtype != like.dtype:
        raise TypeError(f"{name} must have dtype {like.dtype}, got {x.dtype}")


def _per_row(x: Any, name: str, B: int, like: torch.Tensor) -> torch.Tensor:
    x = _tensor(x, name, f"(batch,) = ({B},)", 1)
    _like(x, name, (B,), like)
    return x


def _weighting(w: Any, name: str, B: int, N: int, like: torch.Tensor) -> torch.Tensor:
    """w (B, N): non-negative rows summing to 1 (within the dtype's rounding)."""
    w = _tensor(w, name, f"(batch, rows) = ({B}, {N})", 2)
    _like(w, name, (B, N), like)
    if bool((w < 0).any()):
        low = float(w.detach().min())
        raise ValueError(f"{name} must be non-negative, got a minimum of {low:.3g}")
    worst = float((w.detach().sum(-1) - 1).abs().max())
    if worst > _SUM_TOL:
        raise ValueError(f"{name} rows must sum to 1, got a row summing to 1 {worst:+.3g} off")
    return w


# ---------------------------------------------------------------------------- the maths
# Unchecked kernels: the public functions below validate, then call these; the NTM's loop
# calls them directly (a check per step would cost a device sync per step).
def _cosine(memory: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    dots = (memory @ key.unsqueeze(-1)).squeeze(-1)  # (B, N)
    norms = memory.norm(dim=-1).clamp_min(_EPS) * key.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return dots / norms


def _shift(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    radius = s.shape[1] // 2
    # roll(w, k)[i] = w[i - k]: offset k carries the weight at row i - k to row i
    return sum(s[:, [k + radius]] * torch.roll(w, k, dims=-1) for k in range(-radius, radius + 1))


def _sharpen(w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    powered = w.pow(gamma.unsqueeze(-1))
    return powered / powered.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)


def _address(memory, w_prev, key, beta, g, s, gamma) -> tuple[torch.Tensor, ...]:
    content = (beta.unsqueeze(-1) * _cosine(memory, key)).softmax(-1)
    gated = g.unsqueeze(-1) * content + (1 - g.unsqueeze(-1)) * w_prev
    shifted = _shift(gated, s)
    return content, gated, shifted, _sharpen(shifted, gamma)


def _write(memory, w, erase, add) -> torch.Tensor:
    w = w.unsqueeze(-1)  # (B, N, 1)
    return memory * (1 - w * erase.unsqueeze(1)) + w * add.unsqueeze(1)


def _read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (w.unsqueeze(1) @ memory).squeeze(1)


# ---------------------------------------------------------------------------- addressing
def cosine_similarity(memory: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """K[k, M_i] = k.M_i / (|k| |M_i|) for every row: memory (B, N, W), key (B, W) -> (B, N).
    An all-zero row or key has similarity 0 (the norms are floored at 1e-8)."""
    memory = _memory(memory)
    B, N, W = memory.shape
    key = _tensor(key, "key", f"(batch, width) = ({B}, {W})", 2)
    _like(key, "key", (B, W), memory)
    return _cosine(memory, key)


def content_weighting(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """w^c = softmax(beta K[k, M_i]) (eq-ntm-content): (B, N, W), (B, W), (B,) -> (B, N).
    beta >= 0 is the key strength: 0 gives the uniform weighting, a large beta the best match."""
    similarity = cosine_similarity(memory, key)
    beta = _per_row(beta, "beta", memory.shape[0], memory)
    if bool((beta < 0).any()):
        raise ValueError(f"beta must be >= 0, got {float(beta.detach().min()):.3g}")
    return (beta.unsqueeze(-1) * similarity).softmax(-1)


def interpolate(w_content: torch.Tensor, w_prev: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """w^g = g w^c + (1 - g) w_{t-1} (eq-ntm-interpolate): (B, N), (B, N), (B,) -> (B, N).
    g = 1 takes the content weighting, g = 0 keeps the previous one."""
    w_content = _tensor(w_content, "w_content", "(batch, rows)", 2)
    B, N = w_content.shape
    w_content = _weighting(w_content, "w_content", B, N, w_content)
    w_prev = _weighting(w_prev, "w_prev", B, N, w_content)
    g = _per_row(g, "g", B, w_content)
    if bool(((g < 0) | (g > 1)).any()):
        low, high = float(g.detach().min()), float(g.detach().max())
        raise ValueError(f"g must lie in [0, 1], got values from {low:.3g} to {high:.3g}")
    g = g.unsqueeze(-1)
    return g * w_content + (1 - g) * w_prev


def shift(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The circular convolution w~_i = sum_j w_j s_{(i - j) mod N} (eq-ntm-shift).

    w (B, N) a weighting; s (B, S) a distribution over the S (odd, <= N) offsets
    -(S-1)/2 .. (S-1)/2, so s = (0, 1, 0) keeps w and s = (0, 0, 1) moves it one row on
    (row N - 1 wraps to row 0). Returns (B, N)."""
    w = _tensor(w, "w", "(batch, rows)", 2)
    B, N = w.shape
    w = _weighting(w, "w", B, N, w)
    s = _tensor(s, "s", f"(batch, offsets S) = ({B}, S), S odd", 2)
    S = s.shape[1]
    if s.shape[0] != B or S % 2 == 0 or S > N:
        raise ValueError(
            f"s must have shape (batch, S) = ({B}, S) with S odd and S <= N = {N}, "
            f"got {tuple(s.shape)}"
        )
    s = _weighting(s, "s", B, S, w)
    return _shift(w, s)


def sharpen(w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """w_i = w_i^gamma / sum_j w_j^gamma (eq-ntm-sharpen): (B, N), (B,) -> (B, N).
    gamma >= 1; gamma = 1 changes nothing, a large gamma moves the weight onto the largest."""
    w = _tensor(w, "w", "(batch, rows)", 2)
    w = _weighting(w, "w", *w.shape, w)
    gamma = _per_row(gamma, "gamma", w.shape[0], w)
    if bool((gamma < 1).any()):
        raise ValueError(f"gamma must be >= 1, got {float(gamma.detach().min()):.3g}")
    return _sharpen(w, gamma)


def address(
    memory: torch.Tensor,
    w_prev: torch.Tensor,
    key: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    s: torch.Tensor,
    gamma: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """A head's whole addressing: content, interpolate, shift, sharpen (eq-ntm-content to
    eq-ntm-sharpen). Returns every stage, each (B, N): "content", "gated", "shifted" and
    "w", the weighting the head reads or writes with."""
    memory = _memory(memory)
    content = content_weighting(memory, key, beta)
    gated = interpolate(content, w_prev, g)
    shifted = shift(gated, s)
    return {"content": content, "gated": gated, "shifted": shifted, "w": sharpen(shifted, gamma)}


def read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """r = sum_i w_i M_i (eq-ntm-read): memory (B, N, W), w (B, N) -> (B, W)."""
    memory = _memory(memory)
    B, N, _ = memory.shape
    w = _weighting(w, "w", B, N, memory)
    return _read(memory, w)


def write(
    memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, add: torch.Tensor
) -> torch.Tensor:
    """M_i (1 - w_i e) + w_i a (eq-ntm-write): the new memory (B, N, W) after erasing with
    e (B, W) in [0, 1] and adding a (B, W) at the rows w (B, N) points to."""
    memory = _memory(memory)
    B, N, W = memory.shape
    w = _weighting(w, "w", B, N, memory)
    erase = _tensor(erase, "erase", f"(batch, width) = ({B}, {W})", 2)
    add = _tensor(add, "add", f"(batch, width) = ({B}, {W})", 2)
    _like(erase, "erase", (B, W), memory)
    _like(add, "add", (B, W), memory)
    if bool(((erase < 0) | (erase > 1)).any()):
        raise ValueError("erase must lie in [0, 1]")
    return _write(memory, w, erase, add)


# ---------------------------------------------------------------------------- a trainable NTM
class NTM(nn.Module):
    """A Neural Turing Machine with an LSTM controller, one read and one write head.

    The controller is chapter 4's ``lstm_cell`` with its own weights (plain tensor
    operations, so ``seqcourse.train.train_seeds`` can train several seeds at once by vmap).

    At step t the controller sees [x_t, r_{t-1}]; from its state h_t each head emits
    (k, beta, g, s, gamma) (the write head also e and a) through one linear layer, squashed
    into range: beta = softplus, g = sigmoid, s = softmax over offsets (-1, 0, 1),
    gamma = 1 + softplus, e = sigmoid, a = tanh. The write happens before the read, and the
    output y_t = W_y [h_t, r_t] + b_y. Both weightings start one-hot on row 0, the memory at
    a small constant, so addressing by location has a place to start from.

    x: (B, T, inputs) -> logits (B, T, outputs).
    """

    def __init__(
        self, inputs: int, outputs: int, hidden: int = 64, rows: int = 32, width: int = 8
    ) -> None:
        super().__init__()
        self.inputs, self.outputs = check_int(inputs, "inputs"), check_int(outputs, "outputs")
        self.hidden, self.rows = check_int(hidden, "hidden"), check_int(rows, "rows", 3)
        self.width = check_int(width, "width")
        self.controller_ih = nn.Linear(inputs + width, 4 * hidden)  # chapter 4's LSTM cell
        self.controller_hh = nn.Parameter(torch.empty(4 * hidden, hidden))
        nn.init.uniform_(self.controller_hh, -(hidden**-0.5), hidden**-0.5)
        head = width + 1 + 1 + 3 + 1  # k, beta, g, s, gamma
        self.read_head = nn.Linear(hidden, head)
        self.write_head = nn.Linear(hidden, head + 2 * width)  # ... and e, a
        self.out = nn.Linear(hidden + width, outputs)

    def _params(self, p: torch.Tensor) -> tuple[torch.Tensor, ...]:
        W = self.width
        key, beta, g = p[:, :W], F.softplus(p[:, W]), torch.sigmoid(p[:, W + 1])
        s, gamma = p[:, W + 2 : W + 5].softmax(-1), 1 + F.softplus(p[:, W + 5])
        return key, beta, g, s, gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, inputs) -> logits (B, T, outputs)."""
        return self.trace(x)["logits"]

    def trace(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the machine on x (B, T, inputs). Returns "logits" (B, T, outputs) and the
        heads' weightings "write" and "read", each (B, T, rows)."""
        x = _tensor(x, "x", f"(batch, time, inputs) = (B, T, {self.inputs})", 3)
        if x.shape[2] != self.inputs:
            raise ValueError(f"x must have {self.inputs} features, got shape {tuple(x.shape)}")
        B, T, _ = x.shape
        memory = x.new_full((B, self.rows, self.width), 1e-6)
        w_read = _first_row(x, B, self.rows)
        w_write, r = w_read, x.new_zeros(B, self.width)
        h = c = x.new_zeros(B, self.hidden)
        outputs, writes, reads = [], [], []
        for t in range(T):
            xw = self.controller_ih(torch.cat([x[:, t], r], -1))
            h, c = lstm_cell(xw, h, c, self.controller_hh)  # (B, hidden) each
            p = self.write_head(h)
            w_write = _address(memory, w_write, *self._params(p))[-1]  # (B, rows)
            erase = torch.sigmoid(p[:, -2 * self.width : -self.width])
            memory = _write(memory, w_write, erase, torch.tanh(p[:, -self.width :]))
            w_read = _address(memory, w_read, *self._params(self.read_head(h)))[-1]
            r = _read(memory, w_read)  # (B, width)
            outputs.append(self.out(torch.cat([h, r], -1)))
            writes.append(w_write)
            reads.append(w_read)
        return {
            "logits": torch.stack(outputs, 1),
            "write": torch.stack(writes, 1),
            "read": torch.stack(reads, 1),
        }


# ---------------------------------------------------------------------------- by hand
def copy_machine(x: torch.Tensor, rows: int, beta: float = 100.0) -> dict[str, torch.Tensor]:
    """Copy a sequence with the heads above driven by hand-set controller outputs.

    x: (B, T, bits) in {0, 1}, T <= ``rows``. Memory rows are [bits, marker], width bits + 1.
    Writing: the write head starts one-hot on row 0 and at every step writes
    [x_t, 1 if t == 0 else 0] (erase everything, add the row), then moves on with
    g = 0, s = (0, 0, 1), gamma = 1. Reading: the read head finds the start by content, with
    key [0, ..., 0, 1] (the marker), strength ``beta`` and g = 1, then reads a row and moves
    on T times. Nothing here depends on T: the same outputs copy any length up to ``rows``.

    Returns "y" (B, T, bits), the rows read; "write" and "read" (B, T, rows), the
    weightings used at each step; "memory" (B, rows, bits + 1) after writing.
    """
    x = _tensor(x, "x", "(batch, time, bits)", 3)
    B, T, bits = x.shape
    rows = check_int(rows, "rows", 3)
    if T > rows:
        raise ValueError(f"x must be no longer than rows = {rows} steps, got T = {T}")
    one, zero = x.new_ones(B), x.new_zeros(B)
    forward = x.new_tensor([0.0, 0.0, 1.0]).expand(B, 3)  # s: one row on
    memory = x.new_zeros(B, rows, bits + 1)
    w = _first_row(x, B, rows)
    blank = x.new_zeros(B, bits + 1)  # a key the location steps ignore (g = 0)
    writes, reads, out = [], [], []
    for t in range(T):
        marker = (one if t == 0 else zero).unsqueeze(-1)
        memory = write(memory, w, x.new_ones(B, bits + 1), torch.cat([x[:, t], marker], -1))
        writes.append(w)
        w = address(memory, w, blank, zero, zero, forward, one)["w"]
    key = torch.cat([x.new_zeros(B, bits), x.new_ones(B, 1)], -1)
    strength = x.new_full((B,), float(beta))
    stay = x.new_tensor([0.0, 1.0, 0.0]).expand(B, 3)
    w = address(memory, w, key, strength, one, stay, one)["w"]  # find the marker
    for _ in range(T):
        out.append(read(memory, w)[:, :bits])
        reads.append(w)
        w = address(memory, w, blank, zero, zero, forward, one)["w"]
    return {
        "y": torch.stack(out, 1),
        "write": torch.stack(writes, 1),
        "read": torch.stack(reads, 1),
        "memory": memory,
    }
