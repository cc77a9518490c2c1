"""Real English text and the standard word-vector test sets (chapter 8), all shipped frozen.

Books. ``load_gutenberg`` returns the tokens of thirteen public-domain novels and one work
of reference from Project Gutenberg (www.gutenberg.org; public domain in the USA), about
1.79 million words, frozen in ``seqcourse/data/gutenberg.txt.xz`` (2.9 MB) and checked
against its SHA-256 on load (``GUTENBERG``; ``BOOKS`` lists each book with its source):

    Jane Austen, Pride and Prejudice (PG 1342); Lewis Carroll, Alice's Adventures in
    Wonderland (PG 11); Charles Dickens, A Tale of Two Cities (PG 98) and Great
    Expectations (PG 1400); Arthur Conan Doyle, The Adventures of Sherlock Holmes (PG 1661);
    Herman Melville, Moby Dick (PG 2701); Mark Twain, Adventures of Huckleberry Finn
    (PG 76); Bram Stoker, Dracula (PG 345); Oscar Wilde, The Picture of Dorian Gray
    (PG 174); Rudyard Kipling, The Jungle Book (PG 236); J. M. Barrie, Peter Pan (PG 16);
    Mary Shelley, Frankenstein (PG 84); Louisa May Alcott, Little Women (PG 514); and the
    CIA's The World Factbook 1992 (PG 48, a work of the US Government).

Novels alone name few capitals, currencies or nationalities: the thirteen (1.51 million
words) cover 5,040 of the 19,544 analogy questions at ``min_count`` 5, 12 of the 506 in
capital-common-countries and 8 of the 4,524 in capital-world. The Factbook ("Capital:
Kabul", "Currency: afghani (plural - afghanis)", "Nationality: noun - Afghan(s)") brings the
coverage to 9,881 questions (380 and 2,202 in those sections) with 16% of the
tokens; WordSim-353 has both words of 222 of its 353 pairs (178 without the Factbook). For
reference, gensim 4.4 skip-gram (``Word2Vec(sg=1, negative=5, vector_size=100, window=5,
epochs=5, min_count=5, sample=1e-3, workers=2, seed=s)``, s = 0, 1, 2, on the stream cut
into 10,000-token pieces) answers 4.0-4.3% of the 9,881 covered questions by 3CosAdd
(family about 19%, past tense 9%, capitals 2-4%) and reaches a Spearman correlation of
0.22-0.24 on the 222 WordSim pairs: 1.8 million words are little for analogies (Mikolov
et al. trained on up to 6 billion).

The copies were taken from public GitHub repositories (each ``Book`` names the
repository, commit and path):

    github.com/clocasto/HaikuGenerator, commit 936af28fdf47e9a50abf52183a04959df01daf17
        pg1342, pg11, pg98, pg1661, pg2701, pg345, pg174, pg236, pg16 (the repository's
        copies already lack the Gutenberg header and licence), and pg76 at the earlier
        commit acd5ffe1e49391bc22c9916805ae9b0754785b5c (later deleted from the repository);
    github.com/vyjayanv-hub/112_TP_Vasudevan, commit f983423acfbf1acaf7d7d92f78fdb56bc7ef31fa
        pg1400, pg84, pg514 (current Gutenberg editions with header and licence);
    github.com/siara-cc/unishox_js, commit 3d5a685ade9bc8f46c617010a4de34be9e0cf83e
        sample_texts/world192.txt, the Factbook as it appears in the Canterbury large corpus
        (Project Gutenberg edition of January 1, 1993, with its 1992 header).

Freezing kept each book's text and removed the Project Gutenberg matter: everything up to
and including the ``*** START OF THE PROJECT GUTENBERG EBOOK ...`` line and from the
``*** END OF ...`` line on; for the Factbook, the header through the ``*END*THE SMALL
PRINT!`` line and the edition's note up to its title line; a leading "Produced by ..."
paragraph and ``[Illustration...]`` markers. Line ends became ``\\n``, the text Unicode NFC,
trailing spaces were cut and runs of blank lines became one. The file holds the books in
``BOOKS`` order, each after a line ``@@@ <key>``, below two ``#`` lines of attribution.

Tokenisation (``tokenize``): Unicode NFC, lower case, the typographic apostrophes ``’ ‘ ʼ``
become ``'``, and a word is a maximal run of letters (any script; no digits, no ``_``) that
may hold single inner apostrophes: "Don’t!" -> ``don't``, "Darcy's" -> ``darcy's``, "'Tis"
-> ``tis``, "well-known" -> ``well``, ``known``, "km2" -> ``km``. Numbers and punctuation
are dropped.

Analogies. ``load_analogies`` reads ``questions-words.txt`` of Mikolov et al. (2013),
19,544 questions "a b c d" (a is to b as c is to d) in 14 sections (5 semantic: capitals,
currencies, US cities and states, family; 9 syntactic), lower-cased, from word2vec's
repository (Apache License 2.0) as shipped verbatim in gensim 4.4.0's wheel
(``gensim/test/test_data/questions-words.txt``; ``questions_words.txt.xz``).

Word similarity. ``load_wordsim`` reads WordSimilarity-353 (Finkelstein et al. 2002): 353
word pairs with the mean of 13 to 16 human relatedness scores on a 0-10 scale, words
lower-cased, from the same gensim folder (``wordsim353.tsv.xz``). Its licence is
unconfirmed: the authors publish it for research without a stated licence; gensim
redistributes it in its test data.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Any, NamedTuple

from seqcourse.data.frozen import FILES, read_text

__all__ = [
    "ANALOGY_SECTIONS",
    "BOOKS",
    "GUTENBERG",
    "QUESTIONS_WORDS",
    "WORDSIM353",
    "Analogy",
    "Book",
    "gutenberg_texts",
    "load_analogies",
    "load_gutenberg",
    "load_wordsim",
    "tokenize",
]

GUTENBERG = FILES["gutenberg"]
QUESTIONS_WORDS = FILES["questions_words"]
WORDSIM353 = FILES["wordsim353"]

_HAIKU = "clocasto/HaikuGenerator"
_HAIKU_HEAD = "936af28fdf47e9a50abf52183a04959df01daf17"
_VYJ = "vyjayanv-hub/112_TP_Vasudevan"
_VYJ_HEAD = "f983423acfbf1acaf7d7d92f78fdb56bc7ef31fa"


class Book(NamedTuple):
    """One shipped book: its key, Project Gutenberg number, title, author and source."""

    key: str
    ebook: int  # www.gutenberg.org/ebooks/<ebook>
    title: str
    author: str
    repo: str  # github.com/<repo>
    commit: str
    path: str


# fmt: off
BOOKS: tuple[Book, ...] = (
    Book("austen-pride", 1342, "Pride and Prejudice", "Jane Austen",
         _HAIKU, _HAIKU_HEAD, "pg1342.txt"),
    Book("carroll-alice", 11, "Alice's Adventures in Wonderland", "Lewis Carroll",
         _HAIKU, _HAIKU_HEAD, "pg11.txt"),
    Book("dickens-two-cities", 98, "A Tale of Two Cities", "Charles Dickens",
         _HAIKU, _HAIKU_HEAD, "pg98.txt"),
    Book("dickens-expectations", 1400, "Great Expectations", "Charles Dickens",
         _VYJ, _VYJ_HEAD, "pg1400.txt"),
    Book("doyle-sherlock", 1661, "The Adventures of Sherlock Holmes", "Arthur Conan Doyle",
         _HAIKU, _HAIKU_HEAD, "pg1661.txt"),
    Book("melville-moby-dick", 2701, "Moby Dick; Or, The Whale", "Herman Melville",
         _HAIKU, _HAIKU_HEAD, "pg2701.txt"),
    Book("twain-huckleberry", 76, "Adventures of Huckleberry Finn", "Mark Twain",
         _HAIKU, "acd5ffe1e49391bc22c9916805ae9b0754785b5c", "pg76.txt"),
    Book("stoker-dracula", 345, "Dracula", "Bram Stoker",
         _HAIKU, _HAIKU_HEAD, "pg345.txt"),
    Book("wilde-dorian-gray", 174, "The Picture of Dorian Gray", "Oscar Wilde",
         _HAIKU, _HAIKU_HEAD, "pg174.txt"),
    Book("kipling-jungle-book", 236, "The Jungle Book", "Rudyard Kipling",
         _HAIKU, _HAIKU_HEAD, "pg236.txt"),
    Book("barrie-peter-pan", 16, "Peter Pan", "J. M. Barrie",
         _HAIKU, _HAIKU_HEAD, "pg16.txt"),
    Book("shelley-frankenstein", 84, "Frankenstein; Or, The Modern Prometheus",
         "Mary Wollstonecraft Shelley", _VYJ, _VYJ_HEAD, "pg84.txt"),
    Book("alcott-little-women", 514, "Little Women", "Louisa May Alcott",
         _VYJ, _VYJ_HEAD, "pg514.txt"),
    Book("cia-factbook-1992", 48, "The 1992 CIA World Factbook",
         "United States. Central Intelligence Agency", "siara-cc/unishox_js",
         "3d5a685ade9bc8f46c617010a4de34be9e0cf83e", "sample_texts/world192.txt"),
)
# fmt: on
_KEYS = tuple(book.key for book in BOOKS)

ANALOGY_SECTIONS = (
    "capital-common-countries",
    "capital-world",
    "currency",
    "city-in-state",
    "family",
    "gram1-adjective-to-adverb",
    "gram2-opposite",
    "gram3-comparative",
    "gram4-superlative",
    "gram5-present-participle",
    "gram6-nationality-adjective",
    "gram7-past-tense",
    "gram8-plural",
    "gram9-plural-verbs",
)


class Analogy(NamedTuple):
    """a is to b as c is to d, from ``section``."""

    a: str
    b: str
    c: str
    d: str
    section: str


# ------------------------------------------------------------------------------ tokens
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_APOSTROPHES = ("\u2019", "\u2018", "\u02bc")  # ’ ‘ ʼ


def tokenize(text: str) -> list[str]:
    """The words of ``text``: NFC, lower case, typographic apostrophes to ``'``, then the
    maximal runs of letters that may hold single inner apostrophes (``don't``)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text).lower()
    for quote in _APOSTROPHES:  # str.replace is 40 times faster than str.translate here
        text = text.replace(quote, "'")
    return _WORD.findall(text)


# ------------------------------------------------------------------------------- books
@cache
def _texts() -> dict[str, str]:
    parts = re.split(r"^@@@ (\S+)\n", read_text("gutenberg"), flags=re.M)
    keys, bodies = tuple(parts[1::2]), parts[2::2]
    if keys != _KEYS:  # unreachable while the checksum holds
        raise ValueError(f"{GUTENBERG.name} holds books {keys}, expected {_KEYS}")
    return dict(zip(keys, bodies, strict=True))


@cache
def _tokens(key: str) -> tuple[str, ...]:
    # interned: one str object per distinct word (47k) instead of one per token (1.8M),
    # about 90 MB less memory for all the books
    return tuple(map(sys.intern, tokenize(_texts()[key])))


def _book_keys(books: Any) -> tuple[str, ...]:
    if books is None:
        return _KEYS
    if isinstance(books, str):
        books = (books,)
    if not isinstance(books, Sequence) or not all(isinstance(b, str) for b in books):
        raise TypeError(f"books must be None, a key or a sequence of keys, got {books!r}")
    unknown = [b for b in books if b not in _KEYS]
    if unknown or not books:
        raise ValueError(f"books must be keys among {list(_KEYS)}, got {list(books)!r}")
    return tuple(books)


def gutenberg_texts(books: str | Sequence[str] | None = None) -> dict[str, str]:
    """The cleaned text of each book (all of ``BOOKS`` by default), by key, in the order
    given; the shipped file is checked against its SHA-256 first."""
    texts = _texts()
    return {key: texts[key] for key in _book_keys(books)}


def load_gutenberg(books: str | Sequence[str] | None = None) -> list[str]:
    """The tokens (``tokenize``) of the shipped books, one stream, books in the order given
    (``BOOKS`` order by default): 1,792,391 words for all fourteen."""
    tokens: list[str] = []
    for key in _book_keys(books):
        tokens.extend(_tokens(key))
    return tokens


# ---------------------------------------------------------------------- test sets
@cache
def _analogies() -> tuple[Analogy, ...]:
    out, section = [], None
    for number, line in enumerate(read_text("questions_words").splitlines(), start=1):
        if line.startswith(": "):
            section = line[2:].strip()
            continue
        words = line.lower().split()
        if len(words) != 4 or section is None:  # unreachable while the checksum holds
            raise ValueError(f"{QUESTIONS_WORDS.name} line {number} is not 'a b c d'")
        out.append(Analogy(*words, section=section))
    return tuple(out)


def load_analogies(sections: str | Sequence[str] | None = None) -> list[Analogy]:
    """Mikolov et al.'s analogy questions, lower-cased, in file order: all 19,544, or those
    of the named section(s) of ``ANALOGY_SECTIONS``."""
    questions = _analogies()
    if sections is None:
        return list(questions)
    if isinstance(sections, str):
        sections = (sections,)
    if not isinstance(sections, Sequence) or not all(isinstance(s, str) for s in sections):
        raise TypeError(f"sections must be None, a name or a sequence of names, got {sections!r}")
    unknown = [s for s in sections if s not in ANALOGY_SECTIONS]
    if unknown or not sections:
        raise ValueError(
            f"sections must be names among {list(ANALOGY_SECTIONS)}, got {list(sections)!r}"
        )
    wanted = set(sections)
    return [q for q in questions if q.section in wanted]


@cache
def _wordsim() -> tuple[tuple[str, str, float], ...]:
    out = []
    for line in read_text("wordsim353").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        first, second, score = line.split("\t")
        out.append((first.lower(), second.lower(), float(score)))
    return tuple(out)


def load_wordsim() -> list[tuple[str, str, float]]:
    """The 353 WordSimilarity-353 pairs (word, word, mean human score in [0, 10]), words
    lower-cased, in file order."""
    return list(_wordsim())
