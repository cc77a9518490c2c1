"""seqcourse.gated against torch.nn.LSTM / nn.GRU, hand-written equations and autograd.

Tolerances as in tests/test_rnn.py: "equal to rounding" means
max |ours - reference| <= tol * max |reference| for every output, final state and gradient,
with tol = 1e-6 in float32 and 1e-12 in float64.

Two code paths are compared wherever it matters: the hand-derived backward of
seqcourse.fused (``model.fused = True``) and the default autograd path of the step code
(``model.fused = False``, and ``trace=[]`` to be sure).
"""

import copy

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from seqcourse.gated import (
    GRU,
    GRU_VARIANTS,
    LAYER_NORMS,
    LSTM,
    LSTM_VARIANTS,
    forget_bias_,
    init_recurrent_,
    state_jacobian_norms,
)
from seqcourse.rnn import CharRNN, ElmanRNN

TOL = {torch.float32: 1e-6, torch.float64: 1e-12}
F64 = torch.float64
PATHS = ["fused", "autograd"]


def assert_equal_to_rounding(got: torch.Tensor, want: torch.Tensor, tol: float, what: str):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = (got - want).abs().max().item()
    scale = max(want.abs().max().item(), 1e-30)
    assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} * {scale:.3g}"


def force_autograd(model: nn.Module) -> None:
    if hasattr(model, "fused"):
        model.fused = False


def call(model: nn.Module, x: torch.Tensor, state, path: str = "fused"):
    """model(x, state), on the hand-derived backward or on the autograd path."""
    if path == "fused" and isinstance(model, LSTM | GRU):
        model.fused = True
    if path == "autograd" and isinstance(model, LSTM | GRU):
        force_autograd(model)
        return model(x, state, trace=[])
    return model(x, state)


def run_and_backprop(model, x, state, weights, path="fused"):
    """Output, final states and the gradients (parameters, x, initial states) of a random
    linear loss of all of them. ``state``: None, h0 (GRU) or (h0, c0) (LSTM)."""
    x = x.detach().clone().requires_grad_()
    if isinstance(state, tuple):
        state = tuple(s.detach().clone().requires_grad_() for s in state)
    elif state is not None:
        state = state.detach().clone().requires_grad_()
    out, final = call(model, x, state, path)
    finals = final if isinstance(final, tuple) else (final,)
    loss = (out * weights[0]).sum()
    for f, w in zip(finals, weights[1:], strict=False):
        loss = loss + (f * w).sum()
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    grads["x"] = x.grad
    if isinstance(state, tuple):
        grads["h0"], grads["c0"] = state[0].grad, state[1].grad
    elif state is not None:
        grads["h0"] = state.grad
    return out, finals, grads


def assert_runs_equal(got, want, tol):
    (out, finals, grads), (ref_out, ref_finals, ref_grads) = got, want
    assert_equal_to_rounding(out, ref_out, tol, "output")
    for k, (a, b) in enumerate(zip(finals, ref_finals, strict=True)):
        assert_equal_to_rounding(a, b, tol, ["h_n", "c_n"][k])
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        assert grad is not None and ref_grads[name] is not None, f"no gradient of {name}"
        assert_equal_to_rounding(grad, ref_grads[name], tol, f"gradient of {name}")


def random_inputs(kind, B, T, D, H, n_states, dirs, dtype, with_state):
    x = torch.randn(B, T, D, dtype=dtype)
    if not with_state:
        state = None
    elif kind == "lstm":
        state = (torch.randn(n_states, B, H, dtype=dtype), torch.randn(n_states, B, H, dtype=dtype))
    else:
        state = torch.randn(n_states, B, H, dtype=dtype)
    weights = (torch.randn(B, T, dirs * H, dtype=dtype),)
    weights += tuple(torch.randn(n_states, B, H, dtype=dtype) for _ in range(2))
    return x, state, weights


def randomise_peepholes(model: nn.Module) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("peephole"):
                p.normal_(0.0, 0.5)


# --------------------------------------------------------- equal to nn.LSTM / nn.GRU
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zeros", "state"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_equals_torch(kind, with_state, bidirectional, num_layers, dtype, path):
    torch.manual_seed(num_layers + 2 * bidirectional + 4 * with_state)
    B, T, D, H = 2, 5, 3, 4
    dirs = 2 if bidirectional else 1
    torch_cls, ours_cls = (nn.LSTM, LSTM) if kind == "lstm" else (nn.GRU, GRU)
    ref = torch_cls(D, H, num_layers, batch_first=True, bidirectional=bidirectional).to(dtype)
    ours = ours_cls.from_torch(ref)
    assert ours.weight_ih_l0.dtype == dtype
    x, state, weights = random_inputs(kind, B, T, D, H, num_layers * dirs, dirs, dtype, with_state)
    got = run_and_backprop(ours, x, state, weights, path)
    want = run_and_backprop(ref, x, state, weights)
    assert_runs_equal(got, want, TOL[dtype])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_parameters_named_and_shaped_like_torch(kind):
    torch_cls, ours_cls = (nn.LSTM, LSTM) if kind == "lstm" else (nn.GRU, GRU)
    for bias in (True, False):
        ours = ours_cls(3, 4, num_layers=2, bias=bias, bidirectional=True)
        ref = torch_cls(3, 4, num_layers=2, bias=bias, bidirectional=True, batch_first=True)
        assert [(n, p.shape) for n, p in ours.named_parameters()] == [
            (n, p.shape) for n, p in ref.named_parameters()
        ]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False])
def test_to_torch_round_trip(kind, bias):
    torch.manual_seed(0)
    ours_cls = LSTM if kind == "lstm" else GRU
    ours = ours_cls(3, 4, num_layers=2, bias=bias, bidirectional=True).double()
    ref = ours.to_torch()
    assert isinstance(ref, nn.LSTM if kind == "lstm" else nn.GRU)
    assert ref.batch_first and ref.bidirectional and ref.num_layers == 2 and ref.bias == bias
    assert ref.weight_hh_l1_reverse.dtype == F64
    back = ours_cls.from_torch(ref)
    for (n1, p1), (n2, p2) in zip(
        ours.state_dict().items(), back.state_dict().items(), strict=True
    ):
        assert n1 == n2 and torch.equal(p1, p2), n1
    x = torch.randn(2, 5, 3, dtype=F64)
    a, b = ours(x), ref(x)
    assert_equal_to_rounding(a[0], b[0], 1e-12, "output")
    a_fin = a[1] if kind == "lstm" else (a[1],)
    b_fin = b[1] if kind == "lstm" else (b[1],)
    for s, t in zip(a_fin, b_fin, strict=True):
        assert_equal_to_rounding(s, t, 1e-12, "final state")


