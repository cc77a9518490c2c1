"""seqcourse.deep against torch.nn.RNN and against the equations written out by hand.

"Equal to rounding": max |ours - reference| <= tol * max |reference|, tol = 1e-6 in float32
and 1e-12 in float64, for outputs, final states and every gradient.
"""

import numpy as np
import pytest
import torch
from torch import nn

from seqcourse.deep import DeepOutput, DeepTransitionRNN, StackedRNN
from seqcourse.train import Minibatches, sequence_cross_entropy, train_seeds

TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def close(got: torch.Tensor, want: torch.Tensor, tol: float, what: str) -> None:
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    err = (got - want).abs().max().item()
    scale = max(want.abs().max().item(), 1e-30)
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} * {scale:.3g}"


# ------------------------------------------------------------------ StackedRNN vs nn.RNN
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zeros", "h0"])
def test_stacked_without_skips_is_nn_rnn(dtype, num_layers, with_h0):
    torch.manual_seed(num_layers)
    ref = nn.RNN(3, 5, num_layers, batch_first=True).to(dtype)
    ours = StackedRNN.from_torch(ref)
    x = torch.randn(4, 6, 3, dtype=dtype)
    h0 = torch.randn(num_layers, 4, 5, dtype=dtype) if with_h0 else None
    w_out, w_h = torch.randn(4, 6, 5, dtype=dtype), torch.randn(num_layers, 4, 5, dtype=dtype)
    results = []
    for model in (ref, ours):
        xg = x.clone().requires_grad_()
        out, h_n = model(xg, h0)
        ((out * w_out).sum() + (h_n * w_h).sum()).backward()
        grads = {n: p.grad for n, p in model.named_parameters()} | {"x": xg.grad}
        results.append((out, h_n, grads))
    (out_r, hn_r, g_r), (out_o, hn_o, g_o) = results
    close(out_o, out_r, TOL[dtype], "output")
    close(hn_o, hn_r, TOL[dtype], "h_n")
    assert g_o.keys() == g_r.keys()
    for name in g_r:
        close(g_o[name], g_r[name], TOL[dtype], f"grad {name}")


def test_stacked_skips_add_the_equations_terms():
    torch.manual_seed(0)
    D, H, L = 3, 4, 3
    plain = StackedRNN(D, H, L)
    skip = StackedRNN(D, H, L, input_skip=True, output_skip=True)
    skip.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 5, D, dtype=torch.float32)
    with torch.no_grad():
        for k in range(1, L):
            getattr(skip, f"weight_xh_l{k}").zero_()
        out_plain, hn_plain = plain(x)
        out_skip, hn_skip = skip(x)
    assert skip.output_size == L * H and out_skip.shape == (2, 5, L * H)
    close(out_skip[..., -H:], out_plain, 1e-6, "last block of the output skip")
    close(hn_skip, hn_plain, 1e-6, "h_n with zero input skips")
    # layer 2 by hand, nonzero input skip: h^2_t = tanh(W_ih h^1_t + W_xh x_t + W_hh h^2_{t-1} + b)
    with torch.no_grad():
        skip.weight_xh_l1.normal_()
        out, _ = skip(x)
        h1, h2 = out[..., :H], out[..., H : 2 * H]
        h = torch.zeros(2, H)
        for t in range(5):
            h = torch.tanh(
                h1[:, t] @ skip.weight_ih_l1.T
                + x[:, t] @ skip.weight_xh_l1.T
                + h @ skip.weight_hh_l1.T
                + skip.bias_ih_l1
                + skip.bias_hh_l1
            )
            close(h2[:, t], h, 1e-6, f"layer 2 at t={t}")


def test_stacked_parameter_names_and_counts():
    m = StackedRNN(3, 4, 2, input_skip=True)
    names = {n for n, _ in m.named_parameters()}
    assert "weight_xh_l1" in names and "weight_xh_l0" not in names
    assert m.weight_xh_l1.shape == (4, 3) and m.weight_ih_l1.shape == (4, 4)
    assert StackedRNN(3, 4, 2).output_size == 4


# ---------------------------------------------------------------- DeepTransitionRNN
@pytest.mark.parametrize("shortcut", [False, True], ids=["DT", "DT(S)"])
def test_deep_transition_matches_equations(shortcut):
    torch.manual_seed(1)
    D, H, U, B, T = 3, 4, 6, 2, 5
    m = DeepTransitionRNN(D, H, transition_size=U, shortcut=shortcut).double()
    x = torch.randn(B, T, D, dtype=torch.float64)
    h0 = torch.randn(1, B, H, dtype=torch.float64)
    out, h_n = m(x, h0)
    p = {n: v.detach().numpy() for n, v in m.named_parameters()}
    h = h0[0].numpy()
    for t in range(T):
        xt = x[:, t].numpy()
        u = np.tanh(xt @ p["weight_xu"].T + h @ p["weight_hu"].T + p["bias_u"])
        a = u @ p["weight_uh"].T + p["bias_h"]
        if shortcut:
            a = a + h @ p["weight_hh"].T
        h = np.tanh(a)
        np.testing.assert_allclose(out[:, t].detach().numpy(), h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h_n[0].detach().numpy(), h, rtol=0, atol=1e-12)
    assert m.transition_size == U and (m.weight_hh is not None) == shortcut


