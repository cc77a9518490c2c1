"""seqcourse.rnn against torch.nn.RNN, PyTorch autograd and central differences.

Tolerances: "equal to rounding" means max |ours - reference| <= tol * max |reference| for
every output, final state and gradient, with tol = 1e-6 in float32 and 1e-12 in float64.
Measured: about 4e-7 (float32) and 5e-16 (float64) over the cases below.
"""

import numpy as np
import pytest
import torch
from torch import nn

from seqcourse.data.text import CharVocab
from seqcourse.rnn import (
    CharRNN,
    ElmanRNN,
    JordanRNN,
    LeakyRNN,
    elman_layer,
    hidden_jacobian_norms,
    numerical_gradient,
    rel_error,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    scale_to_spectral_radius,
    spectral_radius,
)

TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def assert_equal_to_rounding(got: torch.Tensor, want: torch.Tensor, tol: float, what: str):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = (got - want).abs().max().item()
    scale = max(want.abs().max().item(), 1e-30)
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} * {scale:.3g}"


def run_and_backprop(model, x, h0, weights):
    """Outputs, final state and the gradients of a random linear loss of both."""
    x = x.detach().clone().requires_grad_()
    h0 = None if h0 is None else h0.detach().clone().requires_grad_()
    out, h_n = model(x, h0)
    loss = (out * weights[0]).sum() + (h_n * weights[1]).sum()
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    grads["x"] = x.grad
    if h0 is not None:
        grads["h0"] = h0.grad
    return out, h_n, grads


# --------------------------------------------------------------------- ElmanRNN vs nn.RNN
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zeros", "h0"])
def test_elman_equals_torch_rnn(dtype, num_layers, bidirectional, nonlinearity, with_h0):
    torch.manual_seed(num_layers + 2 * bidirectional)
    B, T, D, H = 3, 9, 4, 6
    ref = nn.RNN(D, H, num_layers, nonlinearity, bidirectional=bidirectional, batch_first=True)
    ref = ref.to(dtype)
    ours = ElmanRNN.from_torch(ref)
    n_states = num_layers * (2 if bidirectional else 1)
    x = torch.randn(B, T, D, dtype=dtype)
    h0 = torch.randn(n_states, B, H, dtype=dtype) if with_h0 else None
    weights = (torch.randn(B, T, H * (1 + bidirectional), dtype=dtype),)
    weights += (torch.randn(n_states, B, H, dtype=dtype),)
    out, h_n, grads = run_and_backprop(ours, x, h0, weights)
    ref_out, ref_h_n, ref_grads = run_and_backprop(ref, x, h0, weights)
    tol = TOL[dtype]
    assert_equal_to_rounding(out, ref_out, tol, "output")
    assert_equal_to_rounding(h_n, ref_h_n, tol, "h_n")
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert_equal_to_rounding(grad, ref_grads[name], tol, f"gradient of {name}")


def test_parameters_named_and_shaped_like_torch():
    ours = ElmanRNN(5, 7, num_layers=2, bidirectional=True)
    ref = nn.RNN(5, 7, num_layers=2, bidirectional=True, batch_first=True)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in ref.named_parameters()
    ]
    no_bias = ElmanRNN(5, 7, bias=False)
    assert [n for n, _ in no_bias.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]


def test_no_bias_and_to_torch_round_trip():
    torch.manual_seed(0)
    ours = ElmanRNN(3, 5, num_layers=2, bias=False, bidirectional=True).double()
    ref = ours.to_torch()
    assert ref.batch_first and ref.weight_hh_l1_reverse.dtype == torch.float64
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    for a, b in zip(ours(x), ref(x), strict=True):
        assert_equal_to_rounding(a, b, 1e-12, "to_torch")


def test_elman_layer_reverse_reads_backwards():
    torch.manual_seed(1)
    x, h = torch.randn(2, 5, 3), torch.randn(2, 4)
    W_xh, W_hh, b = torch.randn(4, 3), torch.randn(4, 4) * 0.5, torch.randn(4)
    rev, h_last = elman_layer(x, h, W_xh, W_hh, b, None, reverse=True)
    fwd, h_fwd = elman_layer(x.flip(1), h, W_xh, W_hh, b, None)
    torch.testing.assert_close(rev, fwd.flip(1))
    torch.testing.assert_close(h_last, rev[:, 0])
    torch.testing.assert_close(h_fwd, h_last)


# ------------------------------------------------------------------ NumPy reference, BPTT
def random_problem(seed, N=3, T=6, D=4, H=5):
    rng = np.random.default_rng(seed)
    x, h0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, H)), rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=H)
    return rng, x, h0, Wx, Wh, b


