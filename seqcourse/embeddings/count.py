"""Count-based word vectors: co-occurrence counts, PMI, PPMI-SVD and GloVe (chapter 8).

A corpus of word ids gives the co-occurrence matrix C (V, V): C_wc counts the times context
word c appears at distance 1..window from centre word w, on either side, so C is symmetric.
With ``weighting="harmonic"`` a pair at distance d counts 1/d (as GloVe); with ``"dynamic"``
it counts (window - d + 1) / window, the expected weight under word2vec's shrunken windows
(each centre draws its window uniformly from 1..window, so distance d is seen with that
probability).

Pointwise mutual information compares how often w and c meet with how often they would if
they were independent. With row sums C_w = sum_c C_wc, column sums C_c and context
distribution smoothing alpha (Levy et al. 2015: alpha = 0.75 raises rare contexts'
probabilities, as word2vec's noise distribution does),

    P_alpha(c) = C_c^alpha / sum_c' C_c'^alpha,
    PMI(w, c) = log( C_wc / (C_w P_alpha(c)) ),                             (eq-sgns-pmi)

which for alpha = 1 is log( C_wc D / (C_w C_c) ) with D = sum C. Levy & Goldberg (2014)
show that skip-gram with k negative samples drawn from P_alpha is optimal, for every pair
(w, c) it sees, at

    u_w . v_c = PMI(w, c) - log k,

so SGNS implicitly factorises the shifted PMI matrix (``sgns_pmi_fit`` measures how close a
trained model gets). PMI is -inf for pairs never seen; the shifted positive PMI

    PPMI_k(w, c) = max( PMI(w, c) - log k, 0 )                              (eq-ppmi)

is 0 there, so it stays sparse. Its truncated SVD PPMI_k ~ U S V^T gives dense vectors

    W = U_d S_d^p          (p = ``eig``: 1 is the plain SVD, 0.5 is symmetric, 0 drops S)
                                                                            (eq-ppmi-svd)

GloVe (Pennington et al. 2014) fits log C_wc directly, by weighted least squares over the
nonzero entries:

    J = sum_{C_ij > 0} f(C_ij) (w_i . w~_j + b_i + b~_j - log C_ij)^2,
    f(x) = min(1, (x / x_max)^alpha),                                       (eq-glove-loss)

with AdaGrad as in the authors' code; the word vectors are W + W~.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm

from seqcourse._checks import check_bool, check_choice, check_int, check_positive

__all__ = [
    "WEIGHTINGS",
    "GloVe",
    "PMIFit",
    "cooccurrence",
    "glove_loss",
    "glove_weight",
    "pmi",
    "ppmi",
    "ppmi_svd",
    "sgns_pmi_fit",
    "train_glove",
]

WEIGHTINGS = ("uniform", "harmonic", "dynamic")


# ---------------------------------------------------------------------------- checks
def _smoothing(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"smoothing must be a number in (0, 1], got {type(value).__name__}")
    if not 0 < value <= 1:
        raise ValueError(f"smoothing must be in (0, 1] (Levy et al. use 0.75), got {value}")
    return float(value)


def _check_counts(C: Any) -> torch.Tensor:
    """C as a coalesced sparse COO (V, V) float tensor with nonnegative finite values."""
    if not isinstance(C, torch.Tensor):
        raise TypeError(f"C must be a torch.Tensor (V, V) of counts, got {type(C).__name__}")
    if C.dim() != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"C must be a square (V, V) matrix of counts, got shape {tuple(C.shape)}")
    if not C.is_floating_point():
        raise TypeError(f"C must hold floating-point counts, got {C.dtype}")
    if C.layout != torch.sparse_coo:
        if C.layout != torch.strided:
            raise TypeError(f"C must be dense or sparse COO, got layout {C.layout}")
        C = C.to_sparse()
    C = C.coalesce()
    values = C.values()
    if values.numel() == 0:
        raise ValueError("C must hold at least one nonzero count, got none")
    if not bool(torch.isfinite(values).all()) or bool((values < 0).any()):
        raise ValueError("C must hold finite nonnegative counts, got a negative, NaN or inf")
    # explicit zeros would give log 0: drop them
    keep = values > 0
    if not bool(keep.all()):
        C = torch.sparse_coo_tensor(
            C.indices()[:, keep], values[keep], C.shape, is_coalesced=True, check_invariants=False
        )
    return C


def _sum_by_key(keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct ``keys`` in increasing order and the sum of ``values`` over each (a
    stable sort, so the sums are the same on every run)."""
    keys, order = torch.sort(keys, stable=True)
    unique, inverse = torch.unique_consecutive(keys, return_inverse=True)
    return unique, values.new_zeros(unique.numel()).index_add_(0, inverse, values[order])


