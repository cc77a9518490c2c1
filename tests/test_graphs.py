"""seqcourse.graphs.CapturedStep: the eager fallback equals a hand-written step, bad
arguments are refused, and on CUDA (skipped without a GPU) the replayed graph trains the
same parameters as the eager loop."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from seqcourse import _checks
from seqcourse.deep import DeepOutput, DeepTransitionRNN, StackedRNN
from seqcourse.delays import DelayRNN
from seqcourse.gated import GRU, GRU_VARIANTS, LSTM, LSTM_VARIANTS, init_recurrent_
from seqcourse.graphs import CapturedStep, _restore, _snapshot, host_reads
from seqcourse.memory import NTM
from seqcourse.rnn import ElmanRNN, LeakyRNN
from seqcourse.train import LastStep, Minibatches, sequence_cross_entropy, train_seeds


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


# ---------------------------------------------------------------------------- host reads
class _ItemInBackward(torch.autograd.Function):
    """Identity whose backward reads a value on the host, as a careless custom layer might."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        scale = float(grad.abs().max())  # the host read
        return grad * (1.0 if scale < 1e30 else 0.0)


def test_host_reads_names_each_kind_of_read_once():
    x = torch.randn(6, 3)
    mask = x[:, 0] > 0

    def step():
        if x.sum() > -1e9:  # bool() of a tensor
            pass
        x.max().item()  # the same kind again: listed once
        _ = x[mask]  # boolean-mask indexing
        torch.nonzero(x > 0)
        torch.unique(x.round())

    found = host_reads(step)
    assert found[0] == ".item() / bool() / int() / float() of a tensor"
    assert len(found) == len(set(found)) == 4
    assert any("boolean mask" in why for why in found)
    assert any(why.startswith("nonzero") for why in found)
    assert any(why == "unique" for why in found)
    ids = torch.arange(4)
    assert host_reads(lambda: ids.repeat_interleave(2)) == []  # the size is known
    assert host_reads(lambda: ids.repeat_interleave(ids + 1)) == [
        "repeat_interleave by a tensor of repeats, without output_size"
    ]
    assert host_reads(lambda: ids.repeat_interleave(ids + 1, output_size=10)) == []


def test_host_reads_sees_the_backward_pass_and_passes_clean_steps():
    rnn, head = make()
    x, y = batches(1)[0]
    # not Adam: on the CPU its step counter is read on the host (capturable=True, the GPU
    # form, exists only for GPUs)
    opt = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.01, momentum=0.9)

    def clean():
        loss = loss_of(rnn, head)(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rnn.parameters(), 1.0, foreach=True)
        opt.step()

    def dirty():
        out, _ = rnn(x)
        head(_ItemInBackward.apply(out[:, -1])).sum().backward()

    with pytest.MonkeyPatch.context() as mp:  # the finiteness check as on a capturing GPU
        mp.setattr(_checks, "_on_cuda", lambda t: True)
        mp.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
        assert host_reads(clean) == []
        assert host_reads(dirty) == [".item() / bool() / int() / float() of a tensor"]
    # on the CPU the check itself reads the answer on the host, and is seen doing so
    assert host_reads(lambda: rnn(x)) == [".item() / bool() / int() / float() of a tensor"]
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        host_reads(3)


def test_tuple_results_and_after_backward_on_the_eager_path():
    """loss_fn may return (loss, extras); after_backward runs between backward and step."""
    rnn, head = make()
    ref_rnn, ref_head = copy.deepcopy(rnn), copy.deepcopy(head)
    params = [*rnn.parameters(), *head.parameters()]
    ref_params = [*ref_rnn.parameters(), *ref_head.parameters()]
    data = batches(3)
    opt = torch.optim.SGD(params, lr=0.5)
    ref_opt = torch.optim.SGD(ref_params, lr=0.5)

    def loss_fn(x, y):
        out, _ = rnn(x)
        per_row = nn.functional.cross_entropy(head(out[:, -1]), y, reduction="none")
        return per_row.mean(), per_row

    step = CapturedStep(
        loss_fn,
        data[0],
        opt,
        after_backward=lambda: torch.nn.utils.clip_grad_norm_(params, 0.1),
    )
    assert step.after is None
    for x, y in data:
        loss, per_row = step(x, y)
        ref_opt.zero_grad(set_to_none=True)
        out, _ = ref_rnn(x)
        want = nn.functional.cross_entropy(ref_head(out[:, -1]), y, reduction="none")
        want.mean().backward()
        norm = torch.nn.utils.clip_grad_norm_(ref_params, 0.1)
        ref_opt.step()
        assert torch.equal(per_row, want.detach()) and torch.equal(loss, want.mean().detach())
        assert torch.equal(step.after, norm)
        assert not per_row.requires_grad
    for a, b in zip(params, ref_params, strict=True):
        assert torch.equal(a, b)


