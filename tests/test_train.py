"""seqcourse.train: clipping against torch, the training loop, truncated BPTT, bits per char.

The models are defined here (not taken from seqcourse.rnn), so these tests check the loop
alone.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.runtime import seed_everything
from seqcourse.train import (
    History,
    LastStep,
    Minibatches,
    SeedRuns,
    clip_grad_norm,
    detach_state,
    evaluate_bits_per_char,
    median_range,
    sequence_cross_entropy,
    train,
    train_seeds,
    train_tbptt,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; on a busy 2-core machine two intra-op threads
    made these tests 10-100x slower (OpenMP threads waiting on each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------- test models
class TinyRNN(nn.Module):
    """nn.RNN with a linear readout: forward(x (B, T, D), state) -> (out (B, T, O), h_n)."""

    def __init__(self, d_in=3, hidden=5, d_out=2, dtype=torch.float64):
        super().__init__()
        self.rnn = nn.RNN(d_in, hidden, batch_first=True, dtype=dtype)
        self.out = nn.Linear(hidden, d_out, dtype=dtype)

    def forward(self, x, state=None):
        h, state = self.rnn(x, state)
        return self.out(h), state


class CharLM(nn.Module):
    """Embedding + RNN (or LSTM) + linear: forward(x (B, T) long, state) -> (logits, state)."""

    def __init__(self, vocab=5, hidden=16, lstm=False):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.rnn = (nn.LSTM if lstm else nn.RNN)(8, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        h, state = self.rnn(self.emb(x), state)
        return self.out(h), state


class DelayLine(nn.Module):
    """A shift register: out_t = u * x_{t-d}, the input reaching the output d steps later.

    The gradient w.r.t. u of out_t must travel back d recurrent steps, so with truncation
    k2 it is zero exactly when d >= k2.
    """

    def __init__(self, d):
        super().__init__()
        self.d = d
        self.u = nn.Parameter(torch.tensor(1.5, dtype=torch.float64))

    def forward(self, x, state=None):
        if state is None:
            state = x.new_zeros(x.shape[0], self.d + 1)
        outs = []
        for t in range(x.shape[1]):
            state = torch.cat([self.u * x[:, t, :1], state[:, :-1]], dim=1)
            outs.append(state[:, self.d])
        return torch.stack(outs, dim=1)[..., None], state


class PyRNN(nn.Module):
    """A tanh RNN written one operation per step, so torch.func.vmap can map it over
    stacked parameters (nn.RNN's fused kernel has no vmap rule); ``gain`` is a buffer.
    forward(x (B, T, D)) -> (out (B, T, H), h_T)."""

    def __init__(self, d_in=2, hidden=4):
        super().__init__()
        self.hidden_size = hidden
        self.w_ih = nn.Parameter(torch.randn(hidden, d_in) / d_in**0.5)
        self.w_hh = nn.Parameter(torch.randn(hidden, hidden) / hidden**0.5)
        self.b = nn.Parameter(torch.zeros(hidden))
        self.register_buffer("gain", torch.tensor(0.9))

    def forward(self, x):
        h, outs = x.new_zeros(x.shape[0], self.hidden_size), []
        for t in range(x.shape[1]):
            h = torch.tanh(self.gain * (x[:, t] @ self.w_ih.t() + h @ self.w_hh.t() + self.b))
            outs.append(h)
        return torch.stack(outs, dim=1), h


class Recording(nn.Module):
    """Wraps a model and records the state it is given and the state it returns."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.calls = []

    def forward(self, x, state=None):
        out, new = self.model(x, state)
        self.calls.append({"in": state, "out": new, "grad": torch.is_grad_enabled()})
        return out, new


class GradRecorder:
    """An 'optimizer' that keeps a copy of every gradient it is asked to apply."""

    def __init__(self, params):
        self.params = list(params)
        self.grads = []

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    def step(self):
        self.grads.append([None if p.grad is None else p.grad.clone() for p in self.params])


def mse_sum(out, y):
    return ((out - y) ** 2).sum()


def random_stream(B=3, L=12, D=3, d_out=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, L, D, generator=g, dtype=torch.float64)
    y = torch.randn(B, L, d_out, generator=g, dtype=torch.float64)
    return x, y


# ---------------------------------------------------------------------------- clipping
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 1e3])
def test_clip_grad_norm_equals_torch(seed, max_norm):
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (7,), (2, 2, 2), (5,)]
    ours = [torch.randn(s, generator=g, requires_grad=True) for s in shapes]
    for p in ours[:-1]:  # the last parameter has no gradient
        p.grad = torch.randn(p.shape, generator=g) * 3
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    for a, b in zip(ours, theirs, strict=True):
        b.grad = None if a.grad is None else a.grad.clone()
    norm = clip_grad_norm(ours, max_norm)
    ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert isinstance(norm, float)
    assert norm == pytest.approx(float(ref), rel=1e-6)
    for a, b in zip(ours[:-1], theirs[:-1], strict=True):
        torch.testing.assert_close(a.grad, b.grad)
    assert ours[-1].grad is None


