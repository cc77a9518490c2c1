"""Sequence to sequence: encoder-decoder, teacher forcing, decoding and BLEU (chapter 5).

The model (Sutskever et al. 2014; Cho et al. 2014) reads a source x_1..x_S and writes a
target y_1..y_T, factorising the conditional distribution left to right,

    conditional   P(y | x) = prod_{t=1}^{T+1} P(y_t | y_<t, x),   y_0 = <bos>, y_{T+1} = <eos>

(eq-seq2seq-factorisation), so the end-of-sequence token makes the length part of what is
predicted. An encoder RNN (chapter 4's LSTM or GRU) runs over the embedded source; its
final state (h_S, c_S) of every layer, taken at each sentence's own last real token, is
the decoder's first state (eq-seq2seq-encoder, eq-seq2seq-decoder):

    encoder   h^enc_s = RNN_enc(E_x[x_s], h^enc_{s-1}),        h^enc_0 = 0
    decoder   h_0 = h^enc_S,   h_t = RNN_dec(E_y[y_{t-1}], h_{t-1}),   s_t = W_hy h_t + b_y
              P(y_t | y_<t, x) = softmax(s_t)

With ``reverse_source`` the encoder reads x_S..x_1 (Sutskever et al.), each sentence
reversed within its own length so that padding stays at the end.

Teacher forcing trains on the gold prefix: the loss is the masked sequence cross-entropy,
the mean over the N real target tokens (those of y_1..y_T and <eos>; padding excluded;
eq-seq2seq-loss),

    loss = -(1/N) sum_{b,t: mask_bt} log softmax(s_bt)[y_bt]

Scheduled sampling (Bengio et al. 2015) feeds, at step t > 1 and for each example
independently, the gold y_{t-1} with probability eps_i and the model's own prediction
(argmax, or a sample) otherwise, eps_i decaying with the training step i
(eq-scheduled-sampling):

    linear         eps_i = max(eps, k - c i)
    exponential    eps_i = k^i,                 0 < k < 1
    inverse sigmoid eps_i = k / (k + exp(i / k)),  k >= 1

Decoding: ``greedy_decode`` (argmax at each step), ``sample_decode`` (softmax(s_t / tau)),
``beam_search`` over a ``log_prob_fn`` (a model wrapped by ``model_log_prob_fn``), whose
hypothesis y = y_1..y_n (generated tokens: <bos> is not one of them) is scored by
(eq-beam-score)

    score(y) = (sum_{t=1}^n log P(y_t | y_<t, x)) / n^alpha,   alpha = length_penalty

``corpus_bleu`` is BLEU-4 (Papineni et al. 2002) exactly as sacrebleu computes it with its
defaults (smooth_method "exp", tokenize "none"; eq-bleu, eq-brevity-penalty):

    p_n = (sum over hypotheses of clipped matching n-grams) / (sum of hypothesis n-grams)
    BP  = 1 if c >= r else exp(1 - r / c),  c = total hypothesis length, r = sum over
          hypotheses of the reference length closest to it (the shorter on ties)
    BLEU = 100 * BP * exp((1/4) sum_{n=1}^4 log p_n)

Tensors are batch-first: src (B, S) and targets (B, T) LongTensors, padded with 0 (<pad>).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqcourse._checks import (
    check_bool,
    check_choice,
    check_ids,
    check_int,
    check_positive,
    check_temperature,
)
from seqcourse.data.translation import BOS, EOS, PAD, pad_sequences
from seqcourse.gated import GRU, LSTM
from seqcourse.train import History, _optional_clip, adam_steps, eval_mode

__all__ = [
    "BACKENDS",
    "CELLS",
    "LogProbFn",
    "Seq2Seq",
    "Seq2SeqBatch",
    "beam_search",
    "corpus_bleu",
    "exponential_decay",
    "fit",
    "greedy_decode",
    "inverse_sigmoid_decay",
    "linear_decay",
    "model_log_prob_fn",
    "make_batch",
    "reverse_within_length",
    "sample_decode",
    "sequence_accuracy",
    "sequence_loss",
    "translate",
]

CELLS = ("lstm", "gru")
BACKENDS = ("seqcourse", "torch")
LogProbFn = Callable[[torch.Tensor], torch.Tensor]
State = Any  # (h, c) for an LSTM, h for a GRU; each (num_layers, B, H)


# ---------------------------------------------------------------------------- batches
class Seq2SeqBatch(NamedTuple):
    """src (B, S), src_lengths (B,), tgt_in = [<bos>, y_1..y_T] and tgt_out = [y_1..y_T,
    <eos>] (B, T+1) padded with 0, tgt_mask (B, T+1) bool, True at real target tokens."""

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    tgt_mask: torch.Tensor


def make_batch(
    src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]], bos: int = BOS, eos: int = EOS
) -> Seq2SeqBatch:
    """The padded batch of id sequences ``src`` and ``tgt`` (B each, every sequence
    non-empty, no <bos>/<eos> in them: they are added here)."""
    if len(src) != len(tgt):
        raise ValueError(
            f"src and tgt must hold the same number of sequences, got {len(src)} and {len(tgt)}"
        )
    s = pad_sequences(_nonempty(src, "src"))
    t_in = pad_sequences([[bos, *list(y)] for y in _nonempty(tgt, "tgt")])
    t_out = pad_sequences([[*list(y), eos] for y in tgt])
    return Seq2SeqBatch(s.ids, s.lengths, t_in.ids, t_out.ids, t_out.mask)


def _nonempty(seqs: Sequence[Sequence[int]], name: str) -> Sequence[Sequence[int]]:
    for b, y in enumerate(seqs):
        if len(y) == 0:
            raise ValueError(f"{name}[{b}] must hold at least one id, got an empty sequence")
    return seqs


def reverse_within_length(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first lengths[b] entries reversed, padding left in place: (B, S, ...) ->
    (B, S, ...), for ids (B, S) or per-position vectors (B, S, H)."""
    B, S = ids.shape[:2]
    pos = torch.arange(S, device=ids.device).expand(B, S)
    rev = lengths[:, None].to(ids.device) - 1 - pos
    index = torch.where(rev >= 0, rev, pos)
    if ids.dim() > 2:
        index = index.reshape(B, S, *[1] * (ids.dim() - 2)).expand_as(ids)
    return ids.gather(1, index)


