"""Hopfield networks: associative memory in a symmetric recurrent network (chapter 2).

Hopfield (1982) stores binary patterns p^mu in {-1, +1}^N in the weights of a fully
connected network and recalls one from a corrupted copy. With P patterns:

    Hebb    (eq-hopfield-hebb)    W = (1/N) sum_mu p^mu (p^mu)^T,  W_ii = 0
    update  (eq-hopfield-update)  s_i <- sign(sum_j W_ij s_j)   (one unit at a time;
                                  a zero field leaves s_i unchanged)
    energy  (eq-hopfield-energy)  E(s) = -1/2 s^T W s

Because W is symmetric with a zero diagonal, flipping unit i changes the energy by
-Delta s_i (W s)_i <= 0: asynchronous updates never increase E, so recall ends in a
fixed point, a local minimum of E. Stored patterns are such minima while P stays below
about 0.14 N.

NumPy; states are vectors (N,) of -1 and +1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["HopfieldNetwork"]


def _spins(value: Any, name: str, n_units: int, ndim: int) -> np.ndarray:
    """A (.., n_units) int8 array of -1 and +1; (n_units,) is promoted when ndim == 2."""
    arr = np.asarray(value)
    if ndim == 2 and arr.ndim == 1:
        arr = arr[None]
    want = f"(P, {n_units})" if ndim == 2 else f"({n_units},)"
    if arr.ndim != ndim or arr.shape[-1] != n_units or arr.size == 0:
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    flat = arr.ravel()
    numeric = np.issubdtype(arr.dtype, np.number)
    if not numeric or not np.all(np.isin(flat, (-1, 1))):
        bad = flat[~np.isin(flat, (-1, 1))][0] if numeric else flat[0]
        raise ValueError(f"{name} must hold only -1 and +1, got {bad!r}")
    return arr.astype(np.int8)


class HopfieldNetwork:
    """A Hopfield network of ``n_units`` binary units with Hebbian storage.

    ``store`` adds patterns to the weights (call it again to store more);
    ``n_patterns`` counts them. ``recall`` updates the units asynchronously.
    """

    def __init__(self, n_units: int) -> None:
        if isinstance(n_units, bool) or not isinstance(n_units, int | np.integer):
            raise TypeError(f"n_units must be an int >= 1, got {type(n_units).__name__}")
        if n_units < 1:
            raise ValueError(f"n_units must be an int >= 1, got {n_units}")
        self.n_units = int(n_units)
        self.W = np.zeros((self.n_units, self.n_units))  # (N, N), symmetric, zero diagonal
        self.n_patterns = 0

    def __repr__(self) -> str:
        return f"HopfieldNetwork(n_units={self.n_units}, n_patterns={self.n_patterns})"

    def store(self, patterns: Any) -> HopfieldNetwork:
        """Add patterns (P, N) (or one (N,)) of -1 and +1 by Hebb's rule, eq. (eq-hopfield-hebb)."""
        p = _spins(patterns, "patterns", self.n_units, ndim=2).astype(np.float64)  # (P, N)
        self.W += p.T @ p / self.n_units
        np.fill_diagonal(self.W, 0.0)
        self.n_patterns += len(p)
        return self

    def energy(self, s: Any) -> float:
        """E(s) = -1/2 s^T W s, eq. (eq-hopfield-energy), for a state s (N,) of -1 and +1."""
        s = _spins(s, "s", self.n_units, ndim=1).astype(np.float64)
        return float(-0.5 * s @ self.W @ s)

    def recall(
        self, s0: Any, max_sweeps: int = 20, seed: int | None = 0
    ) -> tuple[np.ndarray, list[float]]:
        """Asynchronous recall from s0 (N,), eq. (eq-hopfield-update).

        Each sweep visits every unit once in a random order (``seed``) and sets it to the
        sign of its field; a sweep that changes no unit ends the recall (a fixed point).
        Returns (s (N,) int8, energies): the energy of s0 and after each sweep, a
        non-increasing list.
        """
        if isinstance(max_sweeps, bool) or not isinstance(max_sweeps, int | np.integer):
            raise TypeError(f"max_sweeps must be an int >= 1, got {type(max_sweeps).__name__}")
        if max_sweeps < 1:
            raise ValueError(f"max_sweeps must be an int >= 1, got {max_sweeps}")
        s = _spins(s0, "s0", self.n_units, ndim=1).astype(np.float64)
        rng = np.random.default_rng(seed)
        field = self.W @ s  # (N,): (W s)_i, kept up to date as units flip
        energies = [float(-0.5 * s @ field)]
        for _ in range(int(max_sweeps)):
            changed = False
            for i in rng.permutation(self.n_units):
                new = 1.0 if field[i] > 0 else -1.0 if field[i] < 0 else s[i]
                if new != s[i]:
                    field += self.W[:, i] * (new - s[i])
                    s[i] = new
                    changed = True
            energies.append(float(-0.5 * s @ field))
            if not changed:
                break
        return s.astype(np.int8), energies
