"""Offline data for the course: frozen text corpora and synthetic tasks (no downloads)."""

from seqcourse.data import frozen
from seqcourse.data.text import CharVocab, TextCorpus, python_docs, stream_batches

__all__ = ["CharVocab", "TextCorpus", "frozen", "python_docs", "stream_batches"]
