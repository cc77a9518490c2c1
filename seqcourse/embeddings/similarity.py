"""Using word vectors: nearest neighbours, analogies and word similarity (chapter 8).

Everything is measured by cosine similarity, cos(x, y) = x . y / (|x| |y|): the dot product
of unit vectors, so the vectors are normalised once (``unit``) and each query is one
matrix product.

An analogy question a : b :: c : ? ("man : king :: woman : ?") is answered by the word x
(not a, b or c) that best fits. 3CosAdd (Mikolov et al. 2013) takes the word nearest to
b - a + c,

    x* = argmax_x cos(x, b - a + c) = argmax_x [cos(x, b) - cos(x, a) + cos(x, c)]
                                                                            (eq-3cosadd)

for unit vectors (the second form drops |b - a + c|, which does not depend on x). Levy &
Goldberg (2014) note that one large term can then dominate, and multiply instead, after
shifting cosines to [0, 1] with cos'(x, y) = (cos(x, y) + 1) / 2:

    x* = argmax_x cos'(x, b) cos'(x, c) / (cos'(x, a) + eps),   eps = 0.001  (eq-3cosmul)

(gensim's ``most_similar_cosmul`` uses eps = 1e-6). ``analogy_accuracy`` scores a question
set in batches: one matrix product per batch, of the targets b - a + c (3CosAdd) or of the
distinct query words (3CosMul, whose questions then gather their rows). A question counts
when its four words are in the vocabulary (with ``restrict=n``, among the n most frequent:
gensim's ``restrict_vocab``, which also limits the candidates to those n words).

Word similarity compares the cosines of word pairs with human ratings (WordSim-353, SimLex)
by Spearman's rank correlation: the Pearson correlation of the ranks, tied values sharing
the mean of their ranks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from seqcourse._checks import check_choice, check_finite, check_int, check_positive
from seqcourse.embeddings.vocab import Vocabulary, check_vocabulary

__all__ = [
    "METHODS",
    "AnalogyScore",
    "WordSimilarity",
    "analogy",
    "analogy_accuracy",
    "nearest",
    "spearman",
    "unit",
    "word_similarity",
]

METHODS = ("3cosadd", "3cosmul")


# ---------------------------------------------------------------------------- checks
def _check_vectors(vectors: Any, vocab: Vocabulary | None = None) -> torch.Tensor:
    if not isinstance(vectors, torch.Tensor):
        raise TypeError(f"vectors must be a torch.Tensor (V, d), got {type(vectors).__name__}")
    if vectors.dim() != 2 or vectors.shape[0] < 1 or vectors.shape[1] < 1:
        raise ValueError(f"vectors must have shape (V, d), got {tuple(vectors.shape)}")
    if not vectors.is_floating_point():
        raise TypeError(f"vectors must be a float tensor, got {vectors.dtype}")
    if vocab is not None:
        check_vocabulary(vocab)
        if vectors.shape[0] != len(vocab):
            raise ValueError(
                f"vectors must have one row per word of vocab ({len(vocab)}), "
                f"got {vectors.shape[0]} rows"
            )
    check_finite(vectors, "vectors")
    return vectors


def unit(vectors: torch.Tensor) -> torch.Tensor:
    """Each row divided by its Euclidean norm (a new tensor). ValueError naming the rows of
    norm zero, which have no direction and so no cosine."""
    vectors = _check_vectors(vectors)
    norms = torch.linalg.vector_norm(vectors, dim=1, keepdim=True)  # (V, 1)
    zero = (norms[:, 0] == 0).nonzero()[:, 0]
    if zero.numel():
        shown = ", ".join(str(int(r)) for r in zero[:10])
        more = f" and {zero.numel() - 10} more" if zero.numel() > 10 else ""
        raise ValueError(
            f"vectors must have nonzero rows to normalise, got norm 0 in row(s) {shown}{more}"
        )
    return vectors / norms


# ---------------------------------------------------------------------------- neighbours
def nearest(
    vectors: torch.Tensor,
    vocab: Vocabulary,
    query: str | torch.Tensor,
    k: int = 10,
    exclude: Iterable[str] = (),
) -> list[tuple[str, float]]:
    """The ``k`` words with the highest cosine to ``query``, best first, as (word, cosine).

    ``query``: a word (which is then left out of its own neighbours) or a vector (d,);
    ``exclude``: further words to leave out."""
    U = unit(_check_vectors(vectors, vocab))
    k = check_int(k, "k")
    skip = [vocab.id(w) for w in _words(exclude, "exclude")]
    if isinstance(query, str):
        q = U[vocab.id(query)]
        skip.append(vocab.id(query))
    elif isinstance(query, torch.Tensor):
        if query.shape != (U.shape[1],):
            raise ValueError(
                f"query must be a word or a vector of shape ({U.shape[1]},), "
                f"got shape {tuple(query.shape)}"
            )
        check_finite(query, "query")
        q = unit(query[None].to(U.dtype))[0]
    else:
        raise TypeError(f"query must be a str or a torch.Tensor, got {type(query).__name__}")
    available = len(vocab) - len(set(skip))
    if k > available:
        raise ValueError(f"k must be <= the {available} words left to rank, got {k}")
    scores = U @ q  # (V,)
    if skip:
        scores[torch.tensor(skip, device=scores.device)] = -math.inf
    top = scores.topk(k)
    pairs = zip(top.indices.tolist(), top.values.tolist(), strict=True)
    return [(vocab.words[i], s) for i, s in pairs]


def _words(words: Iterable[str], name: str) -> list[str]:
    if isinstance(words, str):
        raise TypeError(f"{name} must be an iterable of words, not a single str {words!r}")
    out = list(words)
    for w in out:
        if not isinstance(w, str):
            raise TypeError(f"{name} must hold str words, got {type(w).__name__} {w!r}")
    return out


# ---------------------------------------------------------------------------- analogies
def _analogy_scores(
    U: torch.Tensor,
    candidates: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    method: str,
    epsilon: float,
) -> torch.Tensor:
    """Scores (N, n) of every candidate (the rows of ``candidates``, (n, d) unit) for the
    questions a : b :: c : ? given as ids (N,) into U (V, d) unit, with a, b and c at -inf
    when they are candidates (ids < n). 3CosAdd is one product with the targets
    b - a + c; 3CosMul one product for the distinct query words, whose rows are gathered."""
    if method == "3cosadd":  # eq-3cosadd: x . (b - a + c) ranks as cos(x, b - a + c)
        target = U.index_select(0, b) - U.index_select(0, a) + U.index_select(0, c)
        scores = target @ candidates.T  # (N, n)
    else:  # eq-3cosmul
        words, inverse = torch.unique(torch.cat([a, b, c]), return_inverse=True)
        shifted = (U.index_select(0, words) @ candidates.T).add_(1).mul_(0.5)  # (words, n)
        ia, ib, ic = inverse.view(3, -1)
        scores = shifted.index_select(0, ib).mul_(shifted.index_select(0, ic))
        scores.div_(shifted.index_select(0, ia).add_(epsilon))
    n = candidates.shape[0]
    rows = torch.arange(a.numel(), device=U.device)
    for ids in (a, b, c):
        inside = ids < n
        scores[rows[inside], ids[inside]] = -math.inf
    return scores


def analogy(
    vectors: torch.Tensor,
    vocab: Vocabulary,
    a: str,
    b: str,
    c: str,
    method: str = "3cosadd",
    k: int = 1,
    epsilon: float = 0.001,
) -> list[str]:
    """The ``k`` best answers x to a : b :: c : ? by 3CosAdd (eq-3cosadd) or 3CosMul
    (eq-3cosmul, with ``epsilon``), best first, never a, b or c themselves."""
    U = unit(_check_vectors(vectors, vocab))
    method = check_choice(method, "method", METHODS)
    k = check_int(k, "k")
    epsilon = check_positive(epsilon, "epsilon")
    ids = [torch.tensor([vocab.id(w)], device=U.device) for w in (a, b, c)]
    available = len(vocab) - len({int(i) for i in ids})
    if k > available:
        raise ValueError(f"k must be <= the {available} words left to rank, got {k}")
    scores = _analogy_scores(U, U, *ids, method, epsilon)[0]
    return [vocab.words[i] for i in scores.topk(k).indices.tolist()]


@dataclass
class AnalogyScore:
    """``accuracy`` = correct / covered (NaN when nothing is covered); ``covered``: the
    questions whose four words are in the (restricted) vocabulary, of ``total``;
    ``sections``: the same per section, for questions that name one."""

    accuracy: float
    correct: int
    covered: int
    total: int
    sections: dict[str, AnalogyScore] = field(default_factory=dict)


def _question(q: Any) -> tuple[str, str, str, str, str | None]:
    if all(hasattr(q, name) for name in "abcd"):
        words = (q.a, q.b, q.c, q.d)
        section = getattr(q, "section", None)
    elif isinstance(q, Sequence) and not isinstance(q, str) and len(q) == 4:
        words, section = tuple(q), None
    else:
        raise ValueError(
            "questions must hold 4-tuples (a, b, c, d) of words or records with fields "
            f"a, b, c, d (and section), got {q!r}"
        )
    if not all(isinstance(w, str) for w in words):
        raise TypeError(f"questions must hold str words, got {words!r}")
    if section is not None and not isinstance(section, str):
        raise TypeError(f"a question's section must be a str, got {section!r}")
    return (*words, section)  # type: ignore[return-value]


def _score(correct: int, covered: int, total: int) -> AnalogyScore:
    return AnalogyScore(correct / covered if covered else math.nan, correct, covered, total)


def analogy_accuracy(
    vectors: torch.Tensor,
    vocab: Vocabulary,
    questions: Iterable[Any],
    method: str = "3cosadd",
    restrict: int | None = None,
    batch_size: int = 1024,
    epsilon: float = 0.001,
) -> AnalogyScore:
    """The fraction of the covered analogy ``questions`` whose top answer (``analogy`` with
    k = 1) is d.

    ``questions``: 4-tuples (a, b, c, d) of words, or records with fields a, b, c, d and an
    optional ``section`` (per-section scores then fill ``sections``). With ``restrict=n``
    only the n most frequent words (the first n rows) count: a question is covered only if
    its four words are among them, and the answers are searched among them (gensim's
    ``restrict_vocab``). Words are matched as given (lower-case both sides if needed)."""
    U = unit(_check_vectors(vectors, vocab))
    method = check_choice(method, "method", METHODS)
    batch_size = check_int(batch_size, "batch_size")
    epsilon = check_positive(epsilon, "epsilon")
    n = len(vocab) if restrict is None else min(check_int(restrict, "restrict"), len(vocab))
    if isinstance(questions, str):
        raise TypeError("questions must be an iterable of questions, not a str")
    index = vocab.index
    total, covered_ids, covered_sections = 0, [], []
    totals: dict[str, int] = {}
    for q in questions:
        *words, section = _question(q)
        total += 1
        if section is not None:
            totals[section] = totals.get(section, 0) + 1
        ids = [index.get(w, n) for w in words]
        if max(ids) < n:
            covered_ids.append(ids)
            covered_sections.append(section)
    hits = torch.zeros(len(covered_ids), dtype=torch.bool)
    if covered_ids:
        ids = torch.tensor(covered_ids, device=U.device)  # (N, 4)
        candidates = U[:n]
        for start in range(0, ids.shape[0], batch_size):
            a, b, c, d = ids[start : start + batch_size].T
            scores = _analogy_scores(U, candidates, a, b, c, method, epsilon)
            hits[start : start + batch_size] = (scores.argmax(1) == d).cpu()
    result = _score(int(hits.sum()), len(covered_ids), total)
    for name, count in totals.items():
        mask = torch.tensor([s == name for s in covered_sections], dtype=torch.bool)
        result.sections[name] = _score(int(hits[mask].sum()), int(mask.sum()), count)
    return result


# ---------------------------------------------------------------------------- similarity
def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of x, ties sharing the mean of the ranks they span."""
    values, order = torch.sort(x)
    _, inverse, counts = torch.unique_consecutive(values, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).to(torch.float64)  # rank of each tie group's last member
    mean_rank = last - (counts - 1) / 2.0
    ranks = torch.empty_like(mean_rank[inverse])
    ranks[order] = mean_rank[inverse]
    return ranks


