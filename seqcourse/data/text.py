"""The course's offline text corpus: Python's own documentation.

The text behind ``help("with")``, ``pydoc_data.topics``: about 465 kB of English prose and
code explaining the language, so the language models of chapters 1, 2 and 4 train and
compare on real, varied text with no download. It is *frozen*: the copy from CPython 3.11.7
ships with the package (``seqcourse/data/python_docs.txt.xz``, checked against its SHA-256
on load, see ``seqcourse.data.frozen``), because the module of the running interpreter
differs between releases (466,019 characters on 3.11.2, 465,048 on 3.11.7, more on 3.12)
and moved the book's n-gram baseline from 2.120 to 2.181 bits per character.

``stream_batches`` cuts one long id array into B parallel streams for truncated BPTT
(chapter 2).

The split is fixed: the topics are joined in sorted order and the last tenth of the
characters (cut at a paragraph boundary) is the validation set. The alphabet is every
character of the whole corpus, so validation text never holds an unknown symbol.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from seqcourse.data.frozen import read_text

if TYPE_CHECKING:
    import torch

__all__ = ["CharVocab", "TextCorpus", "python_docs", "stream_batches"]


@dataclass(frozen=True)
class CharVocab:
    """A character alphabet with ids 0..V-1 in sorted character order."""

    chars: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.chars) == 0:
            raise ValueError("chars must hold at least one character, got none")
        if any(not isinstance(c, str) or len(c) != 1 for c in self.chars):
            raise ValueError("chars must be single characters")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("chars must not repeat a character")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The sorted set of characters in ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self._index

    def encode(self, text: str) -> np.ndarray:
        """Character ids of ``text``, shape (len(text),), dtype int64."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        try:
            return np.fromiter((self._index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as err:
            raise ValueError(
                f"text holds the character {err.args[0]!r}, which is not in the vocabulary "
                f"of {len(self)} characters"
            ) from None

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """The text whose character ids are ``ids``."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = ids[(ids < 0) | (ids >= len(self))][0]
            raise ValueError(f"ids must lie in [0, {len(self)}), got {int(bad)}")
        return "".join(self.chars[i] for i in ids.tolist())


@dataclass(frozen=True)
class TextCorpus:
    """A text with its alphabet and a fixed train/validation split."""

    name: str
    train: str
    valid: str
    vocab: CharVocab

    @property
    def text(self) -> str:
        return self.train + self.valid

    def encoded(self, split: str) -> np.ndarray:
        """Character ids of the 'train' or 'valid' split."""
        if split not in ("train", "valid"):
            raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
        return self.vocab.encode(self.train if split == "train" else self.valid)

    def summary(self) -> str:
        return (
            f"{self.name}: {len(self.train):,} train / {len(self.valid):,} valid characters, "
            f"alphabet of {len(self.vocab)}"
        )


def _split_at_paragraph(text: str, fraction: float) -> int:
    cut = int(len(text) * fraction)
    boundary = text.find("\n\n", cut)
    return len(text) if boundary < 0 else boundary + 2


@lru_cache(maxsize=1)
def python_docs(valid_fraction: float = 0.1) -> TextCorpus:
    """The Python documentation corpus with its fixed split (the last ``valid_fraction``)."""
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    text = read_text("python_docs")
    cut = _split_at_paragraph(text, 1.0 - valid_fraction)
    return TextCorpus("python-docs", text[:cut], text[cut:], CharVocab.from_text(text))


def stream_batches(ids: np.ndarray, batch_size: int) -> torch.Tensor:
    """Reshape a long id sequence into ``batch_size`` parallel streams (chapter 2).

    ids: (N,) integer ids; returns a LongTensor (B, L) with B = batch_size, L = N // B and
    row b = ids[b*L : (b+1)*L], each row a contiguous slice of the text; the last N mod B
    ids are dropped. Truncated BPTT (``seqcourse.train.train_tbptt``) walks all rows in
    step, carrying one hidden state per row: for a language model, inputs ``s[:, :-1]``
    and targets ``s[:, 1:]`` with ``s = stream_batches(ids, B)``.
    """
    import torch

    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    arr = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D integer array (N,), got {arr.dtype} {arr.shape}")
    if arr.size < batch_size:
        raise ValueError(
            f"ids must hold at least batch_size = {batch_size} ids, got N = {arr.size}"
        )
    length = arr.size // batch_size
    return torch.tensor(arr[: batch_size * length].reshape(batch_size, length), dtype=torch.long)
