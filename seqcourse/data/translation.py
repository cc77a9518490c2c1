"""Sentence pairs for sequence-to-sequence models (chapter 5): real, generated, vocabulary.

Real pairs. English-French sentence pairs from Tatoeba (https://tatoeba.org, CC-BY 2.0 FR),
in the two-column file ``eng-fra.txt`` of the PyTorch tutorial "Translation with a Sequence
to Sequence Network and Attention" (download.pytorch.org/tutorial/data.zip, itself taken from
manythings.org/anki). The package ships a frozen, filtered subset,
``seqcourse/data/eng_fra_short.txt.xz``, checked against its SHA-256 on load
(``ENG_FRA``; the attribution heads the file). The copy it was cut from is the first
76,037 complete lines of the tutorial's file (of 135,842; the file is ordered by the length
of the English sentence, so the prefix holds English sentences of at most 30 characters) as
committed in github.com/Soubhagya264/Language_Translator-Encoder-Decoder- (``fra.txt``,
commit f6c89651306aa93d2f0f0447ce15b553a530abb0). The subset keeps the lines whose two
sides each have 1 to 10 tokens after ``normalise`` and drops every line whose normalised
pair repeats an earlier one. ``load_pairs(path)`` applies the same filter to a full
``eng-fra.txt`` (or ``fra.txt`` from manythings.org, whose third column it ignores).

``normalise``: Unicode NFC, lower case, typographic apostrophes to ``'``, then tokens are
the maximal runs of letters/digits that may hold inner ``'`` or ``-`` (``l'aide``,
``arrête-toi``, ``don't``) and every other non-space character on its own (``.``, ``!``,
``?``, ``,``, ``«``). Words count tokens, punctuation included: "Go." has 2.

``split_pairs`` splits by *source sentence*: all translations of one English sentence land
in the same split, so a held-out sentence was never seen in training under another
translation; ``references`` gathers them as the multiple references of BLEU.

Generated pairs (no download, everything from ``numpy.random.default_rng(seed)``):

    toy_translation  a source language with subject-verb-object order and adjectives after
                     their noun, and a target language with subject-object-verb order and
                     adjectives before their noun in mirrored order; the verb agrees in
                     number with the subject in both, target adjectives agree with their
                     noun. Source  N_s A_1..A_a V N_o B_1..B_b  becomes target
                     A_a..A_1 N_s B_b..B_1 N_o V, word by word, so the alignment is a
                     known permutation (returned).
    symbol_pairs     copy, reverse or sort a random string of symbols.

``Vocab`` maps tokens to ids with the four special tokens at fixed ids
``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2, ``<unk>`` = 3, built from training data only;
``pad_sequences`` pads a batch of unequal lengths to a (B, T) LongTensor with the lengths
and the mask of real positions.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from seqcourse._checks import check_bool, check_choice, check_int
from seqcourse.data.frozen import FILES, read_text

__all__ = [
    "BOS",
    "ENG_FRA",
    "EOS",
    "PAD",
    "SPECIALS",
    "SYMBOL_TASKS",
    "UNK",
    "Padded",
    "Pair",
    "Splits",
    "ToyCorpus",
    "Vocab",
    "filter_lines",
    "load_pairs",
    "normalise",
    "pad_sequences",
    "references",
    "split_pairs",
    "symbol_pairs",
    "toy_translation",
]

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
SYMBOL_TASKS = ("copy", "reverse", "sort")
MAX_WORDS = 10  # the shipped subset's limit on tokens per side

ENG_FRA = FILES["eng_fra_short"]  # listed with the other shipped files


class Pair(NamedTuple):
    """A source and a target sentence, each a tuple of tokens."""

    src: tuple[str, ...]
    tgt: tuple[str, ...]


# ---------------------------------------------------------------------------- real pairs
_TOKEN = re.compile(r"\w+(?:['-]\w+)*|[^\w\s]")


def _prepare(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    for quote in ("\u2019", "\u2018", "\u02bc"):
        text = text.replace(quote, "'")
    return text


def normalise(text: str) -> tuple[str, ...]:
    """The tokens of ``text``: NFC, lower case, ``'`` for typographic apostrophes, then words
    (letters/digits with inner ``'`` or ``-``) and single punctuation characters."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return tuple(_TOKEN.findall(_prepare(text)))


def _max_words(max_words: Any) -> int:
    return check_int(max_words, "max_words", 1)


def _filter(text: str, max_words: int) -> tuple[list[str], list[Pair]]:
    """The kept lines of ``text`` (see ``filter_lines``) and their normalised pairs."""
    raw_lines = text.split("\n")
    prepared = _prepare(text).split("\n")
    if len(prepared) != len(raw_lines):  # lower() never adds a newline; NFC neither
        raise ValueError("text changed its number of lines under normalisation")
    kept, pairs, seen = [], [], set()
    for number, (line, low) in enumerate(zip(raw_lines, prepared, strict=True), start=1):
        line, low = line.rstrip("\r"), low.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        parts, low_parts = line.split("\t"), low.split("\t")
        if len(parts) < 2 or len(low_parts) < 2:
            raise ValueError(
                f"line {number} must hold 'source<TAB>target', got no tab in {line[:60]!r}"
            )
        pair = Pair(tuple(_TOKEN.findall(low_parts[0])), tuple(_TOKEN.findall(low_parts[1])))
        if not (1 <= len(pair.src) <= max_words and 1 <= len(pair.tgt) <= max_words):
            continue
        if pair not in seen:
            seen.add(pair)
            kept.append("\t".join(parts[:2]))
            pairs.append(pair)
    return kept, pairs


def filter_lines(lines: Iterable[str], max_words: int = MAX_WORDS) -> list[str]:
    """The lines "english<TAB>french[<TAB>...]" whose two sides each have 1..max_words tokens
    after ``normalise``, first occurrence of each normalised pair only, in input order, cut to
    their first two columns.

    Lines that are empty or start with ``#`` are skipped; a line without a tab raises
    ValueError naming its number (1-based)."""
    max_words = _max_words(max_words)
    if isinstance(lines, str):
        raise TypeError("lines must be an iterable of lines, got a str")
    return _filter("\n".join(line.rstrip("\r\n") for line in lines), max_words)[0]


def _shipped_text() -> str:
    """The shipped file's text, checked against its SHA-256 (``frozen.read_text``)."""
    return read_text("eng_fra_short")


@cache
def _shipped_pairs(max_words: int) -> tuple[Pair, ...]:
    return tuple(_filter(_shipped_text(), max_words)[1])


def load_pairs(path: str | PathLike[str] | None = None, max_words: int = MAX_WORDS) -> list[Pair]:
    """English-French pairs (source English, target French), tokenised by ``normalise``.

    path None reads the shipped subset (checked against its SHA-256; ``max_words`` <= 10,
    the subset's own limit); a path reads a full ``eng-fra.txt`` (tab-separated, UTF-8).
    Keeps pairs whose two sides each have 1..max_words tokens, without repeats, in file order.
    """
    max_words = _max_words(max_words)
    if path is None:
        if max_words > MAX_WORDS:
            raise ValueError(
                f"max_words must be <= {MAX_WORDS} for the shipped subset, got {max_words}; "
                "pass path= to read a full eng-fra.txt"
            )
        return list(_shipped_pairs(max_words))
    if not isinstance(path, str | PathLike):
        raise TypeError(f"path must be a str, a path or None, got {type(path).__name__}")
    if not Path(path).is_file():
        raise ValueError(f"path must name an existing file, got {str(path)!r}")
    return _filter(Path(path).read_text(encoding="utf-8"), max_words)[1]


class Splits(NamedTuple):
    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]


