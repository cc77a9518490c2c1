"""Gated recurrent units: the LSTM and the GRU from their equations (chapter 4).

LSTM (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000), in PyTorch's gate
order i, f, g, o, with sigma the logistic sigmoid and ⊙ the elementwise product:

    gates   (eq-lstm-gates)  i_t = sigma(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
                             f_t = sigma(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
                             g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
                             o_t = sigma(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    cell    (eq-lstm-cell)   c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    output  (eq-lstm-output) h_t = o_t ⊙ tanh(c_t)

The four input matrices are stacked into one W_ih (4H, D), so the input projection of
every time step is one matrix product before the recurrence starts (the "fused" input
projection); each step then costs one (B, H) x (H, 4H) product. Variants (``variant``):

    "peephole"   (eq-lstm-peephole)  the gates also see the cell: i_t and f_t add
                 w_ci ⊙ c_{t-1} and w_cf ⊙ c_{t-1}, o_t adds w_co ⊙ c_t (Gers & Schmidhuber 2000)
    "coupled"    (eq-lstm-coupled)   f_t = 1 - i_t: one gate decides what to write and
                 what to forget (Greff et al. 2017's CIFG); gates i, g, o only
    "no_forget"  f_t = 1: the 1997 LSTM, whose cell c_t = c_{t-1} + i_t ⊙ g_t is the
                 constant error carousel; gates i, g, o only

``forget_bias`` sets b_f = b_if + b_hf at initialisation (b_if = forget_bias, b_hf = 0);
Gers et al. 2000 and Jozefowicz et al. 2015 recommend 1. ``layer_norm`` normalises the input
and the recurrent pre-activations separately and the cell before the output tanh, with
LN(v; gamma) = gamma ⊙ (v - mean(v)) / sqrt(var(v) + eps) over the entries of v, per example:

    layer norm (eq-lstm-layernorm)
        a_t = LN(W_h h_{t-1}; gamma_h) + LN(W_x x_t; gamma_x) + b,  c_t as (eq-lstm-cell),
        h_t = o_t ⊙ tanh(LN(c_t; gamma_c, beta_c))

``layer_norm="ba"`` (or True) is Ba, Kiros & Hinton 2016's LN-LSTM: each LN runs over the
whole stacked G*H vector W_x x_t (and W_h h_{t-1}), all gates together; ``"per_gate"``
(eq-lstm-layernorm-per-gate) normalises each gate's block of H entries on its own, which
makes every gate's pre-activation scale-free on its own. Their biases beta_x, beta_h are
absorbed in b = b_ih + b_hh. ``zoneout`` (eq-zoneout; Krueger et al. 2017) keeps each unit of
c and h at its previous value with probability zeta_c, zeta_h while training and mixes in that
proportion at evaluation.

GRU (Cho et al. 2014) in PyTorch's gate order r, z, n (z_t, the update gate, is not the
output distribution z_t of chapter 2; the letters follow Cho et al. and PyTorch):

    gates   (eq-gru-gates)   r_t = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
                             z_t = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    torch   (eq-gru-torch)   n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    Cho     (eq-gru-cho)     n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)
    update  (eq-gru-update)  h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

PyTorch (and cuDNN) apply the reset gate after the recurrent product, which lets all
three recurrent products run as one matrix multiply; Cho et al. apply it before, which
needs a second product per step. ``variant="cho"`` computes the original form with the
same parameters, so the two can be compared on equal footing.

``LSTM`` and ``GRU`` take nn.LSTM's / nn.GRU's arguments, parameter names and shapes
(batch_first), and ``from_torch`` copies a PyTorch module: outputs, states and gradients
then equal PyTorch's to rounding (tests/test_gated.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_bool, check_choice, check_int, check_sequence, check_state
from seqcourse.fused import fused_gru, fused_lstm, fused_lstm_layer

__all__ = [
    "LSTM",
    "GRU",
    "LSTM_VARIANTS",
    "GRU_VARIANTS",
    "LAYER_NORMS",
    "lstm_cell",
    "gru_cell",
    "lstm_layer",
    "gru_layer",
    "init_recurrent_",
    "forget_bias_",
    "state_jacobian_norms",
]

LSTM_VARIANTS = ("vanilla", "peephole", "coupled", "no_forget")
GRU_VARIANTS = ("pytorch", "cho")
_LSTM_GATES = {"vanilla": 4, "peephole": 4, "coupled": 3, "no_forget": 3}
LAYER_NORMS = ("ba", "per_gate")
_LN_EPS = 1e-5


# ---------------------------------------------------------------------------- validation
def _check_probability(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(value).__name__}")
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a number in [0, 1), got {value}")
    return float(value)


def _check_layer_norm(value: Any) -> str | None:
    """LSTM's ``layer_norm`` argument as None (off), "ba" or "per_gate"; True means "ba"."""
    if value is False or value is None:
        return None
    if value is True:
        return "ba"
    if not isinstance(value, str):
        raise TypeError(
            f"layer_norm must be a bool or one of {LAYER_NORMS}, got {type(value).__name__} "
            f"{value!r}"
        )
    return check_choice(value, "layer_norm", LAYER_NORMS)