@pytest.mark.parametrize(
    "make",
    [
        lambda: LSTM(3, 4, variant="peephole"),
        lambda: LSTM(3, 4, variant="coupled"),
        lambda: LSTM(3, 4, variant="no_forget"),
        lambda: LSTM(3, 4, layer_norm=True),
        lambda: LSTM(3, 4, layer_norm="per_gate"),
        lambda: LSTM(3, 4, zoneout=0.1),
        lambda: GRU(3, 4, variant="cho"),
    ],
    ids=[
        "peephole",
        "coupled",
        "no_forget",
        "layer_norm",
        "layer_norm-per_gate",
        "zoneout",
        "gru-cho",
    ],
)
def test_to_torch_refuses_non_vanilla(make):
    with pytest.raises(ValueError, match="only"):
        make().to_torch()


# ----------------------------------------------------------------------- LSTM variants
def lstm_reference(x, h, c, W_ih, W_hh, b_ih, b_hh, variant="vanilla", peep=None, zoneout=(0, 0)):
    """The LSTM equations step by step, one layer, one direction; zoneout as evaluation's
    mixing. Returns (output (B, T, H), h_T, c_T)."""
    H = h.shape[1]
    zeta_c, zeta_h = zoneout
    outs = []
    for t in range(x.shape[1]):
        a = x[:, t] @ W_ih.T + h @ W_hh.T
        if b_ih is not None:
            a = a + b_ih + b_hh
        if variant in ("vanilla", "peephole"):
            a_i, a_f, a_g, a_o = a.split(H, dim=1)
            if variant == "peephole":
                a_i, a_f = a_i + peep[0] * c, a_f + peep[1] * c
            i, f = torch.sigmoid(a_i), torch.sigmoid(a_f)
        else:
            a_i, a_g, a_o = a.split(H, dim=1)
            i = torch.sigmoid(a_i)
            f = 1.0 - i if variant == "coupled" else torch.ones_like(i)
        c_new = f * c + i * torch.tanh(a_g)
        if variant == "peephole":
            a_o = a_o + peep[2] * c_new
        h_new = torch.sigmoid(a_o) * torch.tanh(c_new)
        c = zeta_c * c + (1 - zeta_c) * c_new
        h = zeta_h * h + (1 - zeta_h) * h_new
        outs.append(h)
    return torch.stack(outs, dim=1), h, c


@pytest.mark.parametrize("variant", LSTM_VARIANTS)
def test_lstm_variant_shapes_and_backward(variant):
    torch.manual_seed(0)
    B, T, D, H = 2, 5, 3, 4
    G = 4 if variant in ("vanilla", "peephole") else 3
    model = LSTM(D, H, num_layers=2, bidirectional=True, variant=variant)
    shapes = dict((n, tuple(p.shape)) for n, p in model.named_parameters())
    for sfx in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        d_in = D if sfx.startswith("_l0") else 2 * H
        assert shapes.pop(f"weight_ih{sfx}") == (G * H, d_in)
        assert shapes.pop(f"weight_hh{sfx}") == (G * H, H)
        assert shapes.pop(f"bias_ih{sfx}") == shapes.pop(f"bias_hh{sfx}") == (G * H,)
        if variant == "peephole":
            assert shapes.pop(f"peephole{sfx}") == (3, H)
            assert torch.equal(getattr(model, f"peephole{sfx}"), torch.zeros(3, H))
    assert shapes == {}
    x = torch.randn(B, T, D, requires_grad=True)
    out, (h_n, c_n) = model(x)
    assert out.shape == (B, T, 2 * H) and h_n.shape == c_n.shape == (4, B, H)
    (out.sum() + c_n.sum()).backward()
    assert x.grad is not None and x.grad.shape == x.shape
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("variant", LSTM_VARIANTS)
def test_lstm_variant_follows_its_equations(variant, path):
    torch.manual_seed(1)
    B, T, D, H = 3, 6, 2, 4
    model = LSTM(D, H, variant=variant).double()
    randomise_peepholes(model)
    x = torch.randn(B, T, D, dtype=F64)
    h0, c0 = torch.randn(1, B, H, dtype=F64), torch.randn(1, B, H, dtype=F64)
    with torch.no_grad():
        out, (h_n, c_n) = call(model, x, (h0, c0), path)
        peep = getattr(model, "peephole_l0", None)
        params = (model.weight_ih_l0, model.weight_hh_l0, model.bias_ih_l0, model.bias_hh_l0)
        want = lstm_reference(x, h0[0], c0[0], *params, variant=variant, peep=peep)
    assert_equal_to_rounding(out, want[0], 1e-12, "output")
    assert_equal_to_rounding(h_n[0], want[1], 1e-12, "h_n")
    assert_equal_to_rounding(c_n[0], want[2], 1e-12, "c_n")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_no_forget_with_closed_input_gate_is_the_constant_error_carousel(dtype, path):
    torch.manual_seed(2)
    B, T, D, H = 2, 8, 3, 4
    model = LSTM(D, H, variant="no_forget").to(dtype)
    with torch.no_grad():
        model.bias_ih_l0[:H] = -1e4  # sigma(-1e4) = 0: nothing is written
    x = torch.randn(B, T, D, dtype=dtype)
    h0, c0 = torch.randn(1, B, H, dtype=dtype), torch.randn(1, B, H, dtype=dtype)
    if path == "autograd":
        force_autograd(model)
        trace = []
        _, (h_n, c_n) = model(x, (h0, c0), trace=trace)
        assert len(trace) == T
        for _, c in trace:
            assert torch.equal(c, c0[0])
    else:
        _, (h_n, c_n) = model(x, (h0, c0))
    assert torch.equal(c_n, c0)
    assert not torch.equal(h_n, h0)  # h still moves: o_t tanh(c_0)


def test_peephole_with_zero_weights_is_vanilla():
    torch.manual_seed(3)
    vanilla = LSTM(3, 4, num_layers=2, bidirectional=True).double()
    peephole = LSTM(3, 4, num_layers=2, bidirectional=True, variant="peephole").double()
    missing, unexpected = peephole.load_state_dict(vanilla.state_dict(), strict=False)
    assert sorted(missing) == sorted(
        f"peephole{s}" for s in ("_l0", "_l0_reverse", "_l1", "_l1_reverse")
    )
    assert unexpected == []
    x = torch.randn(2, 6, 3, dtype=F64)
    weights = (torch.randn(2, 6, 8, dtype=F64),) + (torch.randn(4, 2, 4, dtype=F64),) * 2
    state = (torch.randn(4, 2, 4, dtype=F64), torch.randn(4, 2, 4, dtype=F64))
    got = run_and_backprop(peephole, x, state, weights)
    want = run_and_backprop(vanilla, x, state, weights)
    got[2].pop("peephole_l0"), got[2].pop("peephole_l0_reverse")
    got[2].pop("peephole_l1"), got[2].pop("peephole_l1_reverse")
    assert_runs_equal(got, want, 1e-12)
    randomise_peepholes(peephole)
    assert not torch.allclose(peephole(x)[0], vanilla(x)[0])


