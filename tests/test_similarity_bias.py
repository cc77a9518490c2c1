"""seqcourse.embeddings.similarity and .bias: neighbours and analogies against brute-force
loops over every word (and gensim's KeyedVectors when it is installed), Spearman's rho against
scipy, the bias direction recovering a planted one, neutralise and equalise against their
geometric promises, Gonen & Goldberg's neighbour measure against a loop, and bad input."""

import math
import time
from typing import NamedTuple

import numpy as np
import pytest
import torch

from seqcourse.embeddings.bias import (
    bias_direction,
    equalise,
    neighbour_bias,
    neutralise,
    project,
)
from seqcourse.embeddings.similarity import (
    analogy,
    analogy_accuracy,
    nearest,
    spearman,
    unit,
    word_similarity,
)
from seqcourse.embeddings.vocab import Vocabulary

F64 = torch.float64


def make_vocab(V):
    # word i seen V - i times: ids follow the names' order (most frequent first)
    tokens = [f"w{i:03d}" for i in range(V) for _ in range(V - i)]
    vocab = Vocabulary.from_tokens(tokens)
    assert vocab.words == tuple(f"w{i:03d}" for i in range(V))
    return vocab


def randn(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def space():
    return randn(60, 8, seed=1), make_vocab(60)


def cos(x, y):
    return float(x @ y / (x.norm() * y.norm()))


def brute_analogy(vectors, a, b, c, method, k=1, eps=0.001, n=None):
    """Every candidate word x scored one by one, by the formula of the paper (3CosAdd's
    target b - a + c is made of unit vectors)."""
    n = vectors.shape[0] if n is None else n
    scores = []
    e = [vectors[w] / vectors[w].norm() for w in (a, b, c)]
    target = e[1] - e[0] + e[2]
    for x in range(n):
        if x in (a, b, c):
            continue
        if method == "3cosadd":
            s = cos(vectors[x], target)
        else:
            p = [(cos(vectors[x], vectors[w]) + 1) / 2 for w in (a, b, c)]
            s = p[1] * p[2] / (p[0] + eps)
        scores.append((s, x))
    scores.sort(key=lambda sx: -sx[0])
    return [x for _, x in scores[:k]]


# ---------------------------------------------------------------------------- unit, nearest
def test_unit():
    x = randn(5, 3)
    u = unit(x)
    torch.testing.assert_close(u.norm(dim=1), torch.ones(5, dtype=F64))
    torch.testing.assert_close(u * x.norm(dim=1, keepdim=True), x)


def test_unit_names_zero_rows():
    x = randn(5, 3)
    x[[1, 3]] = 0
    with pytest.raises(ValueError, match=r"vectors.*row\(s\) 1, 3"):
        unit(x)


def test_nearest_equals_brute_force(space):
    vectors, vocab = space
    got = nearest(vectors, vocab, "w007", k=5)
    expected = sorted(
        ((cos(vectors[i], vectors[7]), vocab.words[i]) for i in range(60) if i != 7),
        reverse=True,
    )[:5]
    assert [w for w, _ in got] == [w for _, w in expected]
    np.testing.assert_allclose([s for _, s in got], [s for s, _ in expected], rtol=1e-12)


def test_nearest_vector_query_and_exclude(space):
    vectors, vocab = space
    q = vectors[3] * 4.0
    got = nearest(vectors, vocab, q, k=3)
    assert got[0][0] == "w003" and got[0][1] == pytest.approx(1.0)  # a vector keeps its word
    later = nearest(vectors, vocab, q, k=3, exclude=["w003", got[1][0]])
    assert [w for w, _ in later][:1] == [got[2][0]]
    assert all(w not in ("w003", got[1][0]) for w, _ in later)


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"query": "nope"}, "'nope'", ValueError),
        ({"exclude": ["w001", "nope"]}, "'nope'", ValueError),
        ({"exclude": "w001"}, "exclude", TypeError),
        ({"k": 0}, "k", ValueError),
        ({"k": 60}, "k", ValueError),
        ({"query": torch.ones(7, dtype=F64)}, "query", ValueError),
        ({"query": torch.zeros(8, dtype=F64)}, "norm 0", ValueError),
        ({"query": 3}, "query", TypeError),
        ({"vectors": randn(59, 8)}, "vectors", ValueError),
    ],
)
def test_nearest_errors(space, kwargs, match, error):
    vectors, vocab = space
    args = {"vectors": vectors, "vocab": vocab, "query": "w001", **kwargs}
    with pytest.raises(error, match=match):
        nearest(**args)