# ---------------------------------------------------------------------------- counting
def cooccurrence(
    ids: torch.Tensor | Sequence[torch.Tensor],
    vocab_size: int,
    window: int,
    weighting: str = "uniform",
) -> torch.Tensor:
    """The symmetric co-occurrence matrix C (V, V) of a stream of word ids.

    ``ids``: one 1-D LongTensor (the corpus as one stream, e.g. ``Vocabulary.encode``) or a
    sequence of them (sentences: windows do not cross their ends). Every pair of positions
    i < j with j - i = d <= ``window`` adds its weight (1, 1/d or (window - d + 1)/window,
    see ``WEIGHTINGS``) to both C[ids_i, ids_j] and C[ids_j, ids_i]. Returns a coalesced
    sparse COO float64 tensor. Vectorised over the offsets d: one sort of all the pairs,
    one of the distinct ones."""
    V = check_int(vocab_size, "vocab_size")
    window = check_int(window, "window")
    check_choice(weighting, "weighting", WEIGHTINGS)
    if isinstance(ids, torch.Tensor):
        pieces = [ids]
    elif isinstance(ids, Sequence) and all(isinstance(s, torch.Tensor) for s in ids):
        pieces = list(ids)
    else:
        raise TypeError(
            f"ids must be a 1-D LongTensor or a sequence of them, got {type(ids).__name__}"
        )
    for s in pieces:
        if s.dim() != 1 or s.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"ids must be 1-D integer tensors, got dtype {s.dtype} shape {tuple(s.shape)}"
            )
    stream = torch.cat([s.long() for s in pieces]) if pieces else torch.zeros(0, dtype=torch.long)
    if stream.numel() < 2:
        raise ValueError(f"ids must hold at least 2 tokens, got {stream.numel()}")
    low, high = int(stream.min()), int(stream.max())
    if low < 0 or high >= V:
        raise ValueError(f"ids must lie in [0, vocab_size = {V}), got values in [{low}, {high}]")
    sentence = None
    if len(pieces) > 1:
        lengths = torch.tensor([s.numel() for s in pieces], device=stream.device)
        sentence = torch.repeat_interleave(torch.arange(len(pieces), device=stream.device), lengths)
    keys, weights = [], []
    for d in range(1, min(window, stream.numel() - 1) + 1):
        a, b = stream[:-d], stream[d:]  # every (centre, context d to its right)
        if sentence is not None:
            same = sentence[:-d] == sentence[d:]
            a, b = a[same], b[same]
        w = {"uniform": 1.0, "harmonic": 1.0 / d, "dynamic": (window - d + 1) / window}[weighting]
        keys.append(a * V + b)  # linear index into the (V, V) matrix
        weights.append(torch.full((a.numel(),), w, dtype=torch.float64, device=a.device))
    keys_t = torch.cat(keys)
    if keys_t.numel() == 0:
        raise ValueError("ids hold no pair of tokens within one sentence and one window")
    # S counts the pairs with the context to the right; C = S + S^T, each entry the sum of
    # the same two numbers as its mirror, so C is exactly symmetric.
    right, counts = _sum_by_key(keys_t, torch.cat(weights))
    mirrored = (right % V) * V + right // V
    both, summed = _sum_by_key(torch.cat([right, mirrored]), torch.cat([counts, counts]))
    indices = torch.stack([both // V, both % V])
    return torch.sparse_coo_tensor(
        indices, summed, (V, V), is_coalesced=True, check_invariants=False
    )


# ---------------------------------------------------------------------------- PMI
def _pmi_values(C: torch.Tensor, shift: float, smoothing: float) -> torch.Tensor:
    """PMI_alpha(w, c) - log shift on C's nonzero entries (C coalesced, values > 0)."""
    rows, cols = C.indices()
    x = C.values()
    V = C.shape[0]
    row_sums = x.new_zeros(V).index_add_(0, rows, x)
    col_sums = x.new_zeros(V).index_add_(0, cols, x)
    col_smoothed = col_sums.pow(smoothing)
    log_p_context = col_smoothed.log() - col_smoothed.sum().log()  # log P_alpha(c)
    return x.log() - row_sums.log()[rows] - log_p_context[cols] - math.log(shift)


def pmi(C: torch.Tensor, shift: float = 1.0, smoothing: float = 1.0) -> torch.Tensor:
    """PMI(w, c) - log ``shift`` (eq-sgns-pmi) on the nonzero entries of C, as a sparse
    tensor with C's pattern (the entries C does not hold stand for -inf, not 0).

    C: (V, V) counts (sparse COO or dense); ``smoothing`` is the context distribution
    smoothing alpha (1: none; 0.75 as Levy et al. 2015 and word2vec's noise distribution)."""
    C = _check_counts(C)
    values = _pmi_values(C, check_positive(shift, "shift"), _smoothing(smoothing))
    return torch.sparse_coo_tensor(
        C.indices(), values, C.shape, is_coalesced=True, check_invariants=False
    )


def ppmi(C: torch.Tensor, shift: float = 1.0, smoothing: float = 1.0) -> torch.Tensor:
    """Shifted positive PMI max(PMI(w, c) - log ``shift``, 0) (eq-ppmi) as a coalesced
    sparse tensor holding only its positive entries."""
    C = _check_counts(C)
    values = _pmi_values(C, check_positive(shift, "shift"), _smoothing(smoothing))
    keep = values > 0
    return torch.sparse_coo_tensor(
        C.indices()[:, keep], values[keep], C.shape, is_coalesced=True, check_invariants=False
    )


def _fix_signs(U: torch.Tensor) -> torch.Tensor:
    """Flip each column of U so that its largest-magnitude entry is positive: the singular
    vectors are then unique (for distinct singular values) whatever computed them."""
    pivot = U.abs().argmax(0)
    signs = torch.sign(U.gather(0, pivot[None])[0])
    signs[signs == 0] = 1
    return U * signs


def _csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, V: int) -> torch.Tensor:
    """The (V, V) sparse CSR matrix with the given distinct entries (any order)."""
    keys, order = torch.sort(rows * V + cols)
    counts = torch.bincount(keys // V, minlength=V)
    crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            crow, keys % V, values[order], (V, V), check_invariants=False
        )


def _randomized_svd(
    M: torch.Tensor, q: int, niter: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The left singular vectors and singular values (largest first) of the sparse COO M
    (V, V) by randomized block Krylov iteration (Musco & Musco 2015): the basis Q of
    [M X, (M M^T) M X, ..., (M M^T)^niter M X] for a random X (V, q), then the exact
    decomposition of the small Q^T M. Keeping every block, not only the last as plain
    subspace iteration does, is what makes it accurate on the slowly decaying spectra of
    PPMI matrices. M and M^T are multiplied as CSR matrices; B = Q^T M is decomposed
    through the eigenvectors of B B^T (q (niter + 1) square), 15 times faster than an SVD
    of B at V = 20,000, and exact enough for the leading singular values in float64."""
    V = M.shape[0]
    rows, cols = M.indices()
    A, At = _csr(rows, cols, M.values(), V), _csr(cols, rows, M.values(), V)
    omega = torch.randn(V, q, generator=generator, dtype=M.dtype, device=M.device)
    block = torch.linalg.qr(A @ omega).Q  # (V, q), re-orthonormalised at every step
    blocks = [block]
    for _ in range(niter):
        block = torch.linalg.qr(A @ torch.linalg.qr(At @ block).Q).Q
        blocks.append(block)
    Q = torch.linalg.qr(torch.cat(blocks, 1)).Q  # (V, q (niter + 1))
    B = (At @ Q).t()  # (q (niter + 1), V) = Q^T M
    eigenvalues, Ub = torch.linalg.eigh(B @ B.t())  # ascending
    S = eigenvalues.flip(0).clamp(min=0).sqrt()
    return Q @ Ub.flip(1), S


def ppmi_svd(
    C: torch.Tensor,
    dim: int,
    shift: float = 1.0,
    smoothing: float = 0.75,
    eig: float = 0.5,
    seed: int = 0,
    method: str = "auto",
    niter: int = 4,
    oversample: int = 10,
) -> torch.Tensor:
    """Word vectors W = U_d S_d^eig (V, dim) from the truncated SVD of PPMI_shift (eq-ppmi,
    eq-ppmi-svd), float64.

    ``method``: "dense" (``torch.linalg.svd`` of the dense matrix: minutes beyond a few
    thousand words), "randomized" (block Krylov on the sparse matrix, ``niter`` steps of
    width dim + ``oversample``, seeded by ``seed``) or "auto" (dense when V <= 1500). Each
    singular vector's sign is fixed (largest entry of U positive), so the result is
    deterministic and the two methods agree up to the randomized method's error. Measured on
    450k tokens of Wikipedia (V = 9002, window 5, dim 100, one CPU thread): the top 100
    singular values within 1.1e-2 of the dense SVD's with niter = 4 (2.8 s), 6.5e-4 with
    niter = 6 (4.7 s); the dense SVD took 316 s."""
    dim = check_int(dim, "dim")
    eig = float(eig) if isinstance(eig, int | float) and not isinstance(eig, bool) else eig
    if not isinstance(eig, float) or not math.isfinite(eig) or eig < 0:
        raise ValueError(f"eig must be a finite number >= 0 (0.5 is symmetric), got {eig!r}")
    seed = check_int(seed, "seed", low=0)
    if method not in ("auto", "dense", "randomized"):
        raise ValueError(f"method must be 'auto', 'dense' or 'randomized', got {method!r}")
    M = ppmi(C, shift, smoothing).to(torch.float64)
    V = M.shape[0]
    if dim > V:
        raise ValueError(f"dim must be <= the vocabulary size V = {V}, got {dim}")
    if method == "dense" or (method == "auto" and V <= 1500):
        U, S, _ = torch.linalg.svd(M.to_dense(), full_matrices=False)
    else:
        niter = check_int(niter, "niter", low=0)
        oversample = check_int(oversample, "oversample", low=0)
        generator = torch.Generator(device=M.device).manual_seed(seed)
        U, S = _randomized_svd(M, min(dim + oversample, V), niter, generator)
    return _fix_signs(U[:, :dim]) * S[:dim].pow(eig)


# ---------------------------------------------------------------------------- SGNS vs PMI
class PMIFit(NamedTuple):
    """How well u_w . v_c matches PMI(w, c) - log k over ``pairs`` pairs: Pearson
    ``correlation`` and the least-squares line u.v ~ slope * (PMI - log k) + intercept."""

    correlation: float
    slope: float
    intercept: float
    pairs: int


def sgns_pmi_fit(
    W_in: torch.Tensor,
    W_out: torch.Tensor,
    C: torch.Tensor,
    negatives: int,
    min_count: float = 5.0,
    smoothing: float = 0.75,
) -> PMIFit:
    """Compare a skip-gram model's scores W_in[w] . W_out[c] with PMI_alpha(w, c) - log k
    (eq-sgns-pmi; Levy & Goldberg 2014) over the pairs with C_wc >= ``min_count``.

    W_in, W_out: (V, d) centre and context vectors; C: (V, V) co-occurrence counts of the
    corpus the model was trained on (the same window and weighting); ``negatives`` = k;
    ``smoothing`` the exponent of the noise distribution (word2vec: 0.75). Pairs seen rarely
    have noisy PMI and few updates: ``min_count`` keeps the well-estimated ones."""
    k = check_int(negatives, "negatives")
    C = _check_counts(C)
    V = C.shape[0]
    for name, W in (("W_in", W_in), ("W_out", W_out)):
        if not isinstance(W, torch.Tensor) or W.dim() != 2 or not W.is_floating_point():
            raise TypeError(f"{name} must be a float tensor (V, d), got {type(W).__name__}")
        if W.shape[0] != V:
            raise ValueError(f"{name} must have V = {V} rows like C, got shape {tuple(W.shape)}")
    if W_in.shape[1] != W_out.shape[1]:
        raise ValueError(
            f"W_in and W_out must have the same width d, got {W_in.shape[1]} and {W_out.shape[1]}"
        )
    min_count = check_positive(min_count, "min_count")
    target = _pmi_values(C, float(k), _smoothing(smoothing))
    keep = C.values() >= min_count
    n = int(keep.sum())
    if n < 2:
        raise ValueError(
            f"min_count = {min_count} leaves {n} pair(s) of C; need at least 2 to fit a line"
        )
    rows, cols = C.indices()[:, keep]
    y = target[keep]
    scores = torch.cat(
        [
            (W_in[r].to(torch.float64) * W_out[c].to(torch.float64)).sum(1)
            for r, c in zip(rows.split(1 << 20), cols.split(1 << 20), strict=True)
        ]
    )
    x_c, s_c = y - y.mean(), scores - scores.mean()
    var_x, var_s = (x_c * x_c).sum(), (s_c * s_c).sum()
    slope = (x_c * s_c).sum() / var_x
    correlation = (x_c * s_c).sum() / (var_x * var_s).sqrt()
    intercept = scores.mean() - slope * y.mean()
    return PMIFit(float(correlation), float(slope), float(intercept), n)


# ---------------------------------------------------------------------------- GloVe
def glove_weight(x: torch.Tensor, x_max: float, alpha: float) -> torch.Tensor:
    """f(x) = min(1, (x / x_max)^alpha) (eq-glove-loss)."""
    return (x / x_max).pow(alpha).clamp(max=1.0)


def glove_loss(
    W: torch.Tensor,
    W_tilde: torch.Tensor,
    b: torch.Tensor,
    b_tilde: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    values: torch.Tensor,
    x_max: float = 100.0,
    alpha: float = 0.75,
) -> torch.Tensor:
    """J = sum_n f(X_n) (W[i_n] . W~[j_n] + b[i_n] + b~[j_n] - log X_n)^2 (eq-glove-loss)
    over the entries (rows[n], cols[n], values[n] > 0) of X; a scalar, differentiable.

    W, W_tilde: (V, d) word and context vectors; b, b_tilde: (V,) biases."""
    x_max, alpha = check_positive(x_max, "x_max"), check_positive(alpha, "alpha")
    if bool((values <= 0).any()):
        raise ValueError("values must be > 0 (GloVe sums over the nonzero counts only)")
    diff = (W[rows] * W_tilde[cols]).sum(-1) + b[rows] + b_tilde[cols] - values.log()
    return (glove_weight(values, x_max, alpha) * diff * diff).sum()


@dataclass
class GloVe:
    """A trained GloVe model: ``vectors`` = W + W~ (V, d) as Pennington et al. use, the
    parts, and ``losses``: J / nnz of each epoch, summed over its minibatches as each is
    scored just before its update (as the authors' code reports its cost)."""

    vectors: torch.Tensor
    W: torch.Tensor
    W_tilde: torch.Tensor
    b: torch.Tensor
    b_tilde: torch.Tensor
    losses: list[float] = field(default_factory=list)


def train_glove(
    C: torch.Tensor,
    dim: int,
    *,
    x_max: float = 100.0,
    alpha: float = 0.75,
    epochs: int = 25,
    lr: float = 0.05,
    batch_size: int = 16384,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
) -> GloVe:
    """Fit GloVe (eq-glove-loss) to the counts C (V, V) by AdaGrad over shuffled minibatches
    of its nonzero entries, as the authors' C code does entry by entry.

    Initialisation as in that code: W, W~ uniform in [-0.5, 0.5] / dim, biases 0, AdaGrad
    accumulators 1. Each minibatch adds the per-entry squared gradients to the accumulators
    G (so a word seen n times in a batch steps like about n sequential updates, at most
    lr sqrt(n)) and then moves every parameter by -lr * (its summed gradient) / sqrt(G).
    Measured: batch sizes 1,024 and 16,384 reach the same loss (0.0171 after 10 epochs on
    2.4M nonzeros). Deterministic given ``seed`` on the CPU.

    x_max = 100 suits the billions of tokens of the paper. On a small corpus most counts
    are far below it, f(x) is tiny and rare words hardly move from their initialisation:
    measured on 512k tokens of Wikipedia (V = 9,755, window 10, harmonic, 25 epochs), the
    WordSim-353 Spearman rho was 0.04 with x_max = 100 and 0.21 with x_max = 10 (PPMI-SVD
    on the same text: 0.52)."""
    C = _check_counts(C)
    dim = check_int(dim, "dim")
    x_max, alpha, lr = (
        check_positive(x_max, "x_max"),
        check_positive(alpha, "alpha"),
        check_positive(lr, "lr"),
    )
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    seed = check_int(seed, "seed", low=0)
    progress = check_bool(progress, "progress")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    V, device = C.shape[0], C.device
    rows, cols = C.indices()
    x = C.values()
    log_x = x.log().to(dtype)
    f = glove_weight(x, x_max, alpha).to(dtype)
    nnz = x.numel()
    generator = torch.Generator(device=device).manual_seed(seed)

    def uniform(*shape: int) -> torch.Tensor:
        u = torch.rand(*shape, generator=generator, dtype=dtype, device=device)
        return (u - 0.5) / dim

    # The bias rides in an extra column: A = [W, b], A~ = [W~, b~] (V, d + 1), so one gather
    # and one scatter per matrix serve the vector and its bias.
    A, A_tilde = uniform(V, dim + 1), uniform(V, dim + 1)
    A[:, dim] = 0.0
    A_tilde[:, dim] = 0.0
    G, G_tilde = torch.ones_like(A), torch.ones_like(A_tilde)  # AdaGrad's sums of g^2
    losses: list[float] = []
    bar = tqdm(range(epochs), desc="GloVe", disable=not progress)
    for _ in bar:
        order = torch.randperm(nnz, generator=generator, device=device)
        total = x.new_zeros((), dtype=torch.float64)
        shuffled = [t.index_select(0, order).split(batch_size) for t in (rows, cols, log_x, f)]
        for i, j, log_xb, fb in zip(*shuffled, strict=True):
            ai, aj = A.index_select(0, i), A_tilde.index_select(0, j)  # (B, d + 1) copies
            diff = torch.linalg.vecdot(ai[:, :dim], aj[:, :dim]) + ai[:, dim] + aj[:, dim]
            diff -= log_xb  # (B,) w.w~ + b + b~ - log x
            fdiff = fb * diff
            total += torch.dot(fdiff, diff)
            # dJ/dw_i = 2 f diff w~_j, dJ/db_i = 2 f diff; the authors' code drops the 2
            # (it minimises J / 2), so lr means what it means there.
            ai[:, dim] = 1.0
            aj[:, dim] = 1.0
            g_i = aj.mul_(fdiff[:, None])  # (B, d + 1) = f diff [w~_j, 1]
            g_j = ai.mul_(fdiff[:, None])  # (B, d + 1) = f diff [w_i, 1]
            G.index_add_(0, i, g_i.square())
            G_tilde.index_add_(0, j, g_j.square())
            A.index_add_(0, i, g_i.mul_(G.index_select(0, i).rsqrt_()), alpha=-lr)
            A_tilde.index_add_(0, j, g_j.mul_(G_tilde.index_select(0, j).rsqrt_()), alpha=-lr)
        loss = float(total) / nnz
        if not math.isfinite(loss):
            raise FloatingPointError(f"GloVe diverged (loss {loss}); lower lr = {lr}")
        losses.append(loss)
        bar.set_postfix(loss=f"{loss:.4f}")
    W, W_tilde = A[:, :dim].contiguous(), A_tilde[:, :dim].contiguous()
    b, b_tilde = A[:, dim].contiguous(), A_tilde[:, dim].contiguous()
    return GloVe(W + W_tilde, W, W_tilde, b, b_tilde, losses)
