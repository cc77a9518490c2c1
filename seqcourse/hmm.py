"""Hidden Markov models with discrete observations, computed in log space (chapter 1).

The generative story, in the notation of chapter 1: a hidden state h_t in {0..K-1} and an
observed symbol x_t in {0..V-1},

    P(h_1 = i) = pi_i,    P(h_t = j | h_{t-1} = i) = A_ij,    P(x_t = k | h_t = j) = E_jk.

Every recursion runs on logarithms, so sequences of 10^6 steps neither underflow nor
need rescaling:

    forward   (eq-forward)   alpha_t(j) = log E_j(x_t) + logsumexp_i [alpha_{t-1}(i) + log A_ij]
    backward  (eq-backward)  beta_t(i)  = logsumexp_j [log A_ij + log E_j(x_{t+1}) + beta_{t+1}(j)]
    posterior (eq-posterior) gamma_t(j) = alpha_t(j) + beta_t(j) - log p(x_1..x_T)
    Viterbi   (eq-viterbi)   delta_t(j) = log E_j(x_t) + max_i [delta_{t-1}(i) + log A_ij]

Each step is a vector-matrix product in a semiring ((logsumexp, +) for the forward pass,
(max, +) for Viterbi) with the transfer matrix M_t(i, j) = log A_ij + log E_j(x_t). Those
products are associative, so for a few long sequences with few states the T steps are
cut into chunks of about log2(T) steps that are processed side by side
(``_semiring_scan``): a few dozen vectorised NumPy steps instead of T Python steps, with
the same result up to rounding. Sequences of equal length are batched: obs of shape
(batch, time) as well as (time,).

The posteriors alone need no logarithms: ``HMM.posteriors`` runs the forward and backward
passes on probabilities normalised at every step (``_scaled_loop``, one (batch, K) @ (K, K)
product per step; long sequences chunked the same way by ``_scaled_scan``), several times
faster than the log-space scan, and falls back to log space when a step's sum is 0 (a
sequence the model cannot emit).

Baum-Welch (``HMM.fit``) is expectation-maximisation: the E-step takes expected state and
transition counts from the posteriors, the M-step renormalises them; the log-likelihood
it returns per iteration never decreases.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

__all__ = ["HMM", "dishonest_casino", "random_hmm", "brute_force", "to_hmmlearn"]

ArrayLike = np.ndarray | Sequence

_ROW_TOL = 1e-6  # how far a row of probabilities may sum from 1
_CHUNK_MAX_WORK = 64  # chunk only while batch * K^2 stays below this (see _use_chunks)
_CHUNK_MIN_STEPS = 64  # below this many steps the plain loop is as fast
_UNROLL_MAX_STATES = 4  # semiring products unroll their sum up to this many states
_SAMPLE_MIN_BATCH = 16  # fewer sequences than this are sampled one by one
_SCALED_CHUNK_MAX_WORK = 400  # the scaled passes chunk while batch * K^2 stays below this
_SCALED_CHUNK_MIN_STEPS = 256  # below this many steps the plain scaled loop is as fast
_SCALED_CHUNK_FACTOR = 2.0  # C = sqrt(factor * S) chunks balance 2L + C Python steps


# ---------------------------------------------------------------------------- validation
def _as_matrix(value: ArrayLike, name: str, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of probabilities, got {value!r}") from None
    if arr.ndim != ndim:
        want = "a vector (K,)" if ndim == 1 else "a matrix"
        raise ValueError(f"{name} must be {want} with {ndim} dimension(s), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must hold finite numbers, got NaN or inf")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative, got minimum {arr.min():.3g}")
    sums = arr.sum(axis=-1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_TOL)
    if bad.size:
        where = "" if ndim == 1 else f" (row {bad[0]})"
        raise ValueError(
            f"{name} rows must sum to 1 (stochastic), got sum {np.atleast_1d(sums)[bad[0]]:.6g}"
            f"{where}"
        )
    return arr / sums[..., None] if ndim == 2 else arr / sums


def _log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


# ------------------------------------------------------------------------ semiring scan
# Internally the state indices come first: a vector is (K, ...) and a matrix (K, K, ...),
# with the chunk and batch axes last, so every unrolled ufunc call below runs over one
# contiguous block of sequences.
def _vecmat(
    op: np.ufunc, v: np.ndarray, M: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Semiring product (v (x) M)_j = op_i(v_i + M_ij): v (K, ...), M (K, K, ...) -> (K, ...).

    For a few states the sum over i is unrolled into K - 1 binary ufunc calls, several
    times faster than ``op.reduce`` over an axis; for more states one reduction wins.
    """
    K = v.shape[0]
    if K > _UNROLL_MAX_STATES:
        return op.reduce(v[:, None] + M, axis=0, out=out)
    acc = np.add(v[0], M[0], out=out)
    for i in range(1, K):
        op(acc, v[i] + M[i], out=acc)
    return acc


