"""Backpropagation through time for the LSTM and the GRU, derived by hand (chapter 4).

``seqcourse.gated`` writes each step as a few tensor operations and lets autograd build
the backward pass. Here each layer is one ``torch.autograd.Function`` whose backward loop
applies the derivatives below, written out by hand: the forward loop runs without a graph
and keeps only the gate activations, and the gradient of the recurrent weights is one
matrix product over all steps at the end. ``LSTM``/``GRU`` use it when ``model.fused =
True`` (every LSTM variant without layer norm or zoneout, both GRU forms);
tests/test_gated.py checks it against autograd of the step code to 1e-12 in float64.
The vanilla LSTM gets a whole-layer function (``fused_lstm_layer``) laid out as cuDNN lays
it out: the input projection inside, a time-major loop, gate activations written over the
pre-activations, and every weight gradient one product at the end. On the CPU in float32 two
more changes help: the recurrent weight is packed once per call into the blocked layout of
oneDNN's matrix product (the library under nn.LSTM), which then computes each step's product
and adds the input projection faster than MKL's torch.addmm, and tanh is computed as
2 sigmoid(2x) - 1, faster there than torch.tanh. On a 2-core CPU (bench/lstm_bench.py,
B 64, T 100, D 64, H 256) it runs about 1.05x nn.LSTM's time on one thread and 1.1-1.25x on
two (1.2-1.4x before those two changes); the spread between runs on a shared machine is
about as large as that range.

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

GRU step backward (the derivative of eq-gru-torch), PyTorch's form
n = tanh(x_n + r ⊙ (W_hn h + b_hn)), h_t = n + z ⊙ (h_{t-1} - n) with z the update gate:

    dn = dh ⊙ (1 - z),  dz = dh ⊙ (h_{t-1} - n),  da_n = dn ⊙ (1 - n^2)
    da_r = da_n ⊙ (W_hn h_{t-1} + b_hn) ⊙ r(1 - r),  da_z = dz ⊙ z(1 - z)
    dh_{t-1} = dh ⊙ z + W_hh^T [da_r, da_z, da_n ⊙ r]

In Cho et al.'s form the reset gate scales h before W_hn: with q = r ⊙ h_{t-1},
dq = W_hn^T da_n, and da_r = dq ⊙ h_{t-1} ⊙ r(1 - r), dh_{t-1} gains dq ⊙ r.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from seqcourse._checks import check_choice

__all__ = ["fused_gru", "fused_lstm", "fused_lstm_layer"]

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
def _swap_last_blocks(a: torch.Tensor, H: int, dim: int) -> torch.Tensor:
    """Swap the last two blocks of H along ``dim``: PyTorch's gate order (i, f, g, o) or
    (i, g, o) becomes (i, f, o, g) or (i, o, g), the sigmoid gates first so that one call
    activates them, and back (the swap is its own inverse)."""
    n = a.shape[dim]
    return torch.cat(
        [a.narrow(dim, 0, n - 2 * H), a.narrow(dim, n - H, H), a.narrow(dim, n - 2 * H, H)],
        dim=dim,
    )


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
        # time-major and contiguous, so that every step reads and writes whole blocks
        xw = _swap_last_blocks(xw.transpose(0, 1), H, 2)  # (T, B, G*H)
        W = _swap_last_blocks(W_hh, H, 0)
        peep = variant == "peephole"
        W_t = W.t()
        T, B, GH = xw.shape
        acts = torch.empty_like(xw)  # gate activations, time-major (T, B, G*H)
        # cells and states with their initial value at one end: C[k] is c_{t-1} when C[k+1]
        # (forward) or C[k-1] (reverse) is c_t, so c_{t-1} for all t is a view, not a copy
        C, Hs, us = xw.new_empty(T + 1, B, H), xw.new_empty(T + 1, B, H), xw.new_empty(T, B, H)
        first, shift = (T, 0) if reverse else (0, 1)
        C[first], Hs[first] = c0, h0
        h, c = h0, c0
        for t in _steps(T, reverse):
            a = torch.addmm(xw[t], h, W_t, out=acts[t])  # (B, G*H), gates i, f, o, g
            if peep:
                a[:, :H].addcmul_(peephole[0], c)
                a[:, H : 2 * H].addcmul_(peephole[1], c)
                a[:, : 2 * H].sigmoid_()
            else:
                a[:, : S * H].sigmoid_()
            i, g = a[:, :H], a[:, S * H :].tanh_()
            c_new = C[t + shift]
            if variant == "coupled":  # f = 1 - i: c = c + i (g - c)
                torch.addcmul(c, i, g - c, out=c_new)
            elif variant == "no_forget":
                torch.addcmul(c, i, g, out=c_new)
            else:
                torch.addcmul(a[:, H : 2 * H] * c, i, g, out=c_new)
            c = c_new
            o = a[:, (S - 1) * H : S * H]
            if peep:
                o.addcmul_(peephole[2], c).sigmoid_()
            h = torch.mul(o, torch.tanh(c, out=us[t]), out=Hs[t + shift])
        ctx.save_for_backward(acts, C, us, Hs, W, peephole)
        ctx.variant, ctx.reverse = variant, reverse
        out = Hs[:T] if reverse else Hs[1:]
        return out.transpose(0, 1).contiguous(), h.clone(), c.clone()

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, d_out: torch.Tensor, d_hT: torch.Tensor, d_cT: torch.Tensor
    ) -> tuple[Any, ...]:
        acts, C, us, Hs, W, peephole = ctx.saved_tensors  # time-major
        variant, reverse = ctx.variant, ctx.reverse
        T, B, H = us.shape
        cs, c_prev_all = (C[:T], C[1:]) if reverse else (C[1:], C[:T])
        h_prev_all = Hs[1:] if reverse else Hs[:T]
        d_out = d_out.transpose(0, 1).contiguous()  # (T, B, H)
        GH = acts.shape[2]
        S = GH // H - 1
        peep = variant == "peephole"
        i_all, o_all = acts[..., :H], acts[..., (S - 1) * H : S * H]
        g_all = acts[..., S * H :]
        # every factor that does not depend on the incoming gradient, for all steps at once
        deriv = torch.empty_like(acts)
        sig = acts[..., : S * H]
        torch.addcmul(sig, sig, sig, value=-1, out=deriv[..., : S * H])  # s (1 - s)
        torch.addcmul(torch.ones_like(g_all), g_all, g_all, value=-1, out=deriv[..., S * H :])
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
            r, da = raw[t], da_all[t]
            dh = d_out[t] + dh_next
            torch.mul(dh, us[t], out=r[:, (S - 1) * H : S * H])  # do
            dc = torch.addcmul(dc, dh, o_dtanh[t])
            if peep:
                dc = dc + r[:, 2 * H : 3 * H] * deriv[t, :, 2 * H : 3 * H] * peephole[2]
            torch.mul(dc, i_src[t], out=r[:, :H])  # di
            if S == 3:
                torch.mul(dc, c_prev_all[t], out=r[:, H : 2 * H])  # df
            torch.mul(dc, i_all[t], out=r[:, S * H :])  # dg
            torch.mul(r, deriv[t], out=da)
            dh_next = da @ W  # (B, H)
            if keep is not None:
                dc_prev = dc * keep[t]
                if peep:
                    dc_prev = dc_prev + da[:, :H] * peephole[0] + da[:, H : 2 * H] * peephole[1]
                dc = dc_prev
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
        return (
            _swap_last_blocks(da_all, H, 2).transpose(0, 1),
            dh_next,
            dc,
            _swap_last_blocks(d_W, H, 0),
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
    check_choice(variant, "variant", tuple(_LSTM_CODES))
    if (peephole is not None) != (variant == "peephole"):
        raise ValueError("peephole weights must be given exactly when variant='peephole'")
    peep = peephole if peephole is not None else xw.new_zeros(0)
    out, h, c = _FusedLSTM.apply(xw, h0, c0, W_hh, peep, variant, reverse)
    return out, (h, c)


def _ifog(H: int, device: torch.device) -> torch.Tensor:
    """Row order that moves PyTorch's gates (i, f, g, o) to (i, f, o, g): sigmoid gates first."""
    r = torch.arange(4 * H, device=device)  # made on the device: no copy while capturing
    return torch.cat([r[: 2 * H], r[3 * H :], r[2 * H : 3 * H]])