@pytest.mark.parametrize("variant", ["vanilla", "peephole"])
def test_forget_bias_sets_the_forget_gate_biases(variant):
    H = 5
    model = LSTM(3, H, num_layers=2, bidirectional=True, variant=variant, forget_bias=1.0)
    for layer in (0, 1):
        for sfx in (f"_l{layer}", f"_l{layer}_reverse"):
            b_ih, b_hh = getattr(model, f"bias_ih{sfx}"), getattr(model, f"bias_hh{sfx}")
            assert torch.equal(b_ih[H : 2 * H], torch.ones(H))
            assert torch.equal(b_hh[H : 2 * H], torch.zeros(H))
            assert (b_ih[:H].abs() <= H**-0.5).all() and b_ih[:H].abs().sum() > 0
    model.reset_parameters()  # the forget bias survives re-initialisation
    assert torch.equal(model.bias_ih_l1[H : 2 * H], torch.ones(H))


@pytest.mark.parametrize("variant", ["coupled", "no_forget"])
def test_forget_bias_needs_a_forget_gate(variant):
    with pytest.raises(ValueError, match="forget_bias"):
        LSTM(3, 4, variant=variant, forget_bias=1.0)


def test_forget_bias_needs_biases():
    with pytest.raises(ValueError, match="forget_bias needs bias=True"):
        LSTM(3, 4, bias=False, forget_bias=1.0)


# --------------------------------------------------------------------------- GRU variants
def gru_reference(x, h, W_ih, W_hh, b_ih, b_hh, cho):
    """The GRU equations step by step; cho: the reset gate before the recurrent product."""
    H = h.shape[1]
    W_hr, W_hz, W_hn = W_hh.split(H)
    b_hr, b_hz, b_hn = b_hh.split(H)
    outs = []
    for t in range(x.shape[1]):
        x_r, x_z, x_n = (x[:, t] @ W_ih.T + b_ih).split(H, dim=1)
        r = torch.sigmoid(x_r + h @ W_hr.T + b_hr)
        z = torch.sigmoid(x_z + h @ W_hz.T + b_hz)
        if cho:
            n = torch.tanh(x_n + (r * h) @ W_hn.T + b_hn)
        else:
            n = torch.tanh(x_n + r * (h @ W_hn.T + b_hn))
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs, dim=1), h