def test_clip_grad_norm_is_a_no_op_below_the_threshold():
    p = torch.zeros(4, requires_grad=True)
    p.grad = torch.tensor([0.1, -0.2, 0.3, 0.0])
    before = p.grad.clone()
    assert clip_grad_norm([p], 10.0) == pytest.approx(math.sqrt(0.14), rel=1e-6)
    assert torch.equal(p.grad, before)
    assert clip_grad_norm(p, 0.5) == pytest.approx(math.sqrt(0.14), rel=1e-6)  # one tensor
    assert clip_grad_norm([torch.zeros(2, requires_grad=True)], 1.0) == 0.0  # no grads


def test_clip_grad_norm_clips_to_max_norm():
    p = torch.zeros(2, requires_grad=True)
    p.grad = torch.tensor([30.0, 40.0])
    assert clip_grad_norm([p], 5.0) == pytest.approx(50.0)
    torch.testing.assert_close(p.grad, torch.tensor([3.0, 4.0]), rtol=1e-5, atol=0)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_clip_grad_norm_rejects_bad_max_norm(bad):
    with pytest.raises(ValueError, match="max_norm must be a finite number > 0"):
        clip_grad_norm([torch.zeros(1, requires_grad=True)], bad)


@pytest.mark.parametrize("bad", ["1.0", None, True, [1.0]])
def test_clip_grad_norm_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match="max_norm must be a finite number > 0"):
        clip_grad_norm([torch.zeros(1, requires_grad=True)], bad)


# ---------------------------------------------------------------------------- train
def regression_batches(n_batches=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.tensor([[2.0], [-1.0], [0.5]])
    batches = []
    for _ in range(n_batches):
        x = torch.randn(16, 3, generator=g)
        batches.append((x, x @ w + 0.01 * torch.randn(16, 1, generator=g)))
    return batches


def test_train_decreases_the_loss_and_records_every_step():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hist = train(model, regression_batches(), F.mse_loss, opt, epochs=5, progress=False)
    assert isinstance(hist, History)
    assert hist.step == list(range(1, 41))
    assert len(hist.loss) == len(hist.grad_norm) == 40
    assert hist.last("loss") < 0.01 * hist.loss[0]
    assert all(g >= 0 for g in hist.grad_norm)


def test_train_records_the_norm_before_clipping_and_steps_with_clipped_gradients():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    batches = regression_batches(3)
    ref = nn.Linear(3, 1)
    ref.load_state_dict(model.state_dict())
    F.mse_loss(ref(batches[0][0]), batches[0][1]).backward()
    expected = float(torch.nn.utils.clip_grad_norm_(ref.parameters(), 1e9))
    opt = GradRecorder(model.parameters())
    hist = train(model, batches, F.mse_loss, opt, clip=0.01, progress=False)
    assert hist.grad_norm[0] == pytest.approx(expected, rel=1e-6)
    assert hist.grad_norm[0] > 0.01
    for grads in opt.grads:  # what the optimizer saw was clipped
        assert torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])) <= 0.01 + 1e-6


