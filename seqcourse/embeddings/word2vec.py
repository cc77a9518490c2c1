"""word2vec: skip-gram and CBOW with negative sampling, from their equations (chapter 8).

Mikolov et al. (2013) learn two vectors per word w of a vocabulary of V words: an *input*
(centre) vector v_w, a row of ``W_in`` (V, d), and an *output* (context) vector u_w, a row
of ``W_out`` (V, d). The word vectors one keeps are the rows of ``W_in``.

Skip-gram predicts each context word o within a window around a centre word c with a
softmax over the whole vocabulary,

    P(o | c) = exp(u_o . v_c) / sum_{w=1}^{V} exp(u_w . v_c),            (eq-skipgram-softmax)

and CBOW predicts the centre word from the mean of its context words' input vectors,

    h = (1 / |C|) sum_{j in C} v_j,   P(c | C) = softmax_c(W_out h).     (eq-cbow)

Both softmaxes cost O(V d) per pair. Negative sampling (SGNS) replaces the softmax by K
binary problems: tell the observed context o from K "noise" words k_1..k_K drawn from the
unigram distribution raised to the power 3/4,

    P_n(w) = count(w)^{3/4} / sum_{w'} count(w')^{3/4},                  (eq-sgns-noise)

    l(c, o, k_1..k_K) = -log sigma(u_o . v_c) - sum_{i=1}^{K} log sigma(-u_{k_i} . v_c),
                                                                          (eq-sgns-loss)

whose gradients are

    dl/dv_c     = (sigma(u_o . v_c) - 1) u_o + sum_i sigma(u_{k_i} . v_c) u_{k_i},
    dl/du_o     = (sigma(u_o . v_c) - 1) v_c,
    dl/du_{k_i} = sigma(u_{k_i} . v_c) v_c.                              (eq-sgns-grad)

A word drawn twice (twice among the negatives, or once as the context and once as a negative)
receives the sum of its terms. Each training pair touches only K + 2 rows, so training is a
*sparse* SGD: ``train_word2vec`` computes these rows by hand (no autograd) for a minibatch of
pairs and adds them with ``index_add_``, each pair taking a step of size lr as in word2vec's
C code, with the learning rate decayed linearly from lr to lr * 1e-4 over training.

Frequent words ("the", "of") carry little information and dominate the pairs. word2vec drops
each occurrence of a word of relative frequency f before cutting windows, keeping it with
probability (the C code's formula; the paper's is sqrt(t / f))

    P_keep(w) = min(1, (sqrt(f(w) / t) + 1) t / f(w)),                   (eq-subsample)

with t about 1e-3 to 1e-5. The window is *dynamic*: each centre word draws its effective
half-width b uniformly in 1..window, so near contexts are used more often than far ones.

Speed. Each minibatch of b pairs is a handful of tensor operations: one ``index_select`` of
the b (2 + K) rows it touches from a single table W = [W_in; W_out] (2V, d), two ``bmm`` for
the scores and for the centre's update, one outer product, and one ``index_add_`` of all the
rows back into W, into buffers allocated once (5% faster than fresh ones). Windows are cut
and shuffled, and noise words drawn, for many minibatches at once. b = 1024 to 2048 is
fastest on a 2-core CPU (per word, 512 costs 10% more, 256 30% more, 4096 about 20% more):
the Python and dispatch cost of a step is paid once for all b pairs. torch runs these
operations on one thread, since they are too small to gain from more, and ``workers``
threads train at once without locks, as gensim does. Measured with
``bench/word2vec_bench.py`` (skip-gram, d = 100, window 5, K = 5, sample 1e-3, the 1.79
million words of the Gutenberg books, a 2-core CPU shared with other jobs, median of 3
interleaved rounds): gensim's ``Word2Vec`` (Cython) trains 1.4x as many words per second as
``train_word2vec`` with one worker each (258,000 against 199,000) and 1.5x to 1.8x with two,
depending on the load (350,000 against 238,000 at the lightest). After 5 epochs with one
worker the analogy accuracy (3CosAdd, the 9,881 questions whose words the books hold) is the
same within the spread between seeds: 4.2%, 4.3% and 4.4% here (seeds 0 to 2, batch 1024),
4.4%, 4.1% and 4.3% for gensim.

Ids and tensors: token streams are 1-D LongTensors of ids of a ``Vocabulary`` (most frequent
word first); a minibatch of skip-gram pairs is ``center`` (B,), ``context`` (B,) and
``negatives`` (B, K); CBOW contexts are (B, 2 window) padded with -1.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from seqcourse._checks import (
    check_bool,
    check_choice,
    check_finite,
    check_ids,
    check_int,
    check_positive,
)
from seqcourse.embeddings.vocab import Vocabulary, check_vocabulary

__all__ = [
    "MODELS",
    "CBOW",
    "NoiseSampler",
    "SkipGram",
    "TrainedEmbeddings",
    "cbow_windows",
    "full_softmax_loss",
    "keep_probability",
    "noise_distribution",
    "sgns_grad",
    "sgns_loss",
    "skipgram_pairs",
    "subsample",
    "train_word2vec",
]

MODELS: tuple[str, ...] = ("skipgram", "cbow")

# Raw tokens per chunk of the token stream: pairs are cut and shuffled one chunk at a time,
# so memory stays bounded (about 100 MB of pairs at window 5) whatever the corpus size.
_CHUNK_TOKENS = 1 << 19
# Minibatches per entry of TrainedEmbeddings.losses.
_REPORT_BATCHES = 100


# ------------------------------------------------------------------------- argument checks


def _check_generator(generator: Any) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator)}")
    return generator


def _check_t(t: Any, name: str = "t") -> float:
    """A subsampling threshold: None or 0 (no subsampling) or a finite number > 0."""
    if t is None:
        return 0.0
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        raise TypeError(f"{name} must be a finite number >= 0 or None, got {t!r}")
    if t < 0:
        raise ValueError(f"{name} must be >= 0 (0 or None disables subsampling), got {t}")
    return float(t)


def _check_weights(W_in: Any, W_out: Any) -> tuple[int, int]:
    """W_in and W_out: finite floating (V, d) tensors of the same shape, dtype and device."""
    for W, name in ((W_in, "W_in"), (W_out, "W_out")):
        if not isinstance(W, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor (V, d), got {type(W).__name__}")
        if not W.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {W.dtype}")
        if W.dim() != 2 or W.shape[0] < 1 or W.shape[1] < 1:
            raise ValueError(f"{name} must have shape (V, d) with V, d >= 1, got {tuple(W.shape)}")
    if W_in.shape != W_out.shape:
        raise ValueError(
            f"W_in and W_out must have the same shape (V, d), got W_in {tuple(W_in.shape)} "
            f"and W_out {tuple(W_out.shape)}"
        )
    if W_in.dtype != W_out.dtype:
        raise TypeError(f"W_out must have W_in's dtype {W_in.dtype}, got {W_out.dtype}")
    if W_in.device != W_out.device:
        raise ValueError(f"W_out must be on W_in's device {W_in.device}, got {W_out.device}")
    check_finite(W_in.detach(), "W_in")
    check_finite(W_out.detach(), "W_out")
    return W_in.shape[0], W_in.shape[1]


def _check_pairs(
    center: Any, context: Any, negatives: Any, W_in: Any, W_out: Any
) -> tuple[int, int]:
    """Checks of sgns_loss and sgns_grad's arguments; returns (B, K)."""
    V, _ = _check_weights(W_in, W_out)
    center = check_ids(center, "center", V, dims=1)
    context = check_ids(context, "context", V, dims=1)
    negatives = check_ids(negatives, "negatives", V, dims=2, shape="(B, K)")
    B = center.shape[0]
    if context.shape[0] != B:
        raise ValueError(
            f"context must have one id per centre, shape ({B},), got {tuple(context.shape)}"
        )
    if negatives.shape[0] != B or negatives.shape[1] < 1:
        raise ValueError(
            f"negatives must have shape (B, K) = ({B}, K) with K >= 1, got {tuple(negatives.shape)}"
        )
    for ids, name in ((center, "center"), (context, "context"), (negatives, "negatives")):
        if ids.device != W_in.device:
            raise ValueError(f"{name} must be on W_in's device {W_in.device}, got {ids.device}")
    return B, negatives.shape[1]


