"""Data files that ship with the package, each checked against its SHA-256 when read.

Nothing the book reads may depend on the machine or the interpreter, so real text is frozen
into ``seqcourse/data/`` as an xz-compressed file and listed in ``FILES`` with where it
came from, its licence and the SHA-256 of its *decompressed* bytes. ``read_text`` refuses a
file whose content differs: a corrupted install or an edited file fails loudly instead of
moving every number in the book. The book's data page (appendix) lists the same entries.
"""

from __future__ import annotations

import hashlib
import lzma
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["FILES", "FrozenFile", "read_text"]


@dataclass(frozen=True)
class FrozenFile:
    """One shipped file: its name under seqcourse/data, checksum, size, source and licence."""

    name: str
    sha256: str  # of the decompressed UTF-8 bytes
    chars: int  # characters after decoding
    source: str
    licence: str


FILES: dict[str, FrozenFile] = {
    "python_docs": FrozenFile(
        name="python_docs.txt.xz",
        sha256="2a95af4ac93f5b719944030ce3769070ddf827d847cba42192afa8da989e5dc4",
        chars=465_048,
        source=(
            "CPython 3.11.7, Lib/pydoc_data/topics.py: the topic texts behind help(), "
            "joined in sorted key order with blank lines between them"
        ),
        licence=(
            "Python Software Foundation License Version 2 (documentation text); "
            "code examples also under the Zero-Clause BSD licence"
        ),
    ),
    "eng_fra_short": FrozenFile(
        name="eng_fra_short.txt.xz",
        sha256="3db4c80712b127c32f559cc21b9ba5e7acb7f318a3bf9e8e5dc5d43686aabe0c",
        chars=3_875_589,
        source=(
            "Tatoeba English-French pairs in the PyTorch seq2seq tutorial's eng-fra.txt "
            "(download.pytorch.org/tutorial/data.zip, from manythings.org/anki): its first 76,037 "
            "complete lines as committed in github.com/Soubhagya264/"
            "Language_Translator-Encoder-Decoder- (fra.txt, commit f6c89651), pairs with 1-10 "
            "tokens per side after normalise(), first occurrence of each normalised pair"
        ),
        licence="CC-BY 2.0 FR (Tatoeba, https://tatoeba.org; sentence authors on tatoeba.org)",
    ),
    "gutenberg": FrozenFile(
        name="gutenberg.txt.xz",
        sha256="5eb96860ec75ce31c037c584d337d851e2814dd870e3975c57e3cd7dc05fe061",
        chars=10_548_192,
        source=(
            "Project Gutenberg plain texts, header and licence removed (seqcourse/data/corpora.py "
            "says how): Austen, Pride and Prejudice (PG 1342); Carroll, Alice's Adventures in "
            "Wonderland (PG 11); Dickens, A Tale of Two Cities (PG 98); Doyle, The Adventures of "
            "Sherlock Holmes (PG 1661); Melville, Moby Dick (PG 2701); Stoker, Dracula (PG 345); "
            "Wilde, The Picture of Dorian Gray (PG 174); Kipling, The Jungle Book (PG 236); "
            "Barrie, Peter Pan (PG 16), from github.com/clocasto/HaikuGenerator commit 936af28f; "
            "Twain, Adventures of Huckleberry Finn (PG 76), same repository, commit acd5ffe1; "
            "Dickens, Great Expectations (PG 1400); Shelley, Frankenstein (PG 84); Alcott, Little "
            "Women (PG 514), from github.com/vyjayanv-hub/112_TP_Vasudevan commit f983423a; "
            "The 1992 CIA World Factbook (PG 48), the Canterbury corpus's world192.txt, from "
            "github.com/siara-cc/unishox_js commit 3d5a685a (sample_texts/world192.txt)"
        ),
        licence=(
            "public domain in the USA; Project Gutenberg (www.gutenberg.org). The World Factbook "
            "is a work of the US Government. Check the laws of your country before using it "
            "outside the USA"
        ),
    ),
    "questions_words": FrozenFile(
        name="questions_words.txt.xz",
        sha256="8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
        chars=603_955,
        source=(
            "questions-words.txt, the word analogy test set of Mikolov et al. (2013), from "
            "word2vec's repository (code.google.com/archive/p/word2vec), as shipped verbatim in "
            "gensim 4.4.0's wheel (gensim/test/test_data/questions-words.txt)"
        ),
        licence="Apache License 2.0 (word2vec, Google)",
    ),
    "wordsim353": FrozenFile(
        name="wordsim353.tsv.xz",
        sha256="f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
        chars=7_186,
        source=(
            "WordSimilarity-353 (Finkelstein et al. 2002, www.cs.technion.ac.il/~gabr/resources/"
            "data/wordsim353/), the combined 353 pairs with their mean human score, as shipped "
            "verbatim in gensim 4.4.0's wheel (gensim/test/test_data/wordsim353.tsv)"
        ),
        licence=(
            "unconfirmed: the authors publish the collection freely for research but state no "
            "licence that could be found; redistributed in gensim's test data (gensim: LGPL-2.1)"
        ),
    ),
}


@cache
def read_text(key: str) -> str:
    """The decompressed text of the shipped file ``FILES[key]``, checked against its SHA-256.

    Raises ``KeyError`` for an unknown key and ``ValueError`` when the file's content does
    not match the recorded checksum.
    """
    if key not in FILES:
        raise KeyError(f"key must be one of {sorted(FILES)}, got {key!r}")
    entry = FILES[key]
    raw = lzma.decompress(resources.files(__package__).joinpath(entry.name).read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != entry.sha256:
        raise ValueError(
            f"seqcourse/data/{entry.name} is corrupted: SHA-256 {digest}, expected "
            f"{entry.sha256}; reinstall the package"
        )
    return raw.decode("utf-8")