@pytest.mark.parametrize("path", PATHS)
def test_gru_cho_follows_its_equations_and_differs_from_pytorch(path):
    torch.manual_seed(4)
    B, T, D, H = 3, 6, 2, 4
    torch_form = GRU(D, H).double()
    cho = GRU(D, H, variant="cho").double()
    cho.load_state_dict(torch_form.state_dict())
    x, h0 = torch.randn(B, T, D, dtype=F64), torch.randn(1, B, H, dtype=F64)
    params = (cho.weight_ih_l0, cho.weight_hh_l0, cho.bias_ih_l0, cho.bias_hh_l0)
    with torch.no_grad():
        out_cho, h_cho = call(cho, x, h0, path)
        out_torch, h_torch = call(torch_form, x, h0, path)
        for out, h_n, is_cho in ((out_cho, h_cho, True), (out_torch, h_torch, False)):
            want_out, want_h = gru_reference(x, h0[0], *params, cho=is_cho)
            assert_equal_to_rounding(out, want_out, 1e-12, f"output, cho={is_cho}")
            assert_equal_to_rounding(h_n[0], want_h, 1e-12, f"h_n, cho={is_cho}")
    assert not torch.allclose(out_cho, out_torch, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("path", PATHS)
def test_gru_variants_agree_when_the_reset_gate_is_open(path):
    torch.manual_seed(5)
    torch_form = GRU(2, 4, num_layers=2, bidirectional=True).double()
    with torch.no_grad():
        for layer in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
            getattr(torch_form, f"bias_ih{layer}")[:4] = 1e4  # sigma(1e4) = 1: r = 1
    cho = GRU(2, 4, num_layers=2, bidirectional=True, variant="cho").double()
    cho.load_state_dict(torch_form.state_dict())
    x, h0 = torch.randn(3, 6, 2, dtype=F64), torch.randn(4, 3, 4, dtype=F64)
    with torch.no_grad():
        for a, b in zip(call(cho, x, h0, path), call(torch_form, x, h0, path), strict=True):
            assert_equal_to_rounding(a, b, 1e-12, "cho vs pytorch with r = 1")


# ---------------------------------------------------------- fused path vs autograd path
def make_model(kind: str, variant: str, H: int = 4, **kwargs) -> nn.Module:
    model = (LSTM if kind == "lstm" else GRU)(3, H, variant=variant, **kwargs).double()
    randomise_peepholes(model)
    return model


VARIANTS = [("lstm", v) for v in LSTM_VARIANTS] + [("gru", v) for v in GRU_VARIANTS]
VARIANT_IDS = [f"{k}-{v}" for k, v in VARIANTS]


@pytest.mark.parametrize(("kind", "variant"), VARIANTS, ids=VARIANT_IDS)
def test_default_path_equals_autograd_path(kind, variant):
    torch.manual_seed(6)
    B, T, D, H = 3, 6, 3, 4
    model = make_model(kind, variant, num_layers=2, bidirectional=True)
    x, state, weights = random_inputs(kind, B, T, D, H, 4, 2, F64, True)
    got = run_and_backprop(copy.deepcopy(model), x, state, weights, "fused")
    want = run_and_backprop(copy.deepcopy(model), x, state, weights, "autograd")
    assert_runs_equal(got, want, 1e-12)
    # without an initial state too (the gradient must not need one)
    got = run_and_backprop(copy.deepcopy(model), x, None, weights, "fused")
    want = run_and_backprop(copy.deepcopy(model), x, None, weights, "autograd")
    assert_runs_equal(got, want, 1e-12)


def test_fast_path_is_taken_only_when_it_applies(monkeypatch):
    """fused=True calls seqcourse.fused (the vanilla LSTM its whole-layer function); a
    trace, fused=False (the default), layer norm and zoneout use autograd of the steps."""
    import seqcourse.gated as gated

    calls = []
    for name in ("fused_lstm", "fused_lstm_layer", "fused_gru"):
        original = getattr(gated, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(gated, name, counted)
    x = torch.randn(2, 4, 3)

    def n_calls(model, **kwargs):
        calls.clear()
        model(x, **kwargs)
        return len(calls)

    def fused(model):
        model.fused = True
        return model

    for variant in LSTM_VARIANTS:
        assert n_calls(fused(LSTM(3, 4, variant=variant, bidirectional=True))) == 2, variant
        assert n_calls(fused(LSTM(3, 4, variant=variant)), trace=[]) == 0, variant
        assert n_calls(LSTM(3, 4, variant=variant)) == 0, variant  # default: autograd
    for variant in GRU_VARIANTS:
        assert n_calls(fused(GRU(3, 4, variant=variant, num_layers=2))) == 2, variant
        assert n_calls(fused(GRU(3, 4, variant=variant)), trace=[]) == 0, variant
        assert n_calls(GRU(3, 4, variant=variant)) == 0, variant
    assert n_calls(fused(LSTM(3, 4, layer_norm=True))) == 0
    assert n_calls(fused(LSTM(3, 4, layer_norm="per_gate"))) == 0
    assert n_calls(fused(LSTM(3, 4, zoneout=0.1)).eval()) == 0
    assert n_calls(fused(LSTM(3, 4, zoneout=0.1)).train()) == 0


@pytest.mark.parametrize(("kind", "variant"), VARIANTS, ids=VARIANT_IDS)
def test_gradcheck_default_path(kind, variant):
    """torch.autograd.gradcheck on everything: x, the initial state and every parameter."""
    torch.manual_seed(7)
    B, T, D, H = 2, 3, 3, 2
    model = make_model(kind, variant, H)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    x = torch.randn(B, T, D, dtype=F64, requires_grad=True)
    states = tuple(
        torch.randn(1, B, H, dtype=F64, requires_grad=True)
        for _ in range(2 if kind == "lstm" else 1)
    )

    def f(x, *rest):
        state = rest[: len(states)]
        state = state if kind == "lstm" else state[0]
        p = dict(zip(names, rest[len(states) :], strict=True))
        out, final = torch.func.functional_call(model, p, (x, state))
        return (out, *final) if kind == "lstm" else (out, final)

    assert torch.autograd.gradcheck(f, (x, *states, *params))


# ------------------------------------------------------------------ layer norm, zoneout
def big_ln_lstm(variant: str, layer_norm, D: int, H: int, seed: int) -> LSTM:
    """A float64 layer-norm LSTM with large random weights and zero biases: the
    pre-activations are large, so the eps of the normalisation is negligible."""
    torch.manual_seed(seed)
    model = LSTM(D, H, variant=variant, layer_norm=layer_norm).double()
    with torch.no_grad():
        model.weight_ih_l0.normal_(0.0, 30.0)
        model.weight_hh_l0.normal_(0.0, 30.0)
        model.bias_ih_l0.zero_()
        model.bias_hh_l0.zero_()
    return model


def scaled_copy(model: LSTM, f_ih: torch.Tensor, f_hh: torch.Tensor) -> LSTM:
    """``model`` with row r of W_ih times f_ih[r] and of W_hh times f_hh[r]."""
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        scaled.weight_ih_l0.mul_(f_ih[:, None])
        scaled.weight_hh_l0.mul_(f_hh[:, None])
    return scaled


def gate_factors(G: int, H: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A different factor for each gate block and each of W_ih, W_hh: (G*H,) each."""
    f_ih = torch.tensor([10.0, 2.0, 3.0, 7.0][:G], dtype=F64).repeat_interleave(H)
    f_hh = torch.tensor([4.0, 10.0, 1.5, 2.0][:G], dtype=F64).repeat_interleave(H)
    return f_ih, f_hh


@pytest.mark.parametrize("variant", ["vanilla", "coupled"])
def test_per_gate_layer_norm_ignores_the_scale_of_each_gate_block(variant):
    B, T, D, H = 3, 6, 3, 5
    G = 4 if variant == "vanilla" else 3
    model = big_ln_lstm(variant, "per_gate", D, H, 8)
    x = torch.randn(B, T, D, dtype=F64)
    out, (h_n, c_n) = model(x)
    assert out.shape == (B, T, H) and h_n.shape == c_n.shape == (1, B, H)
    out2, (_, c2) = scaled_copy(model, *gate_factors(G, H))(x)
    assert_equal_to_rounding(out2, out, 1e-5, "output after scaling the gate blocks")
    assert_equal_to_rounding(c2, c_n, 1e-5, "c_n after scaling the gate blocks")
    # without layer norm the same scaling changes everything
    plain = LSTM(D, H, variant=variant).double()
    plain.load_state_dict(model.state_dict(), strict=False)
    plain_scaled = scaled_copy(plain, *gate_factors(G, H))
    assert not torch.allclose(plain_scaled(x)[0], plain(x)[0], atol=1e-2)


@pytest.mark.parametrize("variant", ["vanilla", "coupled"])
def test_ba_layer_norm_ignores_one_common_scale_but_not_the_gate_blocks(variant):
    """Ba et al.'s LN runs over the whole stacked G*H vector: scaling all of W_ih (or
    W_hh) by one factor changes nothing, scaling the gate blocks differently changes the
    relative size of the gates' pre-activations and so the output."""
    B, T, D, H = 3, 6, 3, 5
    G = 4 if variant == "vanilla" else 3
    model = big_ln_lstm(variant, "ba", D, H, 8)
    x = torch.randn(B, T, D, dtype=F64)
    out, (h_n, c_n) = model(x)
    assert out.shape == (B, T, H) and h_n.shape == c_n.shape == (1, B, H)
    common = scaled_copy(
        model, torch.full((G * H,), 7.0, dtype=F64), torch.full((G * H,), 0.3, dtype=F64)
    )
    out2, (_, c2) = common(x)
    assert_equal_to_rounding(out2, out, 1e-5, "output after scaling W_ih and W_hh")
    assert_equal_to_rounding(c2, c_n, 1e-5, "c_n after scaling W_ih and W_hh")
    out3, _ = scaled_copy(model, *gate_factors(G, H))(x)
    assert (out3 - out).abs().max() > 1e-2, "Ba's LN must not be invariant per gate block"


def test_ba_and_per_gate_layer_norm_differ_and_share_parameters():
    torch.manual_seed(10)
    ba = LSTM(3, 5, layer_norm="ba").double()
    per_gate = LSTM(3, 5, layer_norm="per_gate").double()
    assert [(n, p.shape) for n, p in ba.named_parameters()] == [
        (n, p.shape) for n, p in per_gate.named_parameters()
    ]
    per_gate.load_state_dict(ba.state_dict())
    x = torch.randn(2, 7, 3, dtype=F64)
    gap = (ba(x)[0] - per_gate(x)[0]).abs().max().item()
    assert gap > 1e-3, f"the two forms gave the same output (max difference {gap:.1e})"


def test_layer_norm_true_means_ba():
    assert LAYER_NORMS == ("ba", "per_gate")
    assert LSTM(3, 4, layer_norm=True).layer_norm == "ba"
    assert LSTM(3, 4, layer_norm="per_gate").layer_norm == "per_gate"
    assert LSTM(3, 4).layer_norm is None and LSTM(3, 4, layer_norm=None).layer_norm is None
    assert "layer_norm='ba'" in repr(LSTM(3, 4, layer_norm=True))
    assert "layer_norm" not in repr(LSTM(3, 4))
    torch.manual_seed(11)
    a, b = LSTM(3, 4, layer_norm=True).double(), LSTM(3, 4, layer_norm="ba").double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 3, dtype=F64)
    assert torch.equal(a(x)[0], b(x)[0])


def ln_reference(v, gain, bias=None, eps=1e-5):
    """LN over the last dimension written out: gain * (v - mean) / sqrt(var + eps) + bias."""
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)  # the biased variance, per example
    out = gain * (v - mean) / torch.sqrt(var + eps)
    return out if bias is None else out + bias


