"""Backpropagation through time for the LSTM and the GRU, derived by hand (chapter 4).

``seqcourse.gated`` writes each step as a few tensor operations and lets autograd build
the backward pass: a graph of about a dozen nodes per step, whose bookkeeping costs more
than the arithmetic when the model is small. Here each layer is one
``torch.autograd.Function``: the forward loop runs without a graph and keeps only the gate
activations, the backward loop applies the derivatives below, and the gradient of the
recurrent weights is one matrix product over all steps at the end. ``seqcourse.gated``
uses these for every LSTM variant without layer norm or zoneout and for both GRU forms;
tests/test_gated.py checks them against autograd of the step-by-step code.

LSTM step backward (eq-lstm-backward). Given dh = dL/dh_t (from the output at t and from
step t+1) and dc = dL/dc_t arriving from step t+1, with m = tanh(c_t):

    da_o = dh ⊙ m ⊙ o(1 - o)
    dc  <- dc + dh ⊙ o ⊙ (1 - m^2) [+ da_o ⊙ w_co]      both paths into c_t
    da_i = dc ⊙ g ⊙ i(1 - i),  da_g = dc ⊙ i ⊙ (1 - g^2),  da_f = dc ⊙ c_{t-1} ⊙ f(1 - f)
    dc_{t-1} = dc ⊙ f [+ da_i ⊙ w_ci + da_f ⊙ w_cf],   dh_{t-1} = W_hh^T da

With the forget gate fixed at 1 ("no_forget") dc passes to c_{t-1} unchanged: the constant
error carousel. With f = 1 - i ("coupled") the forget path adds -dc ⊙ c_{t-1} to di.
The weight gradients are sums over time: dL/dW_hh = sum_t da_t h_{t-1}^T, and da_t is also
dL/d(W_ih x_t + b_ih + b_hh), from which autograd finishes dL/dW_ih, dL/dx and the biases.

GRU step backward (eq-gru-backward), PyTorch's form n = tanh(x_n + r ⊙ (W_hn h + b_hn)),
h_t = n + u ⊙ (h_{t-1} - n) with u the update gate (PyTorch's z):

    dn = dh ⊙ (1 - u),  du = dh ⊙ (h_{t-1} - n),  da_n = dn ⊙ (1 - n^2)
    da_r = da_n ⊙ (W_hn h_{t-1} + b_hn) ⊙ r(1 - r),  da_u = du ⊙ u(1 - u)
    dh_{t-1} = dh ⊙ u + W_hh^T [da_r, da_u, da_n ⊙ r]

In Cho et al.'s form the reset gate scales h before W_hn: with q = r ⊙ h_{t-1},
dq = W_hn^T da_n, and da_r = dq ⊙ h_{t-1} ⊙ r(1 - r), dh_{t-1} gains dq ⊙ r.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["fused_lstm", "fused_gru"]

_LSTM_CODES = {"vanilla": 0, "peephole": 1, "coupled": 2, "no_forget": 3}


def _steps(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _previous(seq: torch.Tensor, first: torch.Tensor, reverse: bool) -> torch.Tensor:
    """The value before each step: seq (B, T, H) shifted one step against the direction of
    computation, with ``first`` (B, H) at the first step computed."""
    if reverse:
        return torch.cat([seq[:, 1:], first[:, None]], dim=1)
    return torch.cat([first[:, None], seq[:, :-1]], dim=1)


# ------------------------------------------------------------------------------ LSTM
def _lstm_order(G: int, H: int, device: torch.device) -> torch.Tensor:
    """Row permutation from PyTorch's gate order (i, f, g, o) or (i, g, o) to the internal
    order (i, f, o, g) or (i, o, g): the sigmoid gates first, so one call activates them."""
    blocks = [0, 1, 3, 2] if G == 4 else [0, 2, 1]
    return torch.cat([torch.arange(b * H, (b + 1) * H, device=device) for b in blocks])


class _FusedLSTM(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        xw: torch.Tensor,
        h0: torch.Tensor,
        c0: torch.Tensor,
        W_hh: torch.Tensor,
        peephole: torch.Tensor,
        variant: str,
        reverse: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        H = h0.shape[1]
        G = W_hh.shape[0] // H
        S = G - 1  # sigmoid gates: i, f, o (or i, o); g is last
        order = _lstm_order(G, H, xw.device)
        xw, W = xw.index_select(2, order), W_hh.index_select(0, order)
        peep = variant == "peephole"
        W_t = W.t()
        h, c = h0, c0
        acts, cs, us, hs = [], [], [], []  # per step, in the order computed
        for t in _steps(xw.shape[1], reverse):
            a = torch.addmm(xw[:, t], h, W_t)  # (B, G*H), gates i, f, o, g
            if peep:
                a[:, :H].addcmul_(peephole[0], c)
                a[:, H : 2 * H].addcmul_(peephole[1], c)
                a[:, : 2 * H].sigmoid_()
            else:
                a[:, : S * H].sigmoid_()
            i, g = a[:, :H], a[:, S * H :].tanh_()
            if variant == "coupled":  # f = 1 - i: c = c + i (g - c)
                c = torch.addcmul(c, i, g - c)
            elif variant == "no_forget":
                c = torch.addcmul(c, i, g)
            else:
                c = torch.addcmul(a[:, H : 2 * H] * c, i, g)
            o = a[:, (S - 1) * H : S * H]
            if peep:
                o.addcmul_(peephole[2], c).sigmoid_()
            u = torch.tanh(c)
            h = o * u
            acts.append(a)
            cs.append(c)
            us.append(u)
            hs.append(h)
        if reverse:
            for seq in (acts, cs, us, hs):
                seq.reverse()
        acts_t, cs_t, us_t, hs_t = (torch.stack(seq, dim=1) for seq in (acts, cs, us, hs))
        ctx.save_for_backward(acts_t, cs_t, us_t, hs_t, h0, c0, W, peephole, order)
        ctx.variant, ctx.reverse = variant, reverse
        return hs_t, h, c

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, d_out: torch.Tensor, d_hT: torch.Tensor, d_cT: torch.Tensor
    ) -> tuple[Any, ...]:
        acts, cs, us, hs, h0, c0, W, peephole, order = ctx.saved_tensors
        variant, reverse = ctx.variant, ctx.reverse
        B, T, H = hs.shape
        GH = acts.shape[2]
        S = GH // H - 1
        peep = variant == "peephole"
        c_prev_all = _previous(cs, c0, reverse)
        i_all, o_all = acts[..., :H], acts[..., (S - 1) * H : S * H]
        g_all = acts[..., S * H :]
        # every factor that does not depend on the incoming gradient, for all steps at once
        deriv = torch.cat([acts[..., : S * H] * (1 - acts[..., : S * H]), 1 - g_all * g_all], 2)
        o_dtanh = o_all * (1 - us * us)  # dh_t/dc_t through h = o tanh(c)
        if variant == "coupled":
            i_src, keep = (
                g_all - c_prev_all,
                1 - i_all,
            )  # di gets -dc c_{t-1}; dc_{t-1} = dc (1 - i)
        else:
            i_src = g_all
            keep = acts[..., H : 2 * H] if variant in ("vanilla", "peephole") else None
        raw = torch.empty_like(acts)  # dL/d(gate activation), internal order i, f, o, g
        da_all = torch.empty_like(acts)  # dL/d(gate pre-activation)
        dh_next, dc = d_hT, d_cT
        for t in _steps(T, not reverse):
            r, da = raw[:, t], da_all[:, t]
            dh = d_out[:, t] + dh_next
            torch.mul(dh, us[:, t], out=r[:, (S - 1) * H : S * H])  # do
            dc = torch.addcmul(dc, dh, o_dtanh[:, t])
            if peep:
                dc = dc + r[:, 2 * H : 3 * H] * deriv[:, t, 2 * H : 3 * H] * peephole[2]
            torch.mul(dc, i_src[:, t], out=r[:, :H])  # di
            if S == 3:
                torch.mul(dc, c_prev_all[:, t], out=r[:, H : 2 * H])  # df
            torch.mul(dc, i_all[:, t], out=r[:, S * H :])  # dg
            torch.mul(r, deriv[:, t], out=da)
            dh_next = da @ W  # (B, H)
            if keep is not None:
                dc_prev = dc * keep[:, t]
                if peep:
                    dc_prev = dc_prev + da[:, :H] * peephole[0] + da[:, H : 2 * H] * peephole[1]
                dc = dc_prev
        h_prev_all = _previous(hs, h0, reverse)
        d_W = da_all.reshape(-1, GH).t() @ h_prev_all.reshape(-1, H)  # sum_t da_t h_{t-1}^T
        d_peep = None
        if peep:
            d_peep = torch.stack(
                [
                    (da_all[..., :H] * c_prev_all).sum((0, 1)),
                    (da_all[..., H : 2 * H] * c_prev_all).sum((0, 1)),
                    (da_all[..., 2 * H : 3 * H] * cs).sum((0, 1)),
                ]
            )
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order), device=order.device)
        return (
            da_all.index_select(2, inverse),
            dh_next,
            dc,
            d_W.index_select(0, inverse),
            d_peep,
            None,
            None,
        )


def fused_lstm(
    xw: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    W_hh: torch.Tensor,
    variant: str = "vanilla",
    peephole: torch.Tensor | None = None,
    reverse: bool = False,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One LSTM layer with the hand-derived backward pass (eq-lstm-backward).

    xw: (B, T, G*H) = W_ih x_t + b_ih + b_hh for every t (both biases included);
    h0, c0: (B, H); W_hh: (G*H, H); peephole: (3, H) for variant "peephole".
    Returns (output (B, T, H), (h_last, c_last)), like ``seqcourse.gated.lstm_layer``.
    """
    if variant not in _LSTM_CODES:
        raise ValueError(f"variant must be one of {tuple(_LSTM_CODES)}, got {variant!r}")
    if (peephole is not None) != (variant == "peephole"):
        raise ValueError("peephole weights must be given exactly when variant='peephole'")
    peep = peephole if peephole is not None else xw.new_zeros(0)
    out, h, c = _FusedLSTM.apply(xw, h0, c0, W_hh, peep, variant, reverse)
    return out, (h, c)


