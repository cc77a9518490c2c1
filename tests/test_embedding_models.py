"""seqcourse.embeddings.count: co-occurrence counts against a Python loop, PMI and PPMI against
their formulas on dense matrices, PPMI-SVD against numpy's SVD, the SGNS-PMI fit on a model
built to factorise shifted PMI exactly, GloVe's loss against a direct sum and autograd's
gradcheck, GloVe training, and bad input."""

import math

import numpy as np
import pytest
import torch

from seqcourse.embeddings.count import (
    GloVe,
    cooccurrence,
    glove_loss,
    glove_weight,
    pmi,
    ppmi,
    ppmi_svd,
    sgns_pmi_fit,
    train_glove,
)

F64 = torch.float64


def zipf_ids(n, V, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = 1.0 / torch.arange(1, V + 1, dtype=F64)
    return torch.multinomial(p, n, replacement=True, generator=g)


def loop_counts(ids, V, window, weighting):
    C = np.zeros((V, V))
    ids = ids.tolist()
    for i in range(len(ids)):
        for j in range(i + 1, min(i + window + 1, len(ids))):
            d = j - i
            w = {"uniform": 1.0, "harmonic": 1.0 / d, "dynamic": (window - d + 1) / window}[
                weighting
            ]
            C[ids[i], ids[j]] += w
            C[ids[j], ids[i]] += w
    return C


def dense_pmi(C, shift=1.0, alpha=1.0):
    row = C.sum(1, keepdims=True)
    col = C.sum(0, keepdims=True) ** alpha
    with np.errstate(divide="ignore"):
        return np.log(C / (row * col / col.sum())) - math.log(shift)


@pytest.fixture(scope="module")
def counts():
    return cooccurrence(zipf_ids(3000, 40, seed=1), 40, 4)


# ---------------------------------------------------------------------------- counting
@pytest.mark.parametrize("weighting", ["uniform", "harmonic", "dynamic"])
def test_cooccurrence_equals_loop(weighting):
    ids = zipf_ids(400, 15, seed=2)
    C = cooccurrence(ids, 15, 3, weighting)
    assert C.layout == torch.sparse_coo and C.is_coalesced() and C.dtype == F64
    assert C.shape == (15, 15)
    np.testing.assert_allclose(C.to_dense().numpy(), loop_counts(ids, 15, 3, weighting))
    assert torch.equal(C.to_dense(), C.to_dense().T)


def test_cooccurrence_totals():
    # every position pair at distance <= window counts twice (both directions)
    n, window = 1000, 5
    C = cooccurrence(zipf_ids(n, 50), 50, window)
    pairs = sum(n - d for d in range(1, window + 1))
    assert float(C.values().sum()) == 2 * pairs


def test_cooccurrence_sentences_do_not_cross():
    a, b = zipf_ids(50, 10, seed=3), zipf_ids(30, 10, seed=4)
    C = cooccurrence([a, b], 10, 4).to_dense()
    expected = cooccurrence(a, 10, 4).to_dense() + cooccurrence(b, 10, 4).to_dense()
    assert torch.equal(C, expected)
    assert not torch.equal(C, cooccurrence(torch.cat([a, b]), 10, 4).to_dense())


def test_cooccurrence_window_longer_than_text():
    C = cooccurrence(torch.tensor([0, 1, 2]), 3, 10).to_dense()
    np.testing.assert_array_equal(C.numpy(), loop_counts(torch.tensor([0, 1, 2]), 3, 10, "uniform"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 0}, "window"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"weighting": "gaussian"}, "weighting"),
        ({"ids": torch.tensor([0, 1, 10])}, "ids"),
        ({"ids": torch.tensor([0, -1, 2])}, "ids"),
        ({"ids": torch.tensor([0.0, 1.0])}, "ids"),
        ({"ids": torch.tensor([3])}, "ids"),
        ({"ids": [[0, 1]]}, "ids"),
    ],
)
def test_cooccurrence_errors(kwargs, match):
    args = {"ids": torch.tensor([0, 1, 2, 3]), "vocab_size": 10, "window": 2, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        cooccurrence(**args)


# ---------------------------------------------------------------------------- PMI
@pytest.mark.parametrize(("shift", "alpha"), [(1.0, 1.0), (5.0, 0.75), (2.0, 0.5)])
def test_pmi_matches_formula(counts, shift, alpha):
    dense = counts.to_dense().numpy()
    expected = dense_pmi(dense, shift, alpha)
    P = pmi(counts, shift=shift, smoothing=alpha)
    r, c = P.indices().numpy()
    assert P.indices().shape == counts.indices().shape  # C's pattern, nothing more
    np.testing.assert_allclose(P.values().numpy(), expected[r, c], rtol=1e-12, atol=1e-12)


def test_pmi_without_smoothing_is_the_textbook_ratio(counts):
    dense = counts.to_dense().numpy()
    D = dense.sum()
    r, c = counts.indices().numpy()
    textbook = np.log(dense[r, c] * D / (dense.sum(1)[r] * dense.sum(0)[c]))
    np.testing.assert_allclose(pmi(counts).values().numpy(), textbook, rtol=1e-12, atol=1e-12)


def test_ppmi_keeps_positive_entries_only(counts):
    expected = np.maximum(dense_pmi(counts.to_dense().numpy(), 2.0, 0.75), 0)
    M = ppmi(counts, shift=2.0, smoothing=0.75)
    assert M.is_coalesced() and bool((M.values() > 0).all())
    np.testing.assert_allclose(M.to_dense().numpy(), expected, rtol=1e-12, atol=1e-12)
    assert M._nnz() == int((expected > 0).sum()) < counts._nnz()


def test_pmi_accepts_dense_counts(counts):
    assert torch.allclose(pmi(counts.to_dense()).to_dense(), pmi(counts).to_dense())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shift": 0.0}, "shift"),
        ({"shift": float("nan")}, "shift"),
        ({"smoothing": 0.0}, "smoothing"),
        ({"smoothing": 1.5}, "smoothing"),
        ({"C": torch.ones(3, 4, dtype=F64)}, "C"),
        ({"C": -torch.ones(3, 3, dtype=F64)}, "C"),
        ({"C": torch.zeros(3, 3, dtype=F64)}, "C"),
        ({"C": torch.ones(3, 3, dtype=torch.int64)}, "C"),
        ({"C": [[1.0]]}, "C"),
    ],
)
def test_pmi_errors(kwargs, match):
    args = {"C": torch.ones(3, 3, dtype=F64), **kwargs}
    for fn in (pmi, ppmi):
        with pytest.raises((ValueError, TypeError), match=match):
            fn(**args)


