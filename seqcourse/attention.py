"""Scaled dot-product and multi-head attention, from their equations (chapter 7).

Scaled dot-product attention (Vaswani et al. 2017): queries Q (L, d), keys K (S, d)
and values V (S, d_v) give

    A = softmax(Q K^T / sqrt(d) + M),     out = A V,                  (eq-sdpa)

softmax over the S keys of each query, with M a mask added to the scores: 0 where a query may
look at a key, -inf where it may not (or any float, an additive bias). Dividing by sqrt(d)
keeps the scores' variance near 1 when the entries of q and k are independent with variance
1, so the softmax does not saturate as d grows.

Multi-head attention runs h such attentions side by side on learned projections of
width d = E / h and concatenates them:

    head_j = Attention(Q W_j^Q, K W_j^K, V W_j^V),   MHA(Q, K, V) = [head_1; ...; head_h] W^O
                                                                          (eq-mha)

Self-attention is Q = K = V = one sequence; cross-attention takes the queries from one
sequence (a decoder) and keys and values from another (an encoder).

Two mask conventions meet here, and they are opposite:
- ``scaled_dot_product_attention`` follows ``torch.nn.functional.scaled_dot_product_attention``:
  a boolean ``attn_mask`` is True where attention is *allowed*.
- ``MultiHeadAttention`` follows ``torch.nn.MultiheadAttention``: a boolean ``attn_mask``
  (L, S) or (B * h, L, S) and ``key_padding_mask`` (B, S) are True where attention is
  *not* allowed (padding, the future).
Float masks are added to the scores in both. A query whose every key is masked has no
distribution to take; PyTorch returns NaN there, and these functions raise a ValueError
naming the row instead.

Attention in chapter 5's encoder-decoder (Bahdanau et al. 2015; ``AttentionSeq2Seq``): the
decoder no longer has to carry the whole source in its state. Before step t it scores every
encoder output m_j = h^enc_j against its previous state s_{t-1} (the top layer's h), reads
the context c_t, and feeds it to the RNN with the previous word:

    additive (Bahdanau)          e_tj = v^T tanh(W_s s_{t-1} + W_m m_j)
    multiplicative (Luong)       e_tj = s_{t-1}^T W m_j
    dot (Luong)                  e_tj = s_{t-1}^T m_j                  (eq-attn-scores)
    alpha_t = softmax_j(e_tj) over the real source tokens,   c_t = sum_j alpha_tj m_j
    s_t = RNN([E_y y_{t-1}; c_t], s_{t-1}),   P(y_t | y_<t, x) = softmax(W_o [s_t; c_t] + b_o)
                                                                          (eq-attn-decoder)

with s_0 the encoder's final state, as in chapter 5. With ``bidirectional=True`` (as Bahdanau
et al.) a second RNN reads the source backwards and m_j = [h->_j; h<-_j], so that m_j
describes word j from both sides rather than only the words up to j; then
s_0 = tanh(W_bridge [h->_S; h<-_1]).

Tensors are batch-first: (B, L, E). ``MultiHeadAttention`` has the parameters of
``torch.nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)`` under the same names
(``in_proj_weight``, or ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when ``kdim`` or
``vdim`` differ from ``embed_dim``; ``in_proj_bias``; ``out_proj``), and ``from_torch`` copies
them from one, so the two can be compared output for output and gradient for gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_bool, check_choice, check_ids, check_int
from seqcourse.gated import gru_cell, lstm_cell
from seqcourse.seq2seq import (
    Seq2Seq,
    State,
    _check_lengths,
    _rnn,
    make_batch,
    reverse_within_length,
)
from seqcourse.train import eval_mode

__all__ = [
    "SCORES",
    "AttentionSeq2Seq",
    "MultiHeadAttention",
    "alignment_accuracy",
    "causal_mask",
    "scaled_dot_product_attention",
]

SCORES = ("additive", "multiplicative", "dot")


# ---------------------------------------------------------------------------- checks
def _tensor(x: Any, name: str, dims: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in dims:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {x.dtype}")
    return x


def _same_dtype(tensors: dict[str, torch.Tensor]) -> None:
    dtypes = {name: t.dtype for name, t in tensors.items()}
    if len(set(dtypes.values())) > 1:
        raise TypeError(f"query, key, value and weights must share one dtype, got {dtypes}")


def _additive(mask: Any, name: str, shape: tuple[int, ...], like: torch.Tensor, allowed: bool):
    """``mask`` as a float tensor to add to the scores, broadcastable to ``shape``. A bool
    mask marks allowed positions when ``allowed`` is True, forbidden ones otherwise."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(mask).__name__}")
    try:
        torch.broadcast_shapes(tuple(mask.shape), shape)
    except RuntimeError:
        raise ValueError(
            f"{name} must broadcast to the scores' shape {shape}, got {tuple(mask.shape)}"
        ) from None
    if mask.dtype == torch.bool:
        forbidden = ~mask if allowed else mask
        return torch.zeros(mask.shape, dtype=like.dtype, device=like.device).masked_fill(
            forbidden, float("-inf")
        )
    if not mask.is_floating_point():
        raise TypeError(f"{name} must be bool or float, got {mask.dtype}")
    if mask.dtype != like.dtype:
        raise TypeError(f"{name} must be bool or {like.dtype} like the query, got {mask.dtype}")
    return mask