def _check_lengths(lengths: Any, src: torch.Tensor) -> torch.Tensor:
    if not isinstance(lengths, torch.Tensor) or lengths.dtype != torch.long:
        raise TypeError(f"src_lengths must be a LongTensor (B,), got {type(lengths).__name__}")
    B, S = src.shape
    if tuple(lengths.shape) != (B,):
        raise ValueError(
            f"src_lengths must have shape (B,) = ({B},) to match src {tuple(src.shape)}, "
            f"got {tuple(lengths.shape)}"
        )
    if int(lengths.min()) < 1 or int(lengths.max()) > S:
        raise ValueError(
            f"src_lengths must lie in [1, S = {S}] (no empty source), got "
            f"[{int(lengths.min())}, {int(lengths.max())}]"
        )
    return lengths


# ---------------------------------------------------------------------------- model
def _rnn(cell: str, backend: str, size: int, hidden: int, layers: int) -> nn.Module:
    if backend == "torch":
        cls = nn.LSTM if cell == "lstm" else nn.GRU
        return cls(size, hidden, layers, batch_first=True)
    return (LSTM if cell == "lstm" else GRU)(size, hidden, layers)


class Seq2Seq(nn.Module):
    """Encoder-decoder on chapter 4's LSTM or GRU (see the module docstring for equations).

    src_vocab, tgt_vocab: vocabulary sizes V_x, V_y (id 0 = <pad>, embedded as zeros);
    embed: embedding size; hidden: H; cell "lstm" or "gru"; num_layers: L (encoder and
    decoder alike); backend "seqcourse" (seqcourse.gated) or "torch" (nn.LSTM/nn.GRU, the
    same equations and parameter names: ``to_backend`` copies the weights across);
    reverse_source: the encoder reads each source backwards (Sutskever et al. 2014).
    Parameters: ``src_embed`` (V_x, embed), ``tgt_embed`` (V_y, embed), ``encoder``,
    ``decoder``, ``out`` (W_hy (V_y, H), b_y (V_y,)).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        embed: int = 32,
        hidden: int = 64,
        cell: str = "lstm",
        num_layers: int = 1,
        backend: str = "seqcourse",
        reverse_source: bool = False,
    ) -> None:
        super().__init__()
        check_choice(cell, "cell", CELLS)
        check_choice(backend, "backend", BACKENDS)
        self.src_vocab = check_int(src_vocab, "src_vocab", 5)
        self.tgt_vocab = check_int(tgt_vocab, "tgt_vocab", 5)
        self.embed = check_int(embed, "embed")
        self.hidden = check_int(hidden, "hidden")
        self.num_layers = check_int(num_layers, "num_layers")
        self.cell, self.backend = cell, backend
        self.reverse_source = check_bool(reverse_source, "reverse_source")
        self.src_embed = nn.Embedding(self.src_vocab, self.embed, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(self.tgt_vocab, self.embed, padding_idx=PAD)
        self.encoder = _rnn(cell, backend, self.embed, self.hidden, self.num_layers)
        self.decoder = _rnn(cell, backend, self.embed, self.hidden, self.num_layers)
        self.out = nn.Linear(self.hidden, self.tgt_vocab)

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, backend={self.backend!r}, reverse_source={self.reverse_source}"

    def _arguments(self) -> dict[str, Any]:
        """The constructor's arguments that rebuild this model (``to_backend``)."""
        names = ("src_vocab", "tgt_vocab", "embed", "hidden", "cell", "num_layers", "backend")
        return {**{n: getattr(self, n) for n in names}, "reverse_source": self.reverse_source}

    def to_backend(self, backend: str) -> Seq2Seq:
        """A copy of this model on ``backend`` ("seqcourse" or "torch"), same weights."""
        check_choice(backend, "backend", BACKENDS)
        first = self.out.weight
        twin = type(self)(**{**self._arguments(), "backend": backend})
        twin = twin.to(device=first.device, dtype=first.dtype)
        twin.load_state_dict(self.state_dict())
        return twin

    # -------------------------------------------------------------- encoder
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> State:
        """The decoder's first state from src (B, S) with src_lengths (B,): each layer's
        encoder state after the sentence's last real token; (h, c) (LSTM) or h (GRU), each
        (num_layers, B, H)."""
        return self.encode_all(src, src_lengths)[1]

    def encode_all(
        self, src: torch.Tensor, src_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """The top layer's outputs h^enc_1..h^enc_S (B, S, H) (zero, or whatever the RNN
        computed, at padding: mask them) and the state ``encode`` returns."""
        src = check_ids(src, "src", self.src_vocab)
        lengths = _check_lengths(src_lengths, src)
        if self.reverse_source:
            src = reverse_within_length(src, lengths)
        return self._run_encoder(self.encoder, src, lengths)

    def _run_encoder(
        self, encoder: nn.Module, src: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """``encoder``'s top-layer outputs (B, S, H) over the embedded src (B, S), and each
        layer's state after every sentence's last real token."""
        emb = self.src_embed(src)  # (B, S, E)
        B, S = src.shape
        if self.backend == "torch":
            packed = pack_padded_sequence(
                emb, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            outputs, state = encoder(packed)
            return pad_packed_sequence(outputs, batch_first=True, total_length=S)[0], state
        trace: list[Any] = []
        outputs, _ = encoder(emb, None, trace=trace)  # every step of every layer
        last = (lengths - 1).to(emb.device)
        rows = torch.arange(B, device=emb.device)

        def final(states: list[torch.Tensor]) -> torch.Tensor:  # L*S of (B, H) -> (L, B, H)
            per_layer = torch.stack(states).reshape(self.num_layers, S, B, self.hidden)
            return per_layer[:, last, rows]

        if self.cell == "lstm":
            return outputs, (final([h for h, _ in trace]), final([c for _, c in trace]))
        return outputs, final(trace)

    # -------------------------------------------------------------- decoder
    def _check_state_batch(self, state: State, B: int) -> None:
        h = state[0] if isinstance(state, tuple) else state
        if h.shape[1] != B:
            raise ValueError(f"state must be for a batch of {B}, got {h.shape[1]}")

    def decode(self, tgt_in: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Teacher-forced decoder: tgt_in (B, T) = [<bos>, y_1, ...], state from ``encode``.
        Returns logits s_t (B, T, V_y) and the final state."""
        tgt_in = check_ids(tgt_in, "tgt_in", self.tgt_vocab)
        self._check_state_batch(state, tgt_in.shape[0])
        out, state = self.decoder(self.tgt_embed(tgt_in), state)
        return self.out(out), state

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One decoder step: tokens (N,) = y_{t-1}, state -> logits s_t (N, V_y), new state."""
        out, state = self.decoder(self.tgt_embed(tokens)[:, None], state)
        return self.out(out[:, 0]), state

    def _check_pair(
        self, src: torch.Tensor, tgt_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        src = check_ids(src, "src", self.src_vocab)
        tgt_in = check_ids(tgt_in, "tgt_in", self.tgt_vocab)
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(
                f"src and tgt_in must have the same batch size, got {src.shape[0]} and "
                f"{tgt_in.shape[0]}"
            )
        return src, tgt_in

    def forward(
        self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher forcing: logits (B, T, V_y) of P(y_t | y_<t, x) for tgt_in (B, T)."""
        src, tgt_in = self._check_pair(src, tgt_in)
        return self.decode(tgt_in, self.encode(src, src_lengths))[0]

    def forward_scheduled(
        self,
        src: torch.Tensor,
        src_lengths: torch.Tensor,
        tgt_in: torch.Tensor,
        teacher_prob: float,
        generator: torch.Generator | None = None,
        sample: bool = False,
    ) -> torch.Tensor:
        """Scheduled sampling (Bengio et al. 2015): logits (B, T, V_y), step by step.

        The input at step 1 is tgt_in[:, 0] (<bos>); at step t > 1 it is, per example, the
        gold tgt_in[:, t-1] with probability ``teacher_prob`` and otherwise the model's own
        previous output: argmax s_{t-1} (``sample`` False) or a draw from softmax(s_{t-1}),
        with no gradient through the choice. teacher_prob 1 equals ``forward``; 0 runs free.
        ``generator`` draws the coin flips and samples (None: torch's global generator).
        """
        p = _probability(teacher_prob, "teacher_prob")
        sample = check_bool(sample, "sample")
        src, tgt_in = self._check_pair(src, tgt_in)
        state = self.encode(src, src_lengths)
        B, T = tgt_in.shape
        tokens, logits = tgt_in[:, 0], []
        for t in range(T):
            if t > 0:
                prev = logits[-1].detach()
                own = _draw(prev, 1.0, generator) if sample else prev.argmax(-1)
                flips = torch.rand(B, generator=generator, device=_device(generator, tgt_in))
                gold = flips.to(tgt_in.device) < p
                tokens = torch.where(gold, tgt_in[:, t], own)
            s_t, state = self.step(tokens, state)
            logits.append(s_t)
        return torch.stack(logits, dim=1)


def _device(generator: torch.Generator | None, like: torch.Tensor) -> torch.device:
    return like.device if generator is None else generator.device


def _draw(logits: torch.Tensor, tau: float, generator: torch.Generator | None) -> torch.Tensor:
    """One draw per row from softmax(logits / tau): (N, V) -> (N,), on the generator's device."""
    probs = (logits / tau).softmax(-1).to(_device(generator, logits))
    return torch.multinomial(probs, 1, generator=generator)[:, 0].to(logits.device)


def _probability(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a number in [0, 1], got {value}")
    return float(value)


# ---------------------------------------------------------------------------- loss
def sequence_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked sequence cross-entropy, the mean over real target tokens.

    logits (B, T, V); targets (B, T) long; mask (B, T) bool, True at real tokens.
    loss = -(1/N) sum_{b,t: mask_bt} log softmax(logits_bt)[targets_bt], N = mask.sum() >= 1;
    targets under mask False are ignored (any value).
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a tensor (B, T, V), got {type(logits).__name__}")
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, T, V), got {tuple(logits.shape)}")
    if not isinstance(targets, torch.Tensor) or targets.dtype != torch.long:
        raise TypeError(f"targets must be a LongTensor (B, T), got {type(targets).__name__}")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (B, T), got {type(mask).__name__}")
    if targets.shape != logits.shape[:2] or mask.shape != logits.shape[:2]:
        raise ValueError(
            f"targets and mask must have shape (B, T) = {tuple(logits.shape[:2])}, got "
            f"{tuple(targets.shape)} and {tuple(mask.shape)}"
        )
    n = int(mask.sum())
    if n == 0:
        raise ValueError("mask must select at least one target token, got none")
    V = logits.shape[-1]
    safe = torch.where(mask, targets, torch.zeros_like(targets))
    if int(safe.min()) < 0 or int(safe.max()) >= V:
        raise ValueError(f"targets under the mask must lie in [0, {V}), got {int(safe.max())}")
    logp = logits.log_softmax(-1).gather(-1, safe[..., None])[..., 0]  # (B, T)
    return -(logp * mask).sum() / n


def sequence_accuracy(hyps: Sequence[Sequence[int]], refs: Sequence[Sequence[int]]) -> float:
    """The fraction of hypotheses equal to their reference, token for token."""
    if len(hyps) != len(refs) or len(hyps) == 0:
        raise ValueError(
            f"hyps and refs must be equally long and non-empty, got {len(hyps)} and {len(refs)}"
        )
    return sum(list(h) == list(r) for h, r in zip(hyps, refs, strict=True)) / len(hyps)


# ---------------------------------------------------------------------------- schedules
def _step(step: Any) -> int:
    return check_int(step, "step", 0)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def linear_decay(step: int, c: float, k: float = 1.0, eps: float = 0.0) -> float:
    """eps_i = max(eps, k - c i): teacher-forcing probability at training step i."""
    step, c, k, eps = _step(step), _number(c, "c"), _number(k, "k"), _number(eps, "eps")
    if c <= 0:
        raise ValueError(f"c must be > 0, got {c}")
    if not 0.0 <= eps <= k <= 1.0:
        raise ValueError(f"eps and k must satisfy 0 <= eps <= k <= 1, got eps={eps}, k={k}")
    return max(eps, k - c * step)


def exponential_decay(step: int, k: float) -> float:
    """eps_i = k^i with 0 < k < 1."""
    step, k = _step(step), _number(k, "k")
    if not 0.0 < k < 1.0:
        raise ValueError(f"k must be in (0, 1), got {k}")
    return k**step


def inverse_sigmoid_decay(step: int, k: float) -> float:
    """eps_i = k / (k + exp(i / k)) with k >= 1."""
    step, k = _step(step), _number(k, "k")
    if k < 1.0:
        raise ValueError(f"k must be >= 1, got {k}")
    z = step / k
    return 0.0 if z > 700 else k / (k + math.exp(z))


# ---------------------------------------------------------------------------- decoding
def _check_special(bos: Any, eos: Any, V: int | None = None) -> tuple[int, int]:
    bos, eos = check_int(bos, "bos", 0), check_int(eos, "eos", 0)
    if bos == eos:
        raise ValueError(f"bos and eos must differ, got {bos} for both")
    if V is not None and max(bos, eos) >= V:
        raise ValueError(f"bos and eos must be < the vocabulary size {V}, got {bos}, {eos}")
    return bos, eos


@torch.no_grad()
def _run_free(
    model: Seq2Seq,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    bos: int,
    eos: int,
    max_len: int,
    choose: Callable[[torch.Tensor], torch.Tensor],
) -> list[list[int]]:
    max_len = check_int(max_len, "max_len", 1)
    bos, eos = _check_special(bos, eos, model.tgt_vocab)
    with eval_mode(model):
        state = model.encode(src, src_lengths)
        B = src.shape[0]
        tokens = torch.full((B,), bos, dtype=torch.long, device=src.device)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        out: list[torch.Tensor] = []
        for _ in range(max_len):
            logits, state = model.step(tokens, state)
            tokens = choose(logits)
            out.append(tokens)
            done = done | (tokens == eos)
            if bool(done.all()):
                break
    rows = torch.stack(out, dim=1).tolist()
    return [row[: row.index(eos) + 1] if eos in row else row for row in rows]


def greedy_decode(
    model: Seq2Seq,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    max_len: int,
    bos: int = BOS,
    eos: int = EOS,
) -> list[list[int]]:
    """y_t = argmax_v s_t[v] for each sentence of src (B, S), fed back, until <eos>
    (included) or max_len tokens. Returns B lists of generated ids (no <bos>)."""
    return _run_free(model, src, src_lengths, bos, eos, max_len, lambda s: s.argmax(-1))


def sample_decode(
    model: Seq2Seq,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    max_len: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    bos: int = BOS,
    eos: int = EOS,
) -> list[list[int]]:
    """y_t ~ softmax(s_t / tau), tau = ``temperature`` > 0, until <eos> (included) or max_len
    tokens; ``generator`` makes the draws reproducible. Returns B lists of ids (no <bos>)."""
    tau = check_temperature(temperature)

    return _run_free(model, src, src_lengths, bos, eos, max_len, lambda s: _draw(s, tau, generator))


def model_log_prob_fn(model: Seq2Seq, src: Sequence[int] | torch.Tensor) -> LogProbFn:
    """The ``log_prob_fn`` of ``model`` for one source sentence ``src`` (S ids, S >= 1).

    The returned function maps prefixes (N, t) = [<bos>, y_1..y_{t-1}] to
    log P(y_t | y_<t, x) (N, V_y), in eval mode and without gradients. It remembers the
    decoder state after every prefix it has seen, so a prefix whose parent (the prefix
    without its last token) was seen costs one decoder step, as in beam search; any other
    prefix runs the decoder from the encoder's state over the whole prefix.
    """
    ids = src if isinstance(src, torch.Tensor) else torch.tensor(list(src), dtype=torch.long)
    if ids.dim() != 1 or ids.numel() == 0:
        raise ValueError(f"src must be one non-empty sentence (S,), got shape {tuple(ids.shape)}")
    device = model.out.weight.device
    ids = ids.to(device)
    with eval_mode(model), torch.no_grad():
        first = model.encode(ids[None], torch.tensor([ids.numel()], device=device))
    parts = list(first) if isinstance(first, tuple) else [first]  # each (L, 1, H)
    cache: dict[tuple[int, ...], list[torch.Tensor]] = {(): [x[:, 0] for x in parts]}

    def as_state(rows: list[list[torch.Tensor]]) -> State:
        stacked = [torch.stack([r[k] for r in rows], dim=1) for k in range(len(parts))]
        return tuple(stacked) if isinstance(first, tuple) else stacked[0]

    def fn(prefixes: torch.Tensor) -> torch.Tensor:
        prefixes = check_ids(prefixes, "prefixes", model.tgt_vocab)
        rows = [tuple(r) for r in prefixes.tolist()]
        with eval_mode(model), torch.no_grad():
            if all(r[:-1] in cache for r in rows):  # one step from the cached parents
                state = as_state([cache[r[:-1]] for r in rows])
                logits, state = model.step(prefixes[:, -1].to(device), state)
            else:  # the whole prefix from the encoder's state
                state = as_state([cache[()]] * len(rows))
                out, state = model.decode(prefixes.to(device), state)
                logits = out[:, -1]
        new = list(state) if isinstance(state, tuple) else [state]
        for n, r in enumerate(rows):
            cache[r] = [x[:, n] for x in new]
        return logits.log_softmax(-1)

    return fn


def beam_search(
    log_prob_fn: LogProbFn,
    bos: int,
    eos: int,
    beam_width: int,
    max_len: int,
    length_penalty: float = 0.0,
    trace: list[list[tuple[list[int], float, bool]]] | None = None,
) -> list[tuple[list[int], float]]:
    """Beam search, batched over the beam: the best hypotheses, best first.

    log_prob_fn maps prefixes (N, t) LongTensor, each [bos, y_1..y_{t-1}], to next-token
    log-probabilities (N, V). A hypothesis is the list of generated tokens y_1..y_n: ``bos``
    is the prefix's first column but *not* a token of the hypothesis, so n = len(tokens)
    counts the generated tokens, ``eos`` included. It ends at ``eos`` (included) or at
    ``max_len`` tokens. Its score is sum_t log P(y_t | y_<t) / n ** length_penalty.

    At each step every live hypothesis is extended by every token, one ``log_prob_fn`` call
    for all of them; the ``beam_width`` extensions with the highest summed log-probability
    are kept; those ending in ``eos`` are finished and leave the beam (which shrinks), the
    others live on. At ``max_len`` the live ones finish too. Returns at most ``beam_width``
    finished (tokens, score) pairs sorted by score, best first. beam_width 1 is greedy
    decoding; with beam_width at least the number of possible hypotheses nothing is pruned
    and the result is the exhaustive ranking. With length_penalty 0 the search stops early
    once no live hypothesis can beat the beam_width-th finished one (scores only fall).

    ``trace``, when a list, receives one entry per step: the kept extensions as (tokens,
    summed log-probability, finished) triples, best first (what a lab draws step by step).
    """
    if trace is not None and not isinstance(trace, list):
        raise TypeError(f"trace must be a list or None, got {type(trace).__name__}")
    if not callable(log_prob_fn):
        raise TypeError(f"log_prob_fn must be callable, got {type(log_prob_fn).__name__}")
    bos, eos = _check_special(bos, eos)
    beam_width = check_int(beam_width, "beam_width", 1)
    max_len = check_int(max_len, "max_len", 1)
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, int | float):
        raise TypeError(f"length_penalty must be a number, got {type(length_penalty).__name__}")
    if not (math.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(f"length_penalty must be a finite number >= 0, got {length_penalty}")
    alpha = float(length_penalty)

    prefixes = torch.tensor([[bos]], dtype=torch.long)  # (k, t): live hypotheses with bos
    sums = torch.zeros(1, dtype=torch.float64)  # (k,) summed log-probabilities
    finished: list[tuple[list[int], float]] = []
    for t in range(1, max_len + 1):
        logp = log_prob_fn(prefixes)
        if not isinstance(logp, torch.Tensor) or logp.dim() != 2 or logp.shape[0] != len(sums):
            raise ValueError(
                f"log_prob_fn must return a tensor (N, V) = ({len(sums)}, V) for prefixes "
                f"{tuple(prefixes.shape)}, got {getattr(logp, 'shape', type(logp).__name__)}"
            )
        V = logp.shape[1]
        if eos >= V or bos >= V:
            raise ValueError(f"bos and eos must be < V = {V}, got {bos}, {eos}")
        total = (sums[:, None] + logp.detach().to("cpu", torch.float64)).reshape(-1)  # (k V,)
        top = torch.topk(total, min(beam_width, total.numel()))
        parent, token = top.indices // V, top.indices % V
        live, kept = [], []
        for score, p, y in zip(top.values.tolist(), parent.tolist(), token.tolist(), strict=True):
            tokens = prefixes[p, 1:].tolist() + [y]
            done = y == eos or t == max_len
            kept.append((tokens, score, done))
            if done:
                finished.append((tokens, score / t**alpha))
            else:
                live.append((p, y, score))
        if trace is not None:
            trace.append(kept)
        if not live:
            break
        prefixes = torch.cat(
            [prefixes[[p for p, _, _ in live]], torch.tensor([[y] for _, y, _ in live])], dim=1
        )
        sums = torch.tensor([s for _, _, s in live], dtype=torch.float64)
        if alpha == 0.0 and len(finished) >= beam_width:
            kth = sorted((s for _, s in finished), reverse=True)[beam_width - 1]
            if float(sums.max()) < kth:
                break
    finished.sort(key=lambda h: -h[1])
    return finished[:beam_width]


# ---------------------------------------------------------------------------- BLEU
def _ngrams(tokens: Sequence[str], max_order: int) -> Counter[tuple[str, ...]]:
    return Counter(
        tuple(tokens[i : i + n])
        for n in range(1, max_order + 1)
        for i in range(len(tokens) - n + 1)
    )


def _check_tokens(tokens: Any, name: str) -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"{name} must be a list of str tokens, got {type(tokens).__name__}")
    for tok in tokens:
        if not isinstance(tok, str) or tok == "" or tok != "".join(tok.split()):
            raise ValueError(f"{name} must hold non-empty tokens without spaces, got {tok!r}")
    return list(tokens)


def corpus_bleu(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]) -> float:
    """Corpus BLEU-4 x 100, equal to sacrebleu's ``corpus_bleu`` with its defaults and
    tokenize="none" on the space-joined tokens (see the module docstring for the formula).

    hyps: H hypotheses, each a list of tokens (possibly empty); refs: for each hypothesis,
    its list of one or more references, each a list of tokens. n-gram counts are clipped
    by the largest count in any one reference. sacrebleu's defaults, reproduced: smoothing
    "exp" (for an order n with hypothesis n-grams but no match, p_n = 1 / (2^m total_n)
    with m the number of such orders so far); 0 when nothing matches at all, when some
    order has no hypothesis n-gram (every hypothesis shorter than n), or when c = 0.
    """
    if isinstance(hyps, str) or not isinstance(hyps, Sequence) or len(hyps) == 0:
        raise ValueError("hyps must be a non-empty list of token lists")
    if isinstance(refs, str) or not isinstance(refs, Sequence) or len(refs) != len(hyps):
        raise ValueError(
            f"refs must hold one list of references per hypothesis: {len(hyps)}, got "
            f"{len(refs) if isinstance(refs, Sequence) else type(refs).__name__}"
        )
    order = 4
    correct, total = [0] * order, [0] * order
    c = r = 0
    for k, (hyp, these) in enumerate(zip(hyps, refs, strict=True)):
        hyp = _check_tokens(hyp, f"hyps[{k}]")
        if isinstance(these, str) or not isinstance(these, Sequence) or len(these) == 0:
            raise ValueError(f"refs[{k}] must be a non-empty list of references")
        max_counts: Counter[tuple[str, ...]] = Counter()
        lengths = []
        for j, ref in enumerate(these):
            ref = _check_tokens(ref, f"refs[{k}][{j}]")
            lengths.append(len(ref))
            for gram, count in _ngrams(ref, order).items():
                max_counts[gram] = max(max_counts[gram], count)
        c += len(hyp)
        r += min(lengths, key=lambda n: (abs(n - len(hyp)), n))  # closest, shorter on ties
        for gram, count in _ngrams(hyp, order).items():
            total[len(gram) - 1] += count
            correct[len(gram) - 1] += min(count, max_counts[gram])
    if c == 0 or not any(correct) or not all(total):
        return 0.0
    bp = 1.0 if c >= r else math.exp(1.0 - r / c)
    log_p, halvings = 0.0, 1.0
    for n in range(order):
        if correct[n] == 0:
            halvings *= 2.0
            log_p += math.log(1.0 / (halvings * total[n]))
        else:
            log_p += math.log(correct[n] / total[n])
    return 100.0 * bp * math.exp(log_p / order)


# ---------------------------------------------------------------------------- training
TeacherProb = float | Callable[[int], float] | None


def _id_lists(seqs: Any, name: str) -> list[list[int]]:
    if isinstance(seqs, str | bytes) or not isinstance(seqs, Sequence):
        raise TypeError(f"{name} must be a sequence of id sequences, got {type(seqs).__name__}")
    out = [list(s) for s in seqs]
    if not out:
        raise ValueError(f"{name} must hold at least one sequence, got none")
    return out


def fit(
    model: Seq2Seq,
    src: Sequence[Sequence[int]],
    tgt: Sequence[Sequence[int]],
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    clip: float | None = 1.0,
    teacher_prob: TeacherProb = None,
    sample: bool = False,
    progress: bool = True,
) -> History:
    """Train ``model`` with Adam on the pairs (src[k], tgt[k]) (id lists without <bos>/<eos>).

    Each of the ``steps`` optimizer steps draws ``batch_size`` pairs uniformly (with a
    generator seeded by ``seed``, so two runs are identical), builds the padded batch
    (``make_batch``) and minimises ``sequence_loss`` (eq-seq2seq-loss), clipping the gradient
    norm to ``clip`` (None: measured, not clipped), as ``seqcourse.train.train`` does.
    ``teacher_prob`` None trains with teacher forcing (``forward``); a number
    or a function of the step i = 0, 1, ... (``linear_decay``, ...) gives the probability
    eps_i of feeding the gold token in ``forward_scheduled`` (eq-scheduled-sampling), whose
    coin flips and samples use the same seeded generator. Returns the ``History``.
    """
    src_l = _nonempty(_id_lists(src, "src"), "src")
    tgt_l = _nonempty(_id_lists(tgt, "tgt"), "tgt")
    if len(src_l) != len(tgt_l):
        raise ValueError(
            f"src and tgt must hold the same number of sequences, got {len(src_l)} and {len(tgt_l)}"
        )
    steps, batch_size = check_int(steps, "steps"), check_int(batch_size, "batch_size")
    seed = check_int(seed, "seed", 0)
    lr, clip = check_positive(lr, "lr"), _optional_clip(clip)
    if teacher_prob is not None and not callable(teacher_prob):
        _probability(teacher_prob, "teacher_prob")
    device = model.out.weight.device
    gen = torch.Generator().manual_seed(seed)
    flips = torch.Generator(device=device).manual_seed(seed + 1)

    def step_loss(i: int, history: History) -> tuple[torch.Tensor, torch.Tensor]:
        pick = torch.randint(len(src_l), (batch_size,), generator=gen).tolist()
        b = make_batch([src_l[k] for k in pick], [tgt_l[k] for k in pick])
        b = Seq2SeqBatch(*(x.to(device) for x in b))
        if teacher_prob is None:
            logits = model(b.src, b.src_lengths, b.tgt_in)
        else:
            p = teacher_prob(i) if callable(teacher_prob) else teacher_prob
            logits = model.forward_scheduled(
                b.src, b.src_lengths, b.tgt_in, p, generator=flips, sample=sample
            )
        loss = sequence_loss(logits, b.tgt_out, b.tgt_mask)
        return loss, loss

    return adam_steps(model, steps, step_loss, lr, clip, "seq2seq", progress)


@torch.no_grad()
def translate(
    model: Seq2Seq,
    src: Sequence[Sequence[int]],
    max_len: int,
    batch_size: int = 512,
    eos: int = EOS,
) -> list[list[int]]:
    """Greedy translations of every id list in ``src``, in batches of ``batch_size``, each
    without its final <eos> (so they compare directly with the target id lists)."""
    src_l = _nonempty(_id_lists(src, "src"), "src")
    batch_size = check_int(batch_size, "batch_size")
    device = model.out.weight.device
    out: list[list[int]] = []
    for start in range(0, len(src_l), batch_size):
        s = pad_sequences(src_l[start : start + batch_size])
        hyps = greedy_decode(model, s.ids.to(device), s.lengths.to(device), max_len, eos=eos)
        out += [h[:-1] if h and h[-1] == eos else h for h in hyps]
    return out