# ---------------------------------------------------------------------------- PPMI-SVD
def test_ppmi_svd_dense_matches_numpy(counts):
    M = np.maximum(dense_pmi(counts.to_dense().numpy(), 1.0, 0.75), 0)
    U, S, _ = np.linalg.svd(M)
    W = ppmi_svd(counts, 6, eig=0.5)
    assert W.shape == (40, 6) and W.dtype == F64
    expected = U[:, :6] * np.sqrt(S[:6])
    signs = np.sign((W.numpy() * expected).sum(0))  # an SVD fixes vectors up to sign
    np.testing.assert_allclose(W.numpy(), expected * signs, atol=1e-10)


def test_ppmi_svd_eig_weights(counts):
    W0 = ppmi_svd(counts, 5, eig=0.0)
    W1 = ppmi_svd(counts, 5, eig=1.0)
    torch.testing.assert_close(W0.T @ W0, torch.eye(5, dtype=F64))  # U has orthonormal columns
    S = W1.norm(dim=0)
    torch.testing.assert_close(W1, W0 * S)
    assert bool((S[:-1] >= S[1:]).all())  # singular values in decreasing order


def test_ppmi_svd_randomized_agrees_and_is_deterministic():
    C = cooccurrence(zipf_ids(30000, 300, seed=5), 300, 5)
    dense = ppmi_svd(C, 8, method="dense")
    fast = ppmi_svd(C, 8, method="randomized", seed=3)
    assert torch.equal(fast, ppmi_svd(C, 8, method="randomized", seed=3))
    assert not torch.equal(fast, ppmi_svd(C, 8, method="randomized", seed=4))
    # column norms of U S^0.5 are sqrt(singular values): measured 3e-4 off at niter = 4,
    # 1.3e-6 at niter = 6, on this nearly flat spectrum (a random corpus)
    root_s = dense.norm(dim=0)
    torch.testing.assert_close(fast.norm(dim=0), root_s, rtol=1e-3, atol=0)
    better = ppmi_svd(C, 8, method="randomized", niter=6, seed=3)
    torch.testing.assert_close(better.norm(dim=0), root_s, rtol=1e-5, atol=0)
    torch.testing.assert_close(better, dense, rtol=0, atol=1e-2)
    # a Krylov basis of 38 x 11 >= 300 columns spans everything: exact
    exact = ppmi_svd(C, 8, method="randomized", niter=10, oversample=30)
    torch.testing.assert_close(exact, dense, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 0}, "dim"),
        ({"dim": 41}, "dim"),
        ({"eig": -1.0}, "eig"),
        ({"method": "lanczos"}, "method"),
        ({"seed": -1}, "seed"),
        ({"method": "randomized", "niter": -1}, "niter"),
    ],
)
def test_ppmi_svd_errors(counts, kwargs, match):
    args = {"dim": 3, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        ppmi_svd(counts, **args)


# ---------------------------------------------------------------------------- SGNS and PMI
def exact_factorisation(C, k, alpha):
    """W_in, W_out with W_in W_out^T = PMI_alpha - log k on C's nonzero entries (exactly)."""
    P = pmi(C, shift=k, smoothing=alpha).to_dense()  # zero where C is zero: any value works
    U, S, Vh = torch.linalg.svd(P)
    return U * S, Vh.T


def test_sgns_pmi_fit_is_exact_on_a_factorisation(counts):
    W_in, W_out = exact_factorisation(counts, 5, 0.75)
    fit = sgns_pmi_fit(W_in, W_out, counts, negatives=5, min_count=1.0)
    assert fit.pairs == counts._nnz()
    assert fit.correlation == pytest.approx(1.0, abs=1e-12)
    assert fit.slope == pytest.approx(1.0, abs=1e-10)
    assert fit.intercept == pytest.approx(0.0, abs=1e-10)


def test_sgns_pmi_fit_slope_intercept_and_filter(counts):
    W_in, W_out = exact_factorisation(counts, 5, 0.75)
    # the model at the optimum for k = 5, compared with PMI - log 1: intercept log 5
    fit = sgns_pmi_fit(2 * W_in, W_out, counts, negatives=1, min_count=10.0)
    assert fit.pairs == int((counts.values() >= 10).sum()) < counts._nnz()
    assert fit.slope == pytest.approx(2.0, abs=1e-10)
    assert fit.intercept == pytest.approx(-2 * math.log(5), abs=1e-9)
    noisy = W_in + 0.3 * torch.randn(
        W_in.shape, dtype=F64, generator=torch.Generator().manual_seed(0)
    )
    assert 0.3 < sgns_pmi_fit(noisy, W_out, counts, 5, min_count=1.0).correlation < 0.99


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"negatives": 0}, "negatives"),
        ({"W_in": torch.zeros(39, 4, dtype=F64)}, "W_in"),
        ({"W_out": torch.zeros(40, 3, dtype=F64)}, "W_in and W_out"),
        ({"W_out": "vectors"}, "W_out"),
        ({"min_count": 1e9}, "min_count"),
        ({"min_count": -1.0}, "min_count"),
        ({"smoothing": 2.0}, "smoothing"),
    ],
)
def test_sgns_pmi_fit_errors(counts, kwargs, match):
    args = {
        "W_in": torch.zeros(40, 4, dtype=F64),
        "W_out": torch.zeros(40, 4, dtype=F64),
        "C": counts,
        "negatives": 5,
        **kwargs,
    }
    with pytest.raises((ValueError, TypeError), match=match):
        sgns_pmi_fit(**args)


