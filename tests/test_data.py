"""seqcourse.data: the offline corpus and its character vocabulary."""

import numpy as np
import pytest

from seqcourse.data import CharVocab, python_docs


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
