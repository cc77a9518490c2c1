"""seqcourse.delays: DelayRNN against nn.RNN (W_hd = 0) and a direct loop, shortest_path.

Tolerance: float64 throughout, outputs equal to 1e-12 relative (measured about 5e-16).
"""

import pytest
import torch
from torch import nn

from seqcourse.delays import DelayRNN, shortest_path


def test_shortest_path_values():
    assert shortest_path(40, 8) == 5
    assert shortest_path(41, 8) == 6
    assert shortest_path(7, 8) == 7
    assert shortest_path(0, 3) == 0
    assert [shortest_path(k, 1) for k in range(5)] == [0, 1, 2, 3, 4]


def test_shortest_path_is_minimal_by_search():
    """Dynamic programming over steps of 1 and d agrees with floor(k/d) + k mod d."""
    for d in (2, 3, 5):
        best = [0]
        for k in range(1, 30):
            best.append(1 + min(best[k - 1], best[k - d] if k >= d else 10**9))
            assert shortest_path(k, d) == best[k], (k, d)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((-1, 2), ValueError, "lag must be an int >= 0, got -1"),
        ((3, 0), ValueError, "delay must be an int >= 1, got 0"),
        ((2.0, 2), TypeError, "lag must be an int >= 0, got float"),
        ((2, True), TypeError, "delay must be an int >= 1, got bool"),
    ],
)
def test_shortest_path_errors(args, error, match):
    with pytest.raises(error, match=match):
        shortest_path(*args)


def test_zero_delay_weight_is_nn_rnn():
    torch.manual_seed(0)
    ref = nn.RNN(3, 6, batch_first=True).double()
    net = DelayRNN(3, 6, delay=4).double()
    missing = net.load_state_dict(ref.state_dict(), strict=False).missing_keys
    assert missing == ["weight_hd_l0"]
    nn.init.zeros_(net.weight_hd_l0)
    x, h0 = torch.randn(2, 11, 3, dtype=torch.float64), torch.randn(1, 2, 6, dtype=torch.float64)
    out, h_n = net(x, h0)
    out_ref, h_ref = ref(x, h0)
    assert (out - out_ref).abs().max() <= 1e-12 * out_ref.abs().max()
    assert (h_n - h_ref).abs().max() <= 1e-12 * h_ref.abs().max()


def test_matches_direct_loop_with_initial_state_as_past():
    """eq. (eq-delay-rnn) with h_s = h_0 for s <= 0, written out step by step."""
    torch.manual_seed(1)
    d, H = 3, 5
    net = DelayRNN(2, H, delay=d).double()
    x, h0 = torch.randn(4, 9, 2, dtype=torch.float64), torch.randn(1, 4, H, dtype=torch.float64)
    p = dict(net.named_parameters())
    states = [h0[0]] * d
    for t in range(9):
        a = (
            x[:, t] @ p["weight_ih_l0"].T
            + p["bias_ih_l0"]
            + states[-1] @ p["weight_hh_l0"].T
            + p["bias_hh_l0"]
            + states[-d] @ p["weight_hd_l0"].T
        )
        states.append(torch.tanh(a))
    want = torch.stack(states[d:], dim=1)
    out, h_n = net(x, h0)
    assert out.shape == (4, 9, H) and h_n.shape == (1, 4, H)
    assert (out - want).abs().max() <= 1e-12 * want.abs().max()
    assert torch.equal(h_n[0], out[:, -1])


def test_delay_path_carries_gradient_back():
    """The delay weight gives h_T a short path to x_1: with W_hh = 0 and T = 1 + 2d, x_1
    reaches h_T only through two delay edges, so its gradient is non-zero only because of them."""
    torch.manual_seed(2)
    d = 4
    net = DelayRNN(1, 3, delay=d).double()
    nn.init.zeros_(net.weight_hh_l0)
    x = torch.randn(1, 1 + 2 * d, 1, dtype=torch.float64, requires_grad=True)
    net(x)[0][:, -1].sum().backward()
    grads = x.grad[0, :, 0]
    assert grads[0].abs() > 0  # t = 1 reaches t = 1 + 2d through h_{1+d}
    assert torch.all(grads[1:d] == 0)  # t = 2..d are on no path of jumps to t = 1 + 2d


def test_parameters_and_repr():
    net = DelayRNN(3, 4, delay=5)
    shapes = {name: tuple(p.shape) for name, p in net.named_parameters()}
    assert shapes == {
        "weight_ih_l0": (4, 3),
        "weight_hh_l0": (4, 4),
        "bias_ih_l0": (4,),
        "bias_hh_l0": (4,),
        "weight_hd_l0": (4, 4),
    }
    bound = 1 / 4**0.5
    assert all(p.abs().max() <= bound for p in net.parameters())
    assert repr(net) == "DelayRNN(3, 4, delay=5)"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(input_size=0, hidden_size=4, delay=2), ValueError, "input_size must be an int >= 1"),
        (dict(input_size=2, hidden_size=4.0, delay=2), TypeError, "hidden_size must be an int"),
        (dict(input_size=2, hidden_size=4, delay=1), ValueError, "delay must be an int >= 2, got"),
        (dict(input_size=2, hidden_size=4, delay="3"), TypeError, "delay must be an int >= 2"),
    ],
)
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        DelayRNN(**kwargs)


def test_forward_errors():
    net = DelayRNN(3, 4, delay=2)
    with pytest.raises(ValueError, match="x must have 3 features"):
        net(torch.zeros(2, 5, 2))
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.zeros(5, 3))
    with pytest.raises(TypeError, match="x must have the parameters' dtype"):
        net(torch.zeros(2, 5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 2, 4\), got \(2, 4\)"):
        net(torch.zeros(2, 5, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        net([[[0.0, 0.0, 0.0]]])