# ---------------------------------------------------------------------------- analogies
@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_equals_brute_force(space, method):
    vectors, vocab = space
    g = torch.Generator().manual_seed(2)
    for _ in range(20):
        a, b, c = torch.randperm(60, generator=g)[:3].tolist()
        got = analogy(vectors, vocab, *(vocab.words[i] for i in (a, b, c)), method=method, k=5)
        assert got == [vocab.words[x] for x in brute_analogy(vectors, a, b, c, method, k=5)]


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_never_answers_a_question_word(method):
    # b - a + c lies nearest to c itself (a and b almost equal): the answer must be another
    vocab = make_vocab(6)
    vectors = randn(6, 4, seed=3)
    vectors[1] = vectors[0] + 1e-3
    words = analogy(vectors, vocab, "w000", "w001", "w002", method=method, k=3)
    assert len(words) == 3 and not {"w000", "w001", "w002"} & set(words)
    assert words == [vocab.words[x] for x in brute_analogy(vectors, 0, 1, 2, method, k=3)]


def test_3cosmul_epsilon_matters():
    # with cos'(x, a) = 0 exactly, epsilon sets the scale of the winner
    vocab = make_vocab(5)
    vectors = torch.tensor(
        [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [-1.0, 0.3, 0.2], [-1.0, 0.05, 0.05]], dtype=F64
    )
    for eps in (0.001, 1e-6):
        got = analogy(vectors, vocab, "w000", "w001", "w002", method="3cosmul", k=2, epsilon=eps)
        assert got == [vocab.words[x] for x in brute_analogy(vectors, 0, 1, 2, "3cosmul", 2, eps)]


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"a": "nope"}, "'nope'", ValueError),
        ({"c": "zzz"}, "'zzz'", ValueError),
        ({"method": "3cosavg"}, "method", ValueError),
        ({"k": 0}, "k", ValueError),
        ({"k": 58}, "k", ValueError),
        ({"k": 2.0}, "k", TypeError),
        ({"epsilon": 0.0}, "epsilon", ValueError),
        ({"vectors": randn(61, 8)}, "vectors", ValueError),
        ({"vectors": torch.full((60, 8), math.nan, dtype=F64)}, "vectors", ValueError),
        ({"vectors": torch.zeros(60, 8, dtype=F64)}, "row", ValueError),
        ({"vectors": torch.zeros(60, 8, dtype=torch.int64)}, "vectors", TypeError),
        ({"vocab": ["w000"]}, "vocab", TypeError),
    ],
)
def test_analogy_errors(space, kwargs, match, error):
    vectors, vocab = space
    args = {"vectors": vectors, "vocab": vocab, "a": "w000", "b": "w001", "c": "w002", **kwargs}
    with pytest.raises(error, match=match):
        analogy(**args)


class Question(NamedTuple):
    a: str
    b: str
    c: str
    d: str
    section: str