def test_deep_transition_defaults_and_gradients():
    m = DeepTransitionRNN(2, 5)
    assert m.transition_size == 5 and m.weight_hh is None
    out, h_n = m(torch.randn(3, 4, 2))
    assert out.shape == (3, 4, 5) and h_n.shape == (1, 3, 5)
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


# ----------------------------------------------------------------------- DeepOutput
def test_deep_output_formula_and_shapes():
    torch.manual_seed(2)
    m = DeepOutput(4, 3, inner_size=7)
    h = torch.randn(2, 5, 4)
    want = torch.tanh(h @ m.hidden.weight.T + m.hidden.bias) @ m.out.weight.T + m.out.bias
    close(m(h), want, 1e-6, "deep output")
    assert DeepOutput(4, 3)(torch.randn(4)).shape == (3,)


# ------------------------------------------------------------------ train_seeds (vmap)
@pytest.mark.parametrize(
    "make",
    [lambda: StackedRNN(2, 4, 2, True, True), lambda: DeepTransitionRNN(2, 4, shortcut=True)],
    ids=["stacked", "deep-transition"],
)
def test_modules_train_batched_over_seeds(make):
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = make()
            size = getattr(self.rnn, "output_size", self.rnn.hidden_size)
            self.out = DeepOutput(size, 3)

        def forward(self, x):
            return self.out(self.rnn(x)[0])

    x, y = torch.randn(16, 5, 2), torch.randint(0, 3, (16, 5))
    runs = train_seeds(
        Tagger,
        [0, 1],
        Minibatches(x, y, 8, 3, seed=0),
        sequence_cross_entropy,
        1e-2,
        progress=False,
    )
    assert len(runs.models) == 2 and all(len(h.loss) == 3 for h in runs.histories)
    w0, w1 = (dict(m.named_parameters())["out.out.weight"] for m in runs.models)
    assert not torch.equal(w0, w1)  # two different seeds, trained separately


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: StackedRNN(0, 4), ValueError, "input_size must be an int >= 1, got 0"),
        (lambda: StackedRNN(3, 4.0), TypeError, "hidden_size must be an int"),
        (lambda: StackedRNN(3, 4, 0), ValueError, "num_layers must be an int >= 1"),
        (lambda: StackedRNN(3, 4, 2, input_skip=1), TypeError, "input_skip must be a bool"),
        (lambda: StackedRNN(3, 4, 2, output_skip="yes"), TypeError, "output_skip must be a bool"),
        (lambda: DeepTransitionRNN(3, 4, transition_size=0), ValueError, "transition_size"),
        (lambda: DeepTransitionRNN(3, 4, shortcut=0), TypeError, "shortcut must be a bool"),
        (lambda: DeepOutput(4, 0), ValueError, "output_size must be an int >= 1"),
        (lambda: DeepOutput(4, 2, inner_size=-1), ValueError, "inner_size"),
    ],
)
def test_constructor_arguments_are_checked(make, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(")):
        make()


@pytest.mark.parametrize(
    "model", [StackedRNN(3, 4, 2), DeepTransitionRNN(3, 4)], ids=["stacked", "deep-transition"]
)
def test_forward_arguments_are_checked(model):
    with pytest.raises(ValueError, match=r"must have 3 features"):
        model(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"shape \(batch, time, features\)"):
        model(torch.randn(2, 3))
    with pytest.raises(TypeError, match="dtype"):
        model(torch.randn(2, 5, 3, dtype=torch.float64))
    layers = getattr(model, "num_layers", 1)
    with pytest.raises(ValueError, match=rf"h0 must have shape \({layers}, 2, 4\)"):
        model(torch.randn(2, 5, 3), torch.zeros(layers, 3, 4))


def test_deep_output_checks_its_input():
    m = DeepOutput(4, 2)
    with pytest.raises(ValueError, match="h must have 4 features in its last dimension"):
        m(torch.randn(2, 5))
    with pytest.raises(TypeError, match="h must be a torch.Tensor"):
        m([1.0, 2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    "module, error, words",
    [
        (nn.LSTM(3, 4, batch_first=True), TypeError, "module must be a torch.nn.RNN, got LSTM"),
        (nn.RNN(3, 4), ValueError, "batch_first=False"),
        (nn.RNN(3, 4, batch_first=True, bidirectional=True), ValueError, "bidirectional=True"),
        (nn.RNN(3, 4, batch_first=True, nonlinearity="relu"), ValueError, "must use tanh"),
    ],
)
def test_from_torch_refuses_what_it_cannot_copy(module, error, words):
    with pytest.raises(error, match=words):
        StackedRNN.from_torch(module)
