"""seqcourse.hopfield: Hebbian weights, recall of stored patterns, non-increasing energy."""

import numpy as np
import pytest

from seqcourse.hopfield import HopfieldNetwork


def random_patterns(P, N, seed):
    return np.random.default_rng(seed).choice([-1, 1], size=(P, N))


def test_hebbian_weights():
    p = random_patterns(3, 8, seed=0)
    net = HopfieldNetwork(8).store(p[:2]).store(p[2])  # storing adds up
    want = sum(np.outer(v, v) for v in p) / 8
    np.fill_diagonal(want, 0)
    np.testing.assert_allclose(net.W, want, rtol=1e-15)
    assert net.n_patterns == 3 and np.array_equal(net.W, net.W.T)
    s = p[0]
    assert net.energy(s) == pytest.approx(-0.5 * s @ want @ s)


def test_stored_patterns_are_fixed_points_and_recalled_from_noise():
    N, P = 120, 5  # well below the capacity of about 0.14 N
    patterns = random_patterns(P, N, seed=1)
    net = HopfieldNetwork(N).store(patterns)
    rng = np.random.default_rng(2)
    for p in patterns:
        s, energies = net.recall(p)
        np.testing.assert_array_equal(s, p)
        assert len(energies) == 2 and energies[0] == energies[1]  # one sweep, no change
        noisy = p.copy()
        flip = rng.choice(N, size=N // 10, replace=False)
        noisy[flip] *= -1
        s, energies = net.recall(noisy, seed=3)
        np.testing.assert_array_equal(s, p)
        assert energies[-1] < energies[0]


@pytest.mark.parametrize("seed", range(4))
def test_energy_never_increases(seed):
    N = 60
    net = HopfieldNetwork(N).store(random_patterns(30, N, seed=seed))  # overloaded: spurious
    s0 = random_patterns(1, N, seed=100 + seed)[0]
    s, energies = net.recall(s0, max_sweeps=50, seed=seed)
    assert np.all(np.diff(energies) <= 1e-12)
    assert energies[-1] == pytest.approx(net.energy(s))
    field = net.W @ s
    assert np.all(s * field >= 0) or len(energies) == 51  # a fixed point: every unit agrees
    assert set(np.unique(s)) <= {-1, 1}


def test_validation():
    with pytest.raises(ValueError, match="n_units must be an int >= 1, got 0"):
        HopfieldNetwork(0)
    net = HopfieldNetwork(4)
    with pytest.raises(ValueError, match=r"patterns must hold only -1 and \+1, got .*0"):
        net.store([[1, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"patterns must have shape \(P, 4\), got \(1, 3\)"):
        net.store([[1, -1, 1]])
    with pytest.raises(ValueError, match=r"s0 must have shape \(4,\), got \(2, 4\)"):
        net.recall(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"s must hold only -1 and \+1, got .*0.5"):
        net.energy([1, -1, 0.5, 1])
    with pytest.raises(ValueError, match="max_sweeps must be an int >= 1, got 0"):
        net.recall([1, 1, 1, 1], max_sweeps=0)