def _fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(value).__name__}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value}")
    return float(value)


def split_pairs(
    pairs: Sequence[Pair], seed: int = 0, valid: float = 0.1, test: float = 0.1
) -> Splits:
    """A train/valid/test split by source sentence, the same for the same seed.

    The distinct sources, in order of first appearance, are shuffled by
    ``numpy.random.default_rng(seed)``; the first round(test * S) of them go to test, the next
    round(valid * S) to valid, the rest to train, each with all its pairs (in input order).
    """
    seed = check_int(seed, "seed", 0)
    valid, test = _fraction(valid, "valid"), _fraction(test, "test")
    if valid + test >= 1.0:
        raise ValueError(f"valid + test must be < 1, got {valid} + {test}")
    if len(pairs) == 0:
        raise ValueError("pairs must hold at least one pair, got none")
    sources = list(dict.fromkeys(p.src for p in pairs))
    order = np.random.default_rng(seed).permutation(len(sources))
    n_test, n_valid = round(test * len(sources)), round(valid * len(sources))
    where = {}
    for rank, k in enumerate(order.tolist()):
        where[sources[k]] = 2 if rank < n_test else 1 if rank < n_test + n_valid else 0
    parts: tuple[list[Pair], list[Pair], list[Pair]] = ([], [], [])
    for p in pairs:
        parts[where[p.src]].append(p)
    return Splits(*parts)


