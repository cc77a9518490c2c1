"""seqcourse.esn: the reservoir's spectrum, the echo state property and the ridge readout."""

import numpy as np
import pytest

from seqcourse.esn import EchoStateNetwork
from seqcourse.rnn import spectral_radius


def sine(T, omega=0.2, phase=0.0):
    return np.sin(omega * np.arange(T) + phase)[:, None]  # (T, 1)


def test_reservoir_has_the_chosen_spectral_radius_and_is_seeded():
    esn = EchoStateNetwork(2, 50, spectral_radius=0.7, input_scale=0.5, seed=3)
    assert esn.W.shape == (50, 50) and esn.W_in.shape == (50, 3)
    assert spectral_radius(esn.W) == pytest.approx(0.7, rel=1e-10)
    assert np.abs(esn.W_in).max() <= 0.5
    np.testing.assert_array_equal(esn.W, EchoStateNetwork(2, 50, 0.7, 0.5, seed=3).W)
    assert not np.array_equal(esn.W, EchoStateNetwork(2, 50, 0.7, 0.5, seed=4).W)


def test_states_follow_the_leaky_update():
    esn = EchoStateNetwork(1, 20, leak=0.3, seed=0)
    u = sine(30)
    X = esn.states(u)
    assert X.shape == (30, 20)
    np.testing.assert_array_equal(esn.states(u, washout=10), X[10:])
    x_prev = X[11]
    want = 0.7 * x_prev + 0.3 * np.tanh(esn.W_in @ np.r_[1.0, u[12]] + esn.W @ x_prev)
    np.testing.assert_allclose(X[12], want, rtol=1e-14)
    np.testing.assert_array_equal(esn.states(u[:, 0]), X)  # (T,) is one feature


def test_echo_state_property_forgets_the_start():
    esn = EchoStateNetwork(1, 40, spectral_radius=0.9, seed=1)
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, size=(300, 1))
    a = esn.states(np.vstack([rng.uniform(-1, 1, size=(50, 1)), u]))[50:]
    b = esn.states(np.vstack([5 * rng.normal(size=(80, 1)), u]))[80:]
    assert np.abs(a[0] - b[0]).max() > 1e-3  # different starts...
    assert np.abs(a[-1] - b[-1]).max() < 1e-8  # ...same state once the inputs agree


@pytest.mark.parametrize("ridge", [0.0, 1e-3])
def test_readout_is_the_ridge_solution(ridge):
    rng = np.random.default_rng(0)
    esn = EchoStateNetwork(2, 15, ridge=ridge, seed=0)
    u, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 3))
    esn.fit(u, y, washout=20)
    Z = np.hstack([np.ones((180, 1)), u[20:], esn.states(u, washout=20)])  # rows [1; u_t; x_t]
    if ridge == 0:
        want = np.linalg.lstsq(Z, y[20:], rcond=None)[0].T
    else:
        want = y[20:].T @ Z @ np.linalg.inv(Z.T @ Z + ridge * np.eye(Z.shape[1]))
    assert esn.W_out.shape == (3, 18)
    np.testing.assert_allclose(esn.W_out, want, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(esn.predict(u)[20:], Z @ want.T, rtol=1e-6, atol=1e-8)


def test_predicts_and_generates_a_sine_wave():
    u = sine(601)
    esn = EchoStateNetwork(1, 60, spectral_radius=0.9, ridge=1e-8, seed=0)
    esn.fit(u[:-1], u[1:], washout=100)  # one step ahead: y_t = u_{t+1}
    pred = esn.predict(u[:-1])
    nrmse = np.sqrt(np.mean((pred[100:] - u[101:]) ** 2)) / np.std(u)
    assert nrmse < 1e-3
    future = esn.generate(u[:500], 50)  # closed loop after 500 warm-up steps
    assert future.shape == (50, 1)
    assert np.abs(future - u[500:550]).max() < 0.05


def test_validation():
    with pytest.raises(ValueError, match=r"spectral_radius must be > 0, got 0.0"):
        EchoStateNetwork(1, 10, spectral_radius=0.0)
    with pytest.raises(ValueError, match=r"ridge must be >= 0, got -1.0"):
        EchoStateNetwork(1, 10, ridge=-1.0)
    with pytest.raises(ValueError, match=r"leak must be in \(0, 1\], got 1.5"):
        EchoStateNetwork(1, 10, leak=1.5)
    with pytest.raises(ValueError, match="reservoir_size must be an int >= 1, got 0"):
        EchoStateNetwork(1, 0)
    with pytest.raises(TypeError, match="input_scale must be a number > 0, got str"):
        EchoStateNetwork(1, 10, input_scale="big")
    esn = EchoStateNetwork(2, 10)
    with pytest.raises(
        ValueError, match=r"u must have 2 features \(shape \(T, 2\)\), got \(5, 3\)"
    ):
        esn.states(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="u must hold finite values"):
        esn.states(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match=r"washout must be in \[0, T\) = \[0, 5\), got 5"):
        esn.states(np.zeros((5, 2)), washout=5)
    with pytest.raises(ValueError, match="not fitted yet"):
        esn.predict(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"y must have as many steps as u \(5\), got 4"):
        esn.fit(np.zeros((5, 2)), np.zeros((4, 1)), washout=0)
    esn.fit(np.zeros((5, 2)), np.zeros((5, 1)), washout=0)
    with pytest.raises(ValueError, match="generate needs output size == input_size"):
        esn.generate(np.zeros((5, 2)), 3)