def _matmat(op: np.ufunc, P: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Semiring product (P (x) M)_ij = op_k(P_ik + M_kj): P, M (K, K, ...) -> (K, K, ...)."""
    K = P.shape[0]
    if K > _UNROLL_MAX_STATES:
        return op.reduce(P[:, :, None] + M[None], axis=1)
    acc = P[:, 0, None] + M[None, 0]
    for k in range(1, K):
        op(acc, P[:, k, None] + M[None, k], out=acc)
    return acc


def _use_chunks(batch: int, n_states: int, steps: int) -> bool:
    """Chunking does about K times the arithmetic of the plain loop in a few dozen Python
    steps instead of S: worth it while the loop's steps are small (few sequences, few
    states), not when a large batch already fills every step."""
    small = n_states <= _UNROLL_MAX_STATES and batch * n_states**2 <= _CHUNK_MAX_WORK
    return steps > _CHUNK_MIN_STEPS and small


def _chunks(steps: int) -> tuple[int, int]:
    """Chunk length L (about log2 S) and count C with C * L >= steps."""
    L = max(4, math.ceil(math.log2(steps)))
    return L, -(-steps // L)


def _semiring_scan(
    v0: np.ndarray, table: np.ndarray, steps: np.ndarray, op: np.ufunc
) -> np.ndarray:
    """All prefix products v_t = v_{t-1} (x) M_t in the semiring (op, +), time first.

    v0: (B, K) start vectors; table: (n, K, K) the distinct transfer matrices; steps: (B, S)
    which matrix each step applies (M_t = table[steps[:, t]]); op: np.logaddexp
    (sum-product in log space) or np.maximum (max-product). Returns (S + 1, B, K) with
    out[0] = v0 and out[t, b, j] = op_i(out[t-1, b, i] + M_t[b, i, j]).
    """
    B, S = steps.shape
    K = v0.shape[-1]
    out = np.empty((S + 1, K, B))
    out[0] = v0.T
    planes = table.transpose(1, 2, 0)  # (K, K, n): planes[i, j] holds every M(k)_ij
    if not _use_chunks(B, K, S):
        Mt = np.ascontiguousarray(planes[:, :, steps.T])  # (K, K, S, B)
        for t in range(S):
            _vecmat(op, out[t], Mt[:, :, t], out=out[t + 1])
        return out.transpose(0, 2, 1)
    # Chunked scan: C chunks of L steps. (1) Multiply each chunk's L matrices together, all
    # chunks at once. (2) Prefix products of the C chunk products by recursive doubling
    # (Hillis-Steele), giving the vector entering each chunk. (3) Replay every chunk from
    # its entry vector, all at once. About 2L + log2(C) vectorised steps instead of S.
    L, C = _chunks(S)
    eye = np.where(np.eye(K, dtype=bool), 0.0, -np.inf)  # the semiring's identity matrix
    planes = np.concatenate([planes, eye[:, :, None]], axis=2)
    padded = np.full((B, C * L), planes.shape[2] - 1)
    padded[:, :S] = steps
    Mc = np.ascontiguousarray(
        planes[:, :, padded.reshape(B, C, L).transpose(2, 1, 0)]
    )  # (K, K, L, C, B)
    P = Mc[:, :, 0]
    for step in range(1, L):
        P = _matmat(op, P, Mc[:, :, step])
    shift = 1
    while shift < C:  # P[c] <- P[c - shift] (x) P[c]; at the end P[c] = Q_0 (x) ... (x) Q_c
        P = np.concatenate([P[:, :, :shift], _matmat(op, P[:, :, :-shift], P[:, :, shift:])], 2)
        shift *= 2
    entry = np.empty((K, C, B))
    entry[:, 0] = v0.T
    _vecmat(op, np.broadcast_to(v0.T[:, None], (K, C - 1, B)), P[:, :, :-1], out=entry[:, 1:])
    inner = np.empty((C, L, K, B))
    v = entry
    for step in range(L):
        v = _vecmat(op, v, Mc[:, :, step], out=inner[:, step].transpose(1, 0, 2))
    out[1:] = inner.reshape(C * L, K, B)[:S]
    return out.transpose(0, 2, 1)


# -------------------------------------------------------------- scaled forward-backward
# The posteriors need no logarithms: normalising alpha and beta at every step keeps them in
# range (Rabiner 1989, the scaling hmmlearn uses too). One step of either pass is then a
# (batch, K) @ (K, K) matrix product, written into preallocated buffers.
def _scaled_loop(
    v0: np.ndarray, A: np.ndarray, em: np.ndarray, emit_first: bool
) -> tuple[np.ndarray, np.ndarray]:
    """v_t = normalise(v_{t-1} A diag(e_t)), or normalise(v_{t-1} diag(e_t) A) if emit_first.

    v0: (N, K) normalised; em: (S, N, K) the e_t. Returns v (S + 1, N, K) with v[0] = v0, each
    row summing to 1, and the sums before normalising, scale (S, N).
    """
    S = em.shape[0]
    out = np.empty((S + 1, *v0.shape))
    scale = np.empty((S, v0.shape[0]))
    out[0] = v0
    buf = np.empty_like(v0)
    for t in range(S):
        nxt = out[t + 1]
        if emit_first:
            np.matmul(np.multiply(out[t], em[t], out=buf), A, out=nxt)
        else:
            np.matmul(out[t], A, out=nxt)
            nxt *= em[t]
        np.add.reduce(nxt, axis=-1, out=scale[t])
        nxt /= scale[t][:, None]
    return out, scale


def _scaled_scan(
    v0: np.ndarray, A: np.ndarray, em: np.ndarray, emit_first: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``_scaled_loop`` for few long sequences: the S steps cut into C chunks of L steps.

    (1) The product of each chunk's L step matrices, all chunks at once; (2) the vector
    entering each chunk, chunk by chunk (C small steps); (3) every chunk replayed from its
    entry vector by ``_scaled_loop`` with the chunks as its batch. About 2L + C Python steps
    instead of S; the same vectors and scales up to rounding.
    """
    S, B, K = em.shape
    if not _use_scaled_chunks(B, K, S):
        return _scaled_loop(v0, A, em, emit_first)
    C = round(math.sqrt(_SCALED_CHUNK_FACTOR * S))
    L = -(-S // C)
    C = -(-S // L)
    padded = np.ones((C * L, B, K))  # padding only follows the last step: it changes nothing
    padded[:S] = em
    E = np.ascontiguousarray(padded.reshape(C, L, B, K).transpose(1, 0, 2, 3))  # (L, C, B, K)
    # (1) P_c = prod_l M_l with M_l = A diag(e_l) (or diag(e_l) A), renormalised every step
    # P is kept as rows (C * B * K, K), so that P A is one matrix product
    P = np.empty((C * B, K, K))  # C-ordered, so that the views below share its memory
    if emit_first:
        np.multiply(E[0].reshape(C * B, K, 1), A, out=P)
    else:
        np.multiply(A, E[0].reshape(C * B, 1, K), out=P)
    spare = np.empty((C * B, K, K))
    rows, spare_rows = P.reshape(-1, K), spare.reshape(-1, K)
    flat = P.reshape(C * B, K * K)
    total = np.empty(C * B)
    es = E.reshape(L, C * B, 1, K)
    for step in range(1, L):
        if emit_first:
            np.multiply(P, es[step], out=spare)
            np.matmul(spare_rows, A, out=rows)
        else:
            np.matmul(rows, A, out=spare_rows)
            np.multiply(spare, es[step], out=P)
        np.add.reduce(flat, axis=1, out=total)
        flat /= total[:, None]
    P = P.reshape(C, B, K, K)
    # (2) the entry vectors: entry[c] = normalise(entry[c - 1] P_{c-1})
    entry = np.empty((C, B, 1, K))
    entry[0, :, 0] = v0
    for c in range(1, C):
        v = np.matmul(entry[c - 1], P[c - 1], out=entry[c])
        v /= v.sum(axis=-1, keepdims=True)
    # (3) replay all chunks at once from their entry vectors
    inner, inner_scale = _scaled_loop(
        entry.reshape(C * B, K), A, E.reshape(L, C * B, K), emit_first
    )
    out = np.empty((S + 1, B, K))
    out[0] = v0
    out[1:] = inner[1:].reshape(L, C, B, K).transpose(1, 0, 2, 3).reshape(C * L, B, K)[:S]
    scale = inner_scale.reshape(L, C, B).transpose(1, 0, 2).reshape(C * L, B)[:S]
    return out, scale


def _use_scaled_chunks(batch: int, n_states: int, steps: int) -> bool:
    """Chunk while one step's work (batch * K^2) is small against numpy's per-call cost."""
    return steps > _SCALED_CHUNK_MIN_STEPS and batch * n_states**2 <= _SCALED_CHUNK_MAX_WORK


def _backtrack(psi: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Follow back-pointers: path[T-1] = last, path[t] = psi[t, b, path[t+1]], time first.

    psi: (T-1, B, K) ints; last: (B,). Returns paths (T, B). Pointer maps compose like the
    matrices of ``_semiring_scan``, so long sequences are chased chunk by chunk the same way.
    """
    S, B, K = psi.shape
    paths = np.empty((S + 1, B), dtype=np.int64)
    paths[S] = last
    rows = np.arange(B)
    if not _use_chunks(B, K, S):
        for t in range(S - 1, -1, -1):
            paths[t] = psi[t, rows, paths[t + 1]]
        return paths
    L, C = _chunks(S)
    F = np.empty((C * L, B, K), dtype=psi.dtype)
    F[:S] = psi
    F[S:] = np.arange(K)  # padding: identity maps
    F = F.reshape(C, L, B, K).transpose(1, 3, 0, 2).copy()  # (L, K, C, B): F[l][k] = map of k

    def compose(f: np.ndarray, g: np.ndarray) -> np.ndarray:  # (f o g)[k] = f[g[k]]
        return np.take_along_axis(f, g, axis=0)

    G = F[L - 1]  # G[:, c]: state after chunk c -> state at its first step
    for step in range(L - 2, -1, -1):
        G = compose(F[step], G)
    shift = 1
    while shift < C:  # suffix compositions G[c] o G[c + 1] o ... o G[C - 1], by doubling
        G = np.concatenate([compose(G[:, :-shift], G[:, shift:]), G[:, -shift:]], axis=1)
        shift *= 2
    exit_state = np.empty((C, B), dtype=np.int64)  # state right after each chunk
    exit_state[-1] = last
    exit_state[:-1] = np.take_along_axis(G[:, 1:], np.broadcast_to(last, (1, C - 1, B)), 0)[0]
    inner = np.empty((C, L, B), dtype=np.int64)
    v = exit_state
    for step in range(L - 1, -1, -1):
        v = np.take_along_axis(F[step], v[None], axis=0)[0]
        inner[:, step] = v
    paths[:S] = inner.reshape(C * L, B)[:S]
    return paths


# ------------------------------------------------------------------------------- model
class HMM:
    """A discrete-observation HMM: start (K,), trans (K, K), emit (K, V).

    start[i] = P(h_1 = i); trans[i, j] = P(h_t = j | h_{t-1} = i);
    emit[j, k] = P(x_t = k | h_t = j). Rows must be probability distributions.
    """

    def __init__(self, start: ArrayLike, trans: ArrayLike, emit: ArrayLike) -> None:
        start_ = _as_matrix(start, "start", 1)
        trans_ = _as_matrix(trans, "trans", 2)
        emit_ = _as_matrix(emit, "emit", 2)
        K = start_.shape[0]
        if trans_.shape != (K, K):
            raise ValueError(
                f"trans must be square (K, K) = ({K}, {K}) to match start, got {trans_.shape}"
            )
        if emit_.shape[0] != K:
            raise ValueError(f"emit must have K = {K} rows to match start, got {emit_.shape}")
        self.start, self.trans, self.emit = start_, trans_, emit_

    @property
    def n_states(self) -> int:
        return self.start.shape[0]

    @property
    def n_symbols(self) -> int:
        return self.emit.shape[1]

    def __repr__(self) -> str:
        return f"HMM(n_states={self.n_states}, n_symbols={self.n_symbols})"

    # ------------------------------------------------------------------ helpers
    def _batch(self, obs: ArrayLike, name: str = "obs") -> tuple[np.ndarray, bool]:
        """obs as an int (B, T) array, and whether it came as a single (T,) sequence."""
        arr = np.asarray(obs)
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        ):
            raise TypeError(f"{name} must be an array of integer symbols, got dtype {arr.dtype}")
        if arr.ndim not in (1, 2):
            raise ValueError(f"{name} must have shape (time,) or (batch, time), got {arr.shape}")
        if arr.shape[-1] == 0 or arr.size == 0:
            raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
        if np.issubdtype(arr.dtype, np.floating):
            if np.isnan(arr).any():
                raise ValueError(f"{name} must not contain NaN")
            if not np.all(arr == np.round(arr)):
                raise ValueError(f"{name} must hold integer symbol ids, got non-integer values")
        arr = arr.astype(np.int64)
        bad = (arr < 0) | (arr >= self.n_symbols)
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} symbols must lie in [0, {self.n_symbols}), got {arr[pos]} at index {pos}"
            )
        single = arr.ndim == 1
        return (arr[None, :] if single else arr), single

    def _transfer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log emissions of the first step (B, K) and the table of transfer matrices
        M(k)_ij = log A_ij + log E_jk, (V, K, K): step t applies M(x_t)."""
        log_emit = _log(self.emit)  # (K, V)
        return log_emit.T[x[:, 0]], _log(self.trans)[None] + log_emit.T[:, None, :]

    def _alpha(self, x: np.ndarray) -> np.ndarray:
        """Log forward variables, time first (T, B, K)."""
        first, table = self._transfer(x)
        return _semiring_scan(_log(self.start) + first, table, x[:, 1:], np.logaddexp)

    def _beta(self, x: np.ndarray) -> np.ndarray:
        """Log backward variables, time first (T, B, K)."""
        # beta_{t-1} = M(x_t) (x) beta_t: the forward scan run backwards on transposed matrices
        table = np.swapaxes(self._transfer(x)[1], -1, -2)
        v0 = np.zeros((x.shape[0], self.n_states))
        return _semiring_scan(v0, table, x[:, :0:-1], np.logaddexp)[::-1]

    def forward(self, obs: ArrayLike) -> np.ndarray:
        """Log forward variables alpha_t(j) = log p(x_1..x_t, h_t = j), eq. (eq-forward).

        obs: (T,) or (B, T) -> (T, K) or (B, T, K).
        """
        x, single = self._batch(obs)
        alpha = self._alpha(x)
        return alpha[:, 0] if single else alpha.transpose(1, 0, 2)

    def backward(self, obs: ArrayLike) -> np.ndarray:
        """Log backward variables beta_t(i) = log p(x_{t+1}..x_T | h_t = i), eq. (eq-backward).

        obs: (T,) or (B, T) -> (T, K) or (B, T, K); beta at the last step is 0.
        """
        x, single = self._batch(obs)
        beta = self._beta(x)
        return beta[:, 0] if single else beta.transpose(1, 0, 2)

    def log_likelihood(self, obs: ArrayLike) -> float | np.ndarray:
        """log p(x_1..x_T): a float for (T,), an array (B,) for (B, T)."""
        x, single = self._batch(obs)
        ll = np.logaddexp.reduce(self._alpha(x)[-1], axis=-1)
        return float(ll[0]) if single else ll

    def posteriors(self, obs: ArrayLike) -> np.ndarray:
        """State marginals gamma_t(j) = P(h_t = j | x_1..x_T), eq. (eq-posterior).

        obs: (T,) or (B, T) -> (T, K) or (B, T, K); each row sums to 1.
        """
        x, single = self._batch(obs)
        gamma = self._scaled_posteriors(x)
        if gamma is None:  # a sequence the model cannot emit, or an underflow: log space
            gamma = np.exp(self._expectations(x)[0])
        return gamma[:, 0] if single else gamma.transpose(1, 0, 2)

    def _scaled_posteriors(self, x: np.ndarray) -> np.ndarray | None:
        """gamma (T, B, K) by the scaled forward-backward pass, or None where a scale is 0.

        alpha-hat_t = normalise(alpha-hat_{t-1} A diag(e_t)) and beta-hat_t =
        normalise(A diag(e_{t+1}) beta-hat_{t+1}) are alpha_t and beta_t up to a factor
        per step, so gamma_t = normalise(alpha-hat_t * beta-hat_t), eq. (eq-posterior).
        """
        em = self.emit.T[x.T]  # (T, B, K): e_t(j) = E_j(x_t)
        K = self.n_states
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            first = self.start * em[0]
            alpha, c = _scaled_scan(
                first / first.sum(axis=-1, keepdims=True), self.trans, em[1:], False
            )
            # beta-hat_t (as a row) = normalise(beta-hat_{t+1} diag(e_{t+1}) A^T), run backwards
            beta, d = _scaled_scan(np.full((x.shape[0], K), 1.0 / K), self.trans.T, em[:0:-1], True)
            gamma = alpha * beta[::-1]
            total = gamma.sum(axis=-1, keepdims=True)
            gamma /= total
        # a zero or NaN sum: the model cannot emit a sequence, or a step underflowed
        return gamma if all(np.all(v > 0) for v in (c, d, total)) else None

    def _expectations(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """log gamma, alpha, beta (each time first, (T, B, K)) and log-likelihoods (B,)."""
        alpha, beta = self._alpha(x), self._beta(x)
        ll = np.logaddexp.reduce(alpha[-1], axis=-1)  # (B,)
        return alpha + beta - ll[:, None], alpha, beta, ll

    def viterbi(self, obs: ArrayLike) -> tuple[np.ndarray, float | np.ndarray]:
        """The most probable state path and its log joint probability, eq. (eq-viterbi).

        obs: (T,) -> (path (T,), float); (B, T) -> (paths (B, T), log-probs (B,)).
        """
        x, single = self._batch(obs)
        first, table = self._transfer(x)
        delta = _semiring_scan(_log(self.start) + first, table, x[:, 1:], np.maximum)
        # back-pointers psi_t(j) = argmax_i delta_{t-1}(i) + log A_ij, for all t at once
        log_a = _log(self.trans)
        prev = delta[:-1]  # (T-1, B, K)
        best = prev[..., 0, None] + log_a[0]
        psi = np.zeros(best.shape, dtype=np.int64)
        for i in range(1, self.n_states):  # strict '>' keeps the first maximum, like argmax
            cand = prev[..., i, None] + log_a[i]
            psi[cand > best] = i
            np.maximum(best, cand, out=best)
        last = np.argmax(delta[-1], axis=-1)
        score = delta[-1, np.arange(x.shape[0]), last]
        paths = _backtrack(psi, last).T
        return (paths[0], float(score[0])) if single else (paths, score)

    # ----------------------------------------------------------------- sampling
    def sample(
        self, T: int, seed: int | None = None, batch: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the generative story: (states, observations), each (T,) or (batch, T)."""
        if isinstance(T, bool) or not isinstance(T, int | np.integer) or T < 1:
            raise ValueError(f"T must be an int >= 1, got {T!r}")
        if batch is not None and (
            isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1
        ):
            raise ValueError(f"batch must be None or an int >= 1, got {batch!r}")
        rng = np.random.default_rng(seed)
        B = 1 if batch is None else int(batch)
        # inverse-CDF sampling: the first index whose cumulative probability exceeds u
        cum_trans = np.cumsum(self.trans, axis=1)
        cum_trans[:, -1] = np.inf  # rounding can leave the last sum just below 1
        u = rng.random((B, T))
        states = np.empty((B, T), dtype=np.int64)
        states[:, 0] = np.searchsorted(np.cumsum(self.start)[:-1], u[:, 0], side="right")
        if B < _SAMPLE_MIN_BATCH:  # few long chains: a plain Python loop with bisect is fastest
            rows = cum_trans.tolist()
            for b in range(B):
                chain, draws = [int(states[b, 0])], u[b].tolist()
                for t in range(1, T):
                    chain.append(bisect.bisect_right(rows[chain[-1]], draws[t]))
                states[b] = chain
        else:
            for t in range(1, T):
                states[:, t] = (u[:, t, None] >= cum_trans[states[:, t - 1]]).sum(axis=1)
        cum_emit = np.cumsum(self.emit, axis=1)
        cum_emit[:, -1] = np.inf
        obs = (rng.random((B, T, 1)) >= cum_emit[states]).sum(axis=2)
        return (states[0], obs[0]) if batch is None else (states, obs)

    # ----------------------------------------------------------------- learning
    def fit(
        self,
        sequences: ArrayLike | Sequence[ArrayLike],
        n_iter: int = 100,
        tol: float = 1e-6,
        progress: bool = False,
    ) -> list[float]:
        """Baum-Welch (EM) on one sequence (T,), a batch (B, T), or a list of sequences.

        Updates start, trans and emit in place and returns the total log-likelihood of the
        data under the parameters at the start of each iteration (never decreasing).
        Stops after ``n_iter`` iterations or when the gain falls below ``tol``.
        """
        if isinstance(n_iter, bool) or not isinstance(n_iter, int | np.integer) or n_iter < 1:
            raise ValueError(f"n_iter must be an int >= 1, got {n_iter!r}")
        if not (isinstance(tol, int | float) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
        groups = self._group_by_length(sequences)
        history: list[float] = []
        for _ in tqdm(range(int(n_iter)), desc="Baum-Welch", disable=not progress):
            start_num = np.zeros(self.n_states)
            trans_num = np.zeros((self.n_states, self.n_states))
            emit_num = np.zeros((self.n_states, self.n_symbols))
            total = 0.0
            for x in groups:
                log_gamma, alpha, beta, ll = self._expectations(x)
                total += float(ll.sum())
                gamma = np.exp(log_gamma)  # (T, B, K)
                start_num += gamma[0].sum(axis=0)
                if x.shape[1] > 1:  # xi_t(i, j) = P(h_{t-1}=i, h_t=j | x), summed over t and b
                    M = self._transfer(x)[1][x[:, 1:].T]  # (T-1, B, K, K)
                    log_xi = alpha[:-1, :, :, None] + M + beta[1:, :, None, :] - ll[:, None, None]
                    trans_num += np.exp(log_xi).sum(axis=(0, 1))
                for j in range(self.n_states):
                    emit_num[j] += np.bincount(
                        x.T.ravel(), weights=gamma[..., j].ravel(), minlength=self.n_symbols
                    )
            history.append(total)
            self.start = start_num / start_num.sum()
            self.trans = _renormalise(trans_num, self.trans)
            self.emit = _renormalise(emit_num, self.emit)
            if len(history) > 1 and history[-1] - history[-2] < tol:
                break
        return history

    def _group_by_length(self, sequences: ArrayLike | Sequence[ArrayLike]) -> list[np.ndarray]:
        if isinstance(sequences, np.ndarray) or (
            isinstance(sequences, Sequence)
            and len(sequences) > 0
            and np.isscalar(sequences[0])  # a single sequence given as a list of ints
        ):
            return [self._batch(sequences, "sequences")[0]]
        if not isinstance(sequences, Sequence) or len(sequences) == 0:
            raise ValueError("sequences must be a non-empty array or list of sequences")
        seqs = [self._batch(s, f"sequences[{i}]")[0] for i, s in enumerate(sequences)]
        by_len: dict[int, list[np.ndarray]] = {}
        for s in seqs:
            by_len.setdefault(s.shape[1], []).append(s)
        return [np.concatenate(v, axis=0) for v in by_len.values()]


def _renormalise(counts: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Rows of ``counts`` scaled to sum to 1; a row with no expected counts keeps ``old``."""
    sums = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sums > 0, counts / sums, old)


# -------------------------------------------------------------------- model factories
def dishonest_casino(
    p_fair_to_loaded: float = 0.05, p_loaded_to_fair: float = 0.1, p_six_loaded: float = 0.5
) -> HMM:
    """The occasionally dishonest casino of Durbin et al. (1998), faces 1..6 as symbols 0..5.

    State 0 is the fair die (each face 1/6), state 1 the loaded die (a six with probability
    ``p_six_loaded``, the other faces sharing the rest equally). The casino starts fair.
    """
    for name, p in [
        ("p_fair_to_loaded", p_fair_to_loaded),
        ("p_loaded_to_fair", p_loaded_to_fair),
        ("p_six_loaded", p_six_loaded),
    ]:
        if not (isinstance(p, int | float) and 0.0 <= p <= 1.0):
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    other = (1.0 - p_six_loaded) / 5.0
    return HMM(
        start=[1.0, 0.0],
        trans=[[1 - p_fair_to_loaded, p_fair_to_loaded], [p_loaded_to_fair, 1 - p_loaded_to_fair]],
        emit=[[1 / 6] * 6, [other] * 5 + [p_six_loaded]],
    )


def random_hmm(n_states: int, n_symbols: int, seed: int | None = None) -> HMM:
    """An HMM whose rows are drawn from a flat Dirichlet distribution."""
    for name, n in [("n_states", n_states), ("n_symbols", n_symbols)]:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"{name} must be an int >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    return HMM(
        start=rng.dirichlet(np.ones(n_states)),
        trans=rng.dirichlet(np.ones(n_states), size=n_states),
        emit=rng.dirichlet(np.ones(n_symbols), size=n_states),
    )


def brute_force(model: HMM, obs: ArrayLike) -> tuple[float, np.ndarray, np.ndarray, float]:
    """Exact answers by enumerating all K^T state paths (T <= 12): an independent check.

    Returns (log-likelihood, posteriors (T, K), most probable path (T,), its log-probability).
    """
    x = model._batch(obs)[0][0]
    K, T = model.n_states, len(x)
    if K**T > 2**20:
        raise ValueError(f"brute force needs K**T <= 2**20 paths, got {K}**{T}")
    paths = np.array(list(itertools.product(range(K), repeat=T)))  # (K^T, T)
    log_joint = _log(model.start)[paths[:, 0]] + _log(model.emit)[paths, x].sum(axis=1)
    log_joint = log_joint + _log(model.trans)[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    ll = float(np.logaddexp.reduce(log_joint))
    weights = np.exp(log_joint - ll)
    post = np.stack([np.bincount(paths[:, t], weights, minlength=K) for t in range(T)])
    best = int(np.argmax(log_joint))
    return ll, post, paths[best], float(log_joint[best])


def to_hmmlearn(model: HMM) -> Any:
    """The same model as hmmlearn's ``CategoricalHMM``, the reference the tests and
    benchmarks compare with (hmmlearn is an optional dependency: the book and bench extras).
    Its own initialisation and training are switched off, so it uses these parameters."""
    from hmmlearn.hmm import CategoricalHMM

    ref = CategoricalHMM(n_components=model.n_states, init_params="", params="")
    ref.startprob_, ref.transmat_, ref.emissionprob_ = model.start, model.trans, model.emit
    ref.n_features = model.n_symbols
    return ref
