"""seqcourse.memory: each addressing step against a hand computation, gradients by
gradcheck in float64, read and write, the NTM's shapes, the hand-wired copy machine, and
the errors bad input gets."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqcourse.attention import scaled_dot_product_attention
from seqcourse.data.tasks import copy_task
from seqcourse.memory import (
    NTM,
    address,
    content_weighting,
    copy_machine,
    cosine_similarity,
    interpolate,
    read,
    sharpen,
    shift,
    write,
)

F64 = torch.float64


def rand_weighting(B: int, N: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, N, generator=g, dtype=F64).add(0.1).softmax(-1)


def test_cosine_and_content_weighting_by_hand():
    memory = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [-2.0, 0.0]]], dtype=F64)
    key = torch.tensor([[3.0, 0.0]], dtype=F64)
    K = cosine_similarity(memory, key)
    torch.testing.assert_close(K, torch.tensor([[1.0, 1 / math.sqrt(2), 0.0, -1.0]], dtype=F64))
    beta = torch.tensor([2.0], dtype=F64)
    e = [math.exp(2 * k) for k in K[0].tolist()]
    expected = torch.tensor([[v / sum(e) for v in e]], dtype=F64)
    torch.testing.assert_close(content_weighting(memory, key, beta), expected)
    uniform = content_weighting(memory, key, torch.zeros(1, dtype=F64))
    torch.testing.assert_close(uniform, torch.full((1, 4), 0.25, dtype=F64))


def test_content_read_is_softmax_attention_with_cosine_scores():
    torch.manual_seed(0)
    memory, key = torch.randn(3, 7, 5, dtype=F64), torch.randn(3, 5, dtype=F64)
    beta = torch.tensor([0.5, 2.0, 9.0], dtype=F64)
    r = read(memory, content_weighting(memory, key, beta))
    q = F.normalize(key, dim=-1).unsqueeze(1)  # (B, 1, W)
    k = F.normalize(memory, dim=-1)
    for b in range(3):
        out, _ = scaled_dot_product_attention(
            q[b : b + 1], k[b : b + 1], memory[b : b + 1], scale=float(beta[b])
        )
        torch.testing.assert_close(r[b], out[0, 0])


def test_interpolate_by_hand():
    wc = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]], dtype=F64)
    wp = torch.tensor([[0.1, 0.1, 0.8], [1.0, 0.0, 0.0]], dtype=F64)
    g = torch.tensor([0.25, 0.0], dtype=F64)
    out = interpolate(wc, wp, g)
    torch.testing.assert_close(out[0], 0.25 * wc[0] + 0.75 * wp[0])
    torch.testing.assert_close(out[1], wp[1])


def test_shift_is_the_circular_convolution():
    w = rand_weighting(2, 6, seed=1)
    s = rand_weighting(2, 5, seed=2)
    out = shift(w, s)
    N, R = 6, 2
    for b in range(2):
        for i in range(N):  # w~_i = sum_j w_j s_{(i - j) mod N}, offsets -R..R
            total = 0.0
            for j in range(N):
                offset = (i - j) % N
                offset = offset - N if offset > N // 2 else offset
                if -R <= offset <= R:
                    total += float(w[b, j]) * float(s[b, offset + R])
            assert abs(float(out[b, i]) - total) < 1e-12
    one_on = torch.tensor([[0.0, 0.0, 1.0]], dtype=F64)
    e = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=F64)
    torch.testing.assert_close(shift(e, one_on), torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=F64))


def test_sharpen_by_hand():
    w = torch.tensor([[0.5, 0.3, 0.2]], dtype=F64)
    out = sharpen(w, torch.tensor([2.0], dtype=F64))
    torch.testing.assert_close(out, torch.tensor([[0.25, 0.09, 0.04]], dtype=F64) / 0.38)
    torch.testing.assert_close(sharpen(w, torch.ones(1, dtype=F64)), w)


def test_address_composes_the_four_steps():
    torch.manual_seed(3)
    memory, key = torch.randn(2, 8, 4, dtype=F64), torch.randn(2, 4, dtype=F64)
    w_prev, s = rand_weighting(2, 8, 4), rand_weighting(2, 3, 5)
    beta, g, gamma = (torch.tensor(v, dtype=F64) for v in ([1.5, 4.0], [0.3, 0.9], [1.0, 2.5]))
    out = address(memory, w_prev, key, beta, g, s, gamma)
    expected = sharpen(
        shift(interpolate(content_weighting(memory, key, beta), w_prev, g), s), gamma
    )
    torch.testing.assert_close(out["w"], expected)
    assert set(out) == {"content", "gated", "shifted", "w"}
    for stage in out.values():
        torch.testing.assert_close(stage.sum(-1), torch.ones(2, dtype=F64))


def test_read_and_write_by_hand():
    memory = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]], dtype=F64)
    w = torch.tensor([[0.5, 0.5, 0.0]], dtype=F64)
    torch.testing.assert_close(read(memory, w), torch.tensor([[2.0, 3.0]], dtype=F64))
    erase, add = torch.tensor([[1.0, 0.0]], dtype=F64), torch.tensor([[10.0, -1.0]], dtype=F64)
    new = write(memory, w, erase, add)
    expected = torch.tensor([[[0.5 + 5.0, 2.0 - 0.5], [1.5 + 5.0, 4.0 - 0.5], [5.0, 6.0]]])
    torch.testing.assert_close(new, expected.to(F64))


def test_gradients_of_every_step_by_gradcheck():
    torch.manual_seed(0)
    B, N, W = 2, 5, 3

    def leaf(*shape):
        return torch.randn(*shape, dtype=F64, requires_grad=True)

    memory, key = leaf(B, N, W), leaf(B, W)
    beta = torch.tensor([1.3, 0.7], dtype=F64, requires_grad=True)
    g = torch.tensor([0.4, 0.8], dtype=F64, requires_grad=True)
    gamma = torch.tensor([1.5, 2.2], dtype=F64, requires_grad=True)
    w_prev = rand_weighting(B, N, 1).requires_grad_()
    s = rand_weighting(B, 3, 2).requires_grad_()
    erase = torch.rand(B, W, dtype=F64).requires_grad_()
    add = leaf(B, W)
    w = rand_weighting(B, N, 3).requires_grad_()
    assert torch.autograd.gradcheck(content_weighting, (memory, key, beta))
    assert torch.autograd.gradcheck(lambda wp, gg: interpolate(w, wp, gg), (w_prev, g))
    assert torch.autograd.gradcheck(shift, (w, s))
    assert torch.autograd.gradcheck(sharpen, (w, gamma))
    assert torch.autograd.gradcheck(read, (memory, w))
    assert torch.autograd.gradcheck(write, (memory, w, erase, add))
    assert torch.autograd.gradcheck(
        lambda *a: address(*a)["w"], (memory, w_prev, key, beta, g, s, gamma)
    )


def test_ntm_shapes_and_gradients():
    torch.manual_seed(0)
    model = NTM(5, 4, hidden=8, rows=6, width=3)
    x, _ = copy_task(3, 4, bits=4, seed=0)
    out = model(x)
    assert out.shape == (3, 9, 4)
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ValueError, match="x must have 5 features"):
        model(torch.zeros(3, 4, 2))


@pytest.mark.parametrize("T", [1, 5, 37, 64])
def test_copy_machine_copies_every_length_up_to_the_rows(T):
    x, y = copy_task(4, T, bits=6, seed=T)
    out = copy_machine(y, rows=64)
    assert torch.equal((out["y"] > 0.5).float(), y)
    torch.testing.assert_close(out["y"], y, atol=1e-6, rtol=0)
    assert out["write"].shape == out["read"].shape == (4, T, 64)
    assert torch.equal(out["write"].argmax(-1), torch.arange(T).expand(4, T))
    assert torch.equal(out["read"].argmax(-1), torch.arange(T).expand(4, T))
    with pytest.raises(ValueError, match="no longer than rows = 64"):
        copy_machine(torch.zeros(1, 65, 6), rows=64)


def test_errors_name_the_argument_and_what_was_given():
    memory, key = torch.randn(2, 4, 3), torch.randn(2, 3)
    w = torch.full((2, 4), 0.25)
    one = torch.ones(2)
    with pytest.raises(ValueError, match=r"memory must have shape \(batch, rows N, width W\)"):
        content_weighting(torch.randn(4, 3), key, one)
    with pytest.raises(ValueError, match=r"key must have shape \(2, 3\), got \(2, 4\)"):
        content_weighting(memory, torch.randn(2, 4), one)
    with pytest.raises(ValueError, match="beta must be >= 0, got -1"):
        content_weighting(memory, key, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="gamma must be >= 1, got 0.5"):
        sharpen(w, torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="w rows must sum to 1"):
        sharpen(torch.full((2, 4), 0.3), one)
    with pytest.raises(ValueError, match="w_prev must be non-negative"):
        interpolate(w, torch.tensor([[1.5, -0.5, 0.0, 0.0]] * 2), one)
    with pytest.raises(ValueError, match=r"g must lie in \[0, 1\]"):
        interpolate(w, w, torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match="S odd and S <= N = 4"):
        shift(w, torch.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="memory must hold finite values, got NaN"):
        read(torch.full((2, 4, 3), float("nan")), w)
    with pytest.raises(ValueError, match=r"erase must lie in \[0, 1\]"):
        write(memory, w, torch.full((2, 3), 2.0), key)
    with pytest.raises(TypeError, match="key must have dtype torch.float32"):
        content_weighting(memory, key.double(), one)
    with pytest.raises(TypeError, match="memory must be a torch.Tensor"):
        read([[0.0]], w)


def test_ntm_trace_and_seeds_trained_at_once_match_one_by_one():
    from seqcourse.train import train_seeds

    x, y = copy_task(4, 3, bits=2, seed=0)
    batches = [(x, y), copy_task(4, 2, bits=2, seed=1)]

    def loss(logits, y):
        return F.binary_cross_entropy_with_logits(logits[:, -y.shape[1] :], y)

    def build():
        return NTM(3, 2, hidden=6, rows=5, width=3)

    runs = [
        train_seeds(build, [1, 2], batches, loss, 1e-2, clip=1.0, batched=b, progress=False)
        for b in (True, False)
    ]
    for a, b in zip(runs[0].histories, runs[1].histories, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
    out = runs[0].models[0].trace(x)
    torch.testing.assert_close(out["logits"], runs[0].models[0](x))
    assert out["write"].shape == out["read"].shape == (4, 7, 5)
    torch.testing.assert_close(out["read"].sum(-1), torch.ones(4, 7))