def test_train_mode_while_training_eval_and_no_grad_in_val_fn():
    seen = []

    class Probe(nn.Linear):
        def forward(self, x):
            seen.append(("forward", self.training, torch.is_grad_enabled()))
            return super().forward(x)

    def val_fn(m):
        seen.append(("val", m.training, torch.is_grad_enabled()))
        return {"mse": 1.0, "acc": 0.5}

    model = Probe(3, 1)
    model.eval()  # restored afterwards
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    hist = train(model, regression_batches(4), F.mse_loss, opt, 2, val_fn=val_fn, progress=False)
    assert all(s[1:] == (True, True) for s in seen if s[0] == "forward")
    assert [s for s in seen if s[0] == "val"] == [("val", False, False)] * 2
    assert hist.val == {"step": [4, 8], "mse": [1.0, 1.0], "acc": [0.5, 0.5]}
    assert hist.last("acc") == 0.5
    assert model.training is False

    hist = train(
        model, regression_batches(4), F.mse_loss, opt, 1, progress=False, val_every=3,
        val_fn=lambda m: 2.0,
    )  # fmt: skip
    assert hist.val == {"step": [3], "loss": [2.0]}


def test_train_is_deterministic_under_seed_everything():
    def run():
        seed_everything(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.2), nn.Tanh(), nn.Linear(8, 1))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        data = regression_batches(4)

        def shuffled():
            return [data[i] for i in torch.randperm(len(data))]

        return train(model, shuffled, F.mse_loss, opt, epochs=3, progress=False)

    a, b = run(), run()
    assert a.loss == b.loss and a.grad_norm == b.grad_norm


def test_train_progress_bar_and_moves_batches_to_the_model_device(capsys):
    model = nn.Linear(3, 1).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [(x.double(), y.double()) for x, y in regression_batches(2)]
    hist = train(model, iter(batches), F.mse_loss, opt, progress=True, device="cpu")
    assert len(hist.loss) == 2
    assert "train" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_train_moves_cpu_batches_to_a_gpu_model():
    model = nn.Linear(3, 1).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hist = train(model, regression_batches(2), F.mse_loss, opt, progress=False)
    assert len(hist.loss) == 2


