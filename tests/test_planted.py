"""seqcourse.data.planted: the generated corpus with planted analogies and bias (chapter 8).

No word2vec is trained here: that the structure is learnable (3CosAdd 1.0 in every section
with gensim and with seqcourse's own skip-gram) is measured in the module docstring and
asserted by the chapter. These tests check what the generator promises by construction.
"""

import time
from collections import Counter

import numpy as np
import pytest

from seqcourse.data.corpora import Analogy
from seqcourse.data.planted import (
    COUNTRIES,
    GENDER_PAIRS,
    OCCUPATIONS,
    PLURALS,
    SECTIONS,
    VERBS,
    WORDS,
    PlantedCorpus,
    planted_corpus,
)


@pytest.fixture(scope="module")
def corpus() -> PlantedCorpus:
    return planted_corpus()


def test_default_corpus_is_fast_and_sized(corpus):
    start = time.perf_counter()
    planted_corpus(seed=5)
    assert time.perf_counter() - start < 3.0
    assert len(corpus.sentence_lengths) == 60_000
    assert int(corpus.sentence_lengths.sum()) == len(corpus.tokens)
    assert 250_000 < len(corpus.tokens) < 350_000  # 3 to 7 words a sentence
    assert set(corpus.sentence_lengths.tolist()) <= {3, 4, 5, 6, 7}
    assert set(corpus.tokens) == set(WORDS)  # every word of the grammar is drawn
    assert all(isinstance(t, str) for t in corpus.tokens[:100])


def test_same_seed_same_corpus_other_seed_other_corpus(corpus):
    again = planted_corpus(seed=0)
    assert again.tokens == corpus.tokens
    assert np.array_equal(again.sentence_lengths, corpus.sentence_lengths)
    assert again.assigned == corpus.assigned
    assert again.gender_counts == corpus.gender_counts
    assert planted_corpus(1000, seed=1).tokens != planted_corpus(1000, seed=0).tokens
    # the first sentences of a short corpus are not those of a long one with the same seed,
    # but the corpus is a function of (sentences, seed, bias, direct) alone
    assert planted_corpus(500, seed=3).tokens == planted_corpus(500, seed=3).tokens


def test_sentences_cut_the_stream(corpus):
    sentences = corpus.sentences()
    assert len(sentences) == 60_000
    assert [w for s in sentences for w in s] == corpus.tokens
    assert sentences[0] == corpus.tokens[: corpus.sentence_lengths[0]]


def test_analogies_cover_every_section_and_their_words_occur(corpus):
    counts = Counter(q.section for q in corpus.analogies)
    n = {
        "capital": len(COUNTRIES),
        "language": len(COUNTRIES),
        "gender": len(GENDER_PAIRS),
        "tense": len(VERBS),
        "plural": len(PLURALS),
    }
    assert counts == {s: n[s] * (n[s] - 1) for s in SECTIONS}
    assert sum(counts.values()) == 1148
    assert all(isinstance(q, Analogy) for q in corpus.analogies)
    assert Analogy("france", "paris", "italy", "rome", "capital") in corpus.analogies
    assert Analogy("germany", "german", "japan", "japanese", "language") in corpus.analogies
    assert Analogy("king", "queen", "he", "she", "gender") in corpus.analogies
    assert Analogy("walk", "walked", "sing", "sang", "tense") in corpus.analogies
    assert Analogy("mouse", "mice", "wolf", "wolves", "plural") in corpus.analogies
    seen = set(corpus.tokens)
    for q in corpus.analogies:
        assert {q.a, q.b, q.c, q.d} <= seen, q
        assert len({q.a, q.b, q.c, q.d}) == 4, q  # the answer is never excluded as a, b, c
    assert corpus.ceiling == 1.0


def test_each_question_has_one_answer(corpus):
    answers = Counter((q.section, q.a, q.b, q.c) for q in corpus.analogies)
    assert set(answers.values()) == {1}
    sides = {s: ({q.a for q in corpus.analogies if q.section == s}, set()) for s in SECTIONS}
    for q in corpus.analogies:
        sides[q.section][1].add(q.b)
    for s, (left, right) in sides.items():
        assert not left & right, s  # two disjoint word sets, paired one to one


def test_ceiling_counts_the_questions_whose_words_were_drawn():
    tiny = planted_corpus(300, seed=0)
    seen = set(tiny.tokens)
    covered = sum({q.a, q.b, q.c, q.d} <= seen for q in tiny.analogies)
    assert 0.0 < tiny.ceiling < 1.0
    assert tiny.ceiling == pytest.approx(covered / len(tiny.analogies))
    assert planted_corpus(1, seed=0).ceiling < 0.05


