"""seqcourse.data.translation: the frozen Tatoeba pairs, generated pairs, Vocab and padding."""

import hashlib
import lzma
from collections import Counter
from importlib import resources

import numpy as np
import pytest
import torch

from seqcourse.data import frozen
from seqcourse.data import translation as T
from seqcourse.data.frozen import FrozenFile
from seqcourse.data.translation import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    Pair,
    Vocab,
    filter_lines,
    load_pairs,
    normalise,
    pad_sequences,
    references,
    split_pairs,
    symbol_pairs,
    toy_translation,
)


# ---------------------------------------------------------------------------- real pairs
def test_shipped_file_matches_its_checksum_and_size():
    packed = resources.files("seqcourse.data").joinpath(T.ENG_FRA.name).read_bytes()
    assert len(packed) <= 3_000_000
    raw = lzma.decompress(packed)
    assert hashlib.sha256(raw).hexdigest() == T.ENG_FRA.sha256
    text = raw.decode("utf-8")
    assert len(text) == T.ENG_FRA.chars
    header = [line for line in text.split("\n") if line.startswith("#")]
    assert any("CC-BY 2.0 FR" in line for line in header)
    assert any("Tatoeba" in line for line in header)


def test_shipped_pairs_are_short_distinct_and_fixed():
    pairs = load_pairs()
    assert len(pairs) == 75_187
    assert pairs[0] == Pair(("go", "."), ("va", "!"))
    assert all(1 <= len(p.src) <= 10 and 1 <= len(p.tgt) <= 10 for p in pairs)
    assert len(set(pairs)) == len(pairs)
    assert load_pairs() == pairs and load_pairs() is not pairs  # a fresh list each call
    short = load_pairs(max_words=5)
    assert set(short) <= set(pairs)
    assert short == [p for p in pairs if len(p.src) <= 5 and len(p.tgt) <= 5]


def test_filtering_the_shipped_file_changes_nothing():
    text = T._shipped_text()
    body = [line for line in text.split("\n") if line and not line.startswith("#")]
    assert filter_lines(text.split("\n")) == body


def test_corrupted_file_is_refused(monkeypatch):
    bad = FrozenFile(T.ENG_FRA.name, "0" * 64, 0, "", "")
    monkeypatch.setitem(frozen.FILES, "eng_fra_short", bad)
    with pytest.raises(ValueError, match="corrupted: SHA-256 .* expected 0000"):
        frozen.read_text.__wrapped__("eng_fra_short")  # the uncached reader


def test_load_pairs_reads_a_full_file(tmp_path):
    full = tmp_path / "eng-fra.txt"
    full.write_text(
        "Go.\tVa !\n"
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\n"  # repeat
        "GO.\tVA\u202f!\n"  # the same after normalisation
        "I’m cold.\tJ’ai froid.\n"
        "one two three four five six seven eight nine ten eleven\tun\n"
        "\n",
        encoding="utf-8",
    )
    pairs = load_pairs(full)
    assert pairs == [
        Pair(("go", "."), ("va", "!")),
        Pair(("i'm", "cold", "."), ("j'ai", "froid", ".")),
    ]
    assert len(load_pairs(str(full), max_words=11)) == 3


def test_normalise_splits_punctuation_and_keeps_inner_apostrophes():
    assert normalise("À l’aide !") == ("à", "l'aide", "!")
    assert normalise("Arrête-toi, Tom.") == ("arrête-toi", ",", "tom", ".")
    assert normalise("«\u202fOui\u202f»") == ("«", "oui", "»")
    assert normalise("  ") == ()


def test_load_pairs_errors(tmp_path):
    with pytest.raises(ValueError, match="max_words must be <= 10 for the shipped subset, got 12"):
        load_pairs(max_words=12)
    with pytest.raises(ValueError, match="max_words must be an int >= 1, got 0"):
        load_pairs(max_words=0)
    with pytest.raises(TypeError, match="max_words must be an int"):
        load_pairs(max_words=2.5)
    with pytest.raises(ValueError, match="path must name an existing file"):
        load_pairs(tmp_path / "missing.txt")
    with pytest.raises(TypeError, match="path must be a str, a path or None, got int"):
        load_pairs(3)
    bad = tmp_path / "bad.txt"
    bad.write_text("Go.\tVa !\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2 must hold 'source<TAB>target'"):
        load_pairs(bad)
    with pytest.raises(TypeError, match="text must be a str"):
        normalise(b"abc")
    with pytest.raises(TypeError, match="lines must be an iterable of lines, got a str"):
        filter_lines("Go.\tVa !")


def test_split_is_by_source_deterministic_and_complete():
    pairs = load_pairs()
    a, b = split_pairs(pairs, seed=3), split_pairs(pairs, seed=3)
    assert a == b
    assert sorted(a.train + a.valid + a.test) == sorted(pairs)
    sources = [{p.src for p in part} for part in a]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    n_src = len({p.src for p in pairs})
    assert abs(len(sources[2]) - 0.1 * n_src) <= 1 and abs(len(sources[1]) - 0.1 * n_src) <= 1
    assert split_pairs(pairs, seed=4).test != a.test
    assert a.train == [p for p in pairs if p.src in sources[0]]  # input order kept