def test_step_by_hand():
    # N = 1, D = 2, H = 1: a = 1 * 0.1 + 2 * 0.2 + 0.5 * 1.0 - 0.5 = 0.5, h = tanh(0.5)
    x, h_prev = np.array([[1.0, 2.0]]), np.array([[0.5]])
    Wx, Wh, b = np.array([[0.1], [0.2]]), np.array([[1.0]]), np.array([-0.5])
    h, cache = rnn_step_forward(x, h_prev, Wx, Wh, b)
    assert h[0, 0] == pytest.approx(np.tanh(0.5), rel=1e-15)
    dx, dh_prev, dWx, dWh, db = rnn_step_backward(np.array([[1.0]]), cache)
    delta = 1.0 - np.tanh(0.5) ** 2  # 0.786448
    np.testing.assert_allclose(dx, delta * np.array([[0.1, 0.2]]), rtol=1e-15)
    np.testing.assert_allclose(dh_prev, [[delta]], rtol=1e-15)
    np.testing.assert_allclose(dWx, delta * np.array([[1.0], [2.0]]), rtol=1e-15)
    np.testing.assert_allclose(dWh, [[0.5 * delta]], rtol=1e-15)
    np.testing.assert_allclose(db, [delta], rtol=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_numpy_forward_equals_elman_rnn(seed):
    _, x, h0, Wx, Wh, b = random_problem(seed)
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    ours = ElmanRNN(4, 5).double()
    with torch.no_grad():
        ours.weight_ih_l0.copy_(torch.from_numpy(Wx.T))
        ours.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
        ours.bias_ih_l0.copy_(torch.from_numpy(b))
        ours.bias_hh_l0.zero_()
        out, h_n = ours(torch.from_numpy(x), torch.from_numpy(h0)[None])
    np.testing.assert_allclose(h, out.numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(h[:, -1], h_n[0].numpy(), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_numpy_bptt_equals_autograd(seed):
    """Relative error (rel_error, CS231n) of every gradient below 1e-10; measured 7e-13."""
    rng, x, h0, Wx, Wh, b = random_problem(seed, T=12)
    dh = rng.normal(size=(3, 12, 5))
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    grads = rnn_backward(dh, cache)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, h0, Wx, Wh, b)]
    tx, th, tWx, tWh, tb = tensors
    states = []
    for t in range(x.shape[1]):
        th = torch.tanh(tx[:, t] @ tWx + th @ tWh + tb)
        states.append(th)
    (torch.stack(states, dim=1) * torch.from_numpy(dh)).sum().backward()
    np.testing.assert_allclose(h, torch.stack(states, dim=1).detach().numpy(), rtol=1e-13)
    for name, got, tensor in zip(["dx", "dh0", "dWx", "dWh", "db"], grads, tensors, strict=True):
        assert rel_error(got, tensor.grad.numpy()) < 1e-10, name


def test_numpy_bptt_equals_finite_differences():
    """Central differences with eps = 1e-6: relative error below 1e-7 (measured 1e-8)."""
    rng, x, h0, Wx, Wh, b = random_problem(7, N=2, T=5, D=3, H=4)
    dh = rng.normal(size=(2, 5, 4))
    grads = rnn_backward(dh, rnn_forward(x, h0, Wx, Wh, b)[1])
    arrays = {"dx": x, "dh0": h0, "dWx": Wx, "dWh": Wh, "db": b}
    for (name, array), got in zip(arrays.items(), grads, strict=True):

        def loss(_):
            return float(np.sum(rnn_forward(x, h0, Wx, Wh, b)[0] * dh))

        assert rel_error(got, numerical_gradient(loss, array)) < 1e-7, name


def test_numerical_gradient_and_rel_error():
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**3), x), 3 * x**2, rtol=1e-9)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])  # restored
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)
    with pytest.raises(TypeError, match="x must be a float64"):
        numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="same shape"):
        rel_error([1.0], [1.0, 2.0])