def _no_empty_rows(scores: torch.Tensor) -> None:
    """ValueError when some query has every key at -inf (its softmax would be NaN)."""
    dead = torch.isneginf(scores).all(-1)
    if bool(dead.any()):
        where = tuple(int(i) for i in dead.nonzero()[0])
        raise ValueError(
            f"the masks leave some query no key to attend to (first at index {where} of the "
            f"scores {tuple(scores.shape[:-1])}); torch returns NaN for such a row"
        )


def causal_mask(L: int, S: int | None = None, device: torch.device | str | None = None):
    """Boolean (L, S) mask, True where query i may see key j, that is j <= i (the future is
    hidden); S = L by default. ``~causal_mask(L)`` is the ``attn_mask`` that
    ``MultiHeadAttention`` and ``nn.MultiheadAttention`` expect (True = not allowed)."""
    L = check_int(L, "L")
    S = L if S is None else check_int(S, "S")
    return torch.ones(L, S, dtype=torch.bool, device=device).tril()


# ---------------------------------------------------------------------------- the function
def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T * scale + M) V, with scale = 1 / sqrt(d) by default.

    query (..., L, d), key (..., S, d), value (..., S, d_v); the leading dimensions
    broadcast. ``attn_mask`` broadcastable to (..., L, S): bool True = allowed, or float
    added to the scores, as ``torch.nn.functional.scaled_dot_product_attention``;
    ``is_causal`` hides the future (key j > query i). Returns (output (..., L, d_v),
    weights (..., L, S))."""
    q = _tensor(query, "query", (2, 3, 4))
    k = _tensor(key, "key", (2, 3, 4))
    v = _tensor(value, "value", (2, 3, 4))
    _same_dtype({"query": q, "key": k, "value": v})
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            "query and key must have the same last dimension d, got "
            f"{q.shape[-1]} and {k.shape[-1]}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            "key and value must hold the same number S of positions, got "
            f"{k.shape[-2]} and {v.shape[-2]}"
        )
    is_causal = check_bool(is_causal, "is_causal")
    if is_causal and attn_mask is not None:
        raise ValueError("give attn_mask or is_causal=True, not both (as torch does)")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    elif isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ValueError(f"scale must be a positive number or None, got {scale!r}")
    scores = q @ k.transpose(-2, -1) * scale  # (..., L, S)
    L, S = scores.shape[-2:]
    if is_causal:
        attn_mask = causal_mask(L, S, q.device)
    bias = _additive(attn_mask, "attn_mask", tuple(scores.shape), scores, allowed=True)
    if bias is not None:
        scores = scores + bias
        _no_empty_rows(scores)
    weights = scores.softmax(-1)
    return weights @ v, weights


# ---------------------------------------------------------------------------- the module
class MultiHeadAttention(nn.Module):
    """h heads of scaled dot-product attention on learned projections, a drop-in
    for ``torch.nn.MultiheadAttention(embed_dim, num_heads, bias, kdim=, vdim=,
    batch_first=True)`` without dropout, ``add_bias_kv`` or ``add_zero_attn``."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
    ) -> None:
        super().__init__()
        E = self.embed_dim = check_int(embed_dim, "embed_dim")
        h = self.num_heads = check_int(num_heads, "num_heads")
        if E % h:
            raise ValueError(f"embed_dim must be divisible by num_heads, got {E} and {h}")
        self.head_dim = E // h
        self.kdim = E if kdim is None else check_int(kdim, "kdim")
        self.vdim = E if vdim is None else check_int(vdim, "vdim")
        self.bias = check_bool(bias, "bias")
        self.same_dims = self.kdim == E and self.vdim == E
        if self.same_dims:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * E, E))
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(E, E))
            self.k_proj_weight = nn.Parameter(torch.empty(E, self.kdim))
            self.v_proj_weight = nn.Parameter(torch.empty(E, self.vdim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * E)) if bias else None
        self.out_proj = nn.Linear(E, E, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.MultiheadAttention's initialisation: Xavier-uniform projections, zero biases."""
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            if hasattr(self, name):
                nn.init.xavier_uniform_(getattr(self, name))
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A ``MultiHeadAttention`` holding copies of ``module``'s weights, on its device and
        in its dtype. ``module`` must be batch-first, without dropout, bias_k/bias_v or
        zero attention."""
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(
                f"module must be a torch.nn.MultiheadAttention, got {type(module).__name__}"
            )
        if not module.batch_first:
            raise ValueError("module must be built with batch_first=True")
        if module.dropout > 0 or module.bias_k is not None or module.add_zero_attn:
            raise ValueError(
                "module must have dropout=0, add_bias_kv=False and add_zero_attn=False"
            )
        ours = cls(
            module.embed_dim,
            module.num_heads,
            bias=module.in_proj_bias is not None,
            kdim=module.kdim,
            vdim=module.vdim,
        )
        weight = next(module.parameters())
        ours = ours.to(device=weight.device, dtype=weight.dtype)
        ours.load_state_dict(module.state_dict(), strict=True)
        return ours

    def _projections(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.same_dims:
            return self.in_proj_weight.chunk(3)
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """query (B, L, E), key (B, S, kdim), value (B, S, vdim). ``key_padding_mask``
        (B, S) and ``attn_mask`` (L, S) or (B * h, L, S): bool True = not allowed, or float
        added to the scores. Returns (output (B, L, E), weights): (B, L, S) averaged over
        the heads, (B, h, L, S) with ``average_attn_weights=False``, None without
        ``need_weights``; as ``nn.MultiheadAttention``."""
        q = _tensor(query, "query", (3,))
        k = _tensor(key, "key", (3,))
        v = _tensor(value, "value", (3,))
        W_q, W_k, W_v = self._projections()
        _same_dtype({"query": q, "key": k, "value": v, "weights": W_q})
        B, L, E = q.shape
        S, h, d = k.shape[1], self.num_heads, self.head_dim
        if E != self.embed_dim:
            raise ValueError(
                f"query must have shape (B, L, {self.embed_dim}), got {tuple(q.shape)}"
            )
        if k.shape[0] != B or k.shape[2] != self.kdim:
            raise ValueError(f"key must have shape ({B}, S, {self.kdim}), got {tuple(k.shape)}")
        if tuple(v.shape) != (B, S, self.vdim):
            raise ValueError(f"value must have shape ({B}, {S}, {self.vdim}), got {tuple(v.shape)}")
        need_weights = check_bool(need_weights, "need_weights")
        average_attn_weights = check_bool(average_attn_weights, "average_attn_weights")
        b_q, b_k, b_v = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.chunk(3)
        # (B, L, E) -> (B, h, L, d): head j reads columns j*d .. (j+1)*d of the projection
        Q = F.linear(q, W_q, b_q).view(B, L, h, d).transpose(1, 2)
        K = F.linear(k, W_k, b_k).view(B, S, h, d).transpose(1, 2)
        V = F.linear(v, W_v, b_v).view(B, S, h, d).transpose(1, 2)
        bias = self._mask(key_padding_mask, attn_mask, B, L, S, Q)
        scores = Q @ K.transpose(-2, -1) / math.sqrt(d)  # (B, h, L, S)
        if bias is not None:
            scores = scores + bias
            _no_empty_rows(scores)
        weights = scores.softmax(-1)
        heads = (weights @ V).transpose(1, 2).reshape(B, L, E)  # [head_1; ...; head_h]
        out = self.out_proj(heads)
        if not need_weights:
            return out, None
        return out, weights.mean(1) if average_attn_weights else weights

    def _mask(self, key_padding_mask, attn_mask, B, L, S, like) -> torch.Tensor | None:
        """The sum of both masks as one additive float tensor broadcastable to (B, h, L, S)."""
        h = self.num_heads
        total = None
        if attn_mask is not None:
            if not isinstance(attn_mask, torch.Tensor) or attn_mask.dim() not in (2, 3):
                got = getattr(attn_mask, "shape", type(attn_mask).__name__)
                raise ValueError(
                    f"attn_mask must be a tensor (L, S) or (B * num_heads, L, S), got {got}"
                )
            if attn_mask.dim() == 2 and tuple(attn_mask.shape) != (L, S):
                raise ValueError(
                    f"attn_mask must have shape (L, S) = ({L}, {S}), got {tuple(attn_mask.shape)}"
                )
            if attn_mask.dim() == 3 and tuple(attn_mask.shape) != (B * h, L, S):
                raise ValueError(
                    f"attn_mask must have shape (B * num_heads, L, S) = ({B * h}, {L}, {S}), "
                    f"got {tuple(attn_mask.shape)}"
                )
            shaped = attn_mask if attn_mask.dim() == 2 else attn_mask.view(B, h, L, S)
            total = _additive(shaped, "attn_mask", (B, h, L, S), like, allowed=False)
        if key_padding_mask is not None:
            if not isinstance(key_padding_mask, torch.Tensor) or tuple(key_padding_mask.shape) != (
                B,
                S,
            ):
                got = getattr(key_padding_mask, "shape", type(key_padding_mask).__name__)
                raise ValueError(f"key_padding_mask must have shape (B, S) = ({B}, {S}), got {got}")
            pad = _additive(
                key_padding_mask.view(B, 1, 1, S),
                "key_padding_mask",
                (B, h, L, S),
                like,
                allowed=False,
            )
            total = pad if total is None else total + pad
        return total


# ---------------------------------------------------------------------------- in seq2seq
class AttentionSeq2Seq(Seq2Seq):
    """Chapter 5's encoder-decoder with attention over the encoder's outputs (the module
    docstring's equations); ``score`` is "additive", "multiplicative" or "dot".

    The decoder state is a tuple: the RNN's state ((h, c) or h, each (num_layers, B, H)),
    then the encoder outputs (S, B, M) and the source mask (S, B) (True = real token),
    batch in dimension 1 like the RNN state, so chapter 5's decoders (``greedy_decode``,
    ``beam_search`` through ``model_log_prob_fn``) run it unchanged."""

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        embed: int = 32,
        hidden: int = 64,
        cell: str = "lstm",
        num_layers: int = 1,
        backend: str = "seqcourse",
        score: str = "additive",
        attention: int | None = None,
        bidirectional: bool = False,
    ) -> None:
        super().__init__(src_vocab, tgt_vocab, embed, hidden, cell, num_layers, backend)
        check_choice(score, "score", SCORES)
        self.score = score
        self.bidirectional = check_bool(bidirectional, "bidirectional")
        if score == "dot" and self.bidirectional:
            raise ValueError("score 'dot' needs memory and state of one size: not bidirectional")
        H = self.hidden
        M = self.memory_size = 2 * H if self.bidirectional else H
        self.attention_size = H if attention is None else check_int(attention, "attention")
        self.decoder = _rnn(cell, backend, self.embed + M, H, self.num_layers)
        self.out = nn.Linear(H + M, self.tgt_vocab)
        if self.bidirectional:  # Bahdanau et al.: a second RNN reads the source backwards
            self.encoder_bwd = _rnn(cell, backend, self.embed, H, self.num_layers)
            self.bridge = nn.ModuleList(
                nn.Linear(2 * H, H) for _ in range(2 if cell == "lstm" else 1)
            )
        if score == "additive":
            self.W_s = nn.Linear(H, self.attention_size, bias=False)
            self.W_m = nn.Linear(M, self.attention_size)
            self.v = nn.Linear(self.attention_size, 1, bias=False)
        elif score == "multiplicative":
            self.W = nn.Linear(M, H, bias=False)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, score={self.score!r}"

    def _arguments(self) -> dict[str, Any]:
        arguments = super()._arguments()
        del arguments["reverse_source"]
        extra = {"score": self.score, "attention": self.attention_size}
        return {**arguments, **extra, "bidirectional": self.bidirectional}

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> State:
        """The decoder's first state: (RNN state..., memory (S, B, M), mask (S, B)), M = H, or
        2H when bidirectional: m_j = [h->_j; h<-_j], and the first state
        tanh(W_bridge [h->_S; h<-_1]) per layer (for an LSTM, the same for c with its own
        W_bridge)."""
        memory, state = self.encode_all(src, src_lengths)
        if self.bidirectional:
            lengths = _check_lengths(src_lengths, src)
            back, state_b = self._run_encoder(
                self.encoder_bwd, reverse_within_length(src, lengths), lengths
            )
            memory = torch.cat([memory, reverse_within_length(back, lengths)], -1)
            parts = zip(
                state if isinstance(state, tuple) else (state,),
                state_b if isinstance(state_b, tuple) else (state_b,),
                self.bridge,
                strict=True,
            )
            joined = tuple(torch.tanh(w(torch.cat([f, b], -1))) for f, b, w in parts)
            state = joined if self.cell == "lstm" else joined[0]
        S = memory.shape[1]
        lengths = src_lengths.to(memory.device)
        mask = torch.arange(S, device=memory.device)[:, None] < lengths[None, :]  # (S, B)
        rnn = state if isinstance(state, tuple) else (state,)
        return (*rnn, memory.transpose(0, 1), mask)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """The part of the score that depends on the source alone, (B, S, A): W_m m_j + b
        (additive), W m_j (multiplicative) or m_j itself (dot). It is the same at every
        decoder step, so a teacher-forced pass computes it once."""
        if self.score == "additive":
            return self.W_m(memory)
        if self.score == "multiplicative":
            return self.W(memory)
        return memory

    def scores(
        self, s: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor | None = None
    ) -> torch.Tensor:
        """e (B, S) of the previous state s (B, H) against memory (B, S, M); ``keys`` is
        ``self.keys(memory)`` when already computed."""
        keys = self.keys(memory) if keys is None else keys
        if self.score == "additive":
            return self.v(torch.tanh(self.W_s(s)[:, None] + keys)).squeeze(-1)
        return (keys @ s[..., None]).squeeze(-1)  # s^T W m_j = (W m_j) . s, or s . m_j

    def attend(
        self, state: State, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """alpha_t (B, S) and c_t (B, M) from the state before step t."""
        *rnn, memory, mask = state
        s = rnn[0][-1]  # the top layer's h_{t-1}, (B, H)
        memory, mask = memory.transpose(0, 1), mask.transpose(0, 1)  # (B, S, H), (B, S)
        e = self.scores(s, memory, keys).masked_fill(~mask, float("-inf"))
        alpha = e.softmax(-1)
        return alpha, (alpha[..., None] * memory).sum(1)

    def _decoder_step(self, x: torch.Tensor, rnn: list[torch.Tensor]) -> list[torch.Tensor]:
        """One step of the decoder RNN on x (N, I), layer by layer with the cell functions:
        the one-step call of the whole module costs about twice as much. The "torch" backend
        runs PyTorch's fused cells (what nn.LSTMCell and nn.GRUCell run), "seqcourse"
        chapter 4's ``lstm_cell`` and ``gru_cell``; the parameters are the module's."""
        new: list[list[torch.Tensor]] = [[] for _ in rnn]
        for k in range(self.num_layers):
            W_ih, W_hh, b_ih, b_hh = (
                getattr(self.decoder, f"{n}_l{k}")
                for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            if self.cell == "lstm" and self.backend == "torch":
                out = torch.lstm_cell(x, (rnn[0][k], rnn[1][k]), W_ih, W_hh, b_ih, b_hh)
            elif self.cell == "lstm":
                out = lstm_cell(F.linear(x, W_ih, b_ih), rnn[0][k], rnn[1][k], W_hh, b_hh)
            elif self.backend == "torch":
                out = (torch.gru_cell(x, rnn[0][k], W_ih, W_hh, b_ih, b_hh),)
            else:
                out = (gru_cell(F.linear(x, W_ih, b_ih), rnn[0][k], W_hh, b_hh),)
            for parts, value in zip(new, out, strict=True):
                parts.append(value)
            x = out[0]
        return [torch.stack(parts) for parts in new]

    def step_with_attention(
        self, tokens: torch.Tensor, state: State, keys: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State, torch.Tensor]:
        """One decoder step: logits s_t (N, V_y), the new state and alpha_t (N, S); ``keys``
        is ``self.keys`` of the memory when already computed."""
        *rnn, memory, mask = state
        alpha, context = self.attend(state, keys)
        x = torch.cat([self.tgt_embed(tokens), context], -1)  # (N, E + M)
        rnn = self._decoder_step(x, rnn)
        logits = self.out(torch.cat([rnn[0][-1], context], -1))
        return logits, (*rnn, memory, mask), alpha

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        logits, state, _ = self.step_with_attention(tokens, state)
        return logits, state

    def decode(self, tgt_in: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Teacher-forced: logits (B, T, V_y) and the final state, one step at a time."""
        logits, _, state = self._teacher_forced(tgt_in, state)
        return logits, state

    def _teacher_forced(self, tgt_in: torch.Tensor, state: State):
        tgt_in = check_ids(tgt_in, "tgt_in", self.tgt_vocab)
        self._check_state_batch(state, tgt_in.shape[0])
        logits, alphas = [], []
        keys = self.keys(state[-2].transpose(0, 1))  # (B, S, A), once for all steps
        for t in range(tgt_in.shape[1]):
            s_t, state, alpha = self.step_with_attention(tgt_in[:, t], state, keys)
            logits.append(s_t)
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1), state

    def attention_weights(
        self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """alpha (B, T, S) of teacher forcing on tgt_in: row t is where step t looked."""
        src, tgt_in = self._check_pair(src, tgt_in)
        return self._teacher_forced(tgt_in, self.encode(src, src_lengths))[1]


@torch.no_grad()
def alignment_accuracy(
    model: AttentionSeq2Seq,
    src: Sequence[Sequence[int]],
    tgt: Sequence[Sequence[int]],
    alignment: Sequence[Sequence[int]],
    batch_size: int = 500,
) -> float:
    """How often the most attended source word is the one a target word translates.

    Teacher forcing on each pair (src[k], tgt[k]); alignment[k][i] is the target position of
    source word i (``seqcourse.data.translation.ToyCorpus.alignment``, a permutation), so
    target word j is counted right when argmax_i alpha_ji is the i with alignment[k][i] = j.
    The row predicting <eos> is not counted. Runs in eval mode."""
    if not isinstance(model, AttentionSeq2Seq):
        raise TypeError(f"model must be an AttentionSeq2Seq, got {type(model).__name__}")
    if not (len(src) == len(tgt) == len(alignment)) or not len(src):
        raise ValueError(
            f"src, tgt and alignment must be non-empty and of one length, got {len(src)}, "
            f"{len(tgt)} and {len(alignment)}"
        )
    for k, (s, t, a) in enumerate(zip(src, tgt, alignment, strict=True)):
        if sorted(a) != list(range(len(t))) or len(a) != len(s):
            raise ValueError(
                f"alignment[{k}] must map the {len(s)} source words one to one onto the "
                f"{len(t)} target positions, got {list(a)}"
            )
    batch_size = check_int(batch_size, "batch_size")
    device = model.out.weight.device
    hit = total = 0
    with eval_mode(model):
        for start in range(0, len(src), batch_size):
            part = slice(start, start + batch_size)
            b = make_batch(src[part], tgt[part])
            alpha = model.attention_weights(
                b.src.to(device), b.src_lengths.to(device), b.tgt_in.to(device)
            )
            best = alpha.argmax(-1).cpu()  # (B, T): the most attended source word per step
            for row, links in zip(best, alignment[part], strict=True):
                source_of = {j: i for i, j in enumerate(links)}
                hit += sum(int(row[j]) == source_of[j] for j in range(len(links)))
                total += len(links)
    return hit / total
