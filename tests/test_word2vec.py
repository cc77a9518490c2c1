"""seqcourse.embeddings.word2vec: subsampling against its formula and its statistics, windows
against brute-force loops, the noise distribution and its sampler, the negative-sampling loss
against a direct formula, the hand-derived gradient against autograd (float64, 1e-12), the
full softmax against F.cross_entropy, training on a corpus with planted synonyms,
determinism, and the error messages."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from seqcourse.embeddings import word2vec as w2v
from seqcourse.embeddings.vocab import Vocabulary
from seqcourse.embeddings.word2vec import (
    CBOW,
    NoiseSampler,
    SkipGram,
    TrainedEmbeddings,
    cbow_windows,
    full_softmax_loss,
    keep_probability,
    noise_distribution,
    sgns_grad,
    sgns_loss,
    skipgram_pairs,
    subsample,
    train_word2vec,
)

F64 = torch.float64


def assert_close(actual, expected, atol):
    """max |actual - expected| <= atol, same shape and dtype (torch.testing.assert_close
    would import sympy on first use: 4 s)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    error = (actual - expected).abs().max().item()
    assert error <= atol, f"max abs error {error:.3g} > {atol:g}"


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def zipf_vocab(V=20, scale=10_000):
    """A vocabulary whose word i occurs about scale / (i + 1) times."""
    tokens = [f"w{i}" for i in range(V) for _ in range(scale // (i + 1))]
    return Vocabulary.from_tokens(tokens)


def weights(V=7, d=4, seed=0, dtype=F64):
    g = gen(seed)
    return torch.randn(V, d, generator=g, dtype=dtype), torch.randn(V, d, generator=g, dtype=dtype)


# ---------------------------------------------------------------------------- subsampling
def test_keep_probability_is_the_c_code_formula():
    vocab = zipf_vocab()
    total = int(vocab.counts.sum())
    for t in (1e-3, 1e-2):
        keep = keep_probability(vocab, t)
        assert keep.shape == (len(vocab),) and keep.dtype == F64
        for i, c in enumerate(vocab.counts.tolist()):
            f = c / total
            assert keep[i].item() == pytest.approx(min(1.0, (math.sqrt(f / t) + 1) * t / f))
    keep = keep_probability(vocab, 1e-2)
    assert keep[0] < 0.5 and keep[-1] == 1.0  # frequent words dropped, rare ones clipped at 1
    assert torch.all(keep[1:] >= keep[:-1])  # rarer words are kept more often
    for off in (None, 0, 0.0):
        assert torch.equal(keep_probability(vocab, off), torch.ones(len(vocab), dtype=F64))


def test_subsample_keeps_each_word_with_its_probability():
    vocab = zipf_vocab()
    t = 1e-2
    ids = torch.multinomial(vocab.frequencies(), 200_000, replacement=True, generator=gen(1))
    kept = subsample(ids, vocab, t, gen(2))
    n_before = torch.bincount(ids, minlength=len(vocab)).double()
    n_after = torch.bincount(kept, minlength=len(vocab)).double()
    p = keep_probability(vocab, t)
    std = torch.sqrt(n_before * p * (1 - p)).clamp(min=1)
    assert torch.all((n_after - n_before * p).abs() < 5 * std), (n_after / n_before, p)
    # the kept tokens are a subsequence of the stream, in order
    it = iter(ids.tolist())
    assert all(any(x == y for y in it) for x in kept[:2000].tolist())
    # rare words (p = 1) are all kept
    assert n_after[-1] == n_before[-1]
    assert subsample(ids, vocab, None) is ids and subsample(ids, vocab, 0) is ids
    # same generator seed, same draw
    assert torch.equal(subsample(ids, vocab, t, gen(2)), kept)


# ---------------------------------------------------------------------------- windows
def brute_pairs(ids, b):
    """(centre, context) pairs, centre i taking the offsets 1..b[i] on both sides."""
    n = len(ids)
    return sorted(
        (ids[i], ids[j]) for i in range(n) for j in range(n) if i != j and abs(i - j) <= b[i]
    )


@pytest.mark.parametrize("n,window", [(1, 3), (2, 3), (5, 5), (40, 1), (40, 3), (9, 12)])
def test_skipgram_pairs_fixed_window_equal_a_brute_force_loop(n, window):
    ids = torch.randint(0, 1000, (n,), generator=gen(n))
    center, context = skipgram_pairs(ids, window, dynamic=False)
    assert center.dtype == context.dtype == torch.int64
    got = sorted(zip(center.tolist(), context.tolist(), strict=True))
    assert got == brute_pairs(ids.tolist(), [window] * n)


def test_skipgram_pairs_dynamic_window_equal_the_loop_with_the_same_draws():
    n, window = 60, 4
    ids = torch.arange(n) * 7
    center, context = skipgram_pairs(ids, window, gen(3))
    b = torch.randint(1, window + 1, (n,), generator=gen(3)).tolist()  # the same draws
    got = sorted(zip(center.tolist(), context.tolist(), strict=True))
    assert got == brute_pairs(ids.tolist(), b)


def test_skipgram_pairs_dynamic_window_statistics():
    """With b uniform in 1..w, offset o is used by a centre with probability (w - o + 1) / w:
    near words are sampled more often than far ones (and the mean is (w + 1) per centre)."""
    n, window = 20_000, 5
    ids = torch.arange(n)
    center, context = skipgram_pairs(ids, window, gen(4))
    distance = (center - context).abs()
    assert distance.min() >= 1 and distance.max() <= window
    counts = torch.bincount(distance, minlength=window + 1)[1:].double()
    expected = torch.tensor([2 * n * (window - o + 1) / window for o in range(1, window + 1)])
    assert torch.allclose(counts, expected.double(), rtol=0.03), (counts, expected)
    # left and right are used equally: the window is symmetric around each centre
    left = (context < center).sum().item()
    assert left == pytest.approx(len(center) / 2, rel=0.01)


def test_cbow_windows_hold_the_skipgram_contexts():
    ids = torch.randint(0, 50, (30,), generator=gen(5))
    for dynamic in (False, True):
        contexts, center = cbow_windows(ids, 3, gen(6), dynamic=dynamic)
        assert contexts.shape == (30, 6) and torch.equal(center, ids)
        # offsets -3..-1, 1..3 around position i, -1 outside the stream or beyond b_i
        c, o = skipgram_pairs(ids, 3, gen(6), dynamic=dynamic)  # same draws of b
        from_rows = sorted(
            (int(center[i]), int(x)) for i in range(30) for x in contexts[i] if x >= 0
        )
        assert from_rows == sorted(zip(c.tolist(), o.tolist(), strict=True))
    contexts, _ = cbow_windows(ids, 3, dynamic=False)
    assert contexts[0].tolist() == [-1, -1, -1] + ids[1:4].tolist()
    assert contexts[10].tolist() == ids[7:10].tolist() + ids[11:14].tolist()
    assert contexts[-1].tolist() == ids[-4:-1].tolist() + [-1, -1, -1]
    assert cbow_windows(ids[:1], 2)[0].shape == (0, 4)  # one token: no context


# ---------------------------------------------------------------------------- noise
def test_noise_distribution_is_the_unigram_to_the_three_quarters():
    vocab = zipf_vocab()
    p = noise_distribution(vocab)
    c = vocab.counts.double()
    assert_close(p, c**0.75 / (c**0.75).sum(), 1e-15)
    assert p.sum().item() == pytest.approx(1.0)
    # flatter than the unigram distribution: frequent words less likely, rare ones more
    f = vocab.frequencies()
    assert p[0] < f[0] and p[-1] > f[-1]
    assert_close(noise_distribution(vocab, 1.0), f, 1e-15)
    assert_close(noise_distribution(vocab, 0), torch.full_like(f, 1 / len(f)), 1e-15)


def test_sampler_draws_with_the_given_frequencies():
    probs = torch.tensor([0.4, 0.0, 0.25, 0.2, 0.1, 0.05, 1e-3], dtype=F64)
    probs = probs / probs.sum()
    n = 400_000
    draws = NoiseSampler(probs, gen(7)).sample((n // 4, 4))
    assert draws.shape == (n // 4, 4) and draws.dtype == torch.int64
    freq = torch.bincount(draws.flatten(), minlength=7).double() / n
    std = torch.sqrt(probs * (1 - probs) / n)
    assert torch.all((freq - probs).abs() <= 5 * std + 1e-12), (freq, probs)
    assert freq[1] == 0  # a word of probability 0 is never drawn
    # seeded: the same draws again; an int shape is a 1-D sample
    assert torch.equal(NoiseSampler(probs, gen(7)).sample((n // 4, 4)), draws)
    assert NoiseSampler(probs).sample(5).shape == (5,)
    # unnormalised weights are normalised
    big = NoiseSampler(probs * 10, gen(8)).sample(100_000)
    assert (big == 0).double().mean().item() == pytest.approx(probs[0].item(), abs=0.01)


# ---------------------------------------------------------------------------- loss, gradient
def batch(seed=0, V=7, B=6, K=3):
    g = gen(seed)
    center = torch.randint(0, V, (B,), generator=g)
    context = torch.randint(0, V, (B,), generator=g)
    negatives = torch.randint(0, V, (B, K), generator=g)
    return center, context, negatives


def test_sgns_loss_equals_the_direct_formula():
    W_in, W_out = weights()
    center, context, negatives = batch()
    loss = sgns_loss(center, context, negatives, W_in, W_out)

    def log_sigmoid(x):
        return -math.log1p(math.exp(-x))

    total = 0.0
    for c, o, ks in zip(center.tolist(), context.tolist(), negatives.tolist(), strict=True):
        v = W_in[c]
        total -= log_sigmoid(float(W_out[o] @ v))
        total -= sum(log_sigmoid(-float(W_out[k] @ v)) for k in ks)
    assert loss.shape == () and loss.item() == pytest.approx(total / len(center), rel=1e-12)
    # stable where the naive log(sigmoid(x)) underflows to log(0)
    big = sgns_loss(center, context, negatives, W_in * 1e3, W_out * 1e3)
    assert torch.isfinite(big) and big > 0


@pytest.mark.parametrize("case", ["random", "repeated ids", "negative equals context"])
def test_sgns_grad_equals_autograd(case):
    W_in, W_out = weights(V=5, d=6, seed=1)
    center, context, negatives = batch(seed=2, V=5, B=8, K=4)
    if case == "repeated ids":
        center = torch.tensor([1, 1, 1, 2, 2, 0, 4, 1])
        negatives[:, 1] = 3  # the same noise word in every row
        negatives[0] = 2  # and four times in one row
    elif case == "negative equals context":
        negatives[:, 0] = context
        negatives[3, :] = context[3]
    W_in.requires_grad_(True)
    W_out.requires_grad_(True)
    sgns_loss(center, context, negatives, W_in, W_out).backward()
    g_in, g_out = sgns_grad(center, context, negatives, W_in, W_out)
    assert g_in.shape == W_in.shape and g_out.shape == W_out.shape
    assert_close(g_in, W_in.grad, 1e-12)
    assert_close(g_out, W_out.grad, 1e-12)
    # words never drawn get no gradient
    unused = sorted(set(range(5)) - set(context.tolist()) - set(negatives.flatten().tolist()))
    assert all(g_out[w].abs().max() == 0 for w in unused)


def test_full_softmax_loss_equals_cross_entropy():
    W_in, W_out = weights(V=9, d=5, seed=3)
    center, context, _ = batch(seed=4, V=9, B=10)
    loss = full_softmax_loss(center, context, W_in, W_out)
    direct = 0.0
    for c, o in zip(center.tolist(), context.tolist(), strict=True):
        scores = W_out @ W_in[c]
        direct -= (scores[o] - torch.logsumexp(scores, 0)).item()
    assert loss.item() == pytest.approx(direct / 10, rel=1e-12)
    assert loss.item() == pytest.approx(
        F.cross_entropy(W_in[center] @ W_out.T, context).item(), rel=1e-14
    )


# ---------------------------------------------------------------------------- the fast steps
def test_the_training_step_is_sgd_on_the_hand_derived_gradient():
    """train_word2vec's sparse step (no autograd) on a batch of b pairs equals one SGD step
    of size alpha on b times sgns_loss's mean (each pair a step alpha, word2vec's C code),
    with repeated rows; its loss is b times sgns_loss."""
    V, d, b, K, alpha = 6, 5, 9, 3, 0.1
    W_in, W_out = weights(V, d, seed=6)
    center, context, negatives = batch(seed=7, V=V, B=b, K=K)
    center[:3] = 2
    negatives[:, 0] = context
    W = torch.cat([W_in, W_out])
    rows = torch.cat([center[:, None], context[:, None] + V, negatives + V], dim=1)
    sign = torch.tensor([1.0] + [-1.0] * K, dtype=F64)
    loss = torch.zeros((), dtype=F64)
    w2v._skipgram_step(W, rows, sign, sign * alpha, w2v._Buffers(W, b, K + 2, 0), loss)
    g_in, g_out = sgns_grad(center, context, negatives, W_in, W_out)
    assert_close(W[:V], W_in - alpha * b * g_in, 1e-12)
    assert_close(W[V:], W_out - alpha * b * g_out, 1e-12)
    expected = b * sgns_loss(center, context, negatives, W_in, W_out)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)


def test_the_cbow_step_follows_word2vec():
    """CBOW's step: W_out gets SGD on the loss's gradient; each context word gets the whole
    gradient with respect to h (word2vec's C code), i.e. |C| times its own gradient."""
    V, d, K, alpha = 7, 4, 2, 0.05
    W_in, W_out = weights(V, d, seed=8)
    contexts = torch.tensor([[1, 2, -1, 3], [-1, -1, 4, -1], [5, 5, 6, 1]])
    center = torch.tensor([0, 6, 2])
    negatives = torch.tensor([[3, 4], [0, 0], [2, 5]])
    model = CBOW(V, d, negatives=K)
    model.to(F64)
    with torch.no_grad():
        model.W_in.copy_(W_in)
        model.W_out.copy_(W_out)
    (3 * model.loss((contexts, center, negatives))).backward()
    W = torch.cat([W_in, W_out])
    targets = torch.cat([center[:, None], negatives], dim=1) + V
    sign = torch.tensor([1.0] + [-1.0] * K, dtype=F64)
    loss = torch.zeros((), dtype=F64)
    w2v._cbow_step(W, contexts, targets, sign, sign * alpha, w2v._Buffers(W, 3, K + 2, 4), loss)
    assert_close(W[V:], W_out - alpha * model.W_out.grad, 1e-12)
    # each occurrence of a context word gets dl/dh (autograd: dl/dh / |C| per occurrence)
    expected = W_in.clone()
    for r, row in enumerate(contexts.tolist()):
        h = W_in[[j for j in row if j >= 0]].mean(0).requires_grad_(True)
        l_row = -F.logsigmoid(W_out[center[r]] @ h) - F.logsigmoid(-W_out[negatives[r]] @ h).sum()
        (dl_dh,) = torch.autograd.grad(l_row, h)
        for j in row:
            if j >= 0:
                expected[j] -= alpha * dl_dh
    assert_close(W[:V], expected, 1e-12)
    assert loss.item() == pytest.approx(3 * model.loss((contexts, center, negatives)).item())


# ---------------------------------------------------------------------------- modules
def test_modules_initialise_as_word2vec_and_compute_their_losses():
    V, d = 11, 8
    sg = SkipGram(V, d, negatives=3, generator=gen(9))
    assert sg.W_in.shape == sg.W_out.shape == (V, d)
    assert sg.W_in.abs().max() <= 0.5 / d and sg.W_in.std() > 0.1 / d
    assert torch.equal(sg.W_out, torch.zeros(V, d))
    with torch.no_grad():
        sg.W_out.normal_(generator=gen(10))
    center, context, negatives = batch(seed=5, V=V, B=4, K=3)
    loss = sg.loss((center, context, negatives))
    assert loss.item() == pytest.approx(
        sgns_loss(center, context, negatives, sg.W_in, sg.W_out).item(), rel=1e-6
    )
    loss.backward()
    assert sg.W_in.grad is not None and sg.W_out.grad.abs().sum() > 0
    # a model with a noise sampler draws its own negatives
    sampler = NoiseSampler(torch.ones(V), gen(11))
    sg.noise = sampler
    assert torch.isfinite(sg.loss((center, context)))
    # negatives=0: the full softmax
    full = SkipGram(V, d, negatives=0, generator=gen(9))
    assert full.loss((center, context)).item() == pytest.approx(math.log(V), rel=1e-6)

    cb = CBOW(V, d, negatives=3, generator=gen(12))
    with torch.no_grad():
        cb.W_out.normal_(generator=gen(13))
    contexts = torch.tensor([[1, 2, -1, 3], [-1, -1, 4, -1], [5, 5, 6, 7], [0, -1, -1, -1]])
    loss = cb.loss((contexts, center, negatives))
    direct = 0.0
    for row, c, ks in zip(contexts.tolist(), center.tolist(), negatives.tolist(), strict=True):
        h = torch.stack([cb.W_in[j] for j in row if j >= 0]).mean(0)  # (eq-cbow)
        direct -= F.logsigmoid(cb.W_out[c] @ h).item()
        direct -= sum(F.logsigmoid(-cb.W_out[k] @ h).item() for k in ks)
    assert loss.item() == pytest.approx(direct / 4, rel=1e-5)
    full = CBOW(V, d, negatives=0, generator=gen(12))
    with torch.no_grad():
        full.W_out.copy_(cb.W_out)
    h = torch.stack([full.W_in[[1, 2, 3]].mean(0), full.W_in[4], full.W_in[[5, 5, 6, 7]].mean(0)])
    expected = F.cross_entropy(torch.cat([h, full.W_in[[0]]]) @ full.W_out.T, center)
    assert full.loss((contexts, center)).item() == pytest.approx(expected.item(), rel=1e-6)


# ---------------------------------------------------------------------------- training
def topic_corpus(n_tokens=24_000, topics=8, per_topic=5, seed=0):
    """Segments of 6 words, each segment drawn from one topic's words: words of a topic share
    their contexts (planted synonyms), words of different topics never meet."""
    g = gen(seed)
    words = [[f"t{t}w{i}" for i in range(per_topic)] for t in range(topics)]
    tokens = []
    while len(tokens) < n_tokens:
        t = int(torch.randint(0, topics, (1,), generator=g))
        for i in torch.randint(0, per_topic, (6,), generator=g).tolist():
            tokens.append(words[t][i])
    return tokens, words


def topic_similarity(result, words):
    """Mean cosine similarity of words within a topic and across topics."""
    vocab = result.vocab
    X = F.normalize(result.vectors.double(), dim=1)
    topic = torch.empty(len(vocab), dtype=torch.int64)
    for t, ws in enumerate(words):
        topic[vocab.ids(ws)] = t
    S = X @ X.T
    same = topic[:, None] == topic[None, :]
    off_diagonal = ~torch.eye(len(vocab), dtype=torch.bool)
    return S[same & off_diagonal].mean().item(), S[~same].mean().item()


@pytest.fixture(scope="module")
def corpus():
    tokens, words = topic_corpus()
    return tokens, words, Vocabulary.from_tokens(tokens)


@pytest.mark.parametrize(
    "model,negatives,subsample_t,workers",
    [
        ("skipgram", 5, None, 1),
        ("skipgram", 5, 1e-2, 1),
        ("cbow", 5, None, 1),
        ("skipgram", 0, None, 1),
        ("skipgram", 5, None, 2),
    ],
)
def test_training_learns_the_planted_synonyms(corpus, model, negatives, subsample_t, workers):
    tokens, words, vocab = corpus
    r = train_word2vec(
        tokens, vocab, model=model, dim=16, window=2, negatives=negatives,
        subsample_t=subsample_t, epochs=3, lr=0.025 if negatives else 0.05,
        batch_size=256, workers=workers, progress=False,
    )  # fmt: skip
    assert isinstance(r, TrainedEmbeddings)
    assert r.vectors.shape == (len(vocab), 16) and r.vectors.dtype == torch.float32
    assert torch.equal(r.vectors, r.W_in) and r.W_out.shape == r.W_in.shape
    assert len(r.losses) >= 3 and r.losses[-1] < r.losses[0] - 0.1, r.losses
    within, across = topic_similarity(r, words)
    assert within > 0.6 and across < within - 0.4, (within, across)
    assert r.similarity("t0w0", "t0w1") > r.similarity("t0w0", "t1w0") + 0.4
    assert r.seconds > 0
    assert r.words_per_second == pytest.approx(3 * len(tokens) / r.seconds)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.seconds = 0.0


def test_training_is_deterministic_given_the_seed(corpus):
    tokens, _, vocab = corpus
    kw = dict(dim=8, window=2, epochs=1, batch_size=128, progress=False)
    a = train_word2vec(tokens, vocab, seed=3, **kw)
    b = train_word2vec(vocab.encode(tokens), vocab, seed=3, **kw)  # ids, same numbers
    c = train_word2vec(tokens, vocab, seed=4, **kw)
    threads = torch.get_num_threads()
    d = train_word2vec(tokens, vocab, seed=3, device="cpu", **kw)
    assert torch.get_num_threads() == threads  # one thread while training, then restored
    assert torch.equal(a.vectors, b.vectors) and torch.equal(a.W_out, b.W_out)
    assert torch.equal(a.vectors, d.vectors)
    assert a.losses == b.losses
    assert not torch.allclose(a.vectors, c.vectors)


def test_unknown_words_are_dropped_and_counted_as_raw_words(corpus):
    tokens, _, vocab = corpus
    small = Vocabulary.from_tokens(tokens[:600])
    r = train_word2vec(tokens[:600] + ["unseen"] * 100, small, dim=4, epochs=1, progress=False)
    assert r.words_per_second == pytest.approx(700 / r.seconds)


# ---------------------------------------------------------------------------- errors
V5 = torch.zeros(5, 3, dtype=F64)
IDS = torch.tensor([0, 1])
NEG = torch.tensor([[1, 2], [3, 4]])


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: sgns_loss(IDS.int(), IDS, NEG, V5, V5), TypeError, "center.*int64"),
        (lambda: sgns_loss(IDS.double(), IDS, NEG, V5, V5), TypeError, "center"),
        (lambda: sgns_loss([0, 1], IDS, NEG, V5, V5), TypeError, "center"),
        (lambda: sgns_loss(IDS, IDS, NEG.float(), V5, V5), TypeError, "negatives"),
        (lambda: sgns_loss(IDS + 4, IDS, NEG, V5, V5), ValueError, r"center.*\[0, 5\)"),
        (lambda: sgns_loss(IDS, torch.tensor([-1, 0]), NEG, V5, V5), ValueError, "context"),
        (lambda: sgns_loss(IDS, IDS, NEG + 3, V5, V5), ValueError, "negatives.*ids in"),
        (lambda: sgns_loss(IDS, IDS[:1], NEG, V5, V5), ValueError, "context.*one id per"),
        (lambda: sgns_loss(IDS, IDS, NEG[:, :0], V5, V5), ValueError, "negatives"),
        (lambda: sgns_loss(IDS, IDS, NEG[:1], V5, V5), ValueError, r"negatives.*\(B, K\)"),
        (lambda: sgns_loss(IDS, IDS, NEG[0], V5, V5), ValueError, r"negatives.*K\), got \(2,\)"),
        (lambda: sgns_loss(IDS[:0], IDS[:0], NEG[:0], V5, V5), ValueError, "center.*at least"),
        (lambda: sgns_loss(IDS, IDS, NEG, V5, V5[:, :2]), ValueError, "W_in and W_out"),
        (lambda: sgns_loss(IDS, IDS, NEG, V5, V5.float()), TypeError, "W_out.*dtype"),
        (lambda: sgns_loss(IDS, IDS, NEG, V5.long(), V5), TypeError, "W_in.*floating"),
        (lambda: sgns_loss(IDS, IDS, NEG, V5[0], V5), ValueError, r"W_in.*\(V, d\)"),
        (lambda: sgns_loss(IDS, IDS, NEG, "W", V5), TypeError, "W_in"),
        (lambda: sgns_loss(IDS, IDS, NEG, V5, V5 / 0), ValueError, "W_out.*finite"),
        (lambda: sgns_grad(IDS, IDS, NEG + 3, V5, V5), ValueError, "negatives"),
        (lambda: sgns_grad(IDS, IDS, NEG, V5 * math.nan, V5), ValueError, "W_in.*finite"),
        (lambda: full_softmax_loss(IDS, IDS[:1], V5, V5), ValueError, "context"),
        (lambda: full_softmax_loss(IDS + 4, IDS, V5, V5), ValueError, "center"),
        (lambda: skipgram_pairs(IDS, 0), ValueError, "window"),
        (lambda: skipgram_pairs(IDS, 2.0), TypeError, "window"),
        (lambda: skipgram_pairs(IDS, 2, dynamic=1), TypeError, "dynamic"),
        (lambda: skipgram_pairs(IDS, 2, generator=0), TypeError, "generator"),
        (lambda: skipgram_pairs(IDS[None], 2), ValueError, r"ids must have shape \(N,\), got \(1"),
        (lambda: cbow_windows(IDS.float(), 2), TypeError, "ids"),
        (lambda: cbow_windows(IDS, -1), ValueError, "window"),
        (lambda: keep_probability(zipf_vocab(), -1e-3), ValueError, "t must be >= 0"),
        (lambda: keep_probability(zipf_vocab(), "1e-3"), TypeError, "t must"),
        (lambda: keep_probability(["a"], 1e-3), TypeError, "vocab"),
        (lambda: subsample(IDS + 30, zipf_vocab(), 1e-3), ValueError, "ids"),
        (lambda: noise_distribution(zipf_vocab(), -1), ValueError, "power"),
        (lambda: noise_distribution(zipf_vocab(), math.inf), TypeError, "power"),
        (lambda: NoiseSampler(torch.tensor([1, 2])), TypeError, "probs"),
        (lambda: NoiseSampler(torch.tensor([0.5, -0.1])), ValueError, "probs"),
        (lambda: NoiseSampler(torch.zeros(3)), ValueError, "probs"),
        (lambda: NoiseSampler(torch.ones(2, 2)), ValueError, "probs"),
        (lambda: NoiseSampler(torch.ones(2)).sample((2, -1)), TypeError, "shape"),
        (lambda: SkipGram(0, 4), ValueError, "vocab_size"),
        (lambda: SkipGram(5, 4, negatives=-1), ValueError, "negatives"),
        (lambda: SkipGram(5, 4, noise=NoiseSampler(torch.ones(4))), ValueError, "noise"),
        (lambda: SkipGram(5, 4).loss((IDS, IDS)), ValueError, "negatives"),
        (lambda: SkipGram(5, 4).loss(IDS), TypeError, "batch"),
        (lambda: SkipGram(5, 4, 0).loss((IDS, IDS, NEG)), ValueError, "negatives=0"),
        (lambda: CBOW(5, 4).loss((torch.tensor([[-1, -1]]), IDS[:1], NEG[:1])), ValueError,
         "contexts.*every row"),
        (lambda: CBOW(5, 4).loss((torch.tensor([[7, 1]]), IDS[:1], NEG[:1])), ValueError,
         "contexts"),
        (lambda: CBOW(5, 4).loss((IDS[None], IDS, NEG)), ValueError, "contexts.*one row"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_naming_them(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"model": "glove"}, ValueError, "model must be one of"),
        ({"dim": 0}, ValueError, "dim"),
        ({"window": 0}, ValueError, "window"),
        ({"negatives": -1}, ValueError, "negatives"),
        ({"negatives": 2.5}, TypeError, "negatives"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": math.nan}, ValueError, "lr"),
        ({"lr": "0.1"}, TypeError, "lr"),
        ({"subsample_t": -1.0}, ValueError, "subsample_t"),
        ({"subsample_t": math.inf}, TypeError, "subsample_t"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"workers": 0}, ValueError, "workers"),
        ({"workers": 2, "negatives": 0}, ValueError, "workers > 1 needs"),
        ({"seed": -1}, ValueError, "seed"),
        ({"progress": 1}, TypeError, "progress"),
        ({"device": 3}, TypeError, "device"),
    ],
)
def test_train_word2vec_checks_its_hyperparameters(kwargs, error, match):
    tokens = ["a", "b", "a", "c"]
    vocab = Vocabulary.from_tokens(tokens)
    with pytest.raises(error, match=match):
        train_word2vec(tokens, vocab, **{"progress": False, **kwargs})


def test_train_word2vec_checks_its_tokens():
    vocab = Vocabulary.from_tokens(["a", "b", "a"])
    with pytest.raises(ValueError, match="tokens must hold at least one"):
        train_word2vec([], vocab, progress=False)
    with pytest.raises(ValueError, match="tokens hold no word of the vocabulary"):
        train_word2vec(["x", "y"], vocab, progress=False)
    with pytest.raises(TypeError, match="tokens must be"):
        train_word2vec("a b a", vocab, progress=False)
    with pytest.raises(TypeError, match="tokens must be str"):
        train_word2vec([1, 2], vocab, progress=False)
    with pytest.raises(ValueError, match=r"tokens must hold ids in \[0, 2\)"):
        train_word2vec(torch.tensor([0, 2]), vocab, progress=False)
    with pytest.raises(TypeError, match="vocab must be a Vocabulary"):
        train_word2vec(["a"], {"a": 0}, progress=False)
    with pytest.raises(TypeError, match="tokens.*int64"):
        train_word2vec(torch.tensor([0.0, 1.0]), vocab, progress=False)
    # diverging training names lr and batch_size
    with pytest.raises(FloatingPointError, match="lr"):
        train_word2vec(["a", "b"] * 50, vocab, lr=1e38, progress=False)