# ------------------------------------------------------------------------- subsampling


def keep_probability(vocab: Vocabulary, t: float | None = 1e-3) -> torch.Tensor:
    """P_keep(w) of (eq-subsample), (V,) float64: min(1, (sqrt(f/t) + 1) t / f) with f the
    relative frequency of w, as in word2vec's C code. ``t`` None or 0: all ones."""
    vocab = check_vocabulary(vocab)
    t = _check_t(t)
    f = vocab.frequencies()
    if t == 0:
        return torch.ones_like(f)
    return ((torch.sqrt(f / t) + 1) * t / f).clamp(max=1.0)


def subsample(
    ids: torch.Tensor,
    vocab: Vocabulary,
    t: float | None = 1e-3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The ids (N,) with each occurrence of word w kept with probability P_keep(w)
    (eq-subsample), independently; the kept ids in their order. ``t`` None or 0: ids as is."""
    vocab = check_vocabulary(vocab)
    ids = check_ids(ids, "ids", len(vocab), dims=1)
    generator = _check_generator(generator)
    t = _check_t(t)
    if t == 0:
        return ids
    keep = keep_probability(vocab, t).to(device=ids.device, dtype=torch.float32)
    u = torch.rand(ids.shape, generator=generator, device=ids.device)
    return ids.masked_select(u < keep.take(ids))


# ------------------------------------------------------------------------- windows


def _effective_windows(
    ids: Any, window: Any, generator: Any, dynamic: Any
) -> tuple[torch.Tensor, int, torch.Tensor]:
    """The checked stream ``ids`` (N,) and ``window``, and b (N,): every centre's half-width,
    uniform in 1..window when ``dynamic``, else window."""
    ids = check_ids(ids, "ids", dims=1)
    window = check_int(window, "window")
    generator = _check_generator(generator)
    n = ids.shape[0]
    if check_bool(dynamic, "dynamic"):
        b = torch.randint(1, window + 1, (n,), generator=generator, device=ids.device)
    else:
        b = torch.full((n,), window, dtype=torch.int64, device=ids.device)
    return ids, window, b


def skipgram_pairs(
    ids: torch.Tensor,
    window: int = 5,
    generator: torch.Generator | None = None,
    dynamic: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All (centre, context) pairs of the token stream ``ids`` (N,): for each position i and
    each offset 1 <= o <= b_i, the pairs (ids[i], ids[i - o]) and (ids[i], ids[i + o]) that
    fall inside the stream. With ``dynamic`` each centre draws b_i uniformly in 1..window (as
    word2vec's C code), else b_i = window. Returns ``center`` (P,), ``context`` (P,), in the
    order: offset o = 1..window, then left before right, then position.
    """
    ids, window, b = _effective_windows(ids, window, generator, dynamic)
    n = ids.shape[0]
    centers, contexts = [], []
    for o in range(1, min(window, n - 1) + 1):
        # right: i + o < n, i.e. i in [0, n - o); left: i - o >= 0, i.e. i in [o, n)
        right = b[: n - o] >= o
        centers.append(ids[: n - o].masked_select(right))
        contexts.append(ids[o:].masked_select(right))
        left = b[o:] >= o
        centers.append(ids[o:].masked_select(left))
        contexts.append(ids[: n - o].masked_select(left))
    if not centers:
        empty = ids.new_empty(0)
        return empty, empty.clone()
    return torch.cat(centers), torch.cat(contexts)


def cbow_windows(
    ids: torch.Tensor,
    window: int = 5,
    generator: torch.Generator | None = None,
    dynamic: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CBOW training examples of the token stream ``ids`` (N,): ``contexts`` (M, 2 window) and
    ``center`` (M,). Row j holds the ids at offsets -window..-1, 1..window around its centre,
    -1 where the offset falls outside the stream or beyond the centre's half-width b (uniform
    in 1..window when ``dynamic``, as word2vec's C code). Centres without any context word
    (a stream of one token) are left out, so M = N when N >= 2.
    """
    ids, window, b = _effective_windows(ids, window, generator, dynamic)
    n = ids.shape[0]
    offsets = torch.arange(-window, window + 1, device=ids.device)
    offsets = offsets[offsets != 0]
    pos = torch.arange(n, device=ids.device)[:, None] + offsets  # (N, 2 window)
    valid = (pos >= 0) & (pos < n) & (offsets.abs() <= b[:, None])
    contexts = torch.where(valid, ids.take(pos.clamp(0, n - 1)), torch.full_like(pos, -1))
    rows = valid.any(dim=1)
    return contexts[rows], ids[rows]


# ------------------------------------------------------------------------- noise


def noise_distribution(vocab: Vocabulary, power: float = 0.75) -> torch.Tensor:
    """P_n of (eq-sgns-noise), (V,) float64: count(w)^power, normalised."""
    vocab = check_vocabulary(vocab)
    if isinstance(power, bool) or not isinstance(power, int | float) or not math.isfinite(power):
        raise TypeError(f"power must be a finite number, got {power!r}")
    if power < 0:
        raise ValueError(f"power must be >= 0, got {power}")
    p = vocab.counts.to(torch.float64) ** float(power)
    return p / p.sum()


class NoiseSampler:
    """Draws word ids from a distribution ``probs`` (V,) with Walker's alias method.

    Setup O(V); each sample costs one uniform integer, one uniform real and two lookups,
    independent of V. Measured on one thread of a 2-core CPU for V = 50,000 and 10^6 samples:
    30 ms here, against 95 ms for ``torch.multinomial(probs, n, replacement=True)`` (float32
    or float64), which searches a cumulative sum for every sample. The table: column j keeps
    word j with probability ``prob[j]`` and otherwise gives ``alias[j]``, so that
    P(w) = (prob[w] + sum_{j: alias[j] = w} (1 - prob[j])) / V = probs[w].
    """

    def __init__(self, probs: torch.Tensor, generator: torch.Generator | None = None) -> None:
        if not isinstance(probs, torch.Tensor) or not probs.is_floating_point():
            raise TypeError(f"probs must be a floating-point torch.Tensor (V,), got {probs!r}")
        if probs.dim() != 1 or probs.shape[0] < 1:
            raise ValueError(f"probs must have shape (V,) with V >= 1, got {tuple(probs.shape)}")
        check_finite(probs, "probs")
        if bool((probs < 0).any()) or float(probs.sum()) <= 0:
            raise ValueError("probs must be >= 0 with a positive sum")
        self.generator = _check_generator(generator)
        self.device = probs.device
        self.probs = (probs.detach().to(torch.float64) / probs.sum()).cpu()
        prob, alias = self._alias_table(self.probs)
        self.prob = prob.to(self.device, torch.float32)
        self.alias = alias.to(self.device)

    @staticmethod
    def _alias_table(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vose's construction, in float64."""
        V = p.shape[0]
        scaled = (p * V).tolist()
        alias = list(range(V))
        small = [j for j, s in enumerate(scaled) if s < 1.0]
        large = [j for j, s in enumerate(scaled) if s >= 1.0]
        while small and large:
            j, k = small.pop(), large[-1]
            alias[j] = k
            scaled[k] -= 1.0 - scaled[j]
            if scaled[k] < 1.0:
                large.pop()
                small.append(k)
        for j in small + large:  # left over only by rounding: keep themselves
            scaled[j] = 1.0
        return torch.tensor(scaled, dtype=torch.float64), torch.tensor(alias, dtype=torch.int64)

    def __len__(self) -> int:
        return self.prob.shape[0]

    def sample(self, shape: int | Sequence[int]) -> torch.Tensor:
        """A LongTensor of the given shape of independent draws from ``probs``."""
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, Sequence) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise TypeError(f"shape must be an int or a sequence of ints >= 0, got {shape!r}")
        shape = tuple(shape)
        column = torch.randint(0, len(self), shape, generator=self.generator, device=self.device)
        u = torch.rand(shape, generator=self.generator, device=self.device)
        return torch.where(u < self.prob.take(column), column, self.alias.take(column))


# ------------------------------------------------------------------------- losses, gradients


def sgns_loss(
    center: torch.Tensor,
    context: torch.Tensor,
    negatives: torch.Tensor,
    W_in: torch.Tensor,
    W_out: torch.Tensor,
) -> torch.Tensor:
    """The negative-sampling loss (eq-sgns-loss), averaged over the batch: a scalar.

    center (B,), context (B,), negatives (B, K): LongTensors of ids in [0, V); W_in, W_out
    (V, d): the centre vectors v and the context vectors u. Differentiable in W_in, W_out.
    """
    _check_pairs(center, context, negatives, W_in, W_out)
    v = W_in[center]  # (B, d)
    pos = (W_out[context] * v).sum(-1)  # (B,)
    neg = torch.einsum("bkd,bd->bk", W_out[negatives], v)  # (B, K)
    return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


def sgns_grad(
    center: torch.Tensor,
    context: torch.Tensor,
    negatives: torch.Tensor,
    W_in: torch.Tensor,
    W_out: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradients (grad_W_in, grad_W_out), each dense (V, d), of ``sgns_loss`` derived by
    hand (eq-sgns-grad), divided by B for the mean. Rows are accumulated with ``index_add_``,
    so a word drawn several times (a repeated centre, a negative equal to the context)
    receives the sum of its terms."""
    B, K = _check_pairs(center, context, negatives, W_in, W_out)
    W_in, W_out = W_in.detach(), W_out.detach()
    v = W_in[center]  # (B, d)
    u_o = W_out[context]  # (B, d)
    u_k = W_out[negatives]  # (B, K, d)
    g_pos = (torch.sigmoid((u_o * v).sum(-1)) - 1) / B  # (B,)
    g_neg = torch.sigmoid(torch.einsum("bkd,bd->bk", u_k, v)) / B  # (B, K)
    grad_v = g_pos[:, None] * u_o + torch.einsum("bk,bkd->bd", g_neg, u_k)
    grad_in = torch.zeros_like(W_in).index_add_(0, center, grad_v)
    grad_out = torch.zeros_like(W_out).index_add_(0, context, g_pos[:, None] * v)
    grad_out.index_add_(0, negatives.reshape(-1), (g_neg[:, :, None] * v[:, None, :]).flatten(0, 1))
    return grad_in, grad_out


def full_softmax_loss(
    center: torch.Tensor, context: torch.Tensor, W_in: torch.Tensor, W_out: torch.Tensor
) -> torch.Tensor:
    """The skip-gram softmax's cross-entropy -log P(o | c) (eq-skipgram-softmax), averaged
    over the pairs center (B,), context (B,); O(V d) per pair."""
    V, _ = _check_weights(W_in, W_out)
    center = check_ids(center, "center", V, dims=1)
    context = check_ids(context, "context", V, dims=1)
    if context.shape != center.shape:
        raise ValueError(
            f"context must have center's shape {tuple(center.shape)}, got {tuple(context.shape)}"
        )
    return F.cross_entropy(W_in[center] @ W_out.T, context)


# ------------------------------------------------------------------------- modules


class _Word2Vec(nn.Module):
    """W_in (V, d) initialised uniform(-0.5/d, 0.5/d) and W_out (V, d) zeros, as word2vec."""

    def __init__(
        self,
        vocab_size: int,
        dim: int = 100,
        negatives: int = 5,
        noise: NoiseSampler | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        V = check_int(vocab_size, "vocab_size")
        d = check_int(dim, "dim")
        self.negatives = check_int(negatives, "negatives", low=0)
        if noise is not None and not isinstance(noise, NoiseSampler):
            raise TypeError(f"noise must be a NoiseSampler or None, got {type(noise).__name__}")
        if noise is not None and len(noise) != V:
            raise ValueError(f"noise must sample from V = {V} words, got {len(noise)}")
        self.noise = noise
        generator = _check_generator(generator)
        W_in = (torch.rand(V, d, generator=generator) - 0.5) / d
        self.W_in = nn.Parameter(W_in)
        self.W_out = nn.Parameter(torch.zeros(V, d))

    @property
    def vocab_size(self) -> int:
        return self.W_in.shape[0]

    def _negatives(self, B: int, negatives: torch.Tensor | None) -> torch.Tensor:
        if negatives is not None:
            return negatives
        if self.noise is None:
            raise ValueError(
                "batch must hold negatives (B, K) when the model has no noise sampler: "
                "pass noise=NoiseSampler(noise_distribution(vocab)) or a third batch element"
            )
        return self.noise.sample((B, self.negatives)).to(self.W_in.device)

    @staticmethod
    def _unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if not isinstance(batch, tuple | list) or len(batch) not in (2, 3):
            raise TypeError(
                "batch must be a tuple (inputs, targets) or (inputs, targets, negatives), "
                f"got {type(batch).__name__}"
            )
        return batch[0], batch[1], (batch[2] if len(batch) == 3 else None)


class SkipGram(_Word2Vec):
    """Skip-gram: each centre word predicts each of its context words.

    ``loss(batch)`` with batch = (center (B,), context (B,)) or (center, context, negatives
    (B, K)): the negative-sampling loss (eq-sgns-loss) when ``negatives`` > 0 (negatives drawn
    from ``noise`` when the batch has none), else the full softmax's (eq-skipgram-softmax).
    """

    def loss(self, batch: Any) -> torch.Tensor:
        center, context, negatives = self._unpack(batch)
        if self.negatives == 0:
            if negatives is not None:
                raise ValueError("batch must not hold negatives when the model's negatives=0")
            return full_softmax_loss(center, context, self.W_in, self.W_out)
        negatives = self._negatives(check_ids(center, "center", dims=1).shape[0], negatives)
        return sgns_loss(center, context, negatives, self.W_in, self.W_out)


def _cbow_hidden(contexts: Any, W_in: torch.Tensor, center: Any) -> torch.Tensor:
    """h (B, d) of (eq-cbow): the mean of the context words' input vectors (ids -1 skipped)."""
    V = W_in.shape[0]
    if not isinstance(contexts, torch.Tensor) or contexts.dtype != torch.int64:
        raise TypeError(f"contexts must be an int64 torch.Tensor (B, 2 window), got {contexts!r}")
    if contexts.dim() != 2 or contexts.shape[1] < 1:
        raise ValueError(f"contexts must have shape (B, 2 window), got {tuple(contexts.shape)}")
    center = check_ids(center, "center", V, dims=1)
    if contexts.shape[0] != center.shape[0]:
        raise ValueError(
            f"contexts must have one row per centre, ({center.shape[0]}, 2 window), "
            f"got {tuple(contexts.shape)}"
        )
    mask = contexts >= 0
    if int(contexts.max()) >= V or int(contexts.min()) < -1:
        raise ValueError(f"contexts must hold ids in [0, {V}) or -1 (padding)")
    count = mask.sum(1)
    if bool((count == 0).any()):
        raise ValueError("contexts must hold at least one id (not -1) in every row")
    vecs = W_in[contexts.clamp(min=0)] * mask[:, :, None].to(W_in.dtype)
    return vecs.sum(1) / count[:, None].to(W_in.dtype)


class CBOW(_Word2Vec):
    """CBOW: the mean h of the context words' input vectors predicts the centre (eq-cbow).

    ``loss(batch)`` with batch = (contexts (B, 2 window) padded with -1, center (B,)), or with
    negatives (B, K) as a third element: negative sampling (eq-sgns-loss with v_c replaced by
    h and the centre as the positive word) when ``negatives`` > 0, else the full softmax.
    """

    def loss(self, batch: Any) -> torch.Tensor:
        contexts, center, negatives = self._unpack(batch)
        _check_weights(self.W_in, self.W_out)
        h = _cbow_hidden(contexts, self.W_in, center)
        if self.negatives == 0:
            if negatives is not None:
                raise ValueError("batch must not hold negatives when the model's negatives=0")
            return F.cross_entropy(h @ self.W_out.T, center)
        negatives = self._negatives(h.shape[0], negatives)
        negatives = check_ids(negatives, "negatives", self.vocab_size, dims=2, shape="(B, K)")
        if negatives.shape[0] != h.shape[0]:
            raise ValueError(
                f"negatives must have shape (B, K) = ({h.shape[0]}, K), got {negatives.shape}"
            )
        pos = (self.W_out[center] * h).sum(-1)
        neg = torch.einsum("bkd,bd->bk", self.W_out[negatives], h)
        return -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()


# ------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainedEmbeddings:
    """What ``train_word2vec`` returns.

    ``vectors`` is ``W_in`` (V, d) float32, the word vectors; ``W_out`` the context vectors.
    ``losses``: the mean loss per training pair (eq-sgns-loss, or the softmax cross-entropy
    when negatives=0) over each block of minibatches, in training order. ``seconds``: the
    wall time of the training call (encoding the tokens included, building the vocabulary
    not), and ``words_per_second`` the raw tokens of the input stream (before subsampling and
    before dropping unknown words) times the epochs, divided by ``seconds``, counted as
    gensim's ``raw_word_count``.
    """

    vectors: torch.Tensor
    W_in: torch.Tensor
    W_out: torch.Tensor
    vocab: Vocabulary
    losses: list[float]
    seconds: float
    words_per_second: float

    def vector(self, word: str) -> torch.Tensor:
        """The vector (d,) of ``word``."""
        return self.vectors[self.vocab.id(word)]

    def similarity(self, a: str, b: str) -> float:
        """The cosine similarity of the vectors of words ``a`` and ``b``."""
        return float(F.cosine_similarity(self.vector(a), self.vector(b), dim=0))


def _encode(tokens: Any, vocab: Vocabulary) -> tuple[torch.Tensor, int]:
    """The token stream as ids (N,) int64 (unknown words dropped) and its raw length."""
    if isinstance(tokens, torch.Tensor):
        ids = check_ids(tokens, "tokens", len(vocab), dims=1)
        return ids, ids.numel()
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(
            "tokens must be a sequence of str or a 1-D LongTensor of ids, "
            f"got {type(tokens).__name__}"
        )
    if len(tokens) == 0:
        raise ValueError("tokens must hold at least one token, got an empty sequence")
    if not isinstance(tokens[0], str):
        raise TypeError(f"tokens must be str, got {type(tokens[0]).__name__} {tokens[0]!r}")
    ids = vocab.encode(tokens)
    if ids.numel() == 0:
        raise ValueError(f"tokens hold no word of the vocabulary ({len(tokens)} tokens)")
    return ids, len(tokens)


class _Buffers:
    """Tensors a worker reuses at every step instead of allocating a (B, 2 + K, d) tensor per
    step (training measured 5% faster)."""

    def __init__(self, W: torch.Tensor, batch_size: int, rows: int, contexts: int) -> None:
        d = W.shape[1]
        self.E = W.new_empty(batch_size * max(rows, contexts), d)
        self.n = W.new_empty(batch_size, 1, d)
        self.g = W.new_zeros(batch_size, rows)  # column 0 stays 0 (skip-gram's v_c row)


def _skipgram_step(
    W: torch.Tensor,
    rows: torch.Tensor,
    sign: torch.Tensor,
    step: torch.Tensor,
    buf: _Buffers,
    loss: torch.Tensor,
) -> None:
    """One sparse SGD step of skip-gram negative sampling on b pairs, in place.

    W (2V, d) holds W_in above W_out; rows (b, 2 + K) are each pair's rows of W: the centre c,
    then V + the context o, then V + the K noise words, so that the 2 + K vectors (v_c, u_o,
    u_k) are read with one ``index_select`` and written back with one ``index_add_``. Each
    pair takes a step alpha along minus its gradient (eq-sgns-grad), as word2vec's C code:
    the batch's gradients are summed, not averaged. sign = (+1, -1, ..., -1) are the labels
    as signs, step = alpha sign; the batch's summed loss (eq-sgns-loss) is added to ``loss``.
    """
    b, k2 = rows.shape
    flat = rows.view(-1)
    E = torch.index_select(W, 0, flat, out=buf.E[: b * k2]).view(b, k2, -1)  # (b, 2 + K, d)
    v = E[:, 0]  # v_c (b, d)
    # scores u . v_c of the context and the noise words, signed by their label: (b, 1 + K)
    z = torch.bmm(v[:, None, :], E.transpose(1, 2))[:, 0, 1:].mul_(sign)
    loss.sub_(F.logsigmoid(z).sum())
    # alpha (label - sigma(u . v_c)) = alpha sign sigma(-z), after a 0 for v_c's own row
    g = buf.g[:b]
    torch.sigmoid(z.neg_(), out=g[:, 1:]).mul_(step)
    neu1e = torch.bmm(g[:, None, :], E, out=buf.n[:b])  # sum_k alpha (l_k - sigma) u_k
    torch.mul(g[:, 1:, None], v[:, None, :], out=E[:, 1:])  # rows u_k: alpha (l_k - sigma) v_c
    E[:, 0] = neu1e[:, 0]  # row v_c
    W.index_add_(0, flat, E.view(b * k2, -1))


def _cbow_step(
    W: torch.Tensor,
    contexts: torch.Tensor,
    targets: torch.Tensor,
    sign: torch.Tensor,
    step: torch.Tensor,
    buf: _Buffers,
    loss: torch.Tensor,
) -> None:
    """One sparse SGD step of CBOW negative sampling on b windows, in place (W, sign, step,
    loss as in ``_skipgram_step``): contexts (b, 2 window) with -1 padding, targets
    (b, 1 + K) = V + the centre and the noise words. h is the mean of the context vectors
    (eq-cbow); as in word2vec's C code, every context word receives the whole error
    sum_k alpha (label_k - sigma(u_k . h)) u_k (the gradient with respect to h, not divided by
    the window's size)."""
    b, k1 = targets.shape
    mask = contexts >= 0
    C = torch.index_select(W, 0, contexts.clamp(min=0).view(-1), out=buf.E[: contexts.numel()])
    h = C.view(*contexts.shape, -1).mul_(mask[:, :, None]).sum(1).div_(mask.sum(1, keepdim=True))
    flat = targets.reshape(-1)
    U = torch.index_select(W, 0, flat, out=buf.E[: b * k1]).view(b, k1, -1)  # (b, 1 + K, d)
    z = torch.bmm(h[:, None, :], U.transpose(1, 2))[:, 0].mul_(sign)
    loss.sub_(F.logsigmoid(z).sum())
    g = torch.sigmoid(z.neg_()).mul_(step)  # (b, 1 + K)
    neu1e = torch.bmm(g[:, None, :], U).squeeze(1)  # (b, d)
    torch.mul(g[:, :, None], h[:, None, :], out=U)
    W.index_add_(0, flat, U.view(b * k1, -1))
    where = mask.view(-1).nonzero().squeeze(1)  # the context words present, row-major
    rows = contexts.reshape(-1).index_select(0, where)
    W.index_add_(0, rows, neu1e.index_select(0, where // contexts.shape[1]))


@dataclass
class _Shared:
    """What the workers share: the queue of chunks, the progress and the losses."""

    tasks: list[tuple[int, int]]  # (start, end) of each chunk, all epochs in order
    total: int  # tokens over all epochs
    bar: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_task: int = 0
    done: int = 0  # tokens of the finished chunks
    losses: list[float] = field(default_factory=list)
    error: BaseException | None = None

    def take(self) -> tuple[int, int] | None:
        with self.lock:
            if self.next_task == len(self.tasks) or self.error is not None:
                return None
            self.next_task += 1
            return self.tasks[self.next_task - 1]

    def report(self, loss: torch.Tensor, pairs: int, tokens: int) -> None:
        value = float(loss) / pairs
        with self.lock:
            self.losses.append(value)
            self.bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            self.bar.update(tokens)


@dataclass(frozen=True)
class _Settings:
    model: str
    V: int
    window: int
    negatives: int
    subsample_t: float
    lr: float
    batch_size: int


# Pairs (skip-gram) or windows (CBOW) whose noise words are drawn in one call.
_BLOCK_BATCHES = 32


def _worker(
    W: torch.Tensor,
    ids: torch.Tensor,
    keep: torch.Tensor,
    sampler: NoiseSampler | None,
    net: nn.Module | None,
    gen: torch.Generator,
    s: _Settings,
    shared: _Shared,
) -> None:
    """Train on chunks of the stream taken from ``shared`` until none is left."""
    device, V, K, B = W.device, s.V, s.negatives, s.batch_size
    sign = torch.tensor([1.0] + [-1.0] * K, device=device)
    buf = _Buffers(W, B, K + 2, 2 * s.window) if K else None
    block_loss, block_pairs, block_batches, block_tokens = torch.zeros((), device=device), 0, 0, 0
    while (task := shared.take()) is not None:
        start, end = task
        x = ids[start:end]
        if s.subsample_t > 0:
            x = x.masked_select(torch.rand(x.shape, generator=gen, device=device) < keep.take(x))
        if x.numel() < 2:
            n_batches, done = 0, shared.done
        else:
            if s.model == "skipgram":
                inputs, targets = skipgram_pairs(x, s.window, gen)
            else:
                inputs, targets = cbow_windows(x, s.window, gen)
            perm = torch.randperm(targets.shape[0], generator=gen, device=device)
            inputs, targets = inputs.index_select(0, perm), targets.index_select(0, perm)
            if s.model == "skipgram" and K:
                targets = torch.stack([inputs, targets + V], dim=1)  # W's rows of c and o
            n_batches = -(-targets.shape[0] // B)
            done = shared.done
        for j in range(n_batches):
            lo, hi = j * B, (j + 1) * B
            if j % _BLOCK_BATCHES == 0:
                # the learning rate is held for a block of batches (word2vec's C code updates
                # it every 10,000 words), and the block's noise words are drawn in one call
                progress = (done + (end - start) * j / n_batches) / shared.total
                alpha = s.lr * max(1e-4, 1.0 - progress)
                step = sign * alpha
                if K:
                    block = targets[lo : lo + _BLOCK_BATCHES * B]
                    noise = sampler.sample((block.shape[0], K)).add_(V)  # type: ignore[union-attr]
                    if s.model == "skipgram":
                        block_rows = torch.cat([block, noise], dim=1)  # (n, 2 + K)
                    else:
                        block_rows = torch.cat([block[:, None] + V, noise], dim=1)  # (n, 1 + K)
            if K:
                rows = block_rows[lo % (_BLOCK_BATCHES * B) :][:B]
                if s.model == "skipgram":
                    _skipgram_step(W, rows, sign, step, buf, block_loss)  # type: ignore[arg-type]
                else:
                    _cbow_step(W, inputs[lo:hi], rows, sign, step, buf, block_loss)  # type: ignore[arg-type]
            else:
                a, t = inputs[lo:hi], targets[lo:hi]
                loss = net.loss((a, t)) * t.shape[0]  # type: ignore[union-attr, operator]
                net.zero_grad(set_to_none=True)  # type: ignore[union-attr]
                loss.backward()
                with torch.no_grad():
                    for p in net.parameters():  # type: ignore[union-attr]
                        p.add_(p.grad, alpha=-alpha)
                block_loss += loss.detach()
            block_pairs += min(hi, len(targets)) - lo
            block_batches += 1
            block_tokens += (end - start) * (j + 1) // n_batches - (end - start) * j // n_batches
            if block_batches == _REPORT_BATCHES:
                shared.report(block_loss, block_pairs, block_tokens)
                block_loss.zero_()
                block_pairs = block_batches = block_tokens = 0
        if n_batches == 0:
            block_tokens += end - start
        with shared.lock:
            shared.done += end - start
        if not math.isfinite(float(W.abs().max())):
            raise FloatingPointError(
                f"training diverged: W_in or W_out holds NaN or inf; lower lr (got {s.lr}) "
                f"or batch_size (got {B})"
            )
    if block_batches:
        shared.report(block_loss, block_pairs, block_tokens)
    elif block_tokens:
        shared.bar.update(block_tokens)


def train_word2vec(
    tokens: Sequence[str] | torch.Tensor,
    vocab: Vocabulary,
    *,
    model: str = "skipgram",
    dim: int = 100,
    window: int = 5,
    negatives: int = 5,
    subsample_t: float | None = 1e-3,
    epochs: int = 5,
    lr: float = 0.025,
    batch_size: int = 1024,
    workers: int = 1,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> TrainedEmbeddings:
    """Train word2vec (skip-gram or CBOW) on a token stream, as word2vec's C code does it.

    ``tokens``: a sequence of str (words outside ``vocab`` are dropped before windows are cut)
    or a 1-D LongTensor of ids. The stream is cut into chunks (of up to 2^19 words, windows
    do not cross them). For each chunk of each epoch: subsample (eq-subsample,
    ``subsample_t`` None or 0: off), cut the pairs (skip-gram) or windows (CBOW) with a
    dynamic window, shuffle them, then minibatch SGD over ``batch_size`` pairs. With
    ``negatives`` K > 0 the step is negative sampling's gradient (eq-sgns-grad) written
    directly into the K + 2 touched rows of each pair with ``index_add_`` (no autograd), summed
    over the batch so that each pair takes a step of lr as in the C code; the noise words come
    from (eq-sgns-noise). ``negatives=0`` trains the full softmax (eq-skipgram-softmax or
    eq-cbow) with autograd, O(V d) per pair: for small vocabularies only. The learning rate
    falls linearly from ``lr`` to ``lr * 1e-4`` with the fraction of tokens processed.

    ``workers`` threads train on different chunks at once on the same vectors without locks
    ("Hogwild", as word2vec and gensim do); torch runs each step's operations on one thread
    meanwhile (they are too small to gain from more). With ``workers=1`` (the default) the
    result is deterministic given ``seed`` on the CPU; with more it is not, as the threads'
    updates interleave differently from run to run (nor on a GPU, where ``index_add_`` adds
    with atomics in no fixed order). ``device`` None trains on the
    CPU (pass ``seqcourse.runtime.device()`` for a GPU, with one worker). ``batch_size``
    1024 is among the fastest measured on a 2-core CPU (about a million pairs per second on
    one thread; see the module's docstring), and the analogy accuracy measured at 512, 1024
    and 2048 is gensim's (pair by pair) within the spread between seeds. That holds for a
    vocabulary of thousands of words. On a few hundred words without subsampling, the rows of
    the most frequent words receive hundreds of summed steps in one batch, and training can
    diverge (measured at 1024 and lr 0.05 on the planted corpus of chapter 8; it raises
    FloatingPointError): lower ``batch_size`` (512 works there) or ``lr``.
    """
    vocab = check_vocabulary(vocab)
    model = check_choice(model, "model", MODELS)
    dim = check_int(dim, "dim")
    window = check_int(window, "window")
    negatives = check_int(negatives, "negatives", low=0)
    subsample_t = _check_t(subsample_t, "subsample_t")
    epochs = check_int(epochs, "epochs")
    lr = check_positive(lr, "lr")
    batch_size = check_int(batch_size, "batch_size")
    workers = check_int(workers, "workers")
    seed = check_int(seed, "seed", low=0)
    progress = check_bool(progress, "progress")
    if device is None:
        device = torch.device("cpu")
    elif isinstance(device, str):
        device = torch.device(device)
    elif not isinstance(device, torch.device):
        raise TypeError(f"device must be a torch.device, a str or None, got {device!r}")
    if workers > 1 and (device.type != "cpu" or negatives == 0):
        raise ValueError(
            "workers > 1 needs the CPU and negative sampling, got "
            f"workers={workers} on device {device} with negatives={negatives}"
        )

    start = time.perf_counter()
    ids, raw_tokens = _encode(tokens, vocab)
    ids = ids.to(device)
    V, N = len(vocab), ids.numel()
    gen = torch.Generator(device=device).manual_seed(seed)
    # W_in above W_out in one table, for one gather and one scatter per minibatch
    W = torch.zeros(2 * V, dim, device=device)
    W[:V] = (torch.rand(V, dim, generator=gen, device=device) - 0.5) / dim
    W_in, W_out = W[:V], W[V:]
    net = None
    if negatives == 0:
        net = (SkipGram if model == "skipgram" else CBOW)(V, dim, 0, generator=torch.Generator())
        net.W_in.data, net.W_out.data = W_in, W_out  # the module's parameters are views of W
    sampler = NoiseSampler(noise_distribution(vocab).to(device), gen) if negatives else None
    keep = keep_probability(vocab, subsample_t).to(device, torch.float32)
    size = min(_CHUNK_TOKENS, max(10_000, -(-N // (4 * workers)))) if workers > 1 else _CHUNK_TOKENS
    chunks = [(s, min(s + size, N)) for s in range(0, N, size)]
    settings = _Settings(model, V, window, negatives, subsample_t, lr, batch_size)
    bar = tqdm(total=epochs * N, unit="word", unit_scale=True, disable=not progress)
    shared = _Shared(chunks * epochs, epochs * N, bar)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if workers == 1:
            _worker(W, ids, keep, sampler, net, gen, settings, shared)
        else:
            _hogwild(W, ids, keep, sampler, gen, settings, shared, workers, seed)
    finally:
        torch.set_num_threads(threads)
        bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    W_in, W_out = W_in.clone(), W_out.clone()
    return TrainedEmbeddings(
        vectors=W_in,
        W_in=W_in,
        W_out=W_out,
        vocab=vocab,
        losses=shared.losses,
        seconds=seconds,
        words_per_second=epochs * raw_tokens / seconds,
    )


def _hogwild(
    W: torch.Tensor,
    ids: torch.Tensor,
    keep: torch.Tensor,
    sampler: NoiseSampler | None,
    gen: torch.Generator,
    settings: _Settings,
    shared: _Shared,
    workers: int,
    seed: int,
) -> None:
    """Run ``workers`` threads of ``_worker`` on the same W; re-raise the first error."""

    def run(k: int) -> None:
        torch.set_num_threads(1)
        g = gen if k == 0 else torch.Generator().manual_seed(seed + 1_000_003 * k)
        own = copy.copy(sampler)
        own.generator = g  # type: ignore[union-attr]
        try:
            _worker(W, ids, keep, own, None, g, settings, shared)
        except BaseException as error:  # noqa: BLE001 (re-raised in the calling thread)
            with shared.lock:
                shared.error = shared.error or error

    pool = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(workers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if shared.error is not None:
        raise shared.error