def ln_lstm_reference(x, h, c, p, form):
    """The layer-normalised LSTM from its equations, step by step (vanilla, one layer):
    a = LN(W_h h; gamma_h) + LN(W_x x; gamma_x) + b over the whole 4H vector ("ba") or per
    gate block ("per_gate"); c = f c + i tanh(g); h = o tanh(LN(c; gamma_c, beta_c))."""
    H = h.shape[1]

    def ln(v, gain):
        if form == "ba":
            return ln_reference(v, gain)
        blocks = [ln_reference(b, g) for b, g in zip(v.split(H, -1), gain.split(H), strict=True)]
        return torch.cat(blocks, -1)

    b = p["bias_ih_l0"] + p["bias_hh_l0"]
    outs = []
    for t in range(x.shape[1]):
        a = (
            ln(h @ p["weight_hh_l0"].T, p["ln_hh_l0"])
            + ln(x[:, t] @ p["weight_ih_l0"].T, p["ln_ih_l0"])
            + b
        )
        a_i, a_f, a_g, a_o = a.split(H, dim=1)
        c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
        c_hat = ln_reference(c, p["ln_c_l0"][0], p["ln_c_l0"][1])
        h = torch.sigmoid(a_o) * torch.tanh(c_hat)
        outs.append(h)
    return torch.stack(outs, dim=1), h, c


@pytest.mark.parametrize("form", LAYER_NORMS)
def test_layer_norm_equals_its_equations_with_gradients(form):
    """Outputs, final states and every gradient (autograd of both) against the equations
    written out step by step, with gains and the cell's bias away from their initial 1, 0."""
    torch.manual_seed(12)
    B, T, D, H = 3, 5, 3, 4
    model = LSTM(D, H, layer_norm=form).double()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith("ln_"):
                param.uniform_(0.5, 1.5)
    x = torch.randn(B, T, D, dtype=F64)
    h0, c0 = torch.randn(1, B, H, dtype=F64), torch.randn(1, B, H, dtype=F64)
    weights = [torch.randn(B, T, H, dtype=F64), torch.randn(B, H, dtype=F64)] + [
        torch.randn(B, H, dtype=F64)
    ]
    names = [n for n, _ in model.named_parameters()]

    def loss_of(out, h_n, c_n):
        return (out * weights[0]).sum() + (h_n * weights[1]).sum() + (c_n * weights[2]).sum()

    out, (h_n, c_n) = model(x, (h0, c0))
    got_grads = torch.autograd.grad(loss_of(out, h_n[0], c_n[0]), list(model.parameters()))
    params = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    want_out, want_h, want_c = ln_lstm_reference(x, h0[0], c0[0], params, form)
    want_grads = torch.autograd.grad(loss_of(want_out, want_h, want_c), list(params.values()))
    assert_equal_to_rounding(out, want_out, 1e-12, "output")
    assert_equal_to_rounding(h_n[0], want_h, 1e-12, "h_n")
    assert_equal_to_rounding(c_n[0], want_c, 1e-12, "c_n")
    for name, g, w in zip(names, got_grads, want_grads, strict=True):
        assert_equal_to_rounding(g, w, 1e-10, f"gradient of {name}")


@pytest.mark.parametrize("form", LAYER_NORMS)
def test_layer_norm_gradcheck(form):
    torch.manual_seed(13)
    model = LSTM(2, 2, layer_norm=form, variant="peephole").double()
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    x = torch.randn(2, 3, 2, dtype=F64, requires_grad=True)

    def f(x, *rest):
        out, (h_n, c_n) = torch.func.functional_call(
            model, dict(zip(names, rest, strict=True)), (x,)
        )
        return out, h_n, c_n

    assert torch.autograd.gradcheck(f, (x, *params))


@pytest.mark.parametrize("form", LAYER_NORMS)
def test_layer_norm_parameters_and_gradients(form):
    model = LSTM(3, 4, num_layers=2, bidirectional=True, variant="peephole", layer_norm=form)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    for sfx in ("_l0", "_l0_reverse", "_l1", "_l1_reverse"):
        assert shapes[f"ln_ih{sfx}"] == shapes[f"ln_hh{sfx}"] == (16,)
        assert shapes[f"ln_c{sfx}"] == (2, 4)
        ln_c = getattr(model, f"ln_c{sfx}")
        assert torch.equal(ln_c[0], torch.ones(4)) and torch.equal(ln_c[1], torch.zeros(4))
        assert torch.equal(getattr(model, f"ln_ih{sfx}"), torch.ones(16))
    out, (h_n, _) = model(torch.randn(2, 5, 3))
    assert out.shape == (2, 5, 8) and h_n.shape == (4, 2, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_zoneout_in_eval_is_deterministic_mixing():
    torch.manual_seed(9)
    B, T, D, H = 3, 6, 2, 4
    model = LSTM(D, H, zoneout=(0.2, 0.5)).double().eval()
    assert model.zoneout == (0.2, 0.5)
    x = torch.randn(B, T, D, dtype=F64)
    h0, c0 = torch.randn(1, B, H, dtype=F64), torch.randn(1, B, H, dtype=F64)
    with torch.no_grad():
        a, (h_a, c_a) = model(x, (h0, c0))
        b, _ = model(x, (h0, c0))
        params = (model.weight_ih_l0, model.weight_hh_l0, model.bias_ih_l0, model.bias_hh_l0)
        want = lstm_reference(x, h0[0], c0[0], *params, zoneout=(0.2, 0.5))
    assert torch.equal(a, b)
    assert_equal_to_rounding(a, want[0], 1e-12, "output")
    assert_equal_to_rounding(h_a[0], want[1], 1e-12, "h_n")
    assert_equal_to_rounding(c_a[0], want[2], 1e-12, "c_n")
    assert LSTM(D, H, zoneout=0.3).zoneout == (0.3, 0.3)


def test_zoneout_in_training_is_reproducible_with_a_generator():
    torch.manual_seed(10)
    model = LSTM(2, 4, zoneout=0.3).train()
    x = torch.randn(3, 8, 2)
    model.generator = torch.Generator().manual_seed(0)
    torch.manual_seed(100)  # the global RNG differs between the two calls ...
    a, _ = model(x)
    model.generator = torch.Generator().manual_seed(0)
    torch.manual_seed(200)
    b, _ = model(x)
    assert torch.equal(a, b)  # ... the masks come from model.generator alone
    model.generator = torch.Generator().manual_seed(1)
    c, _ = model(x)
    assert not torch.equal(a, c)
    assert not torch.allclose(a, model.eval()(x)[0])


def test_zoneout_in_training_keeps_units_at_the_given_rates():
    torch.manual_seed(11)
    B, T, D, H = 40, 10, 2, 8
    model = LSTM(D, H, zoneout=(0.2, 0.6)).train()
    model.generator = torch.Generator().manual_seed(0)
    trace: list = []
    x = torch.randn(B, T, D)
    with torch.no_grad():
        model(x, trace=trace)
    hs = torch.stack([torch.zeros(B, H)] + [h for h, _ in trace])
    cs = torch.stack([torch.zeros(B, H)] + [c for _, c in trace])
    kept_h = (hs[1:] == hs[:-1]).double().mean().item()
    kept_c = (cs[1:] == cs[:-1]).double().mean().item()
    assert kept_c == pytest.approx(0.2, abs=0.04)
    assert kept_h == pytest.approx(0.6, abs=0.04)


@pytest.mark.parametrize("zoneout", [1.0, -0.1, (0.1, 1.0), float("nan")])
def test_zoneout_out_of_range(zoneout):
    with pytest.raises(ValueError, match="zoneout"):
        LSTM(3, 4, zoneout=zoneout)


def test_zoneout_must_be_a_number_or_a_pair():
    with pytest.raises(ValueError, match="zoneout must be a number or a pair"):
        LSTM(3, 4, zoneout=(0.1, 0.2, 0.3))
    with pytest.raises(TypeError, match="zoneout"):
        LSTM(3, 4, zoneout="0.1")


# --------------------------------------------------------------------------- traces
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_trace_holds_every_step_in_order(kind):
    torch.manual_seed(12)
    model = (LSTM if kind == "lstm" else GRU)(2, 3, num_layers=2, bidirectional=True)
    trace: list = []
    out, final = model(torch.randn(2, 5, 2), trace=trace)
    assert len(trace) == 2 * 2 * 5
    hs = [s[0] if kind == "lstm" else s for s in trace]
    assert all(h.shape == (2, 3) for h in hs)
    # order: layer 0 forward (t = 0..T-1), layer 0 backward (t = T-1..0), then layer 1
    h_n = final[0] if kind == "lstm" else final
    assert torch.equal(hs[4], h_n[0]) and torch.equal(hs[9], h_n[1])
    assert torch.equal(hs[14], h_n[2]) and torch.equal(hs[19], h_n[3])
    for t in range(5):
        assert torch.equal(hs[10 + t], out[:, t, :3])  # layer 1 forward
        assert torch.equal(hs[19 - t], out[:, t, 3:])  # layer 1 backward, from t = T-1


# --------------------------------------------------------------------- init_recurrent_
RECURRENT_MODULES = {
    "LSTM": lambda: LSTM(3, 4, num_layers=2, bidirectional=True),
    "LSTM-coupled": lambda: LSTM(3, 4, variant="coupled"),
    "GRU": lambda: GRU(3, 4, num_layers=2),
    "nn.LSTM": lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True),
    "nn.GRU": lambda: nn.GRU(3, 4),
    "nn.RNN": lambda: nn.RNN(3, 4),
    "ElmanRNN": lambda: ElmanRNN(3, 4, num_layers=2, bidirectional=True),
    "CharRNN": lambda: CharRNN(5, 3, 4),
}


