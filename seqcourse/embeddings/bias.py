"""Gender bias in word vectors: finding it, removing it, and what removal leaves (chapter 8).

Bolukbasi et al. (2016) find a bias direction g from definitional pairs such as (he, she),
(man, woman): with unit vectors e, each pair P = {e_1, e_2} is centred on its mean
mu_P = (e_1 + e_2) / 2, and g is the first principal component of all the centred vectors,

    g = top right singular vector of the stack of (e_w - mu_P), w in P, over the pairs
                                                                            (eq-bias-direction)

(its sign chosen so that the first word of the first pair projects positively). A word's
bias is its cosine with g (``project``).

Hard debiasing then *neutralises* the words that should carry no gender (doctor, nurse):
it removes their component along g and renormalises,

    e_w <- (e_w - (e_w . g) g) / | e_w - (e_w . g) g |,                     (eq-neutralise)

and *equalises* each pair that should differ only in gender (grandmother, grandfather):
both words get the same part orthogonal to g, nu = mu - (mu . g) g, and opposite parts
along g, scaled to keep unit norm,

    e_w <- nu + sqrt(1 - |nu|^2) sign((e_w - mu) . g) g,                    (eq-equalise)

so that after both steps every neutral word is equally far from the two words of a pair.

Gonen & Goldberg (2019) show this hides the bias rather than removing it: words that were
biased still cluster together. Their measure (``neighbour_bias``): for each word, the
fraction of its k nearest neighbours (cosine, in the debiased space, among a given word
list) whose *original* bias (the projection on g before debiasing) was positive, that is,
leaning to the first word of the first pair ("he" for the pair ("he", "she")). Its Pearson
correlation with the word's own original bias stays high after debiasing.

All vectors are normalised to unit length first, as Bolukbasi et al. do; every function
returns a new tensor and leaves its inputs untouched.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import torch

from seqcourse._checks import check_finite, check_int
from seqcourse.embeddings.similarity import _check_vectors, unit
from seqcourse.embeddings.vocab import Vocabulary

__all__ = [
    "BiasDirection",
    "NeighbourBias",
    "bias_direction",
    "equalise",
    "neighbour_bias",
    "neutralise",
    "project",
]


# ---------------------------------------------------------------------------- checks
def _pairs(pairs: Any, vocab: Vocabulary) -> list[tuple[int, int]]:
    if isinstance(pairs, str) or not isinstance(pairs, Iterable):
        raise TypeError(f"pairs must be an iterable of (word1, word2) pairs, got {pairs!r}")
    out = []
    for p in pairs:
        if isinstance(p, str) or not isinstance(p, Sequence) or len(p) != 2:
            raise ValueError(f"pairs must hold (word1, word2) pairs of str, got {p!r}")
        if p[0] == p[1]:
            raise ValueError(f"pairs must pair two different words, got {tuple(p)!r}")
        out.append((vocab.id(p[0]), vocab.id(p[1])))
    if not out:
        raise ValueError("pairs must hold at least one (word1, word2) pair, got none")
    return out


def _direction(direction: Any, d: int, like: torch.Tensor) -> torch.Tensor:
    """The bias direction as a unit (d,) tensor of ``like``'s dtype."""
    if not isinstance(direction, torch.Tensor):
        raise TypeError(f"direction must be a torch.Tensor ({d},), got {type(direction).__name__}")
    if direction.shape != (d,):
        raise ValueError(
            f"direction must have shape ({d},) like the vectors' rows, got {tuple(direction.shape)}"
        )
    check_finite(direction, "direction")
    norm = torch.linalg.vector_norm(direction)
    if float(norm) == 0:
        raise ValueError("direction must be nonzero, got the zero vector")
    return (direction / norm).to(like.dtype)


# ---------------------------------------------------------------------------- finding it
class BiasDirection(NamedTuple):
    """``direction`` (d,): the unit bias direction g; ``explained`` (components,): the
    fraction of the centred pairs' variance along each of the top principal components
    (a first value far above the rest means the pairs share one direction)."""

    direction: torch.Tensor
    explained: torch.Tensor


def bias_direction(
    vectors: torch.Tensor,
    vocab: Vocabulary,
    pairs: Iterable[tuple[str, str]],
    components: int = 1,
) -> BiasDirection:
    """The bias direction g of the definitional ``pairs`` (eq-bias-direction): the first
    principal component of the unit vectors minus their pair's mean, signed so that the
    first word of the first pair has a positive projection."""
    E = unit(_check_vectors(vectors, vocab))
    ids = _pairs(pairs, vocab)
    components = check_int(components, "components")
    first, second = torch.tensor(ids, device=E.device).T
    half = (E[first] - E[second]) / 2  # e_1 - mu = -(e_2 - mu)
    centred = torch.cat([half, -half])  # (2 P, d), mean zero
    rank_bound = min(len(ids), E.shape[1])
    if components > rank_bound:
        raise ValueError(
            f"components must be <= min(number of pairs, d) = {rank_bound}, got {components}"
        )
    _, S, Vh = torch.linalg.svd(centred, full_matrices=False)
    variance = S.square()
    if float(variance[0]) == 0:
        raise ValueError("pairs must differ: every pair's two words have the same vector")
    g = Vh[0]
    if float(E[ids[0][0]] @ g) < 0:
        g = -g
    return BiasDirection(g, variance[:components] / variance.sum())