def test_train_rejects_bad_arguments():
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = regression_batches(2)
    with pytest.raises(ValueError, match="one-shot iterator"):
        train(model, iter(data), F.mse_loss, opt, epochs=2, progress=False)
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        train(model, data, F.mse_loss, opt, epochs=0, progress=False)
    with pytest.raises(ValueError, match="clip must be a finite number > 0"):
        train(model, data, F.mse_loss, opt, clip=-1.0, progress=False)
    with pytest.raises(ValueError, match="loss_fn must return a scalar"):
        train(model, data, lambda o, y: (o - y) ** 2, opt, progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        train(model, data, F.mse_loss, "sgd", progress=False)
    with pytest.raises(ValueError, match="model must have parameters"):
        train(nn.Identity(), data, F.mse_loss, opt, progress=False)
    with pytest.raises(KeyError, match="key must be one of"):
        History().last("accuracy")
    with pytest.raises(ValueError, match="no value"):
        History().last("loss")


# ---------------------------------------------------------------------------- seeds
def test_history_first_step():
    hist = History()
    for step in range(1, 7):
        hist.record(1.0, 1.0)
        if step % 2 == 0:
            hist.record_val({"mse": 1.0 / step, "acc": step / 10})
    assert hist.first_step("mse", below=0.3) == 4
    assert hist.first_step("acc", above=0.5) == 6
    assert hist.first_step("mse", below=0.01) is None
    with pytest.raises(ValueError, match="exactly one"):
        hist.first_step("mse")
    with pytest.raises(ValueError, match="exactly one"):
        hist.first_step("mse", below=1.0, above=0.0)
    with pytest.raises(KeyError, match="validation metric"):
        hist.first_step("loss", below=1.0)


def test_last_step_reads_the_last_hidden_state():
    torch.manual_seed(0)
    model = LastStep(nn.GRU(3, 4, batch_first=True), 2)
    x = torch.randn(5, 7, 3)
    out = model(x)
    assert out.shape == (5, 2)
    torch.testing.assert_close(out, model.head(model.rnn(x)[0][:, -1]))
    with pytest.raises(TypeError, match="hidden_size"):
        LastStep(nn.Linear(3, 4), 2)


def test_minibatches_are_the_same_on_every_pass_and_follow_the_seed():
    x, y = torch.arange(20.0)[:, None], torch.arange(20)
    batches = Minibatches(x, y, batch=4, steps=3, seed=7)
    first, again = list(batches), list(batches)
    assert len(batches) == len(first) == 3
    gen = torch.Generator().manual_seed(7)
    for (xb, yb), (xa, ya) in zip(first, again, strict=True):
        idx = torch.randint(0, 20, (4,), generator=gen)
        assert torch.equal(yb, idx) and torch.equal(xb[:, 0], idx.float())
        assert torch.equal(xb, xa) and torch.equal(yb, ya)
    other = [yb for _, yb in Minibatches(x, y, batch=4, steps=3, seed=8)]
    assert not all(torch.equal(a, b) for (_, a), b in zip(first, other, strict=True))


def test_minibatches_reject_bad_arguments():
    x, y = torch.zeros(4, 2), torch.zeros(4)
    with pytest.raises(ValueError, match="same number"):
        Minibatches(x, torch.zeros(3), 2, 1, 0)
    with pytest.raises(TypeError, match="tensors"):
        Minibatches(x.numpy(), y, 2, 1, 0)
    with pytest.raises(ValueError, match="batch must be"):
        Minibatches(x, y, 0, 1, 0)
    with pytest.raises(ValueError, match="seed must be"):
        Minibatches(x, y, 2, 1, -1)


def adding_like(n=64, T=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, 2, generator=g, dtype=torch.float64)
    return x, x[:, 0, 0] + x[:, -1, 1]


def last_mse(out, y):
    return F.mse_loss(out.squeeze(-1), y)


@pytest.mark.parametrize("hidden", [1, 4])
def test_train_seeds_batched_equals_one_seed_after_the_other(hidden):
    """vmap over stacked parameters, per-seed clipping and one Adam over the stack give
    the runs that training each seed alone gives, to rounding (float64)."""
    x, y = adding_like()

    def build():
        return LastStep(PyRNN(2, hidden), 1).double()

    def val(m):
        return {"mse": last_mse(m(x), y).item()}

    batches = Minibatches(x, y, batch=8, steps=12, seed=3)
    kw = dict(clip=0.05, val_fn=val, val_every=4, progress=False)  # small clip: clipping acts
    together = train_seeds(build, [5, 6, 7], batches, last_mse, 1e-2, batched=True, **kw)
    apart = train_seeds(build, [5, 6, 7], batches, last_mse, 1e-2, batched=False, **kw)
    assert isinstance(together, SeedRuns) and together.seeds == [5, 6, 7]
    assert together.seconds > 0
    for a, b in zip(together.histories, apart.histories, strict=True):
        assert a.step == b.step == list(range(1, 13))
        assert a.val["step"] == [4, 8, 12]
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-10)
        np.testing.assert_allclose(a.grad_norm, b.grad_norm, rtol=1e-10)
        np.testing.assert_allclose(a.val["mse"], b.val["mse"], rtol=1e-10)
    for ma, mb in zip(together.models, apart.models, strict=True):
        for p, q in zip(ma.parameters(), mb.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    assert min(together.histories[0].grad_norm) > 0.05  # the clip did act
    losses = [h.loss for h in together.histories]
    assert losses[0] != losses[1]  # the seeds differ


def test_train_seeds_sequential_is_train_from_the_seed():
    """Seed k of train_seeds is the model built after torch.manual_seed(k) and trained
    with train() and Adam on the same batches; a model holding an nn.LSTM (no vmap rule)
    trains that way by default."""
    x, y = adding_like(seed=1)
    batches = Minibatches(x, y, batch=8, steps=10, seed=0)

    def build():
        return LastStep(nn.LSTM(2, 4, batch_first=True), 1).double()

    runs = train_seeds(build, [11], batches, last_mse, 3e-3, clip=1.0, progress=False)
    torch.manual_seed(11)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    hist = train(model, batches, last_mse, opt, clip=1.0, progress=False)
    assert runs.histories[0].loss == hist.loss
    for p, q in zip(runs.models[0].parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("batched", [True, False])
def test_train_seeds_stops_each_seed_at_its_first_accepted_validation(batched):
    x, y = adding_like(seed=2)

    def build():
        return LastStep(PyRNN(2, 4), 1).double()

    def val(m):
        return {"mse": last_mse(m(x), y).item()}

    batches = Minibatches(x, y, batch=16, steps=40, seed=0)
    kw = dict(clip=1.0, val_fn=val, val_every=5, progress=False, batched=batched)
    full = train_seeds(build, [0, 1], batches, last_mse, 3e-2, **kw)
    level = float(np.median([h.val["mse"][3] for h in full.histories]))  # between the seeds
    runs = train_seeds(
        build, [0, 1], batches, last_mse, 3e-2, stop=lambda m: m["mse"] < level, **kw
    )
    for whole, cut, model in zip(full.histories, runs.histories, runs.models, strict=True):
        first = whole.first_step("mse", below=level)
        end = first if first is not None else 40
        assert cut.step[-1] == cut.val["step"][-1] == end
        assert cut.loss == pytest.approx(whole.loss[:end], rel=1e-10)
        assert val(model)["mse"] == pytest.approx(cut.val["mse"][-1], rel=1e-10)  # its weights
    ends = [h.step[-1] for h in runs.histories]
    assert min(ends) < 40  # at least one seed stopped early


def test_train_seeds_rejects_bad_arguments():
    x, y = adding_like()
    batches = Minibatches(x, y, batch=8, steps=2, seed=0)

    def build():
        return LastStep(PyRNN(2, 4), 1).double()

    with pytest.raises(ValueError, match="at least one seed"):
        train_seeds(build, [], batches, last_mse, 1e-2)
    with pytest.raises(ValueError, match="stop needs a val_fn"):
        train_seeds(build, [0], batches, last_mse, 1e-2, stop=lambda m: True)
    with pytest.raises(TypeError, match="re-iterable"):
        train_seeds(build, [0], iter(batches), last_mse, 1e-2)
    with pytest.raises(ValueError, match="lr must be"):
        train_seeds(build, [0], batches, last_mse, 0.0)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        train_seeds(build, [0], batches, "mse", 1e-2)
    with pytest.raises(ValueError, match="seed must be"):
        train_seeds(build, [-1], batches, last_mse, 1e-2)


# ---------------------------------------------------------------------------- TBPTT
def test_tbptt_with_one_full_window_is_full_bptt():
    torch.manual_seed(0)
    model = TinyRNN()
    x, y = random_stream(L=12)
    mse_sum(model(x)[0], y).backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    opt = GradRecorder(model.parameters())
    hist = train_tbptt(model, x, y, k1=12, k2=12, loss_fn=mse_sum, optimizer=opt, progress=False)
    assert hist.step == [1]
    for got, want in zip(opt.grads[0], expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("k1", "k2"), [(5, 5), (2, 5), (4, 7), (3, 12), (12, 12)])
def test_tbptt_matches_williams_and_peng(k1, k2):
    # every k1 steps one update: the loss of those k1 targets, backpropagated through the
    # last k2 steps from the state there (detached), computed here by full reruns
    torch.manual_seed(1)
    model = TinyRNN()
    x, y = random_stream(L=12)
    expected = []
    for start in range(0, 12, k1):
        end = min(start + k1, 12)
        g = max(0, start - (k2 - k1))
        with torch.no_grad():
            state = model(x[:, :g], None)[1] if g > 0 else None
        out, _ = model(x[:, g:end], state)
        model.zero_grad()
        mse_sum(out[:, start - g :], y[:, start:end]).backward()
        expected.append([p.grad.clone() for p in model.parameters()])
    model.zero_grad()
    opt = GradRecorder(model.parameters())
    hist = train_tbptt(model, x, y, k1, k2, loss_fn=mse_sum, optimizer=opt, progress=False)
    assert len(hist.loss) == len(expected) == math.ceil(12 / k1)
    for got_step, want_step in zip(opt.grads, expected, strict=True):
        for got, want in zip(got_step, want_step, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_tbptt_every_target_counts_once():
    # out_t = u * x_t, loss = sum of outputs: the gradient of u over all updates is sum_t x_t
    for k1, k2 in ((3, 3), (3, 5), (4, 10)):
        x = torch.arange(1.0, 11.0, dtype=torch.float64).view(1, 10, 1)
        model = DelayLine(0)
        opt = GradRecorder(model.parameters())
        train_tbptt(
            model, x, torch.zeros(1, 10, 1), k1=k1, k2=k2,
            loss_fn=lambda out, y: out.sum(), optimizer=opt, progress=False,
        )  # fmt: skip
        total = sum(float(step[0]) for step in opt.grads)
        assert total == pytest.approx(float(x.sum())), (k1, k2, total)


@pytest.mark.parametrize(("k1", "k2"), [(1, 1), (2, 3), (2, 4), (4, 4)])
def test_no_gradient_reaches_further_back_than_k2_minus_1_steps(k1, k2):
    x = torch.ones(2, 12, 1, dtype=torch.float64)
    for d, flows in ((k2, False), (k2 - 1, True)):  # out_t = u * x_{t-d}
        if d < 0:
            continue
        model = DelayLine(d)
        opt = GradRecorder(model.parameters())
        train_tbptt(
            model, x, torch.zeros(2, 12, 1), k1=k1, k2=k2,
            loss_fn=lambda out, y: out.sum(), optimizer=opt, progress=False,
        )  # fmt: skip
        grads = [step[0] for step in opt.grads]
        if flows:
            assert all(g is not None and g.abs() > 0 for g in grads[1:]), (d, k2, grads)
        else:
            assert all(g is None or g == 0 for g in grads), (d, k2, grads)


@pytest.mark.parametrize(("k1", "k2", "lstm"), [(4, 4, False), (2, 4, False), (3, 3, True)])
def test_state_is_carried_between_windows_and_detached(k1, k2, lstm):
    torch.manual_seed(0)
    model = Recording(CharLM(lstm=lstm))
    ids = torch.randint(0, 5, (2, 13))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def loss_fn(logits, y):
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    train_tbptt(model, ids, ids, k1, k2, loss_fn=loss_fn, optimizer=opt, progress=False)
    calls = model.calls
    assert calls[0]["in"] is None
    starts = 0  # calls that start an update's graph: from a detached state
    for prev, call in zip(calls[:-1], calls[1:], strict=True):
        carried_in = call["in"] if lstm else (call["in"],)
        previous_out = prev["out"] if lstm else (prev["out"],)
        if call["in"] is None or all(not a.requires_grad and a.grad_fn is None for a in carried_in):
            starts += 1
        else:  # the second piece of an overlapping window continues the first one's graph
            assert k2 > k1 and all(a is b for a, b in zip(carried_in, previous_out, strict=True))
    assert starts == math.ceil(13 / k1) - 1
    if k1 == k2:  # one call per window, each starting from the state the last one left
        assert len(calls) == math.ceil(13 / k1)
        for prev, call in zip(calls[:-1], calls[1:], strict=True):
            carried_in = call["in"] if lstm else (call["in"],)
            previous_out = prev["out"] if lstm else (prev["out"],)
            for a, b in zip(carried_in, previous_out, strict=True):
                assert torch.equal(a, b)
    assert all(c["grad"] for c in calls)  # every call builds a graph


def test_tbptt_decreases_the_loss_on_a_toy_stream():
    seed_everything(0)
    pattern = np.array([0, 1, 2, 3, 4, 3, 2, 1])
    stream = torch.as_tensor(np.tile(pattern, 4 * 50).reshape(4, -1))  # (4, 400)
    model = CharLM(vocab=5, hidden=16)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    hist = train_tbptt(
        model, stream[:, :-1], stream[:, 1:], k1=25, loss_fn=sequence_cross_entropy,
        optimizer=opt, epochs=3, clip=1.0, progress=False,
    )  # fmt: skip
    assert len(hist.loss) == 3 * 16
    assert hist.loss[0] > 1.4 and np.mean(hist.loss[-5:]) < 0.1, hist.loss


def test_tbptt_rejects_bad_arguments():
    model = TinyRNN()
    x, y = random_stream()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def go(*args, **kw):
        train_tbptt(model, *args, loss_fn=mse_sum, optimizer=opt, progress=False, **kw)

    with pytest.raises(ValueError, match="k2 must be >= k1 = 4"):
        go(x, y, 4, 3)
    with pytest.raises(ValueError, match="k1 must be an int >= 1, got 0"):
        go(x, y, 0)
    with pytest.raises(ValueError, match="k2 must be an int >= 1"):
        go(x, y, 3, 0)
    with pytest.raises(TypeError, match="k1 must be an int"):
        go(x, y, 2.5)
    with pytest.raises(ValueError, match="clip must be a finite number > 0"):
        go(x, y, 3, clip=-1)
    with pytest.raises(ValueError, match="share"):
        go(x, y[:, :5], 3)
    with pytest.raises(TypeError, match="state must be"):
        detach_state("h")


def test_detach_state_handles_tensors_tuples_and_none():
    h = torch.ones(2, requires_grad=True) * 2
    c = torch.ones(2, requires_grad=True) * 3
    assert detach_state(None) is None
    out = detach_state((h, [c]))
    assert isinstance(out, tuple) and isinstance(out[1], list)
    assert out[0].grad_fn is None and out[1][0].grad_fn is None
    assert torch.equal(out[0], h)


# ---------------------------------------------------------------------------- losses, bpc
def test_sequence_cross_entropy_masks_and_handles_no_labels():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    y = torch.tensor([[0, -100, 2], [-100, 3, 1]])
    keep = y != -100
    want = F.cross_entropy(logits[keep], y[keep])
    torch.testing.assert_close(sequence_cross_entropy(logits, y), want)
    none = sequence_cross_entropy(logits, torch.full((2, 3), -100))
    assert none.item() == 0.0
    none.backward()  # still differentiable
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        sequence_cross_entropy(logits[0], y[0])


class FixedLogits(nn.Module):
    """Logits that ignore the input: a unigram model, state counts the calls."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.as_tensor(logits, dtype=torch.float32))

    def forward(self, x, state=None):
        logits = self.logits.expand(*x.shape, -1)
        return logits, (0 if state is None else state) + 1


@pytest.mark.parametrize(("batch", "window"), [(1, 1000), (3, 7), (50, 4)])
def test_bits_per_char_of_uniform_and_unigram_models(batch, window):
    rng = np.random.default_rng(0)
    V = 7
    ids = rng.choice(V, size=301, p=[0.4, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05])
    uniform = evaluate_bits_per_char(FixedLogits(torch.zeros(V)), ids, batch, window)
    assert uniform == pytest.approx(math.log2(V), rel=1e-6)
    freq = np.bincount(ids[1:], minlength=V) / (len(ids) - 1)  # the predicted characters
    entropy = -(freq[freq > 0] * np.log2(freq[freq > 0])).sum()
    unigram = evaluate_bits_per_char(
        FixedLogits(np.log(np.maximum(freq, 1e-30))), torch.as_tensor(ids), batch, window
    )
    assert unigram == pytest.approx(entropy, rel=1e-6)


def test_bits_per_char_carries_the_state_and_uses_eval_mode():
    torch.manual_seed(0)
    model = CharLM(vocab=6, hidden=8)
    model.train()
    ids = torch.randint(0, 6, (200,))
    with torch.no_grad():
        logits, _ = model(ids[None, :-1])
    want = F.cross_entropy(logits[0], ids[1:]).item() / math.log(2)
    for window in (1, 13, 500):  # the same number whatever the window: state carried
        got = evaluate_bits_per_char(model, ids, batch=1, window=window)
        assert got == pytest.approx(want, rel=1e-5)
    assert model.training  # mode restored

    modes = []

    class Probe(CharLM):
        def forward(self, x, state=None):
            modes.append((self.training, torch.is_grad_enabled()))
            return super().forward(x, state)

    evaluate_bits_per_char(Probe(vocab=6), ids, batch=4, window=16)
    assert modes and set(modes) == {(False, False)}


def test_bits_per_char_rejects_bad_input():
    model = FixedLogits(torch.zeros(3))
    with pytest.raises(ValueError, match="at least 2"):
        evaluate_bits_per_char(model, torch.tensor([1]))
    with pytest.raises(ValueError, match="1-D integer"):
        evaluate_bits_per_char(model, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="logits over 3 symbols"):
        evaluate_bits_per_char(model, torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match="batch must be an int >= 1"):
        evaluate_bits_per_char(model, torch.tensor([0, 1]), batch=0)


def test_median_range_formats_one_number_per_seed():
    assert median_range([0.3, 0.1, 0.2]) == "0.200 (0.100-0.300)"
    assert median_range([350, 300, 450], ".0f") == "350 (300-450)"
    assert median_range([1, 2], ".1f") == "1.5 (1.0-2.0)"  # the median of an even count
    assert median_range([]) == "-"


def test_adam_steps_records_the_loss_and_minimises_the_objective():
    from seqcourse.train import adam_steps

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1).eval()
    x, y = torch.randn(32, 3), torch.randn(32, 1)

    def step_loss(i, history):
        loss = ((model(x) - y) ** 2).mean()
        penalty = model.weight.pow(2).sum()
        history.val.setdefault("penalty", []).append(float(penalty.detach()))
        return loss + 10.0 * penalty, loss

    h = adam_steps(model, 200, step_loss, 0.05, None, progress=False)
    assert len(h.loss) == len(h.val["penalty"]) == 200 and h.step[-1] == 200
    assert h.val["penalty"][-1] < 0.1 * h.val["penalty"][0] or h.val["penalty"][0] < 1e-3
    assert not model.training  # restored
    first = ((model(x) - y) ** 2).mean().item()
    assert abs(h.loss[-1] - first) < 0.05  # the recorded value is the loss, not the objective
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        adam_steps(model, 1, step_loss, 0.0, None, progress=False)
    with pytest.raises(ValueError, match="clip"):
        adam_steps(model, 1, step_loss, 0.1, 0.0, progress=False)


def test_eval_mode_restores_the_mode_even_on_error():
    from seqcourse.train import eval_mode

    model = torch.nn.Linear(2, 2)
    for start in (True, False):
        model.train(start)
        with eval_mode(model) as inside:
            assert inside is model and not model.training
        assert model.training is start
        with pytest.raises(RuntimeError, match="boom"), eval_mode(model):
            raise RuntimeError("boom")
        assert model.training is start
