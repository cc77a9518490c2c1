"""Recurrent networks with delay connections (chapter 2, "Memory in time").

A plain RNN links h_t to h_{t-1} only, so the gradient from a loss k steps later crosses k
Jacobians (eq-bptt-jacobian). A delay connection adds a second recurrent weight from the
state d steps back, in the spirit of NARX networks and of the delayed connections of El Hihi
and Bengio:

    delay RNN (eq-delay-rnn)   a_t = W_xh x_t + W_hh h_{t-1} + W_hd h_{t-d} + b_h,  h_t = tanh(a_t)

with h_s = h_0 for every s <= 0. The unfolded graph then holds paths that jump d steps at a
time; the shortest path from h_t to h_{t+k} crosses

    shortest path (eq-delay-path)   m(k, d) = floor(k / d) + (k mod d)

Jacobians instead of k, so a gradient that shrinks by a factor lambda per Jacobian decays
like lambda^(k/d) rather than lambda^k along it.

Contents: ``DelayRNN`` (one layer, tanh, batch first, nn.RNN's parameter names plus
``weight_hd_l0``) and ``shortest_path``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_int, check_sequence, initial_state

__all__ = ["DelayRNN", "shortest_path"]


def shortest_path(lag: int, delay: int) -> int:
    """m(k, d) of eq. (eq-delay-path): the fewest Jacobians between h_t and h_{t+lag}.

    Steps of 1 and of ``delay`` are allowed; the best path takes floor(lag / delay) jumps of
    ``delay`` and lag mod delay single steps. lag >= 0, delay >= 1; delay = 1 gives lag.
    """
    lag = check_int(lag, "lag", low=0)
    delay = check_int(delay, "delay", low=1)
    return lag // delay + lag % delay


class DelayRNN(nn.Module):
    """A tanh RNN with a second recurrent connection from d steps back, eq. (eq-delay-rnn).

    a_t = W_xh x_t + b_ih + W_hh h_{t-1} + b_hh + W_hd h_{t-d},  h_t = tanh(a_t),
    h_s = h_0 for s <= 0. Parameters: ``weight_ih_l0`` (H, D), ``weight_hh_l0`` (H, H),
    ``bias_ih_l0``, ``bias_hh_l0`` (H,), named as in nn.RNN so that a one-layer ``ElmanRNN``
    state dict loads with ``strict=False``, and ``weight_hd_l0`` (H, H), the delay weight
    W_hd. All are initialised as nn.RNN does, uniform in [-1/sqrt(H), 1/sqrt(H)]; with
    W_hd = 0 the network is the Elman RNN of eq. (eq-rnn-forward). delay must be >= 2
    (delay 1 would only duplicate W_hh).
    """

    def __init__(self, input_size: int, hidden_size: int, delay: int) -> None:
        super().__init__()
        self.input_size = D = check_int(input_size, "input_size")
        self.hidden_size = H = check_int(hidden_size, "hidden_size")
        self.delay = check_int(delay, "delay", low=2)
        self.weight_ih_l0 = nn.Parameter(torch.empty(H, D))
        self.weight_hh_l0 = nn.Parameter(torch.empty(H, H))
        self.bias_ih_l0 = nn.Parameter(torch.empty(H))
        self.bias_hh_l0 = nn.Parameter(torch.empty(H))
        self.weight_hd_l0 = nn.Parameter(torch.empty(H, H))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.RNN's initialisation for every weight: uniform in [-1/sqrt(H), 1/sqrt(H)]."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, input_size); h0: (1, B, H) or None (zeros), also used for h_s, s < 0.

        Returns (output (B, T, H) with output[:, t] = h_t, h_T (1, B, H)), as nn.RNN.
        """
        B, _ = check_sequence(x, self.input_size, self.weight_ih_l0)
        h = initial_state(h0, x, self.hidden_size, self.weight_ih_l0)
        past = [h] * self.delay  # h_{t-d}, ..., h_{t-1}: the last d states, oldest first
        xw = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)  # (B, T, H)
        hs = []
        for xw_t in xw.unbind(dim=1):
            a = xw_t + F.linear(past[-1], self.weight_hh_l0, self.bias_hh_l0)
            h = torch.tanh(a + F.linear(past[0], self.weight_hd_l0))  # (B, H)
            past = past[1:] + [h]
            hs.append(h)
        return torch.stack(hs, dim=1), h[None]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, delay={self.delay}"