def _recurrent_product(
    W: torch.Tensor, rows: int
) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """``product(h, acc)`` = acc + h @ W^T, for the per-step products of one layer call
    with W fixed; ``acc`` may be None, and may be overwritten. On the CPU in float32 it is
    oneDNN's product with W packed once per call into oneDNN's blocked layout and the
    addition fused into it; elsewhere, or if the build lacks the operator, torch.addmm.
    On a 2-core AMD EPYC, (64, 256) x (256, 1024) took 180 µs this way against 270 µs
    for torch.addmm (MKL) on two threads, 320 against 360 on one."""
    if W.device.type == "cpu" and W.dtype == torch.float32 and _ONEDNN_LINEAR:
        try:
            packed = torch.ops.mkldnn._reorder_linear_weight(W.contiguous(), rows)
        except (RuntimeError, TypeError):  # a shape the operator does not take
            packed = None
        if packed is not None:
            linear = torch.ops.mkldnn._linear_pointwise

            def onednn(h: torch.Tensor, acc: torch.Tensor | None) -> torch.Tensor:
                if acc is None:
                    return linear(h, packed, None, "none", [], "")
                return linear.binary(h, acc, packed, None, "add")

            return onednn
    W_t = W.t()

    def plain(h: torch.Tensor, acc: torch.Tensor | None) -> torch.Tensor:
        return torch.mm(h, W_t) if acc is None else acc.addmm_(h, W_t)

    return plain