def test_new_arguments_are_checked_and_refusal_is_explained():
    rnn, head = make()
    x, y = batches(1)[0]
    fn, ps = loss_of(rnn, head), list(rnn.parameters())
    with pytest.raises(TypeError, match="after_backward must be callable or None, got int"):
        CapturedStep(fn, (x, y), parameters=ps, after_backward=1)
    with pytest.raises(TypeError, match="fallback must be a bool, got int 1"):
        CapturedStep(fn, (x, y), parameters=ps, fallback=1)
    with pytest.raises(TypeError, match="capture must be a bool, got str"):
        CapturedStep(fn, (x, y), parameters=ps, capture="yes")
    with pytest.raises(TypeError, match=r"loss_fn must return a scalar tensor, or a tuple"):
        CapturedStep(lambda x, y: (rnn(x)[0], 1), (x, y), parameters=ps)(x, y)
    step = CapturedStep(fn, (x, y), parameters=ps)
    with pytest.raises(ValueError, match="cannot be recorded in a CUDA graph: it reads"):
        step._refuse("it reads device values on the host: .item()")
    lenient = CapturedStep(fn, (x, y), parameters=ps, fallback=True)
    with pytest.warns(RuntimeWarning, match="it runs eagerly instead"):
        lenient._refuse("a reason")
    assert not lenient.captured and lenient.reason == "a reason"


# the recurrent models the pages train with train_seeds, at toy size: (build, targets kind)
class _Tagger(nn.Module):
    def __init__(self, rnn: nn.Module, width: int, classes: int = 3):
        super().__init__()
        self.rnn, self.head = rnn, nn.Linear(width, classes)

    def forward(self, x):
        out = self.rnn(x)
        return self.head(out[0] if isinstance(out, tuple) else out)


STACKED_MODELS = {
    "elman": lambda: LastStep(ElmanRNN(3, 6), 3),
    "elman_bi_2layers": lambda: _Tagger(ElmanRNN(3, 6, num_layers=2, bidirectional=True), 12),
    "irnn": lambda: LastStep(init_recurrent_(ElmanRNN(3, 6, nonlinearity="relu"), "identity"), 3),
    "leaky": lambda: _Tagger(LeakyRNN(3, 6), 6),
    "delay": lambda: LastStep(DelayRNN(3, 6, 2), 3),
    "deep_transition": lambda: _Tagger(DeepTransitionRNN(3, 6, shortcut=True), 6),
    "deep_output": lambda: nn.Sequential(ElmanRNN(3, 6), _First(), DeepOutput(6, 3)),
    "stacked_skips": lambda: _Tagger(StackedRNN(3, 6, 2, input_skip=True, output_skip=True), 12),
    **{f"lstm_{v}": (lambda v=v: LastStep(LSTM(3, 6, variant=v), 3)) for v in LSTM_VARIANTS},
    "lstm_forget_bias": lambda: LastStep(LSTM(3, 6, forget_bias=1.0), 3),
    "lstm_ln_ba": lambda: LastStep(LSTM(3, 6, layer_norm="ba"), 3),
    "lstm_ln_per_gate": lambda: LastStep(LSTM(3, 6, layer_norm="per_gate"), 3),
    **{f"gru_{v}": (lambda v=v: LastStep(GRU(3, 6, variant=v), 3)) for v in GRU_VARIANTS},
    "ntm": lambda: NTM(3, 3, hidden=6, rows=4, width=3),
}


class _First(nn.Module):
    def forward(self, out):
        return out[0]


