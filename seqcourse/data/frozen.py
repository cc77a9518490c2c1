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
