"""seqcourse.markov: character n-gram models, checked against direct counting."""

import math
from collections import Counter

import numpy as np
import pytest

from seqcourse.data import CharVocab, python_docs
from seqcourse.markov import NGramModel

TEXT = "abracadabra\nabracadabra\n"


def counted_log_prob(train: str, text: str, order: int, alpha: float, vocab: CharVocab) -> float:
    """The add-alpha estimate computed the slow, obvious way with Counters."""
    pad = "\n" * order
    padded_train, padded_text = pad + train, pad + text
    joint = Counter(padded_train[i - order : i + 1] for i in range(order, len(padded_train)))
    ctx = Counter(padded_train[i - order : i] for i in range(order, len(padded_train)))
    V = len(vocab)
    total = 0.0
    for i in range(order, len(padded_text)):
        c, n = padded_text[i - order : i + 1], padded_text[i - order : i]
        total += math.log((joint[c] + alpha) / (ctx[n] + alpha * V))
    return total


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("alpha", [1.0, 0.1])
def test_log_prob_equals_direct_counting(order, alpha):
    vocab = CharVocab.from_text(TEXT + "xyz")
    model = NGramModel(order, alpha, vocab=vocab).fit(TEXT)
    for text in ["abra", "cadabra\nzz", "x"]:
        expected = counted_log_prob(TEXT, text, order, alpha, vocab)
        assert model.log_prob(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("order", [0, 2, 5])
def test_distribution_sums_to_one_and_matches_log_prob(order):
    model = NGramModel(order, 0.5).fit(TEXT)
    p = model.distribution("abrac")
    assert p.shape == (len(model.vocab),) and p.sum() == pytest.approx(1.0)
    nxt = model.vocab.encode("a")[0]
    gain = model.log_prob("abraca") - model.log_prob("abrac")
    if order <= 5:
        assert math.log(p[nxt]) == pytest.approx(gain, rel=1e-12)


def test_bits_per_char_on_corpus_overfits_at_high_order():
    corpus = python_docs()
    train_bpc, valid_bpc = [], []
    for order in (0, 3, 8):
        model = NGramModel(order, 0.01, vocab=corpus.vocab).fit(corpus.train)
        train_bpc.append(model.bits_per_char(corpus.train[:50_000]))
        valid_bpc.append(model.bits_per_char(corpus.valid))
    assert valid_bpc[0] == pytest.approx(4.67, abs=0.05)  # unigram entropy of the docs
    assert valid_bpc[1] < 2.3 < valid_bpc[2]  # order 3 generalises, order 8 overfits
    assert train_bpc[2] < valid_bpc[2] - 1.0


def test_sampling_is_seeded_and_respects_temperature():
    model = NGramModel(2, 0.01).fit("hello world\n" * 5)
    a = model.sample(50, seed=1, prompt="wo")
    assert a == model.sample(50, seed=1, prompt="wo") and len(a) == 50
    assert set(a) <= set(model.vocab.chars)
    # near-zero temperature follows the most likely continuation at every step
    cold = model.sample(30, seed=3, temperature=1e-3, prompt="he")
    greedy = "he"
    for _ in range(30):
        greedy += model.vocab.chars[int(np.argmax(model.distribution(greedy)))]
    assert cold == greedy[2:]


def test_order_zero_samples_follow_unigram_frequencies():
    model = NGramModel(0, 1e-6).fit("aaab")
    s = model.sample(4000, seed=0)
    assert s.count("a") / len(s) == pytest.approx(0.75, abs=0.03)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(order=-1), ValueError, "order must be >= 0"),
        (dict(order=1.5), TypeError, "order must be an int"),
        (dict(order=1, alpha=0.0), ValueError, "alpha must be a finite number > 0"),
        (dict(order=1, alpha=float("nan")), ValueError, "alpha"),
        (dict(order=1, alpha="1"), TypeError, "alpha must be a number"),
        (dict(order=1, vocab=CharVocab(("a", "b"))), ValueError, "newline"),
    ],
)
def test_bad_hyperparameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        NGramModel(**kwargs)


def test_bad_use():
    model = NGramModel(2)
    with pytest.raises(RuntimeError, match="fit"):
        model.log_prob("ab")
    with pytest.raises(ValueError, match="empty"):
        model.fit("")
    model.fit(TEXT)
    with pytest.raises(ValueError, match="'Q'"):
        model.log_prob("aQ")
    with pytest.raises(ValueError, match="empty"):
        model.log_prob("")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.sample(3, temperature=0)
    with pytest.raises(ValueError, match="n must be"):
        model.sample(-1)
    with pytest.raises(ValueError, match="too large"):
        NGramModel(20).fit(TEXT + "".join(map(chr, range(65, 120))))


def test_fit_is_fast_enough_to_use_vectorised_counts():
    # not a timing test: the keys must be unique per (context, next) pair
    model = NGramModel(3, 1.0).fit(TEXT)
    assert np.all(np.diff(model._keys) > 0)
    assert model._key_counts.sum() == len(TEXT)