def recurrent_blocks(module):
    for name, w in module.named_parameters():
        if name.split(".")[-1].startswith("weight_hh"):
            yield from ((name, block) for block in w.detach().split(w.shape[1]))


@pytest.mark.parametrize("make", RECURRENT_MODULES.values(), ids=RECURRENT_MODULES.keys())
def test_init_recurrent_orthogonal_and_identity(make):
    torch.manual_seed(13)
    module = make()
    others = {n: p.detach().clone() for n, p in module.named_parameters() if "weight_hh" not in n}
    assert init_recurrent_(module, "orthogonal", gain=0.5) is module
    n_blocks = 0
    for name, block in recurrent_blocks(module):
        n_blocks += 1
        eye = torch.eye(block.shape[0])
        torch.testing.assert_close(block @ block.T, 0.25 * eye, atol=1e-5, rtol=0, msg=name)
    assert n_blocks > 0
    blocks = [b.clone() for _, b in recurrent_blocks(module)]
    assert not all(torch.equal(blocks[0], b) for b in blocks[1:]) or len(blocks) == 1
    init_recurrent_(module, "identity", gain=0.9)
    for name, block in recurrent_blocks(module):
        assert torch.equal(block, 0.9 * torch.eye(block.shape[0])), name
    init_recurrent_(module, "uniform")
    for name, block in recurrent_blocks(module):
        H = block.shape[0]
        assert (block.abs() <= H**-0.5).all() and block.abs().sum() > 0, name
    for n, p in module.named_parameters():  # nothing else touched
        if n in others:
            assert torch.equal(p, others[n]), n


def test_init_recurrent_errors():
    with pytest.raises(ValueError, match="scheme must be one of"):
        init_recurrent_(nn.LSTM(3, 4), "xavier")
    with pytest.raises(ValueError, match="weight_hh"):
        init_recurrent_(nn.Linear(3, 4), "orthogonal")
    with pytest.raises(ValueError, match="gain"):
        init_recurrent_(nn.LSTM(3, 4), "orthogonal", gain=float("nan"))


# ------------------------------------------------------------------ state_jacobian_norms
def test_state_jacobian_norms_of_the_gru_equal_autograd():
    torch.manual_seed(14)
    T, D, H = 6, 2, 3
    model = GRU(D, H).double()
    x = torch.randn(1, T, D, dtype=F64)
    trace: list = []
    model(x, torch.randn(1, 1, H, dtype=F64), trace=trace)
    norms = state_jacobian_norms(trace)
    assert len(norms) == T and norms[-1] == 1.0
    params = [p.detach() for p in (model.weight_ih_l0, model.weight_hh_l0)]
    params += [p.detach() for p in (model.bias_ih_l0, model.bias_hh_l0)]
    for t in range(T):

        def from_t(h, t=t):
            return gru_reference(x[:, t + 1 :], h, *params, cho=False)[1] if t < T - 1 else h

        J = jacobian(from_t, trace[t].detach())[0, :, 0, :]
        assert norms[t] == pytest.approx(torch.linalg.matrix_norm(J, 2).item(), rel=1e-10)


def test_state_jacobian_norms_of_the_lstm_cell_equal_autograd():
    """d c_T / d c_t through every path: the carousel and h_t = o_t tanh(c_t)."""
    torch.manual_seed(15)
    T, D, H = 6, 2, 3
    model = LSTM(D, H).double()
    x = torch.randn(1, T, D, dtype=F64)
    trace: list = []
    model(x, trace=trace)
    norms = state_jacobian_norms([c for _, c in trace])
    assert len(norms) == T and norms[-1] == 1.0
    W_ih, W_hh, b_ih, b_hh = (
        p.detach()
        for p in (model.weight_ih_l0, model.weight_hh_l0, model.bias_ih_l0, model.bias_hh_l0)
    )
    h = torch.zeros(1, H, dtype=F64)
    for t in range(T):
        a_o = (x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)[:, 3 * H :]
        o_t = torch.sigmoid(a_o)  # the output gate of step t, fixed by h_{t-1} and x_t
        h, c_t = (s.detach() for s in trace[t])

        def from_t(c, t=t, o_t=o_t):
            h = o_t * torch.tanh(c)
            return (
                lstm_reference(x[:, t + 1 :], h, c, W_ih, W_hh, b_ih, b_hh)[2] if t < T - 1 else c
            )

        J = jacobian(from_t, c_t)[0, :, 0, :]
        assert norms[t] == pytest.approx(torch.linalg.matrix_norm(J, 2).item(), rel=1e-10)