def _onednn_linear_works() -> bool:
    """Whether this PyTorch build has oneDNN's packed-weight product and it computes what
    torch.addmm computes. The operators are internal to PyTorch (its compiler uses them), so
    one small probe at import decides: any error or mismatch and the layer keeps addmm."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        gen = torch.Generator().manual_seed(0)
        W, h, acc = (torch.randn(shape, generator=gen) for shape in ((8, 5), (3, 5), (3, 8)))
        packed = torch.ops.mkldnn._reorder_linear_weight(W, 3)
        got = torch.ops.mkldnn._linear_pointwise.binary(h, acc, packed, None, "add")
        bare = torch.ops.mkldnn._linear_pointwise(h, packed, None, "none", [], "")
    except (AttributeError, RuntimeError, TypeError):
        return False
    return torch.allclose(got, torch.addmm(acc, h, W.t()), atol=1e-5) and torch.allclose(
        bare, h @ W.t(), atol=1e-5
    )


_ONEDNN_LINEAR = _onednn_linear_works()


def _tanh(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x, out=out)


def _tanh_by_sigmoid(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """tanh(x) = 2 sigmoid(2x) - 1: four vectorised passes, yet on the CPU 2-3x faster than
    torch.tanh, whose vectorised kernel is slow (64 x 256 numbers: 18 µs against 47 µs)."""
    return torch.add(x, x, out=out).sigmoid_().mul_(2).sub_(1)


class _FusedLSTMLayer(torch.autograd.Function):
    """The vanilla LSTM layer in the layout cuDNN uses: the input projection of every step is
    one matrix product inside the function, the loop is time-major so that every step reads
    and writes whole contiguous blocks, activations overwrite the pre-activations in place,
    and the three weight gradients are each one product over all T * B rows at the end."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        h0: torch.Tensor,
        c0: torch.Tensor,
        W_ih: torch.Tensor,
        W_hh: torch.Tensor,
        b: torch.Tensor,
        reverse: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, D = x.shape
        H = h0.shape[1]
        x_tm = x.transpose(0, 1).reshape(T * B, D)  # time-major copy, rows t * B + b
        acts = torch.addmm(b, x_tm, W_ih.t()).view(T, B, 4 * H)  # gates i, f, o, g
        # C[k], Hs[k]: the state after k steps in the order computed (C[0] = c_0)
        C, Hs, M = x.new_empty(T + 1, B, H), x.new_empty(T + 1, B, H), x.new_empty(T, B, H)
        C[0], Hs[0] = c0, h0
        product = _recurrent_product(W_hh.detach(), B)
        tanh = _tanh_by_sigmoid if x.device.type == "cpu" else _tanh
        steps = list(acts.unbind(0))  # by time; oneDNN's product returns a new block
        for k, t in enumerate(_steps(T, reverse)):
            a = steps[t] = product(Hs[k], steps[t])  # (B, 4H): x_t W_ih^T + b + h W_hh^T
            a[:, : 3 * H].sigmoid_()
            tanh(a[:, 3 * H :], a[:, 3 * H :])
            c = torch.mul(a[:, H : 2 * H], C[k], out=C[k + 1]).addcmul_(a[:, :H], a[:, 3 * H :])
            torch.mul(a[:, 2 * H : 3 * H], tanh(c, M[t]), out=Hs[k + 1])
        ctx.save_for_backward(x_tm, C, Hs, M, W_ih, W_hh)
        ctx.steps = steps  # intermediates, not inputs or outputs: kept on ctx
        ctx.reverse = reverse
        out = Hs[1:].flip(0) if reverse else Hs[1:]  # (T, B, H) by time
        return out.transpose(0, 1), Hs[T].clone(), C[T].clone()

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, d_out: torch.Tensor, d_hT: torch.Tensor, d_cT: torch.Tensor
    ) -> tuple[Any, ...]:
        x_tm, C, Hs, M, W_ih, W_hh = ctx.saved_tensors
        steps = ctx.steps
        T, (B, GH) = len(steps), steps[0].shape
        H = GH // 4
        d_out = d_out.transpose(0, 1)  # (T, B, H) by time, a view
        dA = steps[0].new_empty(T, B, GH)  # dL/d(pre-activation), rows by time
        ones = steps[0].new_ones(B, H)
        dh, dc = d_hT, d_cT.clone()
        order = list(_steps(T, ctx.reverse))
        product = _recurrent_product(W_hh.t(), B)  # r -> r @ W_hh
        for k in range(T - 1, -1, -1):
            t = order[k]
            s, r, m = steps[t], dA[t], M[t]
            i, f, o, g = s[:, :H], s[:, H : 2 * H], s[:, 2 * H : 3 * H], s[:, 3 * H :]
            dh = dh + d_out[t]
            torch.mul(dh, m, out=r[:, 2 * H : 3 * H])  # dL/do
            dc.addcmul_(dh, torch.addcmul(ones, m, m, value=-1).mul_(o))  # dh o (1 - m^2)
            torch.mul(dc, g, out=r[:, :H])  # dL/di
            torch.mul(dc, C[k], out=r[:, H : 2 * H])  # dL/df: c_{t-1}
            torch.mul(dc, i, out=r[:, 3 * H :])  # dL/dg
            sig = s[:, : 3 * H]
            r[:, : 3 * H].mul_(torch.addcmul(sig, sig, sig, value=-1))  # s (1 - s)
            r[:, 3 * H :].mul_(torch.addcmul(ones, g, g, value=-1))  # 1 - g^2
            dh = product(r, None)  # dL/dh_{t-1} = da W_hh
            dc.mul_(f)  # dL/dc_{t-1}
        rows = dA.view(T * B, GH)
        h_prev = (Hs[:T].flip(0) if ctx.reverse else Hs[:T]).reshape(T * B, H)  # by time
        d_W_hh = rows.t() @ h_prev
        d_W_ih = rows.t() @ x_tm
        d_x = (rows @ W_ih).view(T, B, -1).transpose(0, 1)
        return d_x, dh, dc, d_W_ih, d_W_hh, rows.sum(0), None