def questions_for(vectors, vocab, n, seed, method="3cosadd"):
    """n questions: half answered right by the brute force (d = its answer), half wrong."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for q in range(n):
        a, b, c = torch.randperm(len(vocab), generator=g)[:3].tolist()
        answer = brute_analogy(vectors, a, b, c, method, k=2)
        d = answer[0] if q % 2 == 0 else answer[1]
        out.append(Question(*(vocab.words[i] for i in (a, b, c, d)), f"s{q % 3}"))
    return out


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_accuracy_equals_a_loop(space, method):
    vectors, vocab = space
    questions = questions_for(vectors, vocab, 30, seed=4, method=method)
    questions.append(Question("w000", "w001", "w002", "unknown", "s0"))
    score = analogy_accuracy(vectors, vocab, questions, method=method, batch_size=7)
    assert (score.correct, score.covered, score.total) == (15, 30, 31)
    assert score.accuracy == 0.5
    loop = {s: [0, 0] for s in ("s0", "s1", "s2")}
    for q in questions[:-1]:
        loop[q.section][0] += analogy(vectors, vocab, q.a, q.b, q.c, method=method) == [q.d]
        loop[q.section][1] += 1
    for s, (correct, covered) in loop.items():
        assert (score.sections[s].correct, score.sections[s].covered) == (correct, covered)
    assert score.sections["s0"].total == score.sections["s0"].covered + 1


def test_analogy_accuracy_plain_tuples_and_restrict(space):
    vectors, vocab = space
    g = torch.Generator().manual_seed(5)
    questions = [
        tuple(vocab.words[i] for i in torch.randperm(60, generator=g)[:4]) for _ in range(40)
    ]
    n = 30
    covered = [q for q in questions if all(vocab.id(w) < n for w in q)]
    expected = sum(
        brute_analogy(vectors, *(vocab.id(w) for w in q[:3]), "3cosadd", n=n) == [vocab.id(q[3])]
        for q in covered
    )
    score = analogy_accuracy(vectors, vocab, questions, restrict=n)
    assert score.sections == {} and score.total == 40
    assert (score.covered, score.correct) == (len(covered), expected)
    assert 0 < len(covered) < 40
    empty = analogy_accuracy(vectors, vocab, [("w000", "w001", "w002", "x")])
    assert empty.covered == 0 and math.isnan(empty.accuracy)


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"questions": [("w000", "w001", "w002")]}, "questions", ValueError),
        ({"questions": [("w000", "w001", "w002", 3)]}, "questions", TypeError),
        ({"questions": "w000 w001 w002 w003"}, "questions", TypeError),
        ({"method": "cos"}, "method", ValueError),
        ({"restrict": 0}, "restrict", ValueError),
        ({"batch_size": 0}, "batch_size", ValueError),
    ],
)
def test_analogy_accuracy_errors(space, kwargs, match, error):
    vectors, vocab = space
    args = {"questions": [("w000", "w001", "w002", "w003")], **kwargs}
    with pytest.raises(error, match=match):
        analogy_accuracy(vectors, vocab, **args)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim's init_sims
def test_analogies_agree_with_gensim():
    KeyedVectors = pytest.importorskip("gensim.models").KeyedVectors
    vocab = make_vocab(300)
    vectors = randn(300, 20, seed=6)
    kv = KeyedVectors(20)
    kv.add_vectors(list(vocab.words), vectors.numpy())
    g = torch.Generator().manual_seed(7)
    for _ in range(40):
        a, b, c = (vocab.words[i] for i in torch.randperm(300, generator=g)[:3])
        add = [w for w, _ in kv.most_similar(positive=[b, c], negative=[a], topn=3)]
        assert analogy(vectors, vocab, a, b, c, k=3) == add
        mul = [w for w, _ in kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=3)]
        assert analogy(vectors, vocab, a, b, c, method="3cosmul", k=3, epsilon=1e-6) == mul
        near = kv.most_similar(a, topn=4)
        got = nearest(vectors, vocab, a, k=4)
        assert [w for w, _ in got] == [w for w, _ in near]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in near], rtol=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim's init_sims
def test_analogy_accuracy_agrees_with_gensim_evaluate(tmp_path):
    KeyedVectors = pytest.importorskip("gensim.models").KeyedVectors
    vocab = make_vocab(200)
    vectors = randn(200, 10, seed=8)
    kv = KeyedVectors(10)
    kv.add_vectors(list(vocab.words), vectors.numpy())
    questions = questions_for(vectors, vocab, 60, seed=9)
    lines = []
    for section in ("s0", "s1", "s2"):
        lines.append(f": {section}")
        lines += [" ".join(q[:4]) for q in questions if q.section == section]
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(lines) + "\n")
    for restrict in (200, 120):
        expected, _ = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict)
        score = analogy_accuracy(vectors, vocab, questions, restrict=restrict)
        assert score.accuracy == pytest.approx(expected)


def test_analogy_accuracy_at_scale_is_fast():
    # 5,000 questions over 5,000 x 50 vectors: batched products, well under the file budget
    words = tuple(f"w{i}" for i in range(5000))
    vocab = Vocabulary(words, torch.arange(5000, 0, -1), {w: i for i, w in enumerate(words)})
    vectors = randn(5000, 50, seed=10).float()
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(0, 5000, (5000, 4), generator=g).tolist()
    questions = [tuple(words[i] for i in q) for q in ids]
    start = time.perf_counter()
    score = analogy_accuracy(vectors, vocab, questions, method="3cosmul")
    assert time.perf_counter() - start < 10
    assert score.covered == 5000 and 0 <= score.correct < 50  # random vectors: near chance


# ---------------------------------------------------------------------------- similarity
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_equals_scipy_with_ties(seed):
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 6, (40,), generator=g).double()  # many ties
    y = x + torch.randint(0, 4, (40,), generator=g)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    z = torch.rand(40, dtype=F64, generator=g)
    assert spearman(z, y.tolist()) == pytest.approx(stats.spearmanr(z, y).statistic, abs=1e-12)


def test_spearman_cases():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 400]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [([1, 2, 3], [1, 2], "x and y"), ([1], [1], "x and y"), ([1, math.nan], [1, 2], "x")],
)
def test_spearman_errors(x, y, match):
    with pytest.raises(ValueError, match=match):
        spearman(x, y)


def test_word_similarity(space):
    stats = pytest.importorskip("scipy.stats")
    vectors, vocab = space
    g = torch.Generator().manual_seed(12)
    pairs = [
        (f"w{i:03d}", f"w{j:03d}", float(s))
        for i, j, s in torch.randint(0, 60, (25, 3), generator=g).tolist()
    ]
    pairs += [("w001", "unknown", 3.0), ("unknown", "w002", 1.0)]
    result = word_similarity(vectors, vocab, pairs)
    assert (result.covered, result.total) == (25, 27)
    cosines = [cos(vectors[vocab.id(a)], vectors[vocab.id(b)]) for a, b, _ in pairs[:25]]
    expected = stats.spearmanr(cosines, [s for *_, s in pairs[:25]]).statistic
    assert result.rho == pytest.approx(expected, abs=1e-10)
    assert math.isnan(word_similarity(vectors, vocab, pairs[25:]).rho)


def test_word_similarity_errors(space):
    vectors, vocab = space
    with pytest.raises(ValueError, match="pairs"):
        word_similarity(vectors, vocab, [("w001", "w002")])
    with pytest.raises(TypeError, match="pairs"):
        word_similarity(vectors, vocab, [("w001", 2, 1.0)])


# ---------------------------------------------------------------------------- bias
D = 16


def planted(n_pairs=6, n_neutral=20, strength=0.6, leak=0.0, seed=13):
    """Unit vectors with a planted direction g: pair i is base_i +- strength g (+ noise);
    neutral words are random. ``leak`` adds a second direction h (orthogonal to g) that
    follows each neutral word's lean along g, as Gonen & Goldberg found in real vectors."""
    g_ = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(D, D, dtype=F64, generator=g_)).Q
    g, h = Q[:, 0], Q[:, 1]
    rows, words = [], []
    for i in range(n_pairs):
        base = torch.randn(D, dtype=F64, generator=g_) * 0.3
        base -= (base @ g) * g
        for sign, name in ((1, "m"), (-1, "f")):
            noise = torch.randn(D, dtype=F64, generator=g_) * 0.02
            rows.append(base + sign * strength * g + noise)
            words.append(f"{name}{i}")
    lean = torch.linspace(-1, 1, n_neutral, dtype=F64)
    for i in range(n_neutral):
        noise = torch.randn(D, dtype=F64, generator=g_) * 0.3
        noise -= (noise @ g) * g + (noise @ h) * h  # the lean alone sets the bias
        rows.append(noise + lean[i] * 0.5 * (g + leak * h))
        words.append(f"n{i:02d}")
    vectors = torch.stack(rows)
    vocab = Vocabulary(
        tuple(words), torch.ones(len(words), dtype=torch.int64), {w: i for i, w in enumerate(words)}
    )
    pairs = [(f"m{i}", f"f{i}") for i in range(n_pairs)]
    neutral = [f"n{i:02d}" for i in range(n_neutral)]
    return vectors, vocab, pairs, neutral, g