def test_split_errors():
    pairs = [Pair(("a",), ("b",))]
    with pytest.raises(ValueError, match=r"valid \+ test must be < 1, got 0.5 \+ 0.5"):
        split_pairs(pairs, valid=0.5, test=0.5)
    with pytest.raises(ValueError, match=r"test must be a number in \[0, 1\), got 1.2"):
        split_pairs(pairs, test=1.2)
    with pytest.raises(TypeError, match="valid must be a number"):
        split_pairs(pairs, valid="0.1")
    with pytest.raises(ValueError, match="pairs must hold at least one pair"):
        split_pairs([])
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        split_pairs(pairs, seed=-1)


def test_references_group_every_translation_of_a_source():
    pairs = [Pair(("a",), ("x",)), Pair(("b",), ("y",)), Pair(("a",), ("z",))]
    sources, refs = references(pairs)
    assert sources == [("a",), ("b",)]
    assert refs == [[("x",), ("z",)], [("y",)]]
    _, real = references(load_pairs())
    assert max(len(r) for r in real) > 1  # the corpus has multiple references


# ---------------------------------------------------------------------------- vocabulary
def test_vocab_special_ids_and_frequency_order():
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    v = Vocab.build([["b", "a", "b"], ["c", "a", "b"], ["d"]], min_freq=1)
    assert v.tokens == ("b", "a", "c", "d")  # by count, ties alphabetical
    assert [v.itos(i) for i in range(4)] == list(SPECIALS)
    assert len(v) == 8 and "a" in v and "z" not in v
    assert Vocab.build([["b", "a", "b"], ["c", "a", "b"], ["d"]], min_freq=2).tokens == ("b", "a")


def test_vocab_built_from_training_split_only_maps_unseen_tokens_to_unk():
    train, _, test = split_pairs(load_pairs()[:3000], seed=0)
    v = Vocab.build([p.src for p in train])
    train_tokens = {t for p in train for t in p.src}
    assert set(v.tokens) == train_tokens
    unseen = [t for p in test for t in p.src if t not in train_tokens]
    assert unseen, "expected some test words that training never saw"
    assert v.encode(unseen) == [UNK] * len(unseen)


def test_encode_decode_round_trip_and_strip():
    v = Vocab(("hello", "world"))
    ids = v.encode(["hello", "there", "world"], bos=True, eos=True)
    assert ids == [BOS, 4, UNK, 5, EOS]
    assert v.decode(ids) == ["hello", "<unk>", "world"]
    assert v.decode(ids, strip=False) == ["<bos>", "hello", "<unk>", "world", "<eos>"]
    assert v.decode(torch.tensor([4, EOS, 5, PAD])) == ["hello"]  # stops at <eos>


def test_vocab_without_unk_refuses_unknown_tokens():
    v = Vocab.build([["a", "b"]], unk=False)
    assert v.encode(["a", "b"]) == [4, 5] or v.encode(["a", "b"]) == [5, 4]
    assert len(v) == 6  # id 3 stays reserved
    with pytest.raises(ValueError, match="token 'zz' is not in the vocabulary of 6 .* unk=False"):
        v.encode(["a", "zz"])


def test_vocab_errors():
    with pytest.raises(ValueError, match="must not hold the special tokens"):
        Vocab(("<eos>", "a"))
    with pytest.raises(ValueError, match="must not repeat"):
        Vocab(("a", "a"))
    with pytest.raises(TypeError, match="non-empty strings"):
        Vocab(("a", ""))
    with pytest.raises(TypeError, match="unk must be a bool, got int 1"):
        Vocab(("a",), unk=1)
    with pytest.raises(ValueError, match="min_freq must be an int >= 1, got 0"):
        Vocab.build([["a"]], min_freq=0)
    with pytest.raises(TypeError, match=r"sequences\[0\] must be a sequence of tokens, got a str"):
        Vocab.build(["abc"])
    with pytest.raises(TypeError, match="tokens must be a sequence of str, got str"):
        Vocab(("a",)).encode("a")
    with pytest.raises(ValueError, match=r"i must lie in \[0, 5\), got 5"):
        Vocab(("a",)).decode([5])