def fused_lstm_layer(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    W_ih: torch.Tensor,
    W_hh: torch.Tensor,
    b_ih: torch.Tensor | None,
    b_hh: torch.Tensor | None,
    reverse: bool = False,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """The vanilla LSTM layer with the hand-derived backward pass (eq-lstm-backward), input
    projection included: x (B, T, D), h0, c0 (B, H), W_ih (4H, D), W_hh (4H, H), biases (4H,)
    or None, in PyTorch's gate order. Returns (output (B, T, H), (h_last, c_last)), like
    ``seqcourse.gated.lstm_layer``; the fastest from-scratch path on the CPU (bench/)."""
    H = W_hh.shape[1]
    perm = _ifog(H, W_hh.device)
    biases = [v for v in (b_ih, b_hh) if v is not None]
    b = sum(biases[1:], biases[0]) if biases else W_hh.new_zeros(4 * H)
    out, h, c = _FusedLSTMLayer.apply(x, h0, c0, W_ih[perm], W_hh[perm], b[perm], reverse)
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
        gates = xw.new_empty(B, T, 3 * H)  # r, z, n
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
    """One GRU layer with the hand-derived backward pass (derivative of eq-gru-torch).

    xw: (B, T, 3H) = W_ih x_t + b_ih for every t; h0: (B, H); W_hh: (3H, H); b_hh: (3H,)
    or None. Returns (output (B, T, H), h_last), like ``seqcourse.gated.gru_layer``.
    """
    if variant not in ("pytorch", "cho"):
        raise ValueError(f"variant must be 'pytorch' or 'cho', got {variant!r}")
    b = b_hh if b_hh is not None else W_hh.new_zeros(W_hh.shape[0])
    return _FusedGRU.apply(xw, h0, W_hh, b, variant == "cho", reverse)