@pytest.mark.parametrize("name", sorted(STACKED_MODELS))
def test_train_seeds_step_reads_nothing_back(name):
    """train_seeds records its stacked step as a CUDA graph on a GPU. Here, on the CPU, one
    run of it with the finiteness checks switched to their capturing-GPU form must not read
    a device value on the host (a read would make the GPU run fall back to eager). Losses
    and norms are read after the step, by copies to the CPU, which the CPU cannot show.
    Adam is swapped for SGD with momentum: Adam reads its step counter on the host on the
    CPU; on a GPU train_seeds builds it with capturable=True, which keeps it there."""
    build = STACKED_MODELS[name]
    torch.manual_seed(0)
    sequence_out = name in {"elman_bi_2layers", "leaky", "deep_transition", "stacked_skips"}
    sequence_out |= name in {"deep_output", "ntm"}
    x = torch.randn(16, 5, 3)
    y = torch.randint(3, (16, 5) if sequence_out else (16,))
    if name == "ntm":  # bits to copy, as in chapter 7
        y, loss = torch.rand(16, 5, 3).round(), nn.functional.binary_cross_entropy_with_logits
    elif sequence_out:
        y[0, 0] = -100  # an unlabelled position, masked on the device
        loss = sequence_cross_entropy
    else:
        loss = nn.functional.cross_entropy
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_checks, "_on_cuda", lambda t: True)
        mp.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
        mp.setattr(torch.optim, "Adam", lambda ps, lr, capturable: torch.optim.SGD(ps, lr, 0.9))
        found = host_reads(
            train_seeds, build, [0, 1], Minibatches(x, y, 8, 2, seed=0), loss, 1e-2,
            clip=1.0, batched=True, progress=False,
        )  # fmt: skip
    assert found == []


def test_the_check_above_can_fail():
    """The same run with a loss that branches on a value is caught: the test above is not
    vacuous."""

    def reading_loss(logits, y):
        loss = nn.functional.cross_entropy(logits, y)
        return loss * 2 if y.sum() > 0 else loss  # y is the shared minibatch: a real read

    x, y = torch.randn(16, 5, 3), torch.randint(3, (16,))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_checks, "_on_cuda", lambda t: True)
        mp.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
        mp.setattr(torch.optim, "Adam", lambda ps, lr, capturable: torch.optim.SGD(ps, lr, 0.9))
        found = host_reads(
            train_seeds, STACKED_MODELS["elman"], [0, 1], Minibatches(x, y, 8, 2, seed=0),
            reading_loss, 1e-2, batched=True, progress=False,
        )  # fmt: skip
    assert found == [".item() / bool() / int() / float() of a tensor"]


