"""Offline data for the course: text corpora and synthetic tasks (no downloads)."""

from seqcourse.data.text import CharVocab, TextCorpus, python_docs, stream_batches

__all__ = ["CharVocab", "TextCorpus", "python_docs", "stream_batches"]