def project(vectors: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Each word's bias: cos(e_w, g), (V,)."""
    E = unit(_check_vectors(vectors))
    return E @ _direction(direction, E.shape[1], E)


# ---------------------------------------------------------------------------- removing it
def neutralise(
    vectors: torch.Tensor, direction: torch.Tensor, words: Iterable[str], vocab: Vocabulary
) -> torch.Tensor:
    """Unit vectors (V, d) with the ``words`` neutralised (eq-neutralise): their component
    along g removed and their norm reset to 1. Other rows are only normalised."""
    E = unit(_check_vectors(vectors, vocab))
    g = _direction(direction, E.shape[1], E)
    if isinstance(words, str):
        raise TypeError(f"words must be an iterable of words, not a single str {words!r}")
    ids = vocab.ids(list(words)).to(E.device)
    if ids.numel() == 0:
        return E
    rows = E[ids]
    rows = rows - (rows @ g)[:, None] * g
    norms = torch.linalg.vector_norm(rows, dim=1)
    tiny = norms <= 1e-12
    if bool(tiny.any()):
        word = vocab.words[int(ids[tiny.nonzero()[0, 0]])]
        raise ValueError(f"words: {word!r} lies along the direction; nothing is left to keep")
    E[ids] = rows / norms[:, None]
    return E


def equalise(
    vectors: torch.Tensor,
    direction: torch.Tensor,
    pairs: Iterable[tuple[str, str]],
    vocab: Vocabulary,
) -> torch.Tensor:
    """Unit vectors (V, d) with each pair equalised (eq-equalise): both words share
    nu = mu - (mu . g) g and sit at +-sqrt(1 - |nu|^2) along g, each on its own side.
    Other rows are only normalised. A word may appear in one pair only."""
    E = unit(_check_vectors(vectors, vocab))
    g = _direction(direction, E.shape[1], E)
    ids = _pairs(pairs, vocab)
    flat = [i for p in ids for i in p]
    if len(set(flat)) != len(flat):
        repeated = next(vocab.words[i] for i in flat if flat.count(i) > 1)
        raise ValueError(f"pairs must name each word once, got {repeated!r} twice")
    first, second = torch.tensor(ids, device=E.device).T
    e1, e2 = E[first], E[second]  # (P, d)
    mu = (e1 + e2) / 2
    nu = mu - (mu @ g)[:, None] * g
    lean = (e1 - mu) @ g  # (P,) > 0 when the first word leans to +g
    tied = lean.abs() <= 1e-12
    if bool(tied.any()):
        bad = int(tied.nonzero()[0, 0])
        pair = (vocab.words[ids[bad][0]], vocab.words[ids[bad][1]])
        raise ValueError(f"pairs: {pair!r} project equally on the direction; no side to take")
    height = (1 - nu.square().sum(1)).clamp(min=0).sqrt()  # (P,)
    side = torch.sign(lean)
    E[first] = nu + (side * height)[:, None] * g
    E[second] = nu - (side * height)[:, None] * g
    return E


# ---------------------------------------------------------------------------- what remains
class NeighbourBias(NamedTuple):
    """``fraction`` (n,): for each word, the share of its k nearest neighbours whose
    original bias was positive; ``correlation``: Pearson's r between ``fraction`` and the
    words' own original bias."""

    fraction: torch.Tensor
    correlation: float


def neighbour_bias(
    vectors: torch.Tensor,
    original_bias: torch.Tensor,
    words: Sequence[str],
    vocab: Vocabulary,
    k: int = 100,
) -> NeighbourBias:
    """Gonen & Goldberg's (2019) clustering measure of the bias that debiasing leaves.

    ``vectors`` (V, d): the space to measure (usually the debiased one); ``original_bias``
    (V,): each word's projection on g *before* debiasing (``project`` of the original
    vectors); ``words``: the n words to study (e.g. the most biased ones of each side). For
    each word w of ``words``, its k nearest neighbours by cosine in ``vectors`` are taken
    among the other words of ``words``, and fraction[w] = (number of neighbours with
    original bias > 0) / k. If debiasing had removed the bias, a word's neighbours would no
    longer reveal which way it leaned, and the correlation would be near 0."""
    E = unit(_check_vectors(vectors, vocab))
    if not isinstance(original_bias, torch.Tensor) or original_bias.shape != (len(vocab),):
        shape = getattr(original_bias, "shape", type(original_bias).__name__)
        raise ValueError(f"original_bias must be a tensor ({len(vocab)},), got {shape}")
    check_finite(original_bias, "original_bias")
    if isinstance(words, str):
        raise TypeError(f"words must be a sequence of words, not a single str {words!r}")
    ids = vocab.ids(list(words)).to(E.device)
    if len(set(ids.tolist())) != ids.numel():
        raise ValueError("words must not repeat a word")
    k = check_int(k, "k")
    if k >= ids.numel():
        raise ValueError(f"k must be < the number of words ({ids.numel()}), got {k}")
    bias = original_bias.to(E.device)[ids]
    positive = (bias > 0).to(E.dtype)  # (n,)
    W = E[ids]
    fraction = torch.empty(ids.numel(), dtype=E.dtype, device=E.device)
    for start in range(0, ids.numel(), 4096):
        sims = W[start : start + 4096] @ W.T  # (chunk, n)
        rows = torch.arange(sims.shape[0], device=E.device)
        sims[rows, rows + start] = -math.inf  # a word is not its own neighbour
        neighbours = sims.topk(k, dim=1).indices  # (chunk, k)
        fraction[start : start + 4096] = positive[neighbours].mean(1)
    f_c, b_c = fraction - fraction.mean(), bias.to(E.dtype) - bias.to(E.dtype).mean()
    denominator = float((f_c.square().sum() * b_c.square().sum()).sqrt())
    correlation = float((f_c * b_c).sum()) / denominator if denominator > 0 else math.nan
    return NeighbourBias(fraction, correlation)