def test_train_seeds_with_changing_batch_shapes():
    """Three batch shapes: two get a step each (graphs on a GPU), the third runs eagerly;
    on the CPU all three are the plain step, so the run equals seeds trained one by one."""
    g = torch.Generator().manual_seed(3)
    data = [
        (torch.randn(4, t, 3, generator=g), torch.randint(3, (4,), generator=g))
        for t in (5, 6, 7, 5, 6, 7)
    ]
    args = (STACKED_MODELS["elman"], [1, 2], data, nn.functional.cross_entropy, 1e-2)
    together = train_seeds(*args, batched=True, clip=1.0, progress=False)
    apart = train_seeds(*args, batched=False, clip=1.0, progress=False)
    assert together.graphed == apart.graphed == 0  # no GPU here
    for a, b in zip(together.histories, apart.histories, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_train_seeds_graphed_equals_eager(monkeypatch):
    """On a GPU train_seeds replays a graph; with no graph allowed it runs the same steps
    eagerly. Both give the same losses to rounding, and a step that reads back warns."""
    import seqcourse.train as train_module

    x, y = torch.randn(64, 20, 3), torch.randint(3, (64,))
    build = lambda: STACKED_MODELS["lstm_vanilla"]().cuda()  # noqa: E731
    args = ([0, 1, 2], Minibatches(x, y, 16, 20, seed=0), nn.functional.cross_entropy, 1e-2)
    graphed = train_seeds(build, *args, clip=1.0, progress=False)
    assert graphed.graphed == 20
    monkeypatch.setattr(train_module, "_MAX_GRAPHS", 0)
    eager = train_seeds(build, *args, clip=1.0, progress=False)
    assert eager.graphed == 0
    for a, b in zip(graphed.histories, eager.histories, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-4, abs=1e-5)
        assert a.grad_norm == pytest.approx(b.grad_norm, rel=1e-4, abs=1e-5)
    monkeypatch.setattr(train_module, "_MAX_GRAPHS", 2)

    def reading_loss(logits, y):
        loss = nn.functional.cross_entropy(logits, y)
        return loss * 2 if y.sum() > 0 else loss

    with pytest.warns(RuntimeWarning, match="cannot be recorded in a CUDA graph: it reads"):
        train_seeds(build, [0], args[1], reading_loss, 1e-2, progress=False)


def test_device_only_watch_and_the_added_rules():
    """CapturedStep's watch counts reads of device tensors only (a CUDA step may read CPU
    tensors freely); host_reads, the laptop check, counts them all. bincount and histc read
    their values; a CPU index into a tensor on another device is a copy (meta stands in for
    the GPU here)."""
    from seqcourse.graphs import _HostReads

    x = torch.randn(5)
    with _HostReads(device_only=True) as watch:
        x.sum().item()
        torch.nonzero(x > 0)
    assert watch.found == []
    assert host_reads(lambda: x.sum().item()) == [".item() / bool() / int() / float() of a tensor"]
    ids = torch.tensor([0, 2, 2])
    assert host_reads(lambda: torch.bincount(ids)) == [
        "bincount (output size depends on the values)"
    ]
    assert host_reads(lambda: torch.histc(x)) == ["histc (reads the range of the values)"]
    away = torch.empty(5, device="meta")
    with _HostReads(device_only=True) as watch:
        away[ids]
    assert watch.found == ["indexing a GPU tensor with CPU indices (a copy to the GPU)"]
    with pytest.raises(TypeError, match=r"buffers\[0\] must be a torch.Tensor, got int"):
        CapturedStep(lambda x: x.sum(), (x,), parameters=[], buffers=[1])


class _PairInput(nn.Module):
    """A model whose input is a pair (sequence, offset), as a batch may be nested."""

    def __init__(self):
        super().__init__()
        self.rnn, self.head = ElmanRNN(3, 6), nn.Linear(6, 3)

    def forward(self, x):
        seq, offset = x
        return self.head(self.rnn(seq + offset)[0][:, -1])


@pytest.mark.parametrize("offset", ["tensor", "number"])
def test_train_seeds_takes_nested_batches(offset):
    """Batches that are (x, y) with x a tuple: all tensors (recorded as a graph on a GPU) or
    holding a plain number (always eager); both train the same as seeds one by one."""
    g = torch.Generator().manual_seed(5)
    data = []
    for _ in range(4):
        seq, y = torch.randn(4, 5, 3, generator=g), torch.randint(3, (4,), generator=g)
        data.append(((seq, torch.tensor(0.5) if offset == "tensor" else 0.5), y))
    args = (_PairInput, [1, 2], data, nn.functional.cross_entropy, 1e-2)
    together = train_seeds(*args, batched=True, clip=1.0, progress=False)
    apart = train_seeds(*args, batched=False, clip=1.0, progress=False)
    for a, b in zip(together.histories, apart.histories, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-5) and len(a.loss) == 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_step_that_syncs_falls_back_before_capturing():
    """Indexing with a Python list copies the index to the GPU and synchronises, which no
    dispatch mode sees; the sync debug mode does, so no capture is attempted, and the process
    is left as it was (default stream current, the allocator usable)."""
    w = torch.randn(4, device="cuda", requires_grad=True)

    def loss(x):
        return (w * x)[[0, 1]].sum()

    with pytest.warns(RuntimeWarning, match="cannot be recorded in a CUDA graph"):
        step = CapturedStep(loss, (torch.randn(4, device="cuda"),), parameters=[w], fallback=True)
    assert not step.captured and "synchronises" in step.reason
    assert torch.cuda.current_stream() == torch.cuda.default_stream()
    torch.cuda.empty_cache()
    assert step(torch.ones(4, device="cuda")).item() == pytest.approx(float(w[:2].sum()))
