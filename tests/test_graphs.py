"""seqcourse.graphs.CapturedStep: the eager fallback equals a hand-written step, bad
arguments are refused, and on CUDA (skipped without a GPU) the replayed graph trains the
same parameters as the eager loop."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from seqcourse.gated import LSTM
from seqcourse.graphs import CapturedStep, _restore, _snapshot


def make(device: str = "cpu") -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    rnn = LSTM(3, 8).to(device)
    head = nn.Linear(8, 2).to(device)
    return rnn, head


def loss_of(rnn: nn.Module, head: nn.Module):
    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out, _ = rnn(x)
        return nn.functional.cross_entropy(head(out[:, -1]), y)

    return loss_fn


def batches(n: int, device: str = "cpu"):
    g = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(4, 5, 3, generator=g).to(device),
            torch.randint(2, (4,), generator=g).to(device),
        )
        for _ in range(n)
    ]


def eager_run(rnn, head, data, opt=None):
    """The plain training loop, with SGD at lr 0.1 unless an optimizer is given."""
    opt = opt or torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.1)
    fn = loss_of(rnn, head)
    losses = []
    for x, y in data:
        opt.zero_grad(set_to_none=True)
        loss = fn(x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_cpu_step_is_the_eager_step():
    rnn, head = make()
    ref_rnn, ref_head = copy.deepcopy(rnn), copy.deepcopy(head)
    data = batches(4)
    opt = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.1)
    step = CapturedStep(loss_of(rnn, head), data[0], opt)
    assert not step.captured
    got = [step(x, y).item() for x, y in data]
    want = eager_run(ref_rnn, ref_head, data)
    assert got == want
    for a, b in zip(rnn.parameters(), ref_rnn.parameters(), strict=True):
        assert torch.equal(a, b)


def test_without_optimizer_each_call_leaves_its_own_gradient():
    rnn, head = make()
    (x, y), (x2, y2) = batches(2)
    step = CapturedStep(loss_of(rnn, head), (x, y), parameters=rnn.parameters())
    step(x, y)
    step(x2, y2)  # not accumulated onto the first call's gradient
    got = rnn.weight_hh_l0.grad.clone()
    rnn.zero_grad(set_to_none=True)
    loss_of(rnn, head)(x2, y2).backward()
    assert torch.equal(got, rnn.weight_hh_l0.grad)


def test_bad_arguments_are_refused():
    rnn, head = make()
    x, y = batches(1)[0]
    fn = loss_of(rnn, head)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        CapturedStep(3, (x, y), parameters=[])
    with pytest.raises(TypeError, match="give an optimizer or the parameters"):
        CapturedStep(fn, (x, y))
    with pytest.raises(TypeError, match=r"parameters\[0\] must be a torch.Tensor"):
        CapturedStep(fn, (x, y), parameters=[1.0])
    with pytest.raises(TypeError, match="example_inputs must be a non-empty tuple"):
        CapturedStep(fn, (), parameters=[])
    with pytest.raises(TypeError, match=r"example_inputs\[1\] must be a torch.Tensor"):
        CapturedStep(fn, (x, [1, 0]), parameters=[])
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        CapturedStep(fn, (x, y), optimizer="sgd", parameters=[])
    with pytest.raises(ValueError, match="warmup must be an int >= 1"):
        CapturedStep(fn, (x, y), warmup=0, parameters=[])
    step = CapturedStep(fn, (x, y), parameters=rnn.parameters())
    with pytest.raises(ValueError, match="expected 2 input tensor"):
        step(x)
    with pytest.raises(
        ValueError, match=r"input 0 must match the captured step: shape \(4, 5, 3\)"
    ):
        step(x[:2], y)
    with pytest.raises(TypeError, match="input 1 must be a torch.Tensor"):
        step(x, 1)
    with pytest.raises(TypeError, match="loss_fn must return a scalar tensor"):
        CapturedStep(lambda x, y: rnn(x)[0], (x, y), parameters=[])(x, y)


OPTIMIZERS = {
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
    "adamw_amsgrad": lambda ps: torch.optim.AdamW(ps, lr=0.01, amsgrad=True),
    "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("steps_before", [0, 2])
def test_warmup_is_undone_in_place(name, steps_before):
    """What the CUDA path does around its warm-up, run on the CPU: snapshot, a few steps,
    restore. Training then goes on exactly as if the warm-up had never happened, and the
    optimizer keeps the state tensors it had after the warm-up (a graph records their
    addresses; state made during capture would be zeroed again at every replay)."""
    data = batches(3 + steps_before + 4)
    runs = []
    for warm in (False, True):
        rnn, head = make()
        params = [*rnn.parameters(), *head.parameters()]
        opt = OPTIMIZERS[name](params)
        fn = loss_of(rnn, head)

        def train(batches_, opt=opt, fn=fn):
            for x, y in batches_:
                opt.zero_grad(set_to_none=True)
                fn(x, y).backward()
                opt.step()

        train(data[:steps_before])
        if warm:
            values, state = _snapshot(params, opt)
            train(data[-3:])  # the warm-up, on other batches
            held = {id(v) for entries in opt.state.values() for v in entries.values()}
            _restore(params, values, opt, state)
            assert held == {id(v) for entries in opt.state.values() for v in entries.values()}
        train(data[steps_before : steps_before + 4])
        runs.append([p.detach().clone() for p in params])
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_restore_refuses_state_it_cannot_reset_in_place():
    class Counting(torch.optim.SGD):
        def step(self, closure=None):
            for p in self.param_groups[0]["params"]:
                self.state[p]["calls"] = self.state[p].get("calls", 0) + 1
            return super().step(closure)

    rnn, head = make()
    params = list(head.parameters())
    opt = Counting(params, lr=0.1)
    values, state = _snapshot(params, opt)
    head(torch.randn(4, 8)).sum().backward()
    opt.step()
    with pytest.raises(TypeError, match="optimizer state 'calls' of Counting is not a tensor"):
        _restore(params, values, opt, state)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_trains_like_the_eager_loop():
    rnn, head = make("cuda")
    ref_rnn, ref_head = copy.deepcopy(rnn), copy.deepcopy(head)
    data = batches(5, "cuda")
    opt = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.1)
    step = CapturedStep(loss_of(rnn, head), data[0], opt, warmup=2)
    assert step.captured
    got = [step(x, y).item() for x, y in data]
    want = eager_run(ref_rnn, ref_head, data)  # the warm-up steps were undone
    assert got == pytest.approx(want, rel=1e-4, abs=1e-5)
    (x, y), (x2, y2) = data[:2]
    bare = CapturedStep(loss_of(rnn, head), (x, y), parameters=rnn.parameters())
    bare(x, y)
    bare(x2, y2)  # each replay rewrites the gradient, as each eager call does
    got_grad = rnn.weight_hh_l0.grad.clone()
    rnn.zero_grad(set_to_none=True)
    loss_of(rnn, head)(x2, y2).backward()
    torch.testing.assert_close(got_grad, rnn.weight_hh_l0.grad, rtol=1e-4, atol=1e-6)
    adam = torch.optim.Adam(rnn.parameters())
    with pytest.raises(ValueError, match="capturable=True"):
        CapturedStep(loss_of(rnn, head), data[0], adam)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graph_with_adam_keeps_its_moments():
    """Adam's moments and step count must carry over between replays, not be reset."""
    runs = []
    for graphed in (False, True):
        rnn, head = make("cuda")
        params = [*rnn.parameters(), *head.parameters()]
        opt = torch.optim.Adam(params, lr=0.01, capturable=True)
        data = batches(6, "cuda")
        if graphed:
            step = CapturedStep(loss_of(rnn, head), data[0], opt)
            runs.append([step(x, y).item() for x, y in data])
        else:
            runs.append(eager_run(rnn, head, data, opt))
    assert runs[1] == pytest.approx(runs[0], rel=1e-4, abs=1e-5)
