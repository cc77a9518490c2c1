"""seqcourse.hmm against brute-force enumeration and hmmlearn's CategoricalHMM."""

from collections import Counter

import numpy as np
import pytest

import seqcourse.hmm as hmm_module
from seqcourse.hmm import HMM, brute_force, dishonest_casino, random_hmm, to_hmmlearn


def factors(model: HMM, path: np.ndarray, x: np.ndarray) -> Counter:
    """The multiset of probabilities whose product is the path's joint probability."""
    items = [("start", path[0])] + [("emit", s, o) for s, o in zip(path, x, strict=True)]
    items += [("trans", a, b) for a, b in zip(path[:-1], path[1:], strict=True)]
    return Counter(items)


def same_or_tied(model: HMM, a: np.ndarray, b: np.ndarray, x: np.ndarray) -> bool:
    """Identical paths, or two optimal paths whose joint probabilities are exactly equal."""
    return bool(np.array_equal(a, b)) or factors(model, a, x) == factors(model, b, x)


@pytest.mark.parametrize("seed", range(6))
def test_equals_brute_force_enumeration(seed):
    rng = np.random.default_rng(seed)
    K, M, T = int(rng.integers(2, 4)), int(rng.integers(2, 5)), int(rng.integers(1, 8))
    model = random_hmm(K, M, seed=seed)
    _, x = model.sample(T, seed=seed)
    ll, post, path, logp = brute_force(model, x)
    assert model.log_likelihood(x) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(model.posteriors(x), post, atol=1e-12)
    got_path, got_logp = model.viterbi(x)
    assert got_logp == pytest.approx(logp, rel=1e-12)
    assert same_or_tied(model, got_path, path, x)


def test_zero_probabilities_are_exact_minus_infinity():
    model = HMM([1.0, 0.0], [[0.0, 1.0], [0.5, 0.5]], [[1.0, 0.0], [0.3, 0.7]])
    x = np.array([0, 1, 1, 0, 1])
    ll, post, path, logp = brute_force(model, x)
    assert model.log_likelihood(x) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(model.posteriors(x), post, atol=1e-12)
    assert model.viterbi(x)[1] == pytest.approx(logp)
    assert model.log_likelihood([1]) == -np.inf  # state 0 cannot emit symbol 1


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("T", [40, 3000])
def test_equals_hmmlearn(seed, T):
    model = random_hmm(2 + seed % 4, 12, seed=seed)
    ref = to_hmmlearn(model)
    _, x = model.sample(T, seed=seed)
    col = x[:, None]
    assert model.log_likelihood(x) == pytest.approx(ref.score(col), rel=1e-8)
    np.testing.assert_allclose(model.posteriors(x), ref.predict_proba(col), atol=1e-8)
    ref_logp, ref_path = ref.decode(col, algorithm="viterbi")
    path, logp = model.viterbi(x)
    assert logp == pytest.approx(ref_logp, rel=1e-10)
    assert same_or_tied(model, path, ref_path, x)


def test_million_steps_stay_finite_and_match_hmmlearn():
    model = dishonest_casino()
    _, x = model.sample(1_000_000, seed=0)
    ll = model.log_likelihood(x)
    assert np.isfinite(ll) and ll < -1.5e6  # about log(1/6) per roll
    assert ll == pytest.approx(to_hmmlearn(model).score(x[:, None]), rel=1e-8)
    assert np.isfinite(model.viterbi(x)[1])