def test_bias_direction_recovers_the_planted_direction():
    vectors, vocab, pairs, _, g = planted()
    found = bias_direction(vectors, vocab, pairs, components=3)
    assert found.direction.shape == (D,) and found.explained.shape == (3,)
    assert float(found.direction @ g) > 0.999  # and the sign: m0 projects positively
    assert float(found.direction.norm()) == pytest.approx(1.0)
    assert float(found.explained[0]) > 0.95
    assert bool((found.explained[:-1] >= found.explained[1:]).all())
    flipped = bias_direction(vectors, vocab, [(b, a) for a, b in pairs])
    torch.testing.assert_close(flipped.direction, -found.direction)


def test_bias_direction_is_pca_of_centred_pairs():
    sklearn = pytest.importorskip("sklearn.decomposition")
    vectors, vocab, pairs, _, _ = planted(seed=14)
    E = unit(vectors)
    centred = []
    for a, b in pairs:
        mu = (E[vocab.id(a)] + E[vocab.id(b)]) / 2
        centred += [E[vocab.id(a)] - mu, E[vocab.id(b)] - mu]
    pca = sklearn.PCA(n_components=4).fit(torch.stack(centred).numpy())
    found = bias_direction(vectors, vocab, pairs, components=4)
    assert abs(float(found.direction @ torch.from_numpy(pca.components_[0]))) == pytest.approx(1.0)
    np.testing.assert_allclose(found.explained.numpy(), pca.explained_variance_ratio_, rtol=1e-8)