# ---------------------------------------------------------------------------- GloVe
def glove_parts(V=7, d=3, n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    W, Wt = torch.randn(V, d, dtype=F64, generator=g), torch.randn(V, d, dtype=F64, generator=g)
    b, bt = torch.randn(V, dtype=F64, generator=g), torch.randn(V, dtype=F64, generator=g)
    rows, cols = torch.randint(0, V, (n,), generator=g), torch.randint(0, V, (n,), generator=g)
    values = torch.rand(n, dtype=F64, generator=g) * 300 + 0.5
    return W, Wt, b, bt, rows, cols, values


def test_glove_weight():
    x = torch.tensor([1.0, 50.0, 100.0, 1000.0], dtype=F64)
    torch.testing.assert_close(
        glove_weight(x, 100.0, 0.75), torch.tensor([0.01**0.75, 0.5**0.75, 1.0, 1.0], dtype=F64)
    )


def test_glove_loss_equals_direct_sum():
    W, Wt, b, bt, rows, cols, values = glove_parts()
    direct = 0.0
    for i, j, x in zip(rows.tolist(), cols.tolist(), values.tolist(), strict=True):
        f = min(1.0, (x / 100.0) ** 0.75)
        direct += f * (float(W[i] @ Wt[j]) + float(b[i]) + float(bt[j]) - math.log(x)) ** 2
    loss = glove_loss(W, Wt, b, bt, rows, cols, values, x_max=100.0, alpha=0.75)
    assert float(loss) == pytest.approx(direct, rel=1e-12)


def test_glove_loss_gradcheck():
    W, Wt, b, bt, rows, cols, values = glove_parts(V=5, d=2, n=12, seed=1)
    params = [t.requires_grad_() for t in (W, Wt, b, bt)]
    assert torch.autograd.gradcheck(
        lambda *p: glove_loss(*p, rows, cols, values, x_max=50.0, alpha=0.6), params
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"values": -torch.ones(20, dtype=F64)}, "values"), ({"x_max": 0.0}, "x_max")],
)
def test_glove_loss_errors(kwargs, match):
    W, Wt, b, bt, rows, cols, values = glove_parts()
    args = {"values": values, "x_max": 100.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        glove_loss(W, Wt, b, bt, rows, cols, **args)


def test_train_glove_fits_the_log_counts():
    C = cooccurrence(zipf_ids(20000, 30, seed=6), 30, 5, "harmonic")
    model = train_glove(C, 20, epochs=150, lr=0.1, batch_size=64, x_max=10.0, progress=False)
    assert isinstance(model, GloVe) and model.vectors.shape == (30, 20)
    torch.testing.assert_close(model.vectors, model.W + model.W_tilde)
    assert len(model.losses) == 150
    assert model.losses[-1] < 0.02 * model.losses[0]
    assert all(b <= a * 1.05 for a, b in zip(model.losses, model.losses[1:], strict=False))
    rows, cols = C.indices()
    final = glove_loss(
        model.W, model.W_tilde, model.b, model.b_tilde, rows, cols, C.values().float(), x_max=10.0
    )
    assert float(final) / C._nnz() < 0.01


def test_train_glove_is_deterministic():
    C = cooccurrence(zipf_ids(3000, 20, seed=7), 20, 3)
    a = train_glove(C, 4, epochs=3, seed=1, progress=False)
    b = train_glove(C, 4, epochs=3, seed=1, progress=False)
    c = train_glove(C, 4, epochs=3, seed=2, progress=False)
    assert torch.equal(a.vectors, b.vectors) and a.losses == b.losses
    assert not torch.equal(a.vectors, c.vectors)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 0}, "dim"),
        ({"epochs": 0}, "epochs"),
        ({"lr": -0.1}, "lr"),
        ({"x_max": 0}, "x_max"),
        ({"alpha": float("inf")}, "alpha"),
        ({"batch_size": 0}, "batch_size"),
        ({"progress": 1}, "progress"),
        ({"dtype": torch.int32}, "dtype"),
    ],
)
def test_train_glove_errors(counts, kwargs, match):
    args = {"dim": 2, "epochs": 1, "progress": False, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        train_glove(counts, **args)