@pytest.mark.parametrize("T", [1, 2, 65, 1000, 4097])
def test_chunked_scan_equals_plain_loop(T, monkeypatch):
    model = random_hmm(3, 5, seed=T)
    _, x = model.sample(T, seed=1)
    chunked = (model.forward(x), model.backward(x), *model.viterbi(x))
    monkeypatch.setattr(hmm_module, "_CHUNK_MAX_WORK", 0)  # force the step-by-step loop
    looped = (model.forward(x), model.backward(x), *model.viterbi(x))
    for a, b in zip(chunked[:2], looped[:2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    assert chunked[3] == pytest.approx(looped[3], rel=1e-12)
    assert same_or_tied(model, chunked[2], looped[2], x)


def test_batch_equals_one_sequence_at_a_time():
    model = random_hmm(3, 4, seed=7)
    _, X = model.sample(300, seed=3, batch=5)
    ll, post, (paths, logps) = model.log_likelihood(X), model.posteriors(X), model.viterbi(X)
    assert ll.shape == (5,) and post.shape == (5, 300, 3) and paths.shape == (5, 300)
    for b in range(5):
        assert ll[b] == pytest.approx(model.log_likelihood(X[b]), rel=1e-12)
        np.testing.assert_allclose(post[b], model.posteriors(X[b]), atol=1e-12)
        path, logp = model.viterbi(X[b])
        assert logps[b] == pytest.approx(logp, rel=1e-12)
        assert np.array_equal(paths[b], path)


def test_forward_backward_shapes_and_identities():
    model = random_hmm(4, 6, seed=2)
    _, x = model.sample(50, seed=2)
    alpha, beta = model.forward(x), model.backward(x)
    assert alpha.shape == beta.shape == (50, 4)
    np.testing.assert_allclose(beta[-1], 0.0)
    # sum_j alpha_t(j) beta_t(j) is the likelihood at every t
    per_t = np.logaddexp.reduce(alpha + beta, axis=1)
    np.testing.assert_allclose(per_t, model.log_likelihood(x), rtol=1e-12)
    np.testing.assert_allclose(model.posteriors(x).sum(axis=1), 1.0, atol=1e-12)


def test_sample_follows_the_model():
    model = dishonest_casino()
    states, x = model.sample(200_000, seed=0)
    assert states.shape == x.shape == (200_000,)
    assert states[0] == 0  # the casino starts fair
    switches = Counter(zip(states[:-1].tolist(), states[1:].tolist(), strict=True))
    p_fl = switches[(0, 1)] / (switches[(0, 0)] + switches[(0, 1)])
    assert p_fl == pytest.approx(0.05, abs=0.005)
    sixes_loaded = np.mean(x[states == 1] == 5)
    assert sixes_loaded == pytest.approx(0.5, abs=0.01)
    a, b = model.sample(10, seed=4, batch=3), model.sample(10, seed=4, batch=3)
    assert a[1].shape == (3, 10) and np.array_equal(a[1], b[1])


def test_baum_welch_recovers_the_casino_and_never_decreases():
    true = dishonest_casino()
    _, X = true.sample(500, seed=2, batch=40)
    guess = HMM([0.5, 0.5], [[0.8, 0.2], [0.3, 0.7]], [np.full(6, 1 / 6), [0.1] * 5 + [0.5]])
    history = guess.fit(X, n_iter=300, tol=1e-8)
    assert np.all(np.diff(history) >= -1e-8)
    assert history[-1] > history[0]
    # margins: the largest errors over sample seeds 0-5 were 0.009 and 0.031
    np.testing.assert_allclose(guess.trans, true.trans, atol=0.02)
    np.testing.assert_allclose(guess.emit, true.emit, atol=0.05)


def test_baum_welch_on_sequences_of_different_lengths():
    true = random_hmm(2, 3, seed=5)
    seqs = [true.sample(T, seed=T)[1] for T in (30, 50, 50, 80)]
    model = random_hmm(2, 3, seed=6)
    history = model.fit(seqs, n_iter=20, tol=0.0)
    assert len(history) == 20 and np.all(np.diff(history) >= -1e-8)
    total = sum(random_hmm(2, 3, seed=6).log_likelihood(s) for s in seqs)
    assert history[0] == pytest.approx(total, rel=1e-12)
    before = model.log_likelihood(seqs[0])
    assert model.fit(seqs[0], n_iter=1)[0] == pytest.approx(before, rel=1e-12)


GOOD = dict(start=[0.5, 0.5], trans=[[0.9, 0.1], [0.2, 0.8]], emit=[[0.5, 0.5], [0.1, 0.9]])


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(trans=[[0.9, 0.1]]), r"trans must be square \(K, K\) = \(2, 2\)"),
        (dict(trans=[[0.9, 0.2], [0.2, 0.8]]), r"trans rows must sum to 1.*row 0"),
        (dict(trans=[[1.1, -0.1], [0.2, 0.8]]), "trans must be non-negative"),
        (dict(emit=[[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]), "emit must have K = 2 rows"),
        (dict(start=[0.5, float("nan")]), "start must hold finite numbers"),
        (dict(start=[0.7, 0.7]), "start rows must sum to 1"),
        (dict(start=[[0.5, 0.5]]), "start must be a vector"),
        (dict(emit=np.zeros((2, 0))), "emit must not be empty"),
    ],
)
def test_bad_parameters_are_named(change, match):
    with pytest.raises(ValueError, match=match):
        HMM(**{**GOOD, **change})