# --------------------------------------------------------- spectra and gradient flow
def test_spectral_radius_and_scaling():
    W = np.diag([0.5, -2.0, 1.0])
    assert spectral_radius(W) == pytest.approx(2.0)
    rotation = np.array([[0.0, -3.0], [3.0, 0.0]])  # eigenvalues +-3i
    assert spectral_radius(torch.tensor(rotation)) == pytest.approx(3.0)
    rng = np.random.default_rng(0)
    scaled = scale_to_spectral_radius(rng.normal(size=(20, 20)), 0.9)
    assert spectral_radius(scaled) == pytest.approx(0.9, rel=1e-10)
    t = scale_to_spectral_radius(torch.randn(8, 8), 1.5)
    assert isinstance(t, torch.Tensor) and spectral_radius(t) == pytest.approx(1.5, rel=1e-5)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_hidden_jacobian_norms_equal_autograd(nonlinearity):
    torch.manual_seed(0)
    H, D, T = 6, 3, 8
    W_hh, W_xh = torch.randn(H, H, dtype=torch.float64) * 0.6, torch.randn(H, D).double()
    b, xs, h0 = torch.randn(H).double(), torch.randn(T, D).double(), torch.randn(H).double()
    f = torch.tanh if nonlinearity == "tanh" else torch.relu
    norms = hidden_jacobian_norms(W_hh, W_xh, b, xs, h0, nonlinearity)
    assert norms.shape == (T,)
    for t in range(T):

        def from_t(h, t=t):
            for s in range(t, T):
                h = f(W_xh @ xs[s] + W_hh @ h + b)
            return h

        h = h0
        for s in range(t):
            h = f(W_xh @ xs[s] + W_hh @ h + b)
        J = torch.autograd.functional.jacobian(from_t, h)
        assert norms[t] == pytest.approx(torch.linalg.matrix_norm(J, 2).item(), rel=1e-10)


def test_gradients_vanish_with_small_spectral_radius():
    rng = np.random.default_rng(0)
    W = scale_to_spectral_radius(rng.normal(size=(16, 16)), 0.5)
    norms = hidden_jacobian_norms(W, rng.normal(size=(16, 2)), None, rng.normal(size=(40, 2)))
    assert norms[0] < 1e-6 < norms[-1]  # the effect of h_0 on h_40 is gone


# ----------------------------------------------------------------------------- variants
def test_jordan_rnn_follows_its_equation():
    torch.manual_seed(0)
    model = JordanRNN(3, 5, 2).double()
    x, y0 = torch.randn(4, 7, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    outputs, y_T = model(x, y0)
    assert outputs.shape == (4, 7, 2) and y_T.shape == (4, 2)
    torch.testing.assert_close(y_T, outputs[:, -1])
    y = y0
    for t in range(7):
        h = torch.tanh(model.xh.weight @ x[:, t].T + model.xh.bias[:, None] + model.yh.weight @ y.T)
        y = (model.hy.weight @ h + model.hy.bias[:, None]).T
        torch.testing.assert_close(outputs[:, t], y)
    outputs.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert not torch.allclose(model(x)[0], outputs)  # y0 = 0 by default


def test_leaky_rnn_with_alpha_one_is_elman():
    torch.manual_seed(0)
    elman = ElmanRNN(3, 5).double()
    leaky = LeakyRNN(3, 5, alpha=1.0).double()
    leaky.load_state_dict(elman.state_dict())
    x, h0 = torch.randn(2, 6, 3).double(), torch.randn(1, 2, 5).double()
    for a, b in zip(leaky(x, h0), elman(x, h0), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)


def test_leaky_rnn_moves_a_fraction_alpha():
    torch.manual_seed(0)
    model = LeakyRNN(2, 4, alpha=0.1)
    x = torch.randn(3, 20, 2)
    out, h_T = model(x)
    assert out.shape == (3, 20, 4) and h_T.shape == (1, 3, 4)
    steps = torch.diff(torch.cat([torch.zeros(3, 1, 4), out], dim=1), dim=1)
    assert steps.abs().max() <= 0.2 + 1e-6  # |h_t - h_{t-1}| = alpha |tanh(.) - h_{t-1}| <= 2 alpha
    h_prev, x_t = out[:, 4], x[:, 5]
    target = torch.tanh(
        x_t @ model.weight_ih_l0.T
        + model.bias_ih_l0
        + h_prev @ model.weight_hh_l0.T
        + model.bias_hh_l0
    )
    torch.testing.assert_close(out[:, 5], 0.9 * h_prev + 0.1 * target)


# ------------------------------------------------------------------------------- CharRNN
VOCAB = CharVocab.from_text("hello world\n")


def test_char_rnn_shapes_and_state_carried():
    torch.manual_seed(0)
    model = CharRNN(len(VOCAB), embed_size=6, hidden_size=10, num_layers=2)
    x = torch.randint(0, len(VOCAB), (3, 12))
    logits, state = model(x)
    assert logits.shape == (3, 12, len(VOCAB)) and state.shape == (2, 3, 10)
    first, mid = model(x[:, :5])
    second, end = model(x[:, 5:], mid)  # carrying the state = one pass over the whole text
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits)
    torch.testing.assert_close(end, state)