def _layer_norm(
    a: torch.Tensor, gain: torch.Tensor | None, gates: int, form: str = "ba"
) -> torch.Tensor:
    """LN of the stacked pre-activations, then times gain (eq-lstm-layernorm).

    a: (..., gates * H); gain: (gates * H,) or None (no normalisation). form "ba": mean 0,
    variance 1 over all gates * H entries together; "per_gate": over each gate's H entries."""
    if gain is None:
        return a
    if form == "ba":
        return F.layer_norm(a, a.shape[-1:], eps=_LN_EPS) * gain
    shape = a.shape
    a = a.reshape(*shape[:-1], gates, shape[-1] // gates)
    a = F.layer_norm(a, a.shape[-1:], eps=_LN_EPS)
    return a.reshape(shape) * gain


# ---------------------------------------------------------------------------- LSTM cell
def lstm_cell(
    xw: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    W_hh: torch.Tensor,
    b_hh: torch.Tensor | None = None,
    variant: str = "vanilla",
    peephole: torch.Tensor | None = None,
    ln_hh: torch.Tensor | None = None,
    ln_c: tuple[torch.Tensor, torch.Tensor] | None = None,
    ln_form: str = "ba",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step, eqs. (eq-lstm-gates)-(eq-lstm-output), given the input projection.

    xw: (B, G*H) = W_ih x_t + b_ih (normalised already when layer norm is on), G = 4 gates
    (i, f, g, o) or 3 (i, g, o) for "coupled" and "no_forget"; h, c: (B, H) the previous
    state; W_hh: (G*H, H); b_hh: (G*H,) or None; peephole: (3, H) = w_ci, w_cf, w_co for
    "peephole"; ln_hh: (G*H,) recurrent layer-norm gains; ln_c: (gain, bias) of the cell's
    layer norm; ln_form: "ba" (LN over all G*H entries, eq-lstm-layernorm) or "per_gate"
    (over each gate's H, eq-lstm-layernorm-per-gate). Returns (h_t, c_t), each (B, H).
    """
    G = _LSTM_GATES[variant]
    if ln_hh is None:
        a = torch.addmm(xw, h, W_hh.t()) if b_hh is None else xw + F.linear(h, W_hh, b_hh)
    else:
        a = xw + _layer_norm(h @ W_hh.t(), ln_hh, G, ln_form)
        a = a if b_hh is None else a + b_hh
    if G == 4 and peephole is None and ln_c is None:
        # the common case in few operations: one sigmoid over all gates (g's is unused)
        s = torch.sigmoid(a)
        i, f, _, o = s.chunk(4, dim=1)  # each (B, H)
        g = torch.tanh(a[:, 2 * c.shape[1] : 3 * c.shape[1]])
        c = torch.addcmul(f * c, i, g)  # (eq-lstm-cell)
        return o * torch.tanh(c), c  # (eq-lstm-output)
    if G == 4:
        H = c.shape[1]
        a_if, a_g, a_o = a[:, : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        if peephole is not None:  # (eq-lstm-peephole): i and f see c_{t-1}, in one operation
            a_if = torch.addcmul(a_if, peephole[:2].reshape(-1), c.repeat(1, 2))
        i, f = torch.sigmoid(a_if).chunk(2, dim=1)  # each (B, H)
    else:
        a_i, a_g, a_o = a.chunk(3, dim=1)
        i = torch.sigmoid(a_i)
        f = 1.0 - i if variant == "coupled" else None
    g = torch.tanh(a_g)
    c = i * g + (c if f is None else f * c)  # (eq-lstm-cell); f = 1 without a forget gate
    if peephole is not None:
        a_o = torch.addcmul(a_o, peephole[2], c)  # o sees the new cell c_t
    c_out = c if ln_c is None else F.layer_norm(c, c.shape[-1:], ln_c[0], ln_c[1], _LN_EPS)
    h = torch.sigmoid(a_o) * torch.tanh(c_out)  # (eq-lstm-output)
    return h, c


def _zoneout(
    new: torch.Tensor, old: torch.Tensor, rate: float, training: bool, gen: Any
) -> torch.Tensor:
    """(eq-zoneout): keep each unit of ``old`` with probability ``rate`` (training), or mix
    old and new in that proportion (evaluation)."""
    if rate == 0.0:
        return new
    if not training:
        return rate * old + (1.0 - rate) * new
    keep = torch.rand(new.shape, generator=gen, device=new.device, dtype=new.dtype) < rate
    return torch.where(keep, old, new)


def lstm_layer(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
    variant: str = "vanilla",
    peephole: torch.Tensor | None = None,
    ln: tuple[torch.Tensor, ...] | None = None,
    zoneout: tuple[float, float] = (0.0, 0.0),
    training: bool = False,
    reverse: bool = False,
    trace: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    fused: bool = False,
    generator: torch.Generator | None = None,
    ln_form: str = "ba",
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One layer, one direction of the LSTM over a whole sequence.

    x: (B, T, D); h, c: (B, H) initial state; W_ih: (G*H, D); W_hh: (G*H, H); biases
    (G*H,) or None; ln: (ln_ih, ln_hh, ln_c_gain, ln_c_bias) or None, normalised as
    ``ln_form`` says ("ba" or "per_gate", see ``lstm_cell``); zoneout: (zeta_c, zeta_h).
    The input projection W_ih x_t + b_ih of all T steps is one matrix product. ``reverse``
    runs from t = T down to 1. ``trace``, when a list, receives (h_t, c_t) of every step in
    the order computed (for gradient-flow measurements). ``fused=True`` runs the same
    equations with the hand-derived backward pass of ``seqcourse.fused`` (not with
    layer norm, zoneout or a trace). ``generator`` draws the zoneout masks (None: torch's
    global generator). Returns (output (B, T, H) with output[:, t] = h_t,
    (h_last, c_last)).
    """
    G = _LSTM_GATES[variant]
    plain = ln is None and zoneout == (0.0, 0.0) and trace is None
    if fused and plain and variant == "vanilla":
        return fused_lstm_layer(x, h, c, W_ih, W_hh, b_ih, b_hh, reverse)
    if ln is None:
        xw = F.linear(x, W_ih, b_ih)  # (B, T, G*H) for every t in one matmul
        if b_hh is not None:
            xw, b_hh = xw + b_hh, None  # both biases added once, not once per step
        if fused and plain:
            return fused_lstm(xw, h, c, W_hh, variant, peephole, reverse)
        ln_hh = ln_c = None
    else:
        xw = _layer_norm(F.linear(x, W_ih), ln[0], G, ln_form)
        xw = xw if b_ih is None else xw + b_ih
        ln_hh, ln_c = ln[1], (ln[2], ln[3])
    steps_in = xw.unbind(dim=1)  # T slices (B, G*H); cheaper to backprop than xw[:, t]
    order = range(len(steps_in) - 1, -1, -1) if reverse else range(len(steps_in))
    zeta_c, zeta_h = zoneout
    hs: list[torch.Tensor] = [h] * len(steps_in)
    for t in order:
        h_new, c_new = lstm_cell(
            steps_in[t], h, c, W_hh, b_hh, variant, peephole, ln_hh, ln_c, ln_form
        )
        c = _zoneout(c_new, c, zeta_c, training, generator)
        h = _zoneout(h_new, h, zeta_h, training, generator)
        hs[t] = h
        if trace is not None:
            trace.append((h, c))
    return torch.stack(hs, dim=1), (h, c)


# ----------------------------------------------------------------------------- GRU cell
def gru_cell(
    xw: torch.Tensor,
    h: torch.Tensor,
    W_hh: torch.Tensor,
    b_hh: torch.Tensor | None = None,
    variant: str = "pytorch",
) -> torch.Tensor:
    """One GRU step, eqs. (eq-gru-gates)-(eq-gru-update), given the input projection.

    xw: (B, 3H) = W_ih x_t + b_ih in the order r, z, n; h: (B, H); W_hh: (3H, H);
    b_hh: (3H,) or None. variant "pytorch" (eq-gru-torch) or "cho" (eq-gru-cho).
    Returns h_t (B, H).
    """
    H = h.shape[1]
    x_rz, x_n = xw[:, : 2 * H], xw[:, 2 * H :]
    if variant == "pytorch":
        hw = F.linear(h, W_hh, b_hh)  # (B, 3H): all three recurrent products in one
        r, z = torch.sigmoid(x_rz + hw[:, : 2 * H]).chunk(2, dim=1)  # both gates, one call
        n = torch.tanh(torch.addcmul(x_n, r, hw[:, 2 * H :]))  # x_n + r * (W_hn h + b_hn)
    else:
        b_rz = None if b_hh is None else b_hh[: 2 * H]
        r, z = torch.sigmoid(x_rz + F.linear(h, W_hh[: 2 * H], b_rz)).chunk(2, dim=1)
        b_n = None if b_hh is None else b_hh[2 * H :]
        n = torch.tanh(x_n + F.linear(r * h, W_hh[2 * H :], b_n))  # reset before the product
    return torch.addcmul(n, z, h - n)  # (eq-gru-update): (1 - z) n + z h


def gru_layer(
    x: torch.Tensor,
    h: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
    variant: str = "pytorch",
    reverse: bool = False,
    trace: list[torch.Tensor] | None = None,
    fused: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer, one direction of the GRU: x (B, T, D), h (B, H) -> (output (B, T, H), h_last).

    ``trace``, when a list, receives h_t of every step in the order computed. ``fused=True``
    uses the hand-derived backward pass of ``seqcourse.fused`` (not with a trace)."""
    if fused and trace is None:
        return fused_gru(F.linear(x, W_ih, b_ih), h, W_hh, b_hh, variant, reverse)
    xw = F.linear(x, W_ih, b_ih)  # (B, T, 3H), one matmul
    if variant == "cho" and b_hh is not None:  # no bias sits inside the reset: add them once
        xw, b_hh = xw + b_hh, None
    steps_in = xw.unbind(dim=1)  # T x (B, 3H)
    order = range(len(steps_in) - 1, -1, -1) if reverse else range(len(steps_in))
    hs: list[torch.Tensor] = [h] * len(steps_in)
    for t in order:
        h = gru_cell(steps_in[t], h, W_hh, b_hh, variant)
        hs[t] = h
        if trace is not None:
            trace.append(h)
    return torch.stack(hs, dim=1), h


# ------------------------------------------------------------------------ the modules
class _Recurrent(nn.Module):
    """What LSTM and GRU share: nn.LSTM/nn.GRU's weights per layer and direction."""

    _gates: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        bias: bool,
    ) -> None:
        super().__init__()
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = H = check_int(hidden_size, "hidden_size")
        self.num_layers = check_int(num_layers, "num_layers")
        self.bidirectional = check_bool(bidirectional, "bidirectional")
        self.bias = check_bool(bias, "bias")
        self.num_directions = 2 if bidirectional else 1
        # False (default): autograd differentiates the step code; True: the hand-derived
        # backward of seqcourse.fused (same numbers to rounding; timings in bench/lstm_bench.py)
        self.fused = False
        G = self._gates
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else self.num_directions * H
            for sfx in self._suffixes(layer):
                self.register_parameter(f"weight_ih{sfx}", nn.Parameter(torch.empty(G * H, d_in)))
                self.register_parameter(f"weight_hh{sfx}", nn.Parameter(torch.empty(G * H, H)))
                for kind in ("ih", "hh"):
                    param = nn.Parameter(torch.empty(G * H)) if bias else None
                    self.register_parameter(f"bias_{kind}{sfx}", param)

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def _params(self, sfx: str) -> list[torch.Tensor | None]:
        return [
            getattr(self, f"{n}{sfx}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]

    def _uniform_init(self) -> None:
        """PyTorch's initialisation: everything uniform in [-1/sqrt(H), 1/sqrt(H)]."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    def _check_input(self, x: Any) -> int:
        return check_sequence(x, self.input_size, self.weight_ih_l0)[0]

    def _initial(self, state: Any, B: int, like: torch.Tensor, name: str) -> torch.Tensor:
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if state is None:
            return like.new_zeros(shape)
        check_state(state, shape, self.weight_ih_l0, name)
        return state

    @staticmethod
    def _check_module(module: Any, cls: type) -> None:
        if not isinstance(module, cls):
            raise TypeError(
                f"module must be a torch.nn.{cls.__name__}, got {type(module).__name__}"
            )
        if not module.batch_first:
            raise ValueError("module must be built with batch_first=True, got batch_first=False")
        if getattr(module, "proj_size", 0):
            raise ValueError(f"module must have proj_size=0, got {module.proj_size}")

    @classmethod
    def _from(cls, module: Any, torch_cls: type) -> Any:
        """A new module of this class (default variant) holding a copy of ``module``'s weights."""
        cls._check_module(module, torch_cls)
        new = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.bias,
            module.bidirectional,
        )
        first = next(module.parameters())
        new.to(device=first.device, dtype=first.dtype)
        new.load_state_dict(module.state_dict(), strict=False)
        return new

    def _to(self, torch_cls: type) -> Any:
        """The ``torch_cls`` (nn.LSTM or nn.GRU, batch_first) with a copy of these weights."""
        first = self.weight_ih_l0
        module = torch_cls(
            self.input_size,
            self.hidden_size,
            self.num_layers,
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
            f"bidirectional={self.bidirectional}, bias={self.bias}"
        )


class LSTM(_Recurrent):
    """A multi-layer LSTM from eqs. (eq-lstm-gates)-(eq-lstm-output); a drop-in for nn.LSTM.

    Same arguments, parameter names and shapes as ``torch.nn.LSTM(batch_first=True)`` for
    the vanilla variant: ``weight_ih_l{k}`` (4H, D_in), ``weight_hh_l{k}`` (4H, H),
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4H,), suffix ``_reverse`` for the backward
    direction. ``variant`` (see the module docstring) changes the cell, not the class:
    "coupled" and "no_forget" have 3H rows (i, g, o), "peephole" adds ``peephole_l{k}``
    (3, H). ``layer_norm`` "ba" (or True: Ba et al.'s LN over all G*H pre-activations,
    eq-lstm-layernorm) or "per_gate" (each gate's H on its own, eq-lstm-layernorm-per-gate)
    adds ``ln_ih_l{k}``, ``ln_hh_l{k}`` (G*H,) gains and ``ln_c_l{k}`` (2, H) gain and bias;
    the attribute ``layer_norm`` is then that string, else None. ``zoneout`` is zeta or
    (zeta_c, zeta_h), in [0, 1).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        variant: str = "vanilla",
        forget_bias: float | None = None,
        layer_norm: bool | str = False,
        zoneout: float | tuple[float, float] = 0.0,
    ) -> None:
        self.variant = check_choice(variant, "variant", LSTM_VARIANTS)
        self._gates = _LSTM_GATES[self.variant]
        super().__init__(input_size, hidden_size, num_layers, bidirectional, bias)
        if forget_bias is not None:
            if isinstance(forget_bias, bool) or not isinstance(forget_bias, int | float):
                raise TypeError(f"forget_bias must be a number or None, got {forget_bias!r}")
            if not math.isfinite(forget_bias):
                raise ValueError(f"forget_bias must be finite, got {forget_bias}")
            if self._gates != 4:
                raise ValueError(f"forget_bias needs a forget gate; variant {variant!r} has none")
            if not bias:
                raise ValueError("forget_bias needs bias=True, got bias=False")
        self.forget_bias = None if forget_bias is None else float(forget_bias)
        self.layer_norm = _check_layer_norm(layer_norm)
        z = zoneout if isinstance(zoneout, tuple) else (zoneout, zoneout)
        if len(z) != 2:
            raise ValueError(
                f"zoneout must be a number or a pair (zeta_c, zeta_h), got {zoneout!r}"
            )
        self.zoneout = (_check_probability(z[0], "zoneout"), _check_probability(z[1], "zoneout"))
        G, H = self._gates, self.hidden_size
        for layer in range(self.num_layers):
            for sfx in self._suffixes(layer):
                if self.variant == "peephole":
                    self.register_parameter(f"peephole{sfx}", nn.Parameter(torch.empty(3, H)))
                if self.layer_norm:
                    self.register_parameter(f"ln_ih{sfx}", nn.Parameter(torch.empty(G * H)))
                    self.register_parameter(f"ln_hh{sfx}", nn.Parameter(torch.empty(G * H)))
                    self.register_parameter(f"ln_c{sfx}", nn.Parameter(torch.empty(2, H)))
        self.generator: torch.Generator | None = None  # zoneout masks; None: torch's global RNG
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.LSTM's uniform initialisation; then b_f = forget_bias when it is set, peephole
        weights 0, layer-norm gains 1 and the cell's layer-norm bias 0."""
        self._uniform_init()
        with torch.no_grad():
            for layer in range(self.num_layers):
                for sfx in self._suffixes(layer):
                    if self.variant == "peephole":
                        getattr(self, f"peephole{sfx}").zero_()
                    if self.layer_norm:
                        getattr(self, f"ln_ih{sfx}").fill_(1.0)
                        getattr(self, f"ln_hh{sfx}").fill_(1.0)
                        getattr(self, f"ln_c{sfx}")[0] = 1.0
                        getattr(self, f"ln_c{sfx}")[1] = 0.0
            if self.forget_bias is not None:
                forget_bias_(self, self.forget_bias)

    def forward(
        self,
        x: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
        trace: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x: (B, T, input_size); state: (h_0, c_0), each (L * num_directions, B, H), or None.

        Returns (output (B, T, num_directions * H), (h_n, c_n)), as nn.LSTM: index
        layer * num_directions + direction. ``trace``, when a list, receives (h_t, c_t) of
        every step of every layer and direction, in the order computed.
        """
        B = self._check_input(x)
        if state is None:
            h0 = c0 = None
        elif not (isinstance(state, tuple | list) and len(state) == 2):
            raise TypeError(f"state must be a pair (h_0, c_0) or None, got {type(state).__name__}")
        else:
            h0, c0 = state
        h0 = self._initial(h0, B, x, "h_0")
        c0 = self._initial(c0, B, x, "c_0")
        layer_input, h_n, c_n = x, [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction, sfx in enumerate(self._suffixes(layer)):
                k = layer * self.num_directions + direction
                out, (h, c) = lstm_layer(
                    layer_input,
                    h0[k],
                    c0[k],
                    *self._params(sfx),
                    variant=self.variant,
                    peephole=getattr(self, f"peephole{sfx}", None),
                    ln=self._ln(sfx),
                    zoneout=self.zoneout,
                    training=self.training,
                    reverse=direction == 1,
                    trace=trace,
                    fused=self.fused,
                    generator=self.generator,
                    ln_form=self.layer_norm or "ba",
                )
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
        return layer_input, (torch.stack(h_n), torch.stack(c_n))

    def _ln(self, sfx: str) -> tuple[torch.Tensor, ...] | None:
        if not self.layer_norm:
            return None
        ln_c = getattr(self, f"ln_c{sfx}")
        return getattr(self, f"ln_ih{sfx}"), getattr(self, f"ln_hh{sfx}"), ln_c[0], ln_c[1]

    @classmethod
    def from_torch(cls, module: nn.LSTM) -> LSTM:
        """A vanilla LSTM holding a copy of ``module``'s weights, on its device and dtype.

        ``module`` must be batch_first with proj_size 0. Its dropout between layers
        (training mode only) is not reproduced: with dropout > 0 compare in eval mode.
        """
        return cls._from(module, nn.LSTM)

    def to_torch(self) -> nn.LSTM:
        """The nn.LSTM(batch_first=True) with a copy of these weights (vanilla only)."""
        if self.variant != "vanilla" or self.layer_norm or self.zoneout != (0.0, 0.0):
            raise ValueError(
                "only the vanilla LSTM without layer norm or zoneout has an nn.LSTM twin, "
                f"this one has variant={self.variant!r}, layer_norm={self.layer_norm}, "
                f"zoneout={self.zoneout}"
            )
        return self._to(nn.LSTM)

    def extra_repr(self) -> str:
        extra = f", variant={self.variant!r}"
        if self.forget_bias is not None:
            extra += f", forget_bias={self.forget_bias}"
        if self.layer_norm:
            extra += f", layer_norm={self.layer_norm!r}"
        if self.zoneout != (0.0, 0.0):
            extra += f", zoneout={self.zoneout}"
        return super().extra_repr() + extra


class GRU(_Recurrent):
    """A multi-layer GRU from eqs. (eq-gru-gates)-(eq-gru-update); a drop-in for nn.GRU.

    Same arguments, parameter names and shapes as ``torch.nn.GRU(batch_first=True)``:
    ``weight_ih_l{k}`` (3H, D_in), ``weight_hh_l{k}`` (3H, H), biases (3H,), gates in
    the order r, z, n. ``variant="cho"`` applies the reset
    gate before the recurrent product (eq-gru-cho) instead of after it (eq-gru-torch), with
    the same parameters.
    """

    _gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        variant: str = "pytorch",
    ) -> None:
        self.variant = check_choice(variant, "variant", GRU_VARIANTS)
        super().__init__(input_size, hidden_size, num_layers, bidirectional, bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.GRU's initialisation: everything uniform in [-1/sqrt(H), 1/sqrt(H)]."""
        self._uniform_init()

    def forward(
        self,
        x: torch.Tensor,
        h0: torch.Tensor | None = None,
        trace: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, input_size); h0: (L * num_directions, B, H) or None (zeros).

        Returns (output (B, T, num_directions * H), h_n (L * num_directions, B, H)), as
        nn.GRU. ``trace``, when a list, receives h_t of every step, in the order computed.
        """
        B = self._check_input(x)
        h0 = self._initial(h0, B, x, "h0")
        layer_input, h_n = x, []
        for layer in range(self.num_layers):
            outputs = []
            for direction, sfx in enumerate(self._suffixes(layer)):
                k = layer * self.num_directions + direction
                out, h = gru_layer(
                    layer_input,
                    h0[k],
                    *self._params(sfx),
                    variant=self.variant,
                    reverse=direction == 1,
                    trace=trace,
                    fused=self.fused,
                )
                outputs.append(out)
                h_n.append(h)
            layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
        return layer_input, torch.stack(h_n)

    @classmethod
    def from_torch(cls, module: nn.GRU) -> GRU:
        """A GRU (variant "pytorch") holding a copy of ``module``'s weights."""
        return cls._from(module, nn.GRU)

    def to_torch(self) -> nn.GRU:
        """The nn.GRU(batch_first=True) with a copy of these weights (variant "pytorch")."""
        if self.variant != "pytorch":
            raise ValueError(f"only variant 'pytorch' has an nn.GRU twin, got {self.variant!r}")
        return self._to(nn.GRU)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", variant={self.variant!r}"


# ------------------------------------------------------------------ initialisation
def init_recurrent_(module: nn.Module, scheme: str, gain: float = 1.0) -> nn.Module:
    """Re-initialise every recurrent matrix ``weight_hh*`` of ``module`` in place.

    Works on this module's LSTM and GRU, on ElmanRNN and on nn.RNN / nn.LSTM / nn.GRU.
    A weight_hh of shape (G*H, H) holds G gate blocks (H, H); each block becomes
    scheme "orthogonal": a random orthogonal matrix times ``gain`` (Saxe et al. 2014), all
        singular values = gain, so the linearised recurrence neither grows nor shrinks;
    scheme "identity": gain * I (Le et al. 2015's IRNN; for an Elman network with ReLU);
    scheme "uniform": PyTorch's default U(-1/sqrt(H), 1/sqrt(H)) (gain ignored).
    Draws from torch's global RNG. Returns ``module``.
    """
    check_choice(scheme, "scheme", ("uniform", "orthogonal", "identity"))
    if isinstance(gain, bool) or not isinstance(gain, int | float) or not math.isfinite(gain):
        raise ValueError(f"gain must be a finite number, got {gain!r}")
    found = False
    with torch.no_grad():
        for name, weight in module.named_parameters():
            if not name.startswith("weight_hh") and ".weight_hh" not in name:
                continue
            found = True
            H = weight.shape[1]
            if weight.shape[0] % H:
                raise ValueError(f"{name} must have shape (G*H, H), got {tuple(weight.shape)}")
            for block in weight.split(H, dim=0):
                if scheme == "orthogonal":
                    nn.init.orthogonal_(block, gain=gain)
                elif scheme == "identity":
                    block.copy_(gain * torch.eye(H, dtype=weight.dtype))
                else:
                    nn.init.uniform_(block, -1.0 / math.sqrt(H), 1.0 / math.sqrt(H))
    if not found:
        raise ValueError(f"module has no recurrent weights weight_hh*: {type(module).__name__}")
    return module


def forget_bias_(module: nn.Module, value: float) -> nn.Module:
    """Set the forget-gate bias b_f = b_if + b_hf of every layer and direction to ``value``.

    For nn.LSTM (and this module's LSTM with four gates), whose biases (4H,) hold the gate
    blocks in the order i, f, g, o: b_if = value and b_hf = 0, as ``LSTM(forget_bias=...)``
    does at initialisation. Returns ``module``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"value must be a finite number, got {value!r}")
    H = getattr(module, "hidden_size", None)
    biases = [
        (name, b)
        for name, b in module.named_parameters()
        if name.startswith(("bias_ih", "bias_hh"))
    ]
    if not isinstance(H, int) or not biases:
        raise ValueError(f"module must be an LSTM with biases, got {type(module).__name__}")
    with torch.no_grad():
        for name, bias in biases:
            if bias.shape != (4 * H,):
                raise ValueError(
                    f"{name} must hold 4 gate blocks (4H = {4 * H},), got {tuple(bias.shape)}"
                )
            bias[H : 2 * H] = float(value) if name.startswith("bias_ih") else 0.0
    return module


# ------------------------------------------------------------------ gradient flow
def state_jacobian_norms(states: list[torch.Tensor]) -> list[float]:
    """Spectral norms ||ds_T/ds_t||_2 for t = 1..T, from one sequence's traced states.

    states: [s_1, ..., s_T], each (1, H), the states of one sequence as a model computed
    them (``trace=`` of LSTM/GRU: the c_t or the h_t), still attached to the graph.
    The Jacobian ds_T/ds_t (H, H) is the total derivative through every path of the
    network (for the LSTM's cell: through the carousel and through h), built from H
    backward passes. Returns T norms; the last is ||I|| = 1.
    """
    if not states:
        raise ValueError("states must be a non-empty list of (1, H) tensors, got an empty list")
    last = states[-1]
    if last.dim() != 2 or last.shape[0] != 1:
        raise ValueError(f"states must be (1, H) tensors of one sequence, got {tuple(last.shape)}")
    H = last.shape[1]
    rows = []  # row j: d s_T[j] / d s_t for all t
    earlier = states[:-1]
    for j in range(H):
        grads = torch.autograd.grad(last[0, j], earlier, retain_graph=True, allow_unused=True)
        rows.append([torch.zeros(H) if g is None else g[0].detach().cpu() for g in grads])
    norms = []
    for t in range(len(earlier)):
        jac = torch.stack([rows[j][t] for j in range(H)])  # (H, H)
        norms.append(float(torch.linalg.matrix_norm(jac.double(), ord=2)))
    return [*norms, 1.0]
