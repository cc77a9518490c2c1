"""A small Transformer encoder-decoder on ``seqcourse.attention`` (chapter 7).

Vaswani et al. (2017) drop recurrence: every layer lets each position attend to all others
(self-attention, ``seqcourse.attention.MultiHeadAttention``), then applies the same
two-layer network to each position. Order enters only through position vectors added to the
embeddings, either fixed sinusoids,

    PE[p, 2i] = sin(p / 10000^(2i / d)),   PE[p, 2i + 1] = cos(p / 10000^(2i / d)),

or one learned vector per position (``positions="learned"``). The layers here put layer
normalisation before each sublayer ("pre-LN", as ``norm_first=True`` in PyTorch), which trains
without a learning-rate warm-up at this size:

    encoder layer   x = x + SelfAttn(LN(x), padding masked);  x = x + FFN(LN(x))
    decoder layer   y = y + SelfAttn(LN(y), causal);  y = y + CrossAttn(LN(y), memory);
                    y = y + FFN(LN(y)),      FFN(x) = W_2 relu(W_1 x + b_1) + b_2

then a final LN on each stack, and logits = W_o y. Embeddings are drawn from N(0, 1/d) and
scaled by sqrt(d) before the positions are added, so each coordinate of a token's vector is
about as large as a position's (at most 1). (With nn.Embedding's N(0, 1) the scaled tokens
would be sqrt(d) times larger and drown the positions: measured on chapter 7's generated
language, d = 32, 150 steps, 0.08 of held-out sentences exactly right against 0.84.)

``EncoderLayer``/``DecoderLayer`` have the parameter names of
``torch.nn.TransformerEncoderLayer``/``TransformerDecoderLayer(norm_first=True,
batch_first=True)``, so their weights load into one another.

``Transformer`` has chapter 5's interface (``forward(src, src_lengths, tgt_in)``,
``encode``, ``step``), so ``seqcourse.seq2seq.fit``, ``greedy_decode`` and ``beam_search``
run it. Its decoding state is (memory (S, B, d), source mask (S, B), prefix (t, B)): each
``step`` appends a token and reruns the decoder over the prefix.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_choice, check_ids, check_int
from seqcourse.attention import MultiHeadAttention, causal_mask
from seqcourse.data.translation import PAD
from seqcourse.seq2seq import _check_lengths

__all__ = [
    "POSITIONS",
    "DecoderLayer",
    "EncoderLayer",
    "Transformer",
    "sinusoidal_positions",
]

POSITIONS = ("sinusoidal", "learned")


def sinusoidal_positions(length: int, d: int) -> torch.Tensor:
    """(length, d) float32: PE[p, 2i] = sin(p w_i), PE[p, 2i + 1] = cos(p w_i),
    w_i = 10000^(-2i / d); d even."""
    length, d = check_int(length, "length"), check_int(d, "d", 2)
    if d % 2:
        raise ValueError(f"d must be even for sinusoidal positions, got {d}")
    p = torch.arange(length, dtype=torch.float64)[:, None]
    w = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
    pe = torch.empty(length, d, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(p * w), torch.cos(p * w)
    return pe.float()


class _FeedForward(nn.Module):
    def __init__(self, d: int, ff: int) -> None:
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def ff(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.relu(self.linear1(x)))


class EncoderLayer(_FeedForward):
    """Pre-LN self-attention and feed-forward, names as nn.TransformerEncoderLayer."""

    def __init__(self, d: int, heads: int, ff: int) -> None:
        super().__init__(d, ff)
        self.self_attn = MultiHeadAttention(d, heads)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, S, d); padding (B, S) bool, True at padding (never attended to)."""
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, key_padding_mask=padding, need_weights=False)[0]
        return x + self.ff(self.norm2(x))


class DecoderLayer(_FeedForward):
    """Pre-LN causal self-attention, cross-attention and feed-forward, names as
    nn.TransformerDecoderLayer."""

    def __init__(self, d: int, heads: int, ff: int) -> None:
        super().__init__(d, ff)
        self.self_attn = MultiHeadAttention(d, heads)
        self.multihead_attn = MultiHeadAttention(d, heads)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(
        self, y: torch.Tensor, memory: torch.Tensor, memory_padding: torch.Tensor | None = None
    ) -> torch.Tensor:
        """y (B, T, d) attends causally to itself, then to memory (B, S, d)."""
        T = y.shape[1]
        future = ~causal_mask(T, device=y.device)  # True = not allowed
        h = self.norm1(y)
        y = y + self.self_attn(h, h, h, attn_mask=future, need_weights=False)[0]
        h = self.norm2(y)
        y = (
            y
            + self.multihead_attn(
                h, memory, memory, key_padding_mask=memory_padding, need_weights=False
            )[0]
        )
        return y + self.ff(self.norm3(y))


