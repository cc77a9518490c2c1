"""The word vocabulary every embedding model of chapter 8 shares.

Words are sorted by count, most frequent first (ties alphabetically), so id 0 is the most
frequent word and ``counts`` is non-increasing. Words seen fewer than ``min_count`` times
are dropped, as word2vec's C code and gensim do: they never become centres, contexts or
noise samples, and ``encode`` removes them from the token stream before windows are cut.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from seqcourse._checks import check_bool, check_int

__all__ = ["Vocabulary", "check_vocabulary"]


@dataclass(frozen=True)
class Vocabulary:
    """Words (most frequent first), their counts and the reverse index."""

    words: tuple[str, ...]
    counts: torch.Tensor  # (V,) int64, non-increasing
    index: dict[str, int] = field(repr=False, compare=False)

    @classmethod
    def from_tokens(
        cls, tokens: Iterable[str], min_count: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """The vocabulary of a token stream: words seen >= ``min_count`` times, at most
        ``max_size`` of them (the most frequent)."""
        min_count = check_int(min_count, "min_count")
        if max_size is not None:
            max_size = check_int(max_size, "max_size")
        counter = Counter(tokens)
        if not counter:
            raise ValueError("tokens must hold at least one word, got an empty sequence")
        kept = sorted(
            ((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0])
        )
        if max_size is not None:
            kept = kept[:max_size]
        if not kept:
            raise ValueError(
                f"no word occurs min_count={min_count} times or more "
                f"(the most frequent occurs {max(counter.values())} times)"
            )
        words = tuple(w for w, _ in kept)
        counts = torch.tensor([c for _, c in kept], dtype=torch.int64)
        return cls(words, counts, {w: i for i, w in enumerate(words)})

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def id(self, word: str) -> int:
        """The id of ``word``; ValueError naming it when it is not in the vocabulary."""
        if not isinstance(word, str):
            raise TypeError(f"word must be a str, got {type(word).__name__} {word!r}")
        try:
            return self.index[word]
        except KeyError:
            raise ValueError(
                f"unknown word {word!r}: not among the {len(self)} words of the vocabulary"
            ) from None

    def ids(self, words: Sequence[str]) -> torch.Tensor:
        """The ids of ``words`` as a LongTensor; ValueError on the first unknown word."""
        return torch.tensor([self.id(w) for w in words], dtype=torch.int64)

    def encode(self, tokens: Iterable[str], drop_unknown: bool = True) -> torch.Tensor:
        """The token stream as ids (a 1-D LongTensor). Unknown tokens are dropped (the
        default, as word2vec does before cutting windows) or, with ``drop_unknown=False``,
        raise a ValueError."""
        if check_bool(drop_unknown, "drop_unknown"):
            index = self.index
            return torch.tensor([index[t] for t in tokens if t in index], dtype=torch.int64)
        return torch.tensor([self.id(t) for t in tokens], dtype=torch.int64)

    def frequencies(self) -> torch.Tensor:
        """Relative frequencies (V,) float64, summing to 1 over the kept words."""
        c = self.counts.to(torch.float64)
        return c / c.sum()


def check_vocabulary(vocab: object) -> Vocabulary:
    """``vocab`` if it is a Vocabulary; TypeError naming the argument otherwise."""
    if not isinstance(vocab, Vocabulary):
        raise TypeError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
    return vocab