def references(pairs: Sequence[Pair]) -> tuple[list[tuple[str, ...]], list[list[tuple[str, ...]]]]:
    """The distinct sources (first-appearance order) and, for each, all its targets: the
    multiple references of ``seqcourse.seq2seq.corpus_bleu``."""
    grouped: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for p in pairs:
        grouped.setdefault(p.src, []).append(p.tgt)
    return list(grouped), list(grouped.values())


# ---------------------------------------------------------------------------- vocabulary
class Padded(NamedTuple):
    """A padded batch: ids (B, T) long, lengths (B,) long, mask (B, T) bool (True = real)."""

    ids: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int = PAD) -> Padded:
    """Right-pad id sequences of unequal lengths into one batch.

    seqs: B sequences of ints, each of length >= 1. Returns ids (B, T) with T = max length,
    ids[b, t] = seqs[b][t] for t < len_b and ``pad_id`` after; lengths (B,); mask (B, T) with
    mask[b, t] = t < len_b.
    """
    pad_id = check_int(pad_id, "pad_id", 0)
    if isinstance(seqs, str | bytes) or not isinstance(seqs, Sequence | torch.Tensor):
        raise TypeError(f"seqs must be a sequence of id sequences, got {type(seqs).__name__}")
    if len(seqs) == 0:
        raise ValueError("seqs must hold at least one sequence, got none")
    rows = []
    for b, s in enumerate(seqs):
        row = s.tolist() if isinstance(s, torch.Tensor | np.ndarray) else s
        if isinstance(row, str) or not isinstance(row, Sequence):
            raise TypeError(f"seqs[{b}] must be a sequence of ints, got {type(s).__name__}")
        if len(row) == 0:
            raise ValueError(f"seqs[{b}] must hold at least one id, got an empty sequence")
        if any(isinstance(i, bool) or not isinstance(i, int | np.integer) for i in row):
            raise TypeError(f"seqs[{b}] must hold ints, got {row[:8]!r}")
        rows.append(list(row))
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    ids = torch.full((len(rows), int(lengths.max())), pad_id, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
    mask = torch.arange(ids.shape[1]) < lengths[:, None]
    return Padded(ids, lengths, mask)


@dataclass(frozen=True)
class Vocab:
    """Tokens and ids: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3, then ``tokens``.

    ``unk`` False keeps id 3 reserved but makes ``encode`` refuse unknown tokens
    (ValueError naming the token) instead of mapping them to ``<unk>``.
    """

    tokens: tuple[str, ...]
    unk: bool = True
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_bool(self.unk, "unk")
        if any(not isinstance(t, str) or t == "" for t in self.tokens):
            raise TypeError("tokens must be non-empty strings")
        clash = sorted(set(self.tokens) & set(SPECIALS))
        if clash:
            raise ValueError(f"tokens must not hold the special tokens {SPECIALS}, got {clash}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("tokens must not repeat a token")
        itos = SPECIALS + tuple(self.tokens)
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(itos)})

    @classmethod
    def build(
        cls, sequences: Iterable[Sequence[str]], min_freq: int = 1, unk: bool = True
    ) -> Vocab:
        """The tokens of ``sequences`` (training data only) seen at least ``min_freq`` times,
        most frequent first, ties in alphabetical order."""
        min_freq = check_int(min_freq, "min_freq", 1)
        counts: Counter[str] = Counter()
        for k, seq in enumerate(sequences):
            if isinstance(seq, str):
                raise TypeError(f"sequences[{k}] must be a sequence of tokens, got a str")
            counts.update(seq)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)
        )
        return cls(tuple(kept), unk)

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def itos(self, i: int) -> str:
        """The token of id ``i``."""
        i = check_int(i, "i", 0)
        if i >= len(self):
            raise ValueError(f"i must lie in [0, {len(self)}), got {i}")
        return SPECIALS[i] if i < len(SPECIALS) else self.tokens[i - len(SPECIALS)]

    def encode(self, tokens: Sequence[str], bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of ``tokens`` (unknown ones -> 3 = ``<unk>``, or ValueError without unk),
        with ``<bos>`` in front and ``<eos>`` at the end when asked."""
        if isinstance(tokens, str) or not isinstance(tokens, Sequence):
            raise TypeError(f"tokens must be a sequence of str, got {type(tokens).__name__}")
        ids = []
        for t in tokens:
            i = self._index.get(t)
            if i is None:
                if not self.unk:
                    raise ValueError(
                        f"token {t!r} is not in the vocabulary of {len(self)} and this Vocab "
                        "was built with unk=False"
                    )
                i = UNK
            ids.append(i)
        return [BOS] * bool(bos) + ids + [EOS] * bool(eos)

    def decode(self, ids: Iterable[int] | torch.Tensor, strip: bool = True) -> list[str]:
        """Tokens of ``ids``; ``strip`` drops ``<pad>`` and ``<bos>`` and stops at ``<eos>``."""
        seq = ids.tolist() if isinstance(ids, torch.Tensor | np.ndarray) else list(ids)
        out = []
        for i in seq:
            if strip and i == EOS:
                break
            if strip and i in (PAD, BOS):
                continue
            out.append(self.itos(i))
        return out

    def batch(
        self, sentences: Sequence[Sequence[str]], bos: bool = False, eos: bool = False
    ) -> Padded:
        """``pad_sequences`` of the encoded sentences (B, T)."""
        return pad_sequences([self.encode(s, bos, eos) for s in sentences], PAD)


# ---------------------------------------------------------------------------- generated
_NOUNS = ("dax", "wug", "blick", "fep", "toma", "zib", "kiki", "lorp", "mip", "sarn", "vek", "yun")
_VERBS = ("glorp", "snib", "trak", "plim", "dunt", "hesk")
_ADJS = ("red", "big", "old", "tiny", "soft", "loud", "cold", "wet", "sly", "dim", "odd", "raw")
_T_NOUNS = (
    "noru",
    "pelu",
    "tasu",
    "mebo",
    "gira",
    "sofu",
    "kane",
    "rulo",
    "bina",
    "heto",
    "ziva",
    "domu",
)
_T_VERBS = ("katam", "silur", "bonet", "ferik", "lamus", "todin")
_T_ADJS = ("ro", "ba", "lu", "te", "so", "ke", "mu", "pe", "na", "gu", "do", "fa")


@dataclass(frozen=True)
class ToyCorpus:
    """Generated pairs with their alignment.

    pairs[k] = (source tokens, target tokens), of equal length n_k; alignment[k][i] is the
    target position of source token i (a permutation of range(n_k)): source token i
    translates to target token alignment[k][i].
    """

    pairs: list[Pair]
    alignment: list[tuple[int, ...]]


def _np_generator(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int(seed, "seed", 0))


def toy_translation(
    n: int,
    seed: int | np.random.Generator = 0,
    adjectives: tuple[int, int] = (0, 2),
    n_nouns: int = 8,
    n_verbs: int = 4,
    n_adjectives: int = 8,
    plural: float = 0.5,
) -> ToyCorpus:
    """``n`` sentence pairs of the toy language pair (see the module docstring).

    Source (SVO, adjectives after the noun):  N_s A_1..A_a  V  N_o B_1..B_b
    Target (SOV, adjectives before the noun, mirrored): A_a'..A_1' N_s' B_b'..B_1' N_o' V'
    Each NP draws its number of adjectives uniformly from ``adjectives`` = (low, high)
    (distinct adjectives), so a sentence has 3 + a + b tokens in both languages; each noun is
    plural with probability ``plural``. Agreement: source noun "dax"/"daxs", verb "glorps"
    (singular subject) / "glorp" (plural); target noun "noru"/"norui", verb "katama" /
    "katamen", target adjectives "ro"/"roi" after the number of their noun. No stem ends in
    a number mark (source "s", target "i"), so the marks are unambiguous.
    """
    n = check_int(n, "n", 1)
    if not (isinstance(adjectives, tuple) and len(adjectives) == 2):
        raise TypeError(f"adjectives must be a pair (low, high), got {adjectives!r}")
    low, high = (check_int(a, "adjectives", 0) for a in adjectives)
    sizes = {
        "n_nouns": (n_nouns, len(_NOUNS)),
        "n_verbs": (n_verbs, len(_VERBS)),
        "n_adjectives": (n_adjectives, len(_ADJS)),
    }
    for name, (value, most) in sizes.items():
        if check_int(value, name, 1) > most:
            raise ValueError(f"{name} must be in [1, {most}], got {value}")
    if low > high or high > n_adjectives:
        raise ValueError(
            f"adjectives must satisfy 0 <= low <= high <= n_adjectives = {n_adjectives}, "
            f"got {adjectives}"
        )
    if isinstance(plural, bool) or not isinstance(plural, int | float):
        raise TypeError(f"plural must be a number in [0, 1], got {type(plural).__name__}")
    if not 0.0 <= plural <= 1.0:
        raise ValueError(f"plural must be a number in [0, 1], got {plural}")
    rng = _np_generator(seed)
    pairs, alignment = [], []
    for _ in range(n):
        src: list[str] = []
        tgt: list[str] = []
        link: list[int] = []  # target position of each source token, filled below
        nps = []
        for _role in range(2):
            noun = int(rng.integers(n_nouns))
            pl = bool(rng.random() < plural)
            adjs = rng.permutation(n_adjectives)[: int(rng.integers(low, high + 1))].tolist()
            nps.append((noun, pl, adjs))
        verb = int(rng.integers(n_verbs))
        # source: N_s A.. V N_o B..; remember (source index -> kind, item) to align
        order = []
        for role, (noun, pl, adjs) in enumerate(nps):
            src.append(_NOUNS[noun] + ("s" if pl else ""))
            order.append(("noun", role, None))
            for j, a in enumerate(adjs):
                src.append(_ADJS[a])
                order.append(("adj", role, j))
            if role == 0:
                src.append(_VERBS[verb] + ("" if nps[0][1] else "s"))
                order.append(("verb", 0, None))
        # target: mirrored adjectives, noun, for subject then object, then the verb
        position = {}
        for role, (noun, pl, adjs) in enumerate(nps):
            for j in reversed(range(len(adjs))):
                position[("adj", role, j)] = len(tgt)
                tgt.append(_T_ADJS[adjs[j]] + ("i" if pl else ""))
            position[("noun", role, None)] = len(tgt)
            tgt.append(_T_NOUNS[noun] + ("i" if pl else ""))
        position[("verb", 0, None)] = len(tgt)
        tgt.append(_T_VERBS[verb] + ("en" if nps[0][1] else "a"))
        link = [position[key] for key in order]
        pairs.append(Pair(tuple(src), tuple(tgt)))
        alignment.append(tuple(link))
    return ToyCorpus(pairs, alignment)


def symbol_pairs(
    task: str,
    n: int,
    min_len: int = 1,
    max_len: int = 10,
    n_symbols: int = 10,
    seed: int | np.random.Generator = 0,
) -> list[Pair]:
    """``n`` pairs (x, f(x)) for f = copy, reverse or sort (``task``).

    x: a string of uniform length in [min_len, max_len] of symbols "0".."{n_symbols-1}"
    drawn uniformly with replacement; sort orders the symbols by their number.
    """
    check_choice(task, "task", SYMBOL_TASKS)
    n = check_int(n, "n", 1)
    min_len, max_len = check_int(min_len, "min_len", 1), check_int(max_len, "max_len", 1)
    if min_len > max_len:
        raise ValueError(f"min_len must be <= max_len, got {min_len} > {max_len}")
    n_symbols = check_int(n_symbols, "n_symbols", 1)
    rng = _np_generator(seed)
    out = []
    for _ in range(n):
        x = rng.integers(n_symbols, size=int(rng.integers(min_len, max_len + 1))).tolist()
        y = x if task == "copy" else x[::-1] if task == "reverse" else sorted(x)
        out.append(Pair(tuple(map(str, x)), tuple(map(str, y))))
    return out