class Transformer(nn.Module):
    """Encoder-decoder Transformer with chapter 5's interface; ``d`` model width, ``heads``
    heads, ``layers`` layers in each stack, ``ff`` feed-forward width, ``positions``
    "sinusoidal" or "learned" (up to ``max_len`` positions)."""

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d: int = 64,
        heads: int = 4,
        layers: int = 2,
        ff: int = 128,
        positions: str = "sinusoidal",
        max_len: int = 64,
    ) -> None:
        super().__init__()
        check_choice(positions, "positions", POSITIONS)
        self.src_vocab = check_int(src_vocab, "src_vocab", 5)
        self.tgt_vocab = check_int(tgt_vocab, "tgt_vocab", 5)
        self.d, self.positions = check_int(d, "d", 2), positions
        self.max_len = check_int(max_len, "max_len")
        heads, layers, ff = (
            check_int(heads, "heads"),
            check_int(layers, "layers"),
            check_int(ff, "ff"),
        )
        self.src_embed = nn.Embedding(self.src_vocab, d, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(self.tgt_vocab, d, padding_idx=PAD)
        for table in (self.src_embed, self.tgt_embed):
            nn.init.normal_(table.weight, std=d**-0.5)
            with torch.no_grad():
                table.weight[PAD].zero_()
        if positions == "learned":
            self.position = nn.Parameter(torch.randn(self.max_len, d) * 0.02)
        else:
            self.register_buffer(
                "position", sinusoidal_positions(self.max_len, d), persistent=False
            )
        self.encoder = nn.ModuleList(EncoderLayer(d, heads, ff) for _ in range(layers))
        self.decoder = nn.ModuleList(DecoderLayer(d, heads, ff) for _ in range(layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.out = nn.Linear(d, self.tgt_vocab)

    def _embed(self, ids: torch.Tensor, table: nn.Embedding) -> torch.Tensor:
        T = ids.shape[1]
        if T > self.max_len:
            raise ValueError(
                f"sequences must have at most max_len = {self.max_len} tokens, got {T}"
            )
        return table(ids) * math.sqrt(self.d) + self.position[:T]

    def encode_memory(self, src: torch.Tensor, src_lengths: torch.Tensor):
        """memory (B, S, d) and padding (B, S) (True at padding)."""
        src = check_ids(src, "src", self.src_vocab)
        lengths = _check_lengths(src_lengths, src).to(src.device)
        padding = torch.arange(src.shape[1], device=src.device)[None] >= lengths[:, None]
        x = self._embed(src, self.src_embed)
        for layer in self.encoder:
            x = layer(x, padding)
        return self.enc_norm(x), padding

    def decode_memory(self, tgt_in: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor):
        """Logits (B, T, V_y) for tgt_in (B, T) given the encoder's memory."""
        tgt_in = check_ids(tgt_in, "tgt_in", self.tgt_vocab)
        y = self._embed(tgt_in, self.tgt_embed)
        for layer in self.decoder:
            y = layer(y, memory, padding)
        return self.out(self.dec_norm(y))

    def forward(
        self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: logits (B, T, V_y) of P(y_t | y_<t, x), all steps at once."""
        memory, padding = self.encode_memory(src, src_lengths)
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(
                f"src and tgt_in must have the same batch size, got {src.shape[0]} and "
                f"{tgt_in.shape[0]}"
            )
        return self.decode_memory(tgt_in, memory, padding)

    # chapter 5's decoding interface ----------------------------------------------
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Any:
        """Decoding state (memory (S, B, d), padding (S, B), empty prefix (0, B))."""
        memory, padding = self.encode_memory(src, src_lengths)
        empty = torch.empty(0, src.shape[0], dtype=torch.long, device=src.device)
        return memory.transpose(0, 1), padding.T, empty

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Append tokens (N,) to the prefix and return the next logits (N, V_y)."""
        memory, padding, prefix = state
        prefix = torch.cat([prefix, tokens[None]], 0)  # (t, N)
        logits = self.decode_memory(prefix.T, memory.transpose(0, 1), padding.T)
        return logits[:, -1], (memory, padding, prefix)

    def decode(self, tgt_in: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Teacher-forced logits (B, T, V_y) continuing the state's prefix."""
        memory, padding, prefix = state
        full = torch.cat([prefix, tgt_in.T], 0)
        logits = self.decode_memory(full.T, memory.transpose(0, 1), padding.T)
        return logits[:, prefix.shape[0] :], (memory, padding, full)