# ------------------------------------------------------------------------------- GRU
class _FusedGRU(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        xw: torch.Tensor,
        h0: torch.Tensor,
        W_hh: torch.Tensor,
        b_hh: torch.Tensor,
        cho: bool,
        reverse: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = xw.shape
        H = h0.shape[1]
        gates = xw.new_empty(B, T, 3 * H)  # r, u (PyTorch's z), n
        extra = xw.new_empty(B, T, H)  # W_hn h + b_hn (PyTorch) or r ⊙ h (Cho)
        hs = xw.new_empty(B, T, H)
        W_rz_t, W_n_t = W_hh[: 2 * H].t(), W_hh[2 * H :].t()
        b_rz, b_n = b_hh[: 2 * H], b_hh[2 * H :]
        W_t = W_hh.t()
        h = h0
        for t in _steps(T, reverse):
            x_t = xw[:, t]
            if cho:
                rz = torch.addmm(b_rz, h, W_rz_t).add_(x_t[:, : 2 * H]).sigmoid_()
                q = rz[:, :H] * h
                n = torch.addmm(b_n, q, W_n_t).add_(x_t[:, 2 * H :]).tanh_()
                extra[:, t] = q
            else:
                hw = torch.addmm(b_hh, h, W_t)  # (B, 3H)
                rz = hw[:, : 2 * H].add(x_t[:, : 2 * H]).sigmoid_()
                hn = hw[:, 2 * H :]
                n = torch.addcmul(x_t[:, 2 * H :], rz[:, :H], hn).tanh_()
                extra[:, t] = hn
            h = torch.addcmul(n, rz[:, H:], h - n)
            gates[:, t, : 2 * H], gates[:, t, 2 * H :], hs[:, t] = rz, n, h
        ctx.save_for_backward(gates, extra, hs, h0, W_hh)
        ctx.cho, ctx.reverse = cho, reverse
        return hs, h

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, d_out: torch.Tensor, d_hT: torch.Tensor
    ) -> tuple[Any, ...]:
        gates, extra, hs, h0, W_hh = ctx.saved_tensors
        cho, reverse = ctx.cho, ctx.reverse
        B, T, H = hs.shape
        h_prev_all = _previous(hs, h0, reverse)
        d_xw = torch.empty_like(gates)  # dL/d(W_ih x_t + b_ih): (da_r, da_z, da_n)
        d_hw = torch.empty_like(gates)  # dL/d(the recurrent pre-activations)
        W_rz, W_n = W_hh[: 2 * H], W_hh[2 * H :]
        dh_next = d_hT.clone()
        for t in _steps(T, not reverse):
            r, z, n = gates[:, t, :H], gates[:, t, H : 2 * H], gates[:, t, 2 * H :]
            h_prev = h_prev_all[:, t]
            dh = d_out[:, t] + dh_next
            dx, dhw = d_xw[:, t], d_hw[:, t]
            da_n = dx[:, 2 * H :]
            torch.mul(dh * (1 - z), 1 - n * n, out=da_n)
            torch.mul(dh * (h_prev - n), z * (1 - z), out=dx[:, H : 2 * H])
            if cho:
                dq = da_n @ W_n  # dL/d(r ⊙ h_{t-1})
                torch.mul(dq * h_prev, r * (1 - r), out=dx[:, :H])
                dhw[:, 2 * H :] = da_n
                dhw[:, : 2 * H] = dx[:, : 2 * H]
                dh_next = dh * z + dq * r + dx[:, : 2 * H] @ W_rz
            else:
                torch.mul(da_n * extra[:, t], r * (1 - r), out=dx[:, :H])
                dhw[:, : 2 * H] = dx[:, : 2 * H]
                torch.mul(da_n, r, out=dhw[:, 2 * H :])
                dh_next = dh * z + dhw @ W_hh
        rows = d_hw.reshape(-1, 3 * H).t()
        if cho:  # W_hn multiplies r ⊙ h_{t-1}; W_hr, W_hz multiply h_{t-1}
            d_W = torch.cat(
                [rows[: 2 * H] @ h_prev_all.reshape(-1, H), rows[2 * H :] @ extra.reshape(-1, H)]
            )
        else:
            d_W = rows @ h_prev_all.reshape(-1, H)
        return d_xw, dh_next, d_W, d_hw.sum((0, 1)), None, None


def fused_gru(
    xw: torch.Tensor,
    h0: torch.Tensor,
    W_hh: torch.Tensor,
    b_hh: torch.Tensor | None,
    variant: str = "pytorch",
    reverse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One GRU layer with the hand-derived backward pass (eq-gru-backward).

    xw: (B, T, 3H) = W_ih x_t + b_ih for every t; h0: (B, H); W_hh: (3H, H); b_hh: (3H,)
    or None. Returns (output (B, T, H), h_last), like ``seqcourse.gated.gru_layer``.
    """
    if variant not in ("pytorch", "cho"):
        raise ValueError(f"variant must be 'pytorch' or 'cho', got {variant!r}")
    b = b_hh if b_hh is not None else W_hh.new_zeros(W_hh.shape[0])
    return _FusedGRU.apply(xw, h0, W_hh, b, variant == "cho", reverse)