def test_state_jacobian_norms_of_the_carousel_are_one():
    torch.manual_seed(16)
    model = LSTM(2, 3, variant="no_forget").double()
    with torch.no_grad():
        model.bias_ih_l0[:3] = -1e4  # i = 0: c_t = c_{t-1}, dc_T/dc_t = I
    trace: list = []
    model(torch.randn(1, 7, 2, dtype=F64), trace=trace)
    assert state_jacobian_norms([c for _, c in trace]) == pytest.approx([1.0] * 7, abs=1e-12)


def test_state_jacobian_norms_errors():
    with pytest.raises(ValueError, match="states must be a non-empty list"):
        state_jacobian_norms([])
    with pytest.raises(ValueError, match=r"states must be \(1, H\) tensors"):
        state_jacobian_norms([torch.zeros(2, 3, requires_grad=True)])


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: LSTM(3, 0), ValueError, "hidden_size must be an int >= 1, got 0"),
        (lambda: LSTM(3, 2.5), TypeError, "hidden_size must be an int"),
        (lambda: LSTM(3, True), TypeError, "hidden_size must be an int"),
        (lambda: GRU(3, 0), ValueError, "hidden_size must be an int >= 1, got 0"),
        (lambda: GRU(3, 2.5), TypeError, "hidden_size must be an int"),
        (lambda: GRU(3, True), TypeError, "hidden_size must be an int"),
        (lambda: LSTM(0, 4), ValueError, "input_size must be an int >= 1"),
        (lambda: LSTM(3, 4, num_layers=0), ValueError, "num_layers must be an int >= 1"),
        (lambda: LSTM(3, 4, bidirectional=1), TypeError, "bidirectional must be a bool"),
        (lambda: LSTM(3, 4, layer_norm=1), TypeError, "layer_norm must be a bool or one of"),
        (
            lambda: LSTM(3, 4, layer_norm="yes"),
            ValueError,
            r"layer_norm must be one of \('ba', 'per_gate'\), got 'yes'",
        ),
        (lambda: LSTM(3, 4, variant="gru"), ValueError, "variant must be one of"),
        (lambda: LSTM(3, 4, variant=None), ValueError, "variant must be one of"),
        (lambda: GRU(3, 4, variant="vanilla"), ValueError, "variant must be one of"),
        (lambda: LSTM(3, 4, forget_bias=True), TypeError, "forget_bias must be a number"),
        (lambda: LSTM(3, 4, forget_bias=float("inf")), ValueError, "forget_bias must be finite"),
    ],
)
def test_constructor_errors_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("call_from_torch", "error", "match"),
    [
        (lambda: LSTM.from_torch(nn.LSTM(3, 4)), ValueError, "batch_first=True"),
        (lambda: GRU.from_torch(nn.GRU(3, 4)), ValueError, "batch_first=True"),
        (
            lambda: LSTM.from_torch(nn.LSTM(3, 4, batch_first=True, proj_size=2)),
            ValueError,
            "proj_size=0, got 2",
        ),
        (
            lambda: LSTM.from_torch(nn.GRU(3, 4, batch_first=True)),
            TypeError,
            "module must be a torch.nn.LSTM, got GRU",
        ),
        (
            lambda: GRU.from_torch(nn.LSTM(3, 4, batch_first=True)),
            TypeError,
            "module must be a torch.nn.GRU, got LSTM",
        ),
        (lambda: LSTM.from_torch(LSTM(3, 4)), TypeError, "module must be a torch.nn.LSTM"),
    ],
)
def test_from_torch_errors(call_from_torch, error, match):
    with pytest.raises(error, match=match):
        call_from_torch()


X = torch.zeros(2, 5, 3)
S = torch.zeros(1, 2, 4)


@pytest.mark.parametrize(
    ("x", "state", "error", "match"),
    [
        (torch.zeros(5, 3), None, ValueError, r"x must have shape \(batch, time, features\)"),
        (
            torch.zeros(2, 5, 4),
            None,
            ValueError,
            r"x must have shape .*\(B, T, 3\), got \(2, 5, 4\)",
        ),
        (torch.zeros(2, 0, 3), None, ValueError, "x must hold at least one"),
        (X.double(), None, TypeError, "x must have the parameters' dtype torch.float32"),
        (torch.full((2, 5, 3), float("nan")), None, ValueError, "x must hold finite values"),
        ([[[0.0] * 3] * 5] * 2, None, TypeError, "x must be a torch.Tensor"),
        (X, (torch.zeros(1, 3, 4), S), ValueError, r"h_0 must have shape \(1, 2, 4\)"),
        (X, (S, torch.zeros(2, 2, 4)), ValueError, r"c_0 must have shape \(1, 2, 4\)"),
        (X, (S.double(), S), TypeError, "h_0 must have the parameters' dtype"),
        (X, (S, torch.full((1, 2, 4), float("inf"))), ValueError, "c_0 must hold finite"),
        (X, S, TypeError, r"state must be a pair \(h_0, c_0\)"),
        (X, (S, S, S), TypeError, r"state must be a pair \(h_0, c_0\)"),
        (X, (S, "c"), TypeError, "c_0 must be a torch.Tensor"),
    ],
)
def test_lstm_forward_errors_name_the_argument(x, state, error, match):
    with pytest.raises(error, match=match):
        LSTM(3, 4)(x, state)


@pytest.mark.parametrize(
    ("x", "h0", "error", "match"),
    [
        (torch.zeros(2, 5), None, ValueError, r"x must have shape \(batch, time, features\)"),
        (X.double(), None, TypeError, "x must have the parameters' dtype"),
        (torch.full((2, 5, 3), float("inf")), None, ValueError, "x must hold finite values"),
        (X, torch.zeros(2, 2, 4), ValueError, r"h0 must have shape \(1, 2, 4\)"),
        (X, (S,), TypeError, "h0 must be a torch.Tensor"),
        (X, S.double(), TypeError, "h0 must have the parameters' dtype"),
    ],
)
def test_gru_forward_errors_name_the_argument(x, h0, error, match):
    with pytest.raises(error, match=match):
        GRU(3, 4)(x, h0)


# ------------------------------------------------------------------------ forget_bias_
def test_forget_bias_sets_b_if_and_clears_b_hf_in_every_layer_and_direction():
    torch.manual_seed(0)
    module = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    assert forget_bias_(module, 1.5) is module
    for name, p in module.named_parameters():
        if name.startswith("bias_"):
            want = 1.5 if name.startswith("bias_ih") else 0.0
            assert torch.all(p[4:8] == want), name
            assert torch.equal(p[:4], before[name][:4]) and torch.equal(p[8:], before[name][8:])
        else:
            assert torch.equal(p, before[name]), name  # weights untouched
    torch.manual_seed(0)
    ours = LSTM(3, 4, forget_bias=2.0)
    torch.manual_seed(0)
    assert torch.equal(forget_bias_(LSTM(3, 4), 2.0).bias_ih_l0, ours.bias_ih_l0)