def test_project_is_the_cosine():
    vectors, vocab, pairs, _, g = planted()
    p = project(vectors, 3 * g)
    assert p.shape == (len(vocab),)
    for i in (0, 5, 20):
        assert float(p[i]) == pytest.approx(cos(vectors[i], g), abs=1e-12)


def test_neutralise():
    vectors, vocab, pairs, neutral, _ = planted()
    before = vectors.clone()
    g = bias_direction(vectors, vocab, pairs).direction
    out = neutralise(vectors, g, neutral, vocab)
    assert torch.equal(vectors, before)  # input untouched
    ids = vocab.ids(neutral)
    assert float((out[ids] @ g).abs().max()) < 1e-7
    torch.testing.assert_close(out.norm(dim=1), torch.ones(len(vocab), dtype=F64))
    others = vocab.ids([w for p in pairs for w in p])
    torch.testing.assert_close(out[others], unit(vectors)[others])  # only normalised
    # what is left of each neutral word is its part orthogonal to g
    E = unit(vectors)[ids]
    rest = E - (E @ g)[:, None] * g
    torch.testing.assert_close(out[ids], rest / rest.norm(dim=1, keepdim=True))


def test_equalise():
    vectors, vocab, pairs, neutral, _ = planted(seed=15)
    before = vectors.clone()
    g = bias_direction(vectors, vocab, pairs).direction
    out = equalise(neutralise(vectors, g, neutral, vocab), g, pairs, vocab)
    assert torch.equal(vectors, before)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(len(vocab), dtype=F64))
    n = out[vocab.ids(neutral)]
    for a, b in pairs:
        ea, eb = out[vocab.id(a)], out[vocab.id(b)]
        # symmetric about g: same orthogonal part, opposite projections, each on its side
        torch.testing.assert_close(ea - (ea @ g) * g, eb - (eb @ g) * g, rtol=0, atol=1e-12)
        assert float(ea @ g) == pytest.approx(-float(eb @ g), abs=1e-12) and float(ea @ g) > 0
        # equidistant from every neutralised word
        gap = ((n - ea).norm(dim=1) - (n - eb).norm(dim=1)).abs().max()
        assert float(gap) < 1e-7
        # and unequal before
    E = unit(vectors)
    n0 = neutralise(vectors, g, neutral, vocab)[vocab.ids(neutral)]
    gap_before = ((n0 - E[0]).norm(dim=1) - (n0 - E[1]).norm(dim=1)).abs().max()
    assert float(gap_before) > 1e-3


def test_equalise_orthogonal_part_is_the_mean():
    vectors, vocab, pairs, _, _ = planted(seed=16)
    g = bias_direction(vectors, vocab, pairs).direction
    out = equalise(vectors, g, pairs[:1], vocab)
    E = unit(vectors)
    mu = (E[0] + E[1]) / 2
    nu = mu - (mu @ g) * g
    torch.testing.assert_close(out[0], nu + (1 - nu @ nu).sqrt() * g)
    torch.testing.assert_close(out[1], nu - (1 - nu @ nu).sqrt() * g)
    torch.testing.assert_close(out[2:], E[2:])