def test_pairs_share_identity_words_and_differ_in_role_words(corpus):
    """The planted structure itself: the words within 3 tokens of walk and walked, minus
    the role words, are the same objects; likewise for paris and france (their goods)."""

    def neighbours(word: str) -> Counter:
        out: Counter = Counter()
        for sentence in corpus.sentences():
            for i, w in enumerate(sentence):
                if w == word:
                    out.update(sentence[max(0, i - 3) : i] + sentence[i + 1 : i + 4])
        return out

    walk, walked = neighbours("walk"), neighbours("walked")
    assert {"dog", "path"} <= set(walk) & set(walked)
    assert "today" in walk and "today" not in walked
    assert "yesterday" in walked and "yesterday" not in walk
    france, paris, french = neighbours("france"), neighbours("paris"), neighbours("french")
    for word in ("wine", "perfume"):
        assert min(france[word], paris[word], french[word]) > 80  # 60,000 * 20% / 96
    assert paris["shops"] > 0 and france["shops"] == 0 and french["shops"] == 0


def test_bias_statistics_match_bias(corpus):
    assert set(corpus.assigned) == set(corpus.neutral_words) == {o for o, _ in OCCUPATIONS}
    assert sorted(Counter(corpus.assigned.values()).items()) == [(-1, 8), (1, 8)]
    for bias in (0.8, 0.5, 0.95):
        c = corpus if bias == 0.8 else planted_corpus(seed=2, bias=bias)
        for o, (m, f) in c.gender_counts.items():
            expected = bias if c.assigned[o] > 0 else 1 - bias
            assert m + f > 250, o  # about 375 gendered sentences per occupation
            assert abs(m / (m + f) - expected) < 0.08, (bias, o, m, f)
        male = sum(m for o, (m, f) in c.gender_counts.items() if c.assigned[o] > 0)
        total = sum(m + f for o, (m, f) in c.gender_counts.items() if c.assigned[o] > 0)
        assert abs(male / total - bias) < 0.03
    extreme = planted_corpus(5000, seed=0, bias=1.0)
    for o, (m, f) in extreme.gender_counts.items():
        assert (f if extreme.assigned[o] > 0 else m) == 0, o


def test_gender_counts_are_measured_in_the_tokens():
    c = planted_corpus(20_000, seed=4)
    male = {m for m, _ in c.definitional_pairs}
    female = {f for _, f in c.definitional_pairs}
    counts = {o: [0, 0] for o in c.neutral_words}
    for sentence in c.sentences():
        words = set(sentence)
        for o in words & counts.keys():
            counts[o][0] += bool(words & male)
            counts[o][1] += bool(words & female)
    assert {o: tuple(v) for o, v in counts.items()} == c.gender_counts


def test_gender_pairs(corpus):
    assert corpus.definitional_pairs[:3] == (("he", "she"), ("his", "her"), ("man", "woman"))
    assert ("king", "queen") in corpus.equality_pairs
    pairs = corpus.definitional_pairs + corpus.equality_pairs
    assert len(set(pairs)) == len(pairs) == len(GENDER_PAIRS) + 1
    words = [w for pair in pairs for w in pair]
    assert not set(words) & set(corpus.neutral_words)
    gender = {(q.a, q.b) for q in corpus.analogies if q.section == "gender"}
    assert ("his", "her") not in gender  # the role words of the section, not a pair of it
    assert gender == {(m, f) for m, f, _ in GENDER_PAIRS}


def test_direct_moves_sentences_between_statements_and_shared_goods():
    def count(c: PlantedCorpus, first: str, second: str) -> int:
        return sum(s[:2] == [first, second] for s in c.sentences())

    none = planted_corpus(20_000, seed=0, direct=0.0)
    most = planted_corpus(20_000, seed=0, direct=0.28)
    assert count(none, "the", "capital") == 0 and count(none, "people", "in") == 0
    assert count(most, "the", "capital") > 500
    assert not {"wine", "shops", "word"} & set(most.tokens)
    assert most.ceiling == 1.0 and none.ceiling == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sentences": 0}, ValueError, "sentences must be an int >= 1, got 0"),
        ({"sentences": 10.0}, TypeError, "sentences must be an int"),
        ({"sentences": True}, TypeError, "sentences must be an int"),
        ({"seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"seed": "0"}, TypeError, "seed must be an int"),
        ({"bias": 1.5}, ValueError, r"bias must be a number in \[0, 1\], got 1.5"),
        ({"bias": -0.1}, ValueError, "bias must be a number in"),
        ({"bias": float("nan")}, ValueError, "bias must be a number in"),
        ({"bias": "0.8"}, TypeError, "bias must be a number"),
        ({"bias": True}, TypeError, "bias must be a number"),
        ({"direct": 0.3}, ValueError, r"direct must be a number in \[0, 0.28\], got 0.3"),
        ({"direct": None}, TypeError, "direct must be a number"),
    ],
)
def test_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        planted_corpus(**kwargs)


def test_integer_bias_and_numpy_ints_are_accepted():
    assert planted_corpus(np.int64(100), seed=np.int64(0), bias=1).bias == 1.0
    assert planted_corpus(100, bias=0).gender_counts == planted_corpus(100, bias=0.0).gender_counts