def test_pad_sequences_shapes_lengths_and_mask():
    batch = pad_sequences([[5, 6, 7], [8], np.array([9, 10])])
    assert batch.ids.dtype == torch.long and batch.ids.shape == (3, 3)
    assert batch.ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert batch.lengths.tolist() == [3, 1, 2]
    assert batch.mask.tolist() == [[True] * 3, [True, False, False], [True, True, False]]
    assert pad_sequences([[1, 2], [3]], pad_id=9).ids.tolist() == [[1, 2], [3, 9]]
    v = Vocab(("a", "b"))
    assert v.batch([["a"], ["b", "a"]], eos=True).ids.tolist() == [[4, 2, 0], [5, 4, 2]]


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match=r"seqs\[1\] must hold at least one id, got an empty"):
        pad_sequences([[1], []])
    with pytest.raises(ValueError, match="seqs must hold at least one sequence"):
        pad_sequences([])
    with pytest.raises(TypeError, match=r"seqs\[0\] must hold ints"):
        pad_sequences([[1.5]])
    with pytest.raises(TypeError, match="seqs must be a sequence of id sequences, got str"):
        pad_sequences("abc")
    with pytest.raises(ValueError, match="pad_id must be an int >= 0, got -1"):
        pad_sequences([[1]], pad_id=-1)


# ---------------------------------------------------------------------------- generated
def _dictionary(corpus):
    """Source word -> target words it was aligned to, over a corpus."""
    seen: dict[str, set[str]] = {}
    for (src, tgt), link in zip(corpus.pairs, corpus.alignment, strict=True):
        for i, j in enumerate(link):
            seen.setdefault(src[i], set()).add(tgt[j])
    return seen


def test_toy_translation_alignment_reordering_and_agreement():
    corpus = toy_translation(500, seed=1, adjectives=(0, 3))
    for (src, tgt), link in zip(corpus.pairs, corpus.alignment, strict=True):
        assert len(src) == len(tgt) == len(link)
        assert sorted(link) == list(range(len(src)))
        # SOV: the target ends with the verb, aligned to the source verb
        verb = link.index(len(tgt) - 1)
        subject_plural = src[0].endswith("s")
        assert src[verb].endswith("s") != subject_plural  # source agreement
        assert tgt[-1].endswith("en" if subject_plural else "a")  # target agreement
        # source noun first, then its adjectives; target adjectives first, mirrored
        assert link[0] == verb - 1
        assert [link[i] for i in range(1, verb)] == list(range(verb - 2, -1, -1))
        # target adjectives carry the number of their noun
        noun_pl = tgt[link[0]].endswith("i")
        assert all(tgt[link[i]].endswith("i") == noun_pl for i in range(1, verb))
    # word-by-word: each source word has one translation up to agreement marks
    for word, translations in _dictionary(corpus).items():
        assert len(translations) <= 2, (word, translations)  # adjectives: singular, plural
    lengths = Counter(len(p.src) for p in corpus.pairs)
    assert min(lengths) == 3 and max(lengths) == 9


def test_toy_translation_is_seeded():
    a, b = toy_translation(50, seed=7), toy_translation(50, seed=7)
    assert a == b
    assert toy_translation(50, seed=8) != a
    c = toy_translation(20, seed=np.random.default_rng(7))
    assert c.pairs == a.pairs[:20]
    fixed = toy_translation(30, seed=0, adjectives=(2, 2))
    assert {len(p.src) for p in fixed.pairs} == {7}
    assert all(p.src[0].endswith("s") for p in toy_translation(20, plural=1.0).pairs)


def test_toy_translation_errors():
    with pytest.raises(ValueError, match=r"adjectives must satisfy 0 <= low <= high"):
        toy_translation(5, adjectives=(3, 1))
    with pytest.raises(TypeError, match="adjectives must be a pair"):
        toy_translation(5, adjectives=2)
    with pytest.raises(ValueError, match=r"n_nouns must be in \[1, 12\], got 20"):
        toy_translation(5, n_nouns=20)
    with pytest.raises(ValueError, match=r"plural must be a number in \[0, 1\], got 1.5"):
        toy_translation(5, plural=1.5)
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        toy_translation(0)


@pytest.mark.parametrize("task", ["copy", "reverse", "sort"])
def test_symbol_pairs(task):
    pairs = symbol_pairs(task, 200, min_len=2, max_len=6, n_symbols=5, seed=3)
    assert pairs == symbol_pairs(task, 200, min_len=2, max_len=6, n_symbols=5, seed=3)
    assert {len(p.src) for p in pairs} == {2, 3, 4, 5, 6}
    for src, tgt in pairs:
        assert set(src) <= {str(i) for i in range(5)}
        want = {
            "copy": list(src),
            "reverse": list(src[::-1]),
            "sort": sorted(src, key=int),
        }[task]
        assert list(tgt) == want


def test_symbol_pairs_errors():
    with pytest.raises(ValueError, match=r"task must be one of \('copy', 'reverse', 'sort'\)"):
        symbol_pairs("shuffle", 3)
    with pytest.raises(ValueError, match="min_len must be <= max_len, got 5 > 2"):
        symbol_pairs("copy", 3, min_len=5, max_len=2)
    with pytest.raises(ValueError, match="min_len must be an int >= 1, got 0"):
        symbol_pairs("copy", 3, min_len=0)