@pytest.mark.parametrize(
    "module, value, error",
    [
        (nn.GRU(3, 4), 1.0, "4 gate blocks"),
        (nn.LSTM(3, 4, bias=False), 1.0, "LSTM with biases"),
        (nn.Linear(3, 4), 1.0, "LSTM with biases"),
        (nn.LSTM(3, 4), float("nan"), "finite number"),
        (nn.LSTM(3, 4), True, "finite number"),
    ],
)
def test_forget_bias_rejects_what_has_no_forget_bias(module, value, error):
    with pytest.raises(ValueError, match=error):
        forget_bias_(module, value)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_lstm_layer_gradcheck_and_torch(reverse, bias):
    """The vanilla whole-layer function (input projection inside, time-major loop): gradcheck
    on x, the state and all weights, and equal to nn.LSTM's direction it stands for."""
    from seqcourse.fused import fused_lstm_layer

    torch.manual_seed(8)
    B, T, D, H = 2, 4, 3, 2
    ref = nn.LSTM(D, H, batch_first=True, bidirectional=True, bias=bias).double()
    sfx = "_l0_reverse" if reverse else "_l0"
    names = [f"{kind}_{m}{sfx}" for kind in ("weight", "bias") for m in ("ih", "hh")]
    params = [getattr(ref, n, None) for n in names]
    x = torch.randn(B, T, D, dtype=F64, requires_grad=True)
    h0, c0 = (torch.randn(B, H, dtype=F64, requires_grad=True) for _ in range(2))

    def f(x, h0, c0, *weights):
        W_ih, W_hh, b_ih, b_hh = (*weights, None, None)[:4]
        out, (h, c) = fused_lstm_layer(x, h0, c0, W_ih, W_hh, b_ih, b_hh, reverse)
        return out, h, c

    weights = tuple(p.detach().clone().requires_grad_() for p in params if p is not None)
    assert torch.autograd.gradcheck(f, (x, h0, c0, *weights))
    state = (torch.stack([h0, h0]).detach(), torch.stack([c0, c0]).detach())
    want, (h_n, c_n) = ref(x.detach(), state)
    got, h, c = f(x.detach(), h0.detach(), c0.detach(), *weights)
    half = slice(H, 2 * H) if reverse else slice(0, H)
    k = int(reverse)
    assert_equal_to_rounding(got, want[..., half], 1e-12, "output against nn.LSTM")
    assert_equal_to_rounding(h, h_n[k], 1e-12, "h_T against nn.LSTM")
    assert_equal_to_rounding(c, c_n[k], 1e-12, "c_T against nn.LSTM")


@pytest.mark.parametrize("reverse", [False, True])
def test_fused_lstm_layer_float32_cpu_path_against_nn_lstm(reverse):
    """In float32 on the CPU the layer takes its fast path (oneDNN's packed product, tanh
    through sigmoid); outputs and every gradient still match nn.LSTM to float32 rounding."""
    from seqcourse.fused import fused_lstm_layer

    torch.manual_seed(9)
    B, T, D, H = 5, 7, 6, 8
    ref = nn.LSTM(D, H, batch_first=True)
    x = torch.randn(B, T, D, requires_grad=True)
    h0, c0 = (torch.randn(B, H, requires_grad=True) for _ in range(2))
    params = [ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0]
    out, (h, c) = fused_lstm_layer(x, h0, c0, *params, reverse=reverse)
    (out.square().sum() + h.sum() + 2 * c.sum()).backward()
    got = [t.grad.clone() for t in (x, h0, c0, *params)]
    for t in (x, h0, c0, *params):
        t.grad = None
    flip = (lambda s: s.flip(1)) if reverse else (lambda s: s)
    want, (h_n, c_n) = ref(flip(x), (h0[None], c0[None]))
    want = flip(want)
    (want.square().sum() + h_n.sum() + 2 * c_n.sum()).backward()
    assert_equal_to_rounding(out, want, 1e-5, "output against nn.LSTM")
    assert_equal_to_rounding(h, h_n[0], 1e-5, "h_T against nn.LSTM")
    assert_equal_to_rounding(c, c_n[0], 1e-5, "c_T against nn.LSTM")
    names = ["x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"]
    for name, g, t in zip(names, got, (x, h0, c0, *params), strict=True):
        assert_equal_to_rounding(g, t.grad, 1e-4, f"d{name} against nn.LSTM")


def test_fused_helpers_recurrent_product_and_tanh():
    """The per-step product equals torch.addmm with and without the added block, on the
    oneDNN path where the build has it and on the plain one; tanh through sigmoid equals
    torch.tanh, saturates at +-1 and passes NaN on."""
    from seqcourse import fused

    torch.manual_seed(10)
    W, h, acc = torch.randn(12, 5), torch.randn(3, 5), torch.randn(3, 12)
    path = fused._recurrent_product(W, 3).__name__
    assert path == ("onednn" if fused._ONEDNN_LINEAR else "plain")
    assert fused._recurrent_product(W.double(), 3).__name__ == "plain"
    for Wd, hd, accd, tol in ((W, h, acc, 1e-5), (W.double(), h.double(), acc.double(), 1e-12)):
        product = fused._recurrent_product(Wd, 3)
        assert_equal_to_rounding(product(hd, None), hd @ Wd.t(), tol, "h W^T")
        want = torch.addmm(accd, hd, Wd.t())
        assert_equal_to_rounding(product(hd, accd.clone()), want, tol, "acc + h W^T")
    x = torch.tensor([-100.0, -3.0, -1e-3, 0.0, 1e-3, 0.5, 3.0, 100.0, float("nan")])
    y = fused._tanh_by_sigmoid(x, torch.empty_like(x))
    assert torch.allclose(y[:-1], torch.tanh(x[:-1]), atol=3e-7, rtol=0)
    assert y[0] == -1 and y[-2] == 1 and torch.isnan(y[-1])


def test_fused_falls_back_to_addmm_without_onednn(monkeypatch):
    """The probe says no where oneDNN is missing, and the layer then takes torch.addmm."""
    from seqcourse import fused

    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert fused._onednn_linear_works() is False
    monkeypatch.setattr(fused, "_ONEDNN_LINEAR", False)
    assert fused._recurrent_product(torch.randn(8, 4), 2).__name__ == "plain"
    torch.manual_seed(11)
    ref = nn.LSTM(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    h0 = c0 = torch.zeros(2, 4)
    params = [ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0, ref.bias_hh_l0]
    out, _ = fused.fused_lstm_layer(x, h0, c0, *params)
    assert_equal_to_rounding(out, ref(x)[0], 1e-5, "output on the addmm path")
