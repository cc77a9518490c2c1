"""seqcourse.data: the offline corpus, its character vocabulary and the TBPTT streams."""

import numpy as np
import pytest
import torch

from seqcourse.data import CharVocab, frozen, python_docs, stream_batches


def test_corpus_split_is_fixed_and_disjoint():
    corpus = python_docs()
    assert len(corpus.train) > 400_000 and len(corpus.valid) > 40_000
    assert 0.08 < len(corpus.valid) / len(corpus.text) < 0.12
    assert corpus.train.endswith("\n\n")  # cut at a paragraph boundary
    assert corpus.text == corpus.train + corpus.valid
    again = python_docs.__wrapped__()  # rebuilt without the cache: same split
    assert again.train == corpus.train and again.valid == corpus.valid


def test_vocab_covers_both_splits_and_round_trips():
    corpus = python_docs()
    for split in ("train", "valid"):
        ids = corpus.encoded(split)
        assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < len(corpus.vocab)
    text = corpus.valid[:1000]
    assert corpus.vocab.decode(corpus.vocab.encode(text)) == text
    assert "\n" in corpus.vocab and "a" in corpus.vocab
    assert "python-docs" in corpus.summary()


def test_vocab_is_sorted_and_unique():
    vocab = CharVocab.from_text("banana")
    assert vocab.chars == ("a", "b", "n")
    assert len(vocab) == 3
    assert vocab.encode("nab").tolist() == [2, 0, 1]


def test_unknown_character_names_it():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("abz")


@pytest.mark.parametrize("ids", [[0, 3], [-1]])
def test_decode_rejects_ids_out_of_range(ids):
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\)"):
        CharVocab.from_text("abc").decode(ids)


def test_bad_vocab_and_split_arguments():
    with pytest.raises(ValueError, match="at least one"):
        CharVocab(())
    with pytest.raises(ValueError, match="repeat"):
        CharVocab(("a", "a"))
    with pytest.raises(TypeError, match="text must be a str"):
        CharVocab.from_text(b"abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="split"):
        python_docs().encoded("test")
    with pytest.raises(ValueError, match="valid_fraction"):
        python_docs(1.5)


def test_stream_batches_rows_are_contiguous_slices():
    ids = np.arange(23)
    streams = stream_batches(ids, 4)
    assert streams.dtype == torch.long and streams.shape == (4, 5)
    for b in range(4):
        assert streams[b].tolist() == ids[b * 5 : (b + 1) * 5].tolist()  # remainder dropped
    assert stream_batches(torch.arange(6), 6).shape == (6, 1)
    corpus = python_docs()
    text_streams = stream_batches(corpus.encoded("valid"), 8)
    assert corpus.vocab.decode(text_streams[1].numpy()) in corpus.valid


def test_stream_batches_rejects_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        stream_batches(np.arange(5), 0)
    with pytest.raises(ValueError, match="at least batch_size = 6 ids, got N = 5"):
        stream_batches(np.arange(5), 6)
    with pytest.raises(ValueError, match="1-D integer"):
        stream_batches(np.zeros((2, 3), dtype=int), 1)
    with pytest.raises(ValueError, match="1-D integer"):
        stream_batches(np.zeros(4), 2)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        stream_batches(np.arange(5), 2.0)


def test_python_docs_is_the_frozen_text_whatever_the_interpreter_holds(monkeypatch):
    """The corpus is the shipped CPython 3.11.7 text, not the running Python's pydoc_data."""
    import sys
    import types

    fake = types.ModuleType("pydoc_data.topics")
    fake.topics = {"with": "something else entirely"}
    monkeypatch.setitem(sys.modules, "pydoc_data.topics", fake)
    corpus = python_docs.__wrapped__()
    assert len(corpus.text) == frozen.FILES["python_docs"].chars == 465_048
    assert corpus.text == frozen.read_text("python_docs")
    assert "something else entirely" not in corpus.text
    assert len(corpus.vocab) == 103


def test_frozen_files_are_checked_against_their_checksum(monkeypatch):
    for key, entry in frozen.FILES.items():
        assert len(frozen.read_text(key)) == entry.chars
        assert entry.source and entry.licence
    bad = frozen.FrozenFile(**{**vars(frozen.FILES["python_docs"]), "sha256": "0" * 64})
    monkeypatch.setitem(frozen.FILES, "python_docs", bad)
    with pytest.raises(ValueError, match="python_docs.txt.xz is corrupted: SHA-256 2a95"):
        frozen.read_text.__wrapped__("python_docs")
    with pytest.raises(KeyError, match="key must be one of"):
        frozen.read_text("tatoeba")
