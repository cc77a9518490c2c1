"""Deep recurrent networks: where an RNN can be made deeper (chapter 2, architectures page).

Pascanu, Gulcehre, Cho and Bengio (2014) point out three places in an Elman RNN that are a
single affine map followed by a nonlinearity, each of which can be replaced by a deeper
network, and contrast them with stacking recurrent layers. With u_t an intermediate layer:

    deep transition  (eq-deep-transition)  u_t = tanh(W_xu x_t + W_hu h_{t-1} + b_u)
                                           h_t = tanh(W_uh u_t + b_h)
    ... with shortcut (eq-deep-shortcut)   h_t = tanh(W_uh u_t + W_hh h_{t-1} + b_h)
    deep output      (eq-deep-output)      s_t = W_vz tanh(W_hv h_t + b_v) + b_z
    stacked          (eq-stacked-rnn)      h^l_t = tanh(W^l_ih h^{l-1}_t + W^l_hh h^l_{t-1} + b^l),
                                           h^0_t = x_t, l = 1..L
    skip connections (eq-stacked-skip)     layer l >= 2 also reads x_t through W^l_xh, and the
                                           read-out sees every layer: s_t = sum_l W^l_hz h^l_t + b_z

Contents: ``DeepTransitionRNN`` (with or without the shortcut), ``DeepOutput`` (an MLP
read-out), ``StackedRNN`` (nn.RNN(num_layers=L) when both skips are off, equal to it to
rounding, with nn.RNN's parameter names). All are batch-first and return
``(output, h_n)`` like nn.RNN, and are written in plain PyTorch operations, so
``seqcourse.train.train_seeds`` can train several seeds of them at once with vmap.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_bool, check_int, check_sequence, check_state, initial_state
from seqcourse.rnn import elman_layer

__all__ = ["DeepOutput", "DeepTransitionRNN", "StackedRNN"]


def _uniform_(param: nn.Parameter, fan_in: int) -> None:
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(param, -bound, bound)


class DeepTransitionRNN(nn.Module):
    """An RNN whose step from h_{t-1} to h_t is a two-layer network (DT-RNN).

    Equations (eq-deep-transition); with ``shortcut=True`` also the direct path from h_{t-1}
    to h_t past the intermediate layer, (eq-deep-shortcut), Pascanu et al.'s DT(S)-RNN:

        u_t = tanh(W_xu x_t + W_hu h_{t-1} + b_u)                        (U,)
        h_t = tanh(W_uh u_t [+ W_hh h_{t-1}] + b_h)                      (H,)

    Parameters: ``weight_xu`` (U, D), ``weight_hu`` (U, H), ``bias_u`` (U,), ``weight_uh``
    (H, U), ``bias_h`` (H,), and ``weight_hh`` (H, H) with the shortcut; U =
    ``transition_size`` (default H). Each weight starts uniform in +-1/sqrt(fan-in).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        transition_size: int | None = None,
        shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = D = check_int(input_size, "input_size")
        self.hidden_size = H = check_int(hidden_size, "hidden_size")
        U = H if transition_size is None else transition_size
        self.transition_size = U = check_int(U, "transition_size")
        self.shortcut = check_bool(shortcut, "shortcut")
        self.weight_xu = nn.Parameter(torch.empty(U, D))
        self.weight_hu = nn.Parameter(torch.empty(U, H))
        self.bias_u = nn.Parameter(torch.empty(U))
        self.weight_uh = nn.Parameter(torch.empty(H, U))
        self.bias_h = nn.Parameter(torch.empty(H))
        self.weight_hh = nn.Parameter(torch.empty(H, H)) if shortcut else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        D, H, U = self.input_size, self.hidden_size, self.transition_size
        for param in (self.weight_xu, self.weight_hu, self.bias_u):
            _uniform_(param, D + H)
        fan_h = U + (H if self.shortcut else 0)
        for param in (self.weight_uh, self.bias_h, self.weight_hh):
            if param is not None:
                _uniform_(param, fan_h)

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, D); h0: (1, B, H) or None (zeros).

        Returns (output (B, T, H) with output[:, t] = h_t, h_n (1, B, H)), as nn.RNN.
        """
        B, _ = check_sequence(x, self.input_size, self.weight_xu)
        h = initial_state(h0, x, self.hidden_size, self.weight_xu)
        xu = F.linear(x, self.weight_xu, self.bias_u).unbind(dim=1)  # T x (B, U)
        hs = []
        for xu_t in xu:
            u = torch.tanh(xu_t + F.linear(h, self.weight_hu))  # (B, U)
            a = F.linear(u, self.weight_uh, self.bias_h)  # (B, H)
            if self.weight_hh is not None:
                a = a + F.linear(h, self.weight_hh)  # the shortcut h_{t-1} -> h_t
            h = torch.tanh(a)
            hs.append(h)
        return torch.stack(hs, dim=1), h[None]

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, transition_size={self.transition_size}, "
            f"shortcut={self.shortcut}"
        )


class DeepOutput(nn.Module):
    """A deep read-out (DO-RNN), eq. (eq-deep-output): h (..., H) -> logits s (..., C).

        s_t = W_vz tanh(W_hv h_t + b_v) + b_z,   W_hv (U, H): hidden.weight, W_vz (C, U): out.weight

    Applied to every step of a recurrent layer's output (B, T, H) it gives (B, T, C).
    """

    def __init__(self, hidden_size: int, output_size: int, inner_size: int | None = None):
        super().__init__()
        H = check_int(hidden_size, "hidden_size")
        C = check_int(output_size, "output_size")
        U = check_int(H if inner_size is None else inner_size, "inner_size")
        self.hidden, self.out = nn.Linear(H, U), nn.Linear(U, C)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not isinstance(h, torch.Tensor):
            raise TypeError(f"h must be a torch.Tensor (..., H), got {type(h).__name__}")
        if h.dim() == 0 or h.shape[-1] != self.hidden.in_features:
            raise ValueError(
                f"h must have {self.hidden.in_features} features in its last dimension, "
                f"got shape {tuple(h.shape)}"
            )
        return self.out(torch.tanh(self.hidden(h)))


class StackedRNN(nn.Module):
    """L stacked tanh layers (sRNN), eq. (eq-stacked-rnn), with optional skip connections
    (eq-stacked-skip): from the input to every layer, from every layer to the output.

        h^l_t = tanh(W^l_ih h^{l-1}_t + [W^l_xh x_t] + W^l_hh h^l_{t-1} + b^l_ih + b^l_hh)

    with h^0_t = x_t, and the input skip W^l_xh x_t for l >= 2 when ``input_skip``. The
    parameters carry nn.RNN's names and shapes (``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}``, k = l - 1), plus ``weight_xh_l{k}`` (H, D) for k >= 1
    with the input skip; without skips the module is nn.RNN(D, H, L, batch_first=True)
    (``from_torch``). The output at t is h^L_t (B, T, H), or with ``output_skip`` all layers
    concatenated, [h^1_t; ...; h^L_t] (B, T, L * H), so that one nn.Linear on it computes the
    sum over layers of (eq-stacked-skip). ``output_size`` is that last dimension.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 2,
        input_skip: bool = False,
        output_skip: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = D = check_int(input_size, "input_size")
        self.hidden_size = H = check_int(hidden_size, "hidden_size")
        self.num_layers = L = check_int(num_layers, "num_layers")
        self.input_skip = check_bool(input_skip, "input_skip")
        self.output_skip = check_bool(output_skip, "output_skip")
        for k in range(L):
            self.register_parameter(
                f"weight_ih_l{k}", nn.Parameter(torch.empty(H, D if k == 0 else H))
            )
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(H, H)))
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(H)))
            self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(H)))
            if input_skip and k > 0:
                self.register_parameter(f"weight_xh_l{k}", nn.Parameter(torch.empty(H, D)))
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        return self.hidden_size * (self.num_layers if self.output_skip else 1)

    def reset_parameters(self) -> None:
        """nn.RNN's initialisation: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)]."""
        for param in self.parameters():
            _uniform_(param, self.hidden_size)

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, D); h0: (L, B, H) or None (zeros).

        Returns (output (B, T, output_size), h_n (L, B, H): every layer's last state).
        """
        B, _ = check_sequence(x, self.input_size, self.weight_ih_l0)
        L, H = self.num_layers, self.hidden_size
        if h0 is None:
            h0 = x.new_zeros(L, B, H)
        else:
            check_state(h0, (L, B, H), self.weight_ih_l0, "h0")
        below, outputs, h_n = x, [], []
        for k in range(L):
            W_ih = getattr(self, f"weight_ih_l{k}")
            if self.input_skip and k > 0:  # [h^{l-1}_t; x_t] through [W^l_ih, W^l_xh]
                below = torch.cat([below, x], dim=-1)
                W_ih = torch.cat([W_ih, getattr(self, f"weight_xh_l{k}")], dim=1)
            W_hh = getattr(self, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")
            below, h_last = elman_layer(below, h0[k], W_ih, W_hh, b_ih, b_hh)  # (B, T, H)
            outputs.append(below)
            h_n.append(h_last)
        out = torch.cat(outputs, dim=-1) if self.output_skip else below
        return out, torch.stack(h_n)

    @classmethod
    def from_torch(cls, module: nn.RNN) -> StackedRNN:
        """A StackedRNN (no skips) with a copy of a tanh, unidirectional, batch-first
        ``nn.RNN``'s weights, on its device and in its dtype."""
        if not isinstance(module, nn.RNN):
            raise TypeError(f"module must be a torch.nn.RNN, got {type(module).__name__}")
        if not module.batch_first or module.bidirectional or not module.bias:
            raise ValueError(
                "module must be batch_first, unidirectional and with biases, got "
                f"batch_first={module.batch_first}, bidirectional={module.bidirectional}, "
                f"bias={module.bias}"
            )
        if module.nonlinearity != "tanh":
            raise ValueError(f"module must use tanh, got nonlinearity={module.nonlinearity!r}")
        new = cls(module.input_size, module.hidden_size, module.num_layers)
        first = next(module.parameters())
        new = new.to(device=first.device, dtype=first.dtype)
        new.load_state_dict(module.state_dict())
        return new

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"input_skip={self.input_skip}, output_skip={self.output_skip}"
        )