def spearman(x: Sequence[float] | torch.Tensor, y: Sequence[float] | torch.Tensor) -> float:
    """Spearman's rank correlation of x and y: the Pearson correlation of their ranks, ties
    given the average of their ranks (as ``scipy.stats.spearmanr``). NaN when x or y is
    constant (no ranking), as scipy returns."""
    xs = torch.as_tensor(x, dtype=torch.float64).flatten().cpu()
    ys = torch.as_tensor(y, dtype=torch.float64).flatten().cpu()
    if xs.numel() != ys.numel():
        raise ValueError(f"x and y must have the same length, got {xs.numel()} and {ys.numel()}")
    if xs.numel() < 2:
        raise ValueError(f"x and y must hold at least 2 values, got {xs.numel()}")
    for name, t in (("x", xs), ("y", ys)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must hold finite values, got NaN or inf")
    rx, ry = _ranks(xs), _ranks(ys)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = float((rx.square().sum() * ry.square().sum()).sqrt())
    return float((rx * ry).sum()) / denominator if denominator > 0 else math.nan


class WordSimilarity(NamedTuple):
    """Spearman's ``rho`` between cosines and human scores over the ``covered`` pairs (both
    words in the vocabulary) of ``total``."""

    rho: float
    covered: int
    total: int


def word_similarity(
    vectors: torch.Tensor, vocab: Vocabulary, pairs: Iterable[tuple[str, str, float]]
) -> WordSimilarity:
    """Spearman's rho between cos(w1, w2) and the human ``score`` over the (w1, w2, score)
    ``pairs`` whose two words are in the vocabulary (NaN when fewer than 2 are)."""
    U = unit(_check_vectors(vectors, vocab))
    total, left, right, human = 0, [], [], []
    for p in pairs:
        if not (isinstance(p, Sequence) and len(p) == 3):
            raise ValueError(f"pairs must hold (word1, word2, score) triples, got {p!r}")
        w1, w2, score = p
        if not isinstance(w1, str) or not isinstance(w2, str):
            raise TypeError(f"pairs must hold str words, got {w1!r} and {w2!r}")
        total += 1
        if w1 in vocab and w2 in vocab:
            left.append(vocab.index[w1])
            right.append(vocab.index[w2])
            human.append(float(score))
    if len(human) < 2:
        return WordSimilarity(math.nan, len(human), total)
    cos = (U[torch.tensor(left)] * U[torch.tensor(right)]).sum(1)
    return WordSimilarity(spearman(cos, human), len(human), total)