def test_char_rnn_scratch_and_torch_share_weights():
    torch.manual_seed(0)
    scratch = CharRNN(len(VOCAB), 6, 10).double()
    fast = CharRNN(len(VOCAB), 6, 10, use_torch=True).double()
    assert isinstance(fast.rnn, nn.RNN) and isinstance(scratch.rnn, ElmanRNN)
    fast.load_state_dict(scratch.state_dict())
    x = torch.randint(0, len(VOCAB), (2, 9))
    for a, b in zip(scratch(x), fast(x), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_char_rnn_sample_is_seeded():
    torch.manual_seed(0)
    model = CharRNN(len(VOCAB), 6, 10)
    model.train()
    a = model.sample(VOCAB, 30, prompt="he", temperature=0.8, seed=3)
    assert len(a) == 30 and set(a) <= set(VOCAB.chars)
    assert model.sample(VOCAB, 30, prompt="he", temperature=0.8, seed=3) == a
    assert model.sample(VOCAB, 30, prompt="he", temperature=0.8, seed=4) != a
    assert model.training  # mode restored
    assert model.sample(VOCAB, 0) == ""
    greedy = {model.sample(VOCAB, 10, temperature=1e-3, seed=s) for s in range(3)}
    assert len(greedy) == 1  # a tiny temperature picks the most likely character


# ---------------------------------------------------------------------------- validation
def test_constructor_validation():
    with pytest.raises(ValueError, match=r"hidden_size must be an int >= 1, got 0"):
        ElmanRNN(3, 0)
    with pytest.raises(TypeError, match=r"num_layers must be an int >= 1, got float"):
        ElmanRNN(3, 4, num_layers=1.5)
    with pytest.raises(ValueError, match=r"nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        ElmanRNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="bidirectional must be a bool"):
        ElmanRNN(3, 4, bidirectional="yes")
    with pytest.raises(ValueError, match=r"alpha must be a float in \(0, 1\], got 0.0"):
        LeakyRNN(3, 4, alpha=0.0)
    with pytest.raises(ValueError, match="output_size must be an int >= 1"):
        JordanRNN(3, 4, -1)
    with pytest.raises(TypeError, match="module must be a torch.nn.RNN, got LSTM"):
        ElmanRNN.from_torch(nn.LSTM(3, 4, batch_first=True))
    with pytest.raises(ValueError, match="batch_first=True"):
        ElmanRNN.from_torch(nn.RNN(3, 4))


@pytest.mark.parametrize(
    ("x", "h0", "error", "match"),
    [
        (torch.zeros(5, 3), None, ValueError, r"x must have shape \(batch, time, features\)"),
        (torch.zeros(2, 5, 4), None, ValueError, r"x must have 3 features .*got 4"),
        (torch.zeros(2, 5, 3, dtype=torch.float64), None, TypeError, "dtype torch.float32"),
        (torch.full((2, 5, 3), float("nan")), None, ValueError, "x must hold finite values"),
        (np.zeros((2, 5, 3)), None, TypeError, "x must be a torch.Tensor"),
        (torch.zeros(2, 5, 3), torch.zeros(2, 2, 4), ValueError, r"h0 must have shape \(1, 2, 4\)"),
        (torch.zeros(2, 5, 3), torch.full((1, 2, 4), float("inf")), ValueError, "h0 must hold"),
    ],
)
def test_forward_validation(x, h0, error, match):
    with pytest.raises(error, match=match):
        ElmanRNN(3, 4)(x, h0)


def test_variant_and_char_rnn_validation():
    with pytest.raises(ValueError, match=r"y0 must have shape \(2, 3\), got \(2, 4\)"):
        JordanRNN(1, 4, 3)(torch.zeros(2, 5, 1), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="x must have 1 features"):
        LeakyRNN(1, 4)(torch.zeros(2, 5, 2))
    model = CharRNN(5, 4, 6)
    with pytest.raises(TypeError, match="integer tensor"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"ids in \[0, 5\), got 0..5"):
        model(torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match="vocab must have vocab_size = 5 characters, got 9"):
        model.sample(VOCAB, 3)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        CharRNN(len(VOCAB)).sample(VOCAB, 3, temperature=0)
    with pytest.raises(ValueError, match="rho must be a finite number > 0, got 0"):
        scale_to_spectral_radius(np.eye(3), 0)
    with pytest.raises(ValueError, match=r"square matrix \(H, H\), got shape \(2, 3\)"):
        spectral_radius(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="spectral radius 0"):
        scale_to_spectral_radius(np.zeros((3, 3)), 1.0)