@pytest.mark.parametrize(
    "obs, error, match",
    [
        ([], ValueError, "obs must not be empty"),
        (np.zeros((3, 0), dtype=int), ValueError, "obs must not be empty"),
        ([0, 2], ValueError, r"obs symbols must lie in \[0, 2\), got 2 at index \(1,\)"),
        ([[0, 1], [1, -1]], ValueError, r"got -1 at index \(1, 1\)"),
        ([0.0, np.nan], ValueError, "obs must not contain NaN"),
        ([0.5], ValueError, "integer symbol ids"),
        (np.zeros((2, 2, 2), dtype=int), ValueError, r"shape \(time,\) or \(batch, time\)"),
        (["a"], TypeError, "obs must be an array of integer symbols"),
    ],
)
def test_bad_observations_are_named(obs, error, match):
    model = HMM(**GOOD)
    for method in (model.log_likelihood, model.posteriors, model.viterbi):
        with pytest.raises(error, match=match):
            method(obs)


def test_bad_arguments_elsewhere():
    model = HMM(**GOOD)
    with pytest.raises(ValueError, match="T must be an int >= 1"):
        model.sample(0)
    with pytest.raises(ValueError, match="batch must be"):
        model.sample(5, batch=0)
    with pytest.raises(ValueError, match="n_iter must be"):
        model.fit([0, 1], n_iter=0)
    with pytest.raises(ValueError, match="tol must be"):
        model.fit([0, 1], tol=-1.0)
    with pytest.raises(ValueError, match=r"sequences\[1\] symbols must lie"):
        model.fit([[0, 1], [0, 5]])
    with pytest.raises(ValueError, match="sequences must be a non-empty"):
        model.fit([])
    with pytest.raises(ValueError, match="p_six_loaded must be a probability"):
        dishonest_casino(p_six_loaded=1.5)
    with pytest.raises(ValueError, match="n_states must be an int >= 1"):
        random_hmm(0, 3)
    with pytest.raises(ValueError, match="brute force needs"):
        brute_force(random_hmm(4, 2, seed=0), np.zeros(20, dtype=int))


@pytest.mark.parametrize("K, B, T", [(2, 1, 5000), (3, 2, 3001), (5, 1, 258), (10, 1, 4000)])
def test_scaled_posteriors_chunked_equal_plain_loop_and_log_space(K, B, T, monkeypatch):
    model = random_hmm(K, 6, seed=K)
    _, X = model.sample(T, seed=B, batch=B)
    assert hmm_module._use_scaled_chunks(B, K, T - 1)  # this case takes the chunked scan
    chunked = model.posteriors(X)
    log_space = np.exp(model._expectations(X)[0]).transpose(1, 0, 2)
    monkeypatch.setattr(hmm_module, "_SCALED_CHUNK_MAX_WORK", 0)  # the step-by-step loop
    looped = model.posteriors(X)
    np.testing.assert_allclose(chunked, looped, atol=1e-10)
    np.testing.assert_allclose(looped, log_space, atol=1e-7)
    np.testing.assert_allclose(chunked.sum(axis=-1), 1.0, atol=1e-12)


def test_posteriors_of_an_impossible_sequence_fall_back_to_log_space():
    model = HMM([1.0, 0.0], [[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]])
    assert model._scaled_posteriors(np.array([[0, 1, 0]])) is None  # symbol 1 cannot occur
    with np.errstate(invalid="ignore"):  # -inf - -inf: NaN, as before the scaled pass
        expected = np.exp(model._expectations(np.array([[0, 1, 0]]))[0])[:, 0]
        got = model.posteriors([0, 1, 0])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