@pytest.mark.parametrize(
    ("call", "match", "error"),
    [
        (lambda v, voc, g: bias_direction(v, voc, []), "pairs", ValueError),
        (lambda v, voc, g: bias_direction(v, voc, [("m0", "nope")]), "'nope'", ValueError),
        (lambda v, voc, g: bias_direction(v, voc, [("m0", "m0")]), "pairs", ValueError),
        (lambda v, voc, g: bias_direction(v, voc, ["m0"]), "pairs", ValueError),
        (
            lambda v, voc, g: bias_direction(v, voc, [("m0", "f0")], components=2),
            "components",
            ValueError,
        ),
        (lambda v, voc, g: project(v, g[:-1]), "direction", ValueError),
        (lambda v, voc, g: project(v, torch.zeros(D, dtype=F64)), "direction", ValueError),
        (lambda v, voc, g: project(v, g.tolist()), "direction", TypeError),
        (lambda v, voc, g: neutralise(v, g, ["n00", "nope"], voc), "'nope'", ValueError),
        (lambda v, voc, g: neutralise(v, g, "n00", voc), "words", TypeError),
        (lambda v, voc, g: neutralise(v, v[0], ["m0"], voc), "'m0'", ValueError),
        (lambda v, voc, g: neutralise(v, g[:3], ["n00"], voc), "direction", ValueError),
        (lambda v, voc, g: equalise(v, g, [], voc), "pairs", ValueError),
        (lambda v, voc, g: equalise(v, g, [("m0", "f0"), ("m0", "f1")], voc), "'m0'", ValueError),
        (
            lambda v, voc, g: equalise(v, torch.zeros(D, dtype=F64), [("m0", "f0")], voc),
            "direction",
            ValueError,
        ),
    ],
)
def test_bias_errors(call, match, error):
    vectors, vocab, _, _, g = planted()
    with pytest.raises(error, match=match):
        call(vectors, vocab, g)


def test_equalise_refuses_a_pair_with_equal_projections():
    vectors, vocab, _, _, _ = planted()
    vectors = vectors.clone()
    vectors[1] = vectors[0]
    vectors[1, 5] = -vectors[0, 5]  # same norm, same projection on the first axis
    g = torch.zeros(D, dtype=F64)
    g[0] = 1.0
    with pytest.raises(ValueError, match="pairs"):
        equalise(vectors, g, [("m0", "f0")], vocab)


def test_neighbour_bias_equals_a_loop():
    vectors, vocab, pairs, neutral, g = planted(leak=0.5)
    original = project(vectors, g)
    words = neutral + [w for p in pairs for w in p]
    k = 5
    result = neighbour_bias(vectors, original, words, vocab, k=k)
    E = unit(vectors)
    for n, w in enumerate(words):
        others = [u for u in words if u != w]
        sims = sorted(others, key=lambda u: -float(E[vocab.id(u)] @ E[vocab.id(w)]))[:k]
        assert float(result.fraction[n]) == pytest.approx(
            sum(float(original[vocab.id(u)]) > 0 for u in sims) / k
        )
    bias = original[vocab.ids(words)]
    expected = np.corrcoef(result.fraction.numpy(), bias.numpy())[0, 1]
    assert result.correlation == pytest.approx(expected, abs=1e-12)


def test_neighbour_bias_survives_neutralising_only_when_it_leaks():
    # Gonen & Goldberg: after neutralise the words' projections are 0, yet with a second
    # direction carrying the same lean their neighbours still give their original side away.
    # Bounds measured over seeds 17..36: r before 0.73..0.94; after, 0.72..0.86 with the
    # leak and -0.30..0.20 without.
    for leak, low, high in ((1.0, 0.6, 1.0), (0.0, -0.4, 0.4)):
        vectors, vocab, pairs, neutral, g = planted(n_neutral=80, leak=leak, seed=17)
        original = project(vectors, g)
        assert neighbour_bias(vectors, original, neutral, vocab, k=10).correlation > 0.65
        debiased = neutralise(vectors, g, neutral, vocab)
        assert float(project(debiased, g)[vocab.ids(neutral)].abs().max()) < 1e-7
        result = neighbour_bias(debiased, original, neutral, vocab, k=10)
        assert result.fraction.shape == (80,)
        assert bool(((result.fraction >= 0) & (result.fraction <= 1)).all())
        assert low < result.correlation < high, (leak, result.correlation)


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"k": 0}, "k", ValueError),
        ({"k": 20}, "k", ValueError),
        ({"words": ["n00", "nope"]}, "'nope'", ValueError),
        ({"words": ["n00", "n00", "n01"], "k": 1}, "words", ValueError),
        ({"original_bias": torch.zeros(3, dtype=F64)}, "original_bias", ValueError),
        ({"original_bias": torch.full((32,), math.nan, dtype=F64)}, "original_bias", ValueError),
    ],
)
def test_neighbour_bias_errors(kwargs, match, error):
    vectors, vocab, _, neutral, g = planted()
    args = {"original_bias": project(vectors, g), "words": neutral, "k": 3, **kwargs}
    with pytest.raises(error, match=match):
        neighbour_bias(vectors, vocab=vocab, **args)
