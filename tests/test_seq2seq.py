"""seqcourse.seq2seq: encoder-decoder, loss, scheduled sampling, decoding, beam search, BLEU.

Equality checks run in float64 with tolerance 1e-12 relative to the reference's scale.
Beam search is checked against exhaustive enumeration of every hypothesis on tiny random
models; BLEU against sacrebleu on random corpora.
"""

import itertools
import math
import random

import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from seqcourse.data.translation import BOS, EOS
from seqcourse.seq2seq import (
    Seq2Seq,
    beam_search,
    corpus_bleu,
    exponential_decay,
    fit,
    greedy_decode,
    inverse_sigmoid_decay,
    linear_decay,
    make_batch,
    model_log_prob_fn,
    reverse_within_length,
    sample_decode,
    sequence_accuracy,
    sequence_loss,
    translate,
)

F64 = torch.float64
SRC = [[4, 5, 6, 7, 8], [9, 10], [11, 4, 5]]
TGT = [[5, 6], [7, 8, 9, 10], [4]]


def close(got: torch.Tensor, want: torch.Tensor, tol: float = 1e-12) -> bool:
    return (got - want).abs().max().item() <= tol * max(want.abs().max().item(), 1e-30)


def tiny(cell="lstm", layers=1, reverse=False, seed=0, backend="seqcourse", V=12):
    torch.manual_seed(seed)
    return Seq2Seq(13, V, 5, 7, cell, layers, backend, reverse).to(F64)


# ---------------------------------------------------------------------------- batches
def test_make_batch_adds_bos_eos_and_pads():
    b = make_batch(SRC, TGT)
    assert b.src.tolist() == [[4, 5, 6, 7, 8], [9, 10, 0, 0, 0], [11, 4, 5, 0, 0]]
    assert b.src_lengths.tolist() == [5, 2, 3]
    assert b.tgt_in.tolist() == [[BOS, 5, 6, 0, 0], [BOS, 7, 8, 9, 10], [BOS, 4, 0, 0, 0]]
    assert b.tgt_out.tolist() == [[5, 6, EOS, 0, 0], [7, 8, 9, 10, EOS], [4, EOS, 0, 0, 0]]
    assert b.tgt_mask.sum(1).tolist() == [3, 5, 2]


def test_make_batch_errors():
    with pytest.raises(ValueError, match="src and tgt must hold the same number of sequences"):
        make_batch(SRC, TGT[:2])
    with pytest.raises(ValueError, match=r"tgt\[1\] must hold at least one id, got an empty"):
        make_batch(SRC[:2], [[4], []])
    with pytest.raises(ValueError, match=r"src\[0\] must hold at least one id, got an empty"):
        make_batch([[]], [[4]])


def test_reverse_within_length_keeps_padding_at_the_end():
    b = make_batch(SRC, TGT)
    rev = reverse_within_length(b.src, b.src_lengths)
    assert rev.tolist() == [[8, 7, 6, 5, 4], [10, 9, 0, 0, 0], [5, 4, 11, 0, 0]]


# ---------------------------------------------------------------------------- model
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("reverse", [False, True])
def test_seqcourse_and_torch_backends_agree_with_copied_weights(cell, layers, reverse):
    ours = tiny(cell, layers, reverse)
    theirs = ours.to_backend("torch")
    assert isinstance(theirs.encoder, torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)
    b = make_batch(SRC, TGT)
    outs, grads = [], []
    for model in (ours, theirs):
        model.zero_grad()
        logits = model(b.src, b.src_lengths, b.tgt_in)
        sequence_loss(logits, b.tgt_out, b.tgt_mask).backward()
        outs.append(logits)
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert close(outs[0], outs[1])
    for name, g in grads[1].items():
        assert close(grads[0][name], g), name
    back = theirs.to_backend("seqcourse")
    assert close(back(b.src, b.src_lengths, b.tgt_in), outs[0])


@pytest.mark.parametrize("backend", ["seqcourse", "torch"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_padding_does_not_change_a_sentence(backend, cell, reverse):
    model = tiny(cell, 2, reverse, backend=backend)
    b = make_batch(SRC, TGT)
    batched = model(b.src, b.src_lengths, b.tgt_in)
    for i, (x, y) in enumerate(zip(SRC, TGT, strict=True)):
        alone = make_batch([x], [y])
        got = model(alone.src, alone.src_lengths, alone.tgt_in)
        assert close(batched[i, : len(y) + 1], got[0])


def test_reversed_source_is_the_forward_model_on_reversed_sentences():
    fwd, rev = tiny(reverse=False), tiny(reverse=True)
    b = make_batch(SRC, TGT)
    flipped = make_batch([x[::-1] for x in SRC], TGT)
    assert close(rev(b.src, b.src_lengths, b.tgt_in), fwd(flipped.src, b.src_lengths, b.tgt_in))


def test_encoder_state_is_taken_at_the_last_real_token():
    model = tiny("lstm")
    b = make_batch(SRC, TGT)
    h, c = model.encode(b.src, b.src_lengths)
    assert h.shape == c.shape == (1, 3, 7)
    ref = model.to_backend("torch")
    _, (h2, c2) = ref.encoder(ref.src_embed(torch.tensor([SRC[1]])))
    assert close(h[:, 1], h2[:, 0]) and close(c[:, 1], c2[:, 0])


def test_model_errors():
    model = tiny()
    b = make_batch(SRC, TGT)
    with pytest.raises(ValueError, match=r"cell must be one of \('lstm', 'gru'\), got 'rnn'"):
        Seq2Seq(10, 10, cell="rnn")
    with pytest.raises(ValueError, match="backend must be one of"):
        Seq2Seq(10, 10, backend="cudnn")
    with pytest.raises(ValueError, match="src_vocab must be an int >= 5, got 4"):
        Seq2Seq(4, 10)
    with pytest.raises(TypeError, match="reverse_source must be a bool"):
        Seq2Seq(10, 10, reverse_source=1)
    with pytest.raises(
        ValueError, match="src and tgt_in must have the same batch size, got 3 and 2"
    ):
        model(b.src, b.src_lengths, b.tgt_in[:2])
    with pytest.raises(ValueError, match=r"src_lengths must have shape \(B,\) = \(3,\)"):
        model(b.src, b.src_lengths[:2], b.tgt_in)
    with pytest.raises(
        ValueError, match=r"src_lengths must lie in \[1, S = 5\] \(no empty source\)"
    ):
        model(b.src, torch.tensor([5, 0, 3]), b.tgt_in)
    with pytest.raises(TypeError, match="src must be a LongTensor"):
        model(b.src.float(), b.src_lengths, b.tgt_in)
    with pytest.raises(ValueError, match=r"tgt_in must hold ids in \[0, 12\), got ids in \[12, 12"):
        model(b.src, b.src_lengths, torch.full_like(b.tgt_in, 12))
    with pytest.raises(ValueError, match=r"src must hold at least one id, got shape \(3, 0\)"):
        model(b.src[:, :0], b.src_lengths, b.tgt_in)
    with pytest.raises(ValueError, match=r"src must have shape \(B, T\), got \(3,\)"):
        model(b.src[:, 0], b.src_lengths, b.tgt_in)


# ---------------------------------------------------------------------------- loss
def test_sequence_loss_is_the_mean_over_real_tokens():
    torch.manual_seed(1)
    logits = torch.randn(3, 5, 7, dtype=F64, requires_grad=True)
    b = make_batch(SRC, [[5, 6], [4, 5, 6, 3], [6]])
    loss = sequence_loss(logits, b.tgt_out, b.tgt_mask)
    masked = b.tgt_out.masked_fill(~b.tgt_mask, -100)
    want = F.cross_entropy(logits.reshape(-1, 7), masked.reshape(-1), ignore_index=-100)
    assert abs(loss.item() - want.item()) < 1e-12
    by_hand = -sum(
        logits[i, t].log_softmax(-1)[b.tgt_out[i, t]]
        for i in range(3)
        for t in range(5)
        if b.tgt_mask[i, t]
    ) / int(b.tgt_mask.sum())
    assert abs(loss.item() - by_hand.item()) < 1e-12
    (g,) = torch.autograd.grad(loss, logits)
    assert g[~b.tgt_mask].abs().max() == 0  # padding gets no gradient
    assert torch.autograd.gradcheck(
        lambda z: sequence_loss(z, b.tgt_out, b.tgt_mask), (logits.detach().requires_grad_(),)
    )


def test_sequence_loss_errors():
    logits = torch.zeros(2, 3, 4)
    targets = torch.zeros(2, 3, dtype=torch.long)
    mask = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="mask must select at least one target token"):
        sequence_loss(logits, targets, mask & False)
    with pytest.raises(ValueError, match=r"targets and mask must have shape \(B, T\) = \(2, 3\)"):
        sequence_loss(logits, targets[:, :2], mask)
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        sequence_loss(logits, targets, mask.long())
    with pytest.raises(TypeError, match="targets must be a LongTensor"):
        sequence_loss(logits, targets.float(), mask)
    with pytest.raises(ValueError, match=r"logits must have shape \(B, T, V\), got \(2, 3\)"):
        sequence_loss(logits[..., 0], targets, mask)
    with pytest.raises(ValueError, match=r"targets under the mask must lie in \[0, 4\)"):
        sequence_loss(logits, targets + 4, mask)
    assert sequence_loss(logits, targets.masked_fill(~mask, 99), mask).item() == pytest.approx(
        math.log(4)
    )


def test_sequence_accuracy():
    assert sequence_accuracy([[1, 2], [3]], [[1, 2], [3, 2]]) == 0.5
    with pytest.raises(ValueError, match="hyps and refs must be equally long and non-empty"):
        sequence_accuracy([[1]], [])


# ---------------------------------------------------------------------------- scheduled sampling
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_scheduled_sampling_ends(cell):
    model = tiny(cell)
    b = make_batch(SRC, TGT)
    forced = model(b.src, b.src_lengths, b.tgt_in)
    assert close(model.forward_scheduled(b.src, b.src_lengths, b.tgt_in, 1.0), forced)
    free = model.forward_scheduled(b.src, b.src_lengths, b.tgt_in, 0.0)
    tokens = free.argmax(-1)  # (B, T): what the model fed itself
    greedy = greedy_decode(model, b.src, b.src_lengths, max_len=b.tgt_in.shape[1])
    for row, g in zip(tokens.tolist(), greedy, strict=True):
        assert row[: len(g)] == g


def test_scheduled_sampling_mixes_per_example_and_is_seeded():
    model = tiny("gru")
    b = make_batch(SRC * 20, TGT * 20)
    run = [
        model.forward_scheduled(
            b.src, b.src_lengths, b.tgt_in, 0.5, generator=torch.Generator().manual_seed(3)
        )
        for _ in range(2)
    ]
    assert torch.equal(run[0], run[1])
    forced = model(b.src, b.src_lengths, b.tgt_in)
    free = model.forward_scheduled(b.src, b.src_lengths, b.tgt_in, 0.0)
    step2 = run[0][:, 1]
    as_forced = ((step2 - forced[:, 1]).abs().amax(-1) < 1e-12).float().mean().item()
    differs = ((forced[:, 1] - free[:, 1]).abs().amax(-1) > 1e-9).float().mean().item()
    assert 0.2 < as_forced and differs > 0.5  # some rows took the gold token, not all
    sampled = model.forward_scheduled(
        b.src, b.src_lengths, b.tgt_in, 0.0, torch.Generator().manual_seed(0), sample=True
    )
    assert sampled.shape == forced.shape


def test_scheduled_sampling_errors():
    model = tiny()
    b = make_batch(SRC, TGT)
    with pytest.raises(ValueError, match=r"teacher_prob must be a number in \[0, 1\], got 1.5"):
        model.forward_scheduled(b.src, b.src_lengths, b.tgt_in, 1.5)
    with pytest.raises(TypeError, match="sample must be a bool"):
        model.forward_scheduled(b.src, b.src_lengths, b.tgt_in, 0.5, sample=1)


def test_decay_schedules():
    assert linear_decay(0, c=0.1) == 1.0
    assert linear_decay(5, c=0.1) == pytest.approx(0.5)
    assert linear_decay(100, c=0.1, eps=0.2) == 0.2
    assert exponential_decay(0, 0.9) == 1.0 and exponential_decay(2, 0.9) == pytest.approx(0.81)
    assert inverse_sigmoid_decay(0, 10) == pytest.approx(10 / 11)
    assert inverse_sigmoid_decay(10, 10) == pytest.approx(10 / (10 + math.e))
    assert inverse_sigmoid_decay(10**6, 10) == 0.0
    values = [inverse_sigmoid_decay(i, 50) for i in range(0, 1000, 50)]
    assert all(a > b for a, b in itertools.pairwise(values))


def test_decay_schedule_errors():
    with pytest.raises(ValueError, match="c must be > 0, got 0.0"):
        linear_decay(1, c=0)
    with pytest.raises(ValueError, match="eps and k must satisfy 0 <= eps <= k <= 1"):
        linear_decay(1, c=0.1, eps=0.5, k=0.4)
    with pytest.raises(ValueError, match=r"k must be in \(0, 1\), got 1.0"):
        exponential_decay(1, 1.0)
    with pytest.raises(ValueError, match="k must be >= 1, got 0.5"):
        inverse_sigmoid_decay(1, 0.5)
    with pytest.raises(ValueError, match="step must be an int >= 0, got -1"):
        exponential_decay(-1, 0.5)
    with pytest.raises(TypeError, match="k must be a finite number"):
        inverse_sigmoid_decay(1, float("nan"))


# ---------------------------------------------------------------------------- decoding
def test_greedy_stops_at_eos_and_equals_beam_width_one():
    for seed in range(4):
        model = tiny("lstm", seed=seed, V=6)
        with torch.no_grad():
            model.out.bias[EOS] += 1.0  # make <eos> likely enough to appear
        b = make_batch(SRC, TGT)
        hyps = greedy_decode(model, b.src, b.src_lengths, max_len=8)
        for hyp, src in zip(hyps, SRC, strict=True):
            assert 1 <= len(hyp) <= 8
            assert EOS not in hyp[:-1]
            assert hyp[-1] == EOS or len(hyp) == 8
            (best,) = beam_search(model_log_prob_fn(model, src), BOS, EOS, 1, 8)
            assert best[0] == hyp


def test_sampling_is_seeded_and_cold_sampling_is_greedy():
    model = tiny("gru", V=6)
    b = make_batch(SRC, TGT)
    runs = [
        sample_decode(model, b.src, b.src_lengths, 8, 1.0, torch.Generator().manual_seed(5))
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    cold = sample_decode(model, b.src, b.src_lengths, 8, 1e-4, torch.Generator().manual_seed(5))
    assert cold == greedy_decode(model, b.src, b.src_lengths, 8)
    hot = [
        sample_decode(model, b.src, b.src_lengths, 8, 5.0, torch.Generator().manual_seed(s))
        for s in range(5)
    ]
    assert len({str(h) for h in hot}) > 1


def test_decoding_errors():
    model = tiny()
    b = make_batch(SRC, TGT)
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 0"):
        greedy_decode(model, b.src, b.src_lengths, 0)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        sample_decode(model, b.src, b.src_lengths, 5, temperature=0)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        sample_decode(model, b.src, b.src_lengths, 5, temperature=float("inf"))
    with pytest.raises(ValueError, match="bos and eos must differ, got 2 for both"):
        greedy_decode(model, b.src, b.src_lengths, 5, bos=2, eos=2)
    with pytest.raises(ValueError, match="src must be one non-empty sentence"):
        model_log_prob_fn(model, [])


def test_model_log_prob_fn_matches_teacher_forcing():
    model = tiny("lstm", 2, reverse=True)
    b = make_batch(SRC[:1], [[5, 6, 7]])
    logp = model(b.src, b.src_lengths, b.tgt_in).log_softmax(-1)[0]  # (T, V)
    fn = model_log_prob_fn(model, SRC[0])
    for t in range(1, 5):
        got = fn(b.tgt_in[:, :t].repeat(3, 1))
        assert got.shape == (3, 12)
        assert close(got, logp[t - 1].expand(3, -1))
    fresh = model_log_prob_fn(model, SRC[0])  # no cached parent: the whole prefix at once
    assert close(fresh(b.tgt_in[:, :3]), logp[2][None])
    assert close(fresh(b.tgt_in[:, :4]), logp[3][None])  # then one step from the cache


# ---------------------------------------------------------------------------- beam search
def _random_lm(V: int, seed: int):
    """A tiny random recurrent language model over prefixes: (N, t) -> (N, V) log-probs."""
    g = torch.Generator().manual_seed(seed)
    E = torch.randn(V, 4, generator=g, dtype=F64)
    W = torch.randn(4, 4, generator=g, dtype=F64)
    U = torch.randn(4, V, generator=g, dtype=F64) * 2
    calls = []

    def fn(prefixes: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(prefixes.shape))
        h = torch.zeros(prefixes.shape[0], 4, dtype=F64)
        for t in range(prefixes.shape[1]):
            h = torch.tanh(E[prefixes[:, t]] + h @ W)
        return (h @ U).log_softmax(-1)

    return fn, calls


def _exhaustive(fn, bos, eos, V, max_len, alpha):
    """Every hypothesis (ends at eos, or has max_len tokens without eos) with its score."""
    out = []

    def walk(tokens, total):
        logp = fn(torch.tensor([[bos, *tokens]]))[0]
        for y in range(V):
            new, s = [*tokens, y], total + logp[y].item()
            if y == eos or len(new) == max_len:
                out.append((new, s / len(new) ** alpha))
            else:
                walk(new, s)

    walk([], 0.0)
    return sorted(out, key=lambda h: -h[1])


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("V,max_len", [(3, 1), (3, 3), (4, 3), (3, 5)])
def test_beam_search_equals_exhaustive_search(alpha, V, max_len):
    bos, eos = 0, 1
    for seed in range(4):
        fn, calls = _random_lm(V, seed)
        want = _exhaustive(fn, bos, eos, V, max_len, alpha)
        n_possible = sum((V - 1) ** (k - 1) for k in range(1, max_len + 1)) + (V - 1) ** max_len
        assert len(want) == n_possible
        calls.clear()
        got = beam_search(fn, bos, eos, n_possible, max_len, alpha)
        assert len(calls) <= max_len  # one batched call per step
        assert [h[0] for h in got] == [h[0] for h in want]
        assert all(abs(a[1] - b[1]) < 1e-9 for a, b in zip(got, want, strict=True))
        best = beam_search(fn, bos, eos, n_possible + 5, max_len, alpha)
        assert best == got
        # a narrower beam returns its width of hypotheses, never better than the optimum
        narrow = beam_search(fn, bos, eos, 2, max_len, alpha)
        assert len(narrow) <= 2 and narrow[0][1] <= want[0][1] + 1e-12


def test_bos_is_not_a_token_and_scores_are_normalised_by_generated_length():
    # from bos: P(a)=0.48, P(eos)=0.52; after a: P(eos)=0.9, P(a)=0.1 (V=3: bos, eos, a)
    def fn(prefixes):
        rows = []
        for p in prefixes.tolist():
            assert p[0] == 0
            probs = [0.0, 0.52, 0.48] if len(p) == 1 else [0.0, 0.9, 0.1]
            rows.append([math.log(x) if x > 0 else -math.inf for x in probs])
        return torch.tensor(rows, dtype=F64)

    hyps = beam_search(fn, 0, 1, beam_width=5, max_len=2, length_penalty=1.0)
    as_dict = {tuple(t): s for t, s in hyps}
    assert as_dict[(2, 1)] == pytest.approx(math.log(0.48 * 0.9) / 2)  # len 2, bos not counted
    assert as_dict[(1,)] == pytest.approx(math.log(0.52) / 1)
    assert as_dict[(2, 2)] == pytest.approx(math.log(0.48 * 0.1) / 2)  # ended at max_len
    assert [tuple(t) for t, _ in hyps][0] == (2, 1)
    # without normalisation the short hypothesis wins: the short-output bias
    raw = beam_search(fn, 0, 1, beam_width=5, max_len=2, length_penalty=0.0)
    assert raw[0] == ([1], pytest.approx(math.log(0.52)))


def test_beam_search_errors():
    fn, _ = _random_lm(3, 0)
    with pytest.raises(ValueError, match="beam_width must be an int >= 1, got 0"):
        beam_search(fn, 0, 1, 0, 3)
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 0"):
        beam_search(fn, 0, 1, 2, 0)
    with pytest.raises(TypeError, match="beam_width must be an int >= 1, got float"):
        beam_search(fn, 0, 1, 2.0, 3)
    with pytest.raises(ValueError, match="length_penalty must be a finite number >= 0, got -1"):
        beam_search(fn, 0, 1, 2, 3, length_penalty=-1)
    with pytest.raises(ValueError, match="bos and eos must differ"):
        beam_search(fn, 1, 1, 2, 3)
    with pytest.raises(ValueError, match="bos and eos must be < V = 3, got 0, 7"):
        beam_search(fn, 0, 7, 2, 3)
    with pytest.raises(TypeError, match="log_prob_fn must be callable"):
        beam_search("fn", 0, 1, 2, 3)
    with pytest.raises(ValueError, match=r"log_prob_fn must return a tensor \(N, V\) = \(1, V\)"):
        beam_search(lambda p: torch.zeros(2, 3), 0, 1, 2, 3)


def test_beam_search_trace_records_each_step():
    fn, _ = _random_lm(4, 1)
    trace: list = []
    hyps = beam_search(fn, 0, 1, 3, 4, 0.0, trace=trace)
    assert 1 <= len(trace) <= 4
    assert len(trace[0]) == 3 and all(len(t) == 1 for t, _, _ in trace[0])
    for step, kept in enumerate(trace, start=1):
        sums = [s for _, s, _ in kept]
        assert sums == sorted(sums, reverse=True)  # best first
        assert all(len(t) == step for t, _, _ in kept)
        assert all(done == (t[-1] == 1 or step == 4) for t, _, done in kept)
    finished = {tuple(t): s for kept in trace for t, s, done in kept if done}
    assert all(finished[tuple(t)] == pytest.approx(s) for t, s in hyps)  # alpha 0: raw sums
    assert beam_search(fn, 0, 1, 3, 4, 0.0) == hyps  # tracing changes nothing
    with pytest.raises(TypeError, match="trace must be a list or None, got dict"):
        beam_search(fn, 0, 1, 3, 4, trace={})


def test_fit_learns_to_copy_and_is_seeded():
    src = [[4 + (k % 5), 4 + (k * 3 % 5)] for k in range(40)]
    torch.manual_seed(0)
    model = Seq2Seq(9, 9, 8, 16, "gru", backend="torch")
    start = {k: v.clone() for k, v in model.state_dict().items()}
    hist = fit(model, src, src, steps=150, batch_size=16, lr=1e-2, seed=3, progress=False)
    assert len(hist.loss) == 150 and hist.loss[-1] < 0.25 * hist.loss[0]
    assert translate(model, src, max_len=4, batch_size=7) == src
    twin = Seq2Seq(9, 9, 8, 16, "gru", backend="torch")
    twin.load_state_dict(start)
    again = fit(twin, src, src, steps=150, batch_size=16, lr=1e-2, seed=3, progress=False)
    assert again.loss == hist.loss
    assert model.training  # mode restored


def test_fit_with_scheduled_sampling_runs_and_is_seeded():
    src = [[4, 5, 6], [6, 5], [5]]
    losses = []
    for _ in range(2):
        torch.manual_seed(1)
        model = Seq2Seq(7, 7, 4, 8, "lstm", backend="torch")
        hist = fit(
            model,
            src,
            src,
            steps=5,
            batch_size=4,
            seed=2,
            progress=False,
            teacher_prob=lambda i: linear_decay(i, c=0.2),
        )
        losses.append(hist.loss)
    assert losses[0] == losses[1]
    assert fit(model, src, src, steps=2, teacher_prob=0.5, sample=True, progress=False).loss


def test_fit_and_translate_errors():
    model = tiny("gru", V=12)
    with pytest.raises(ValueError, match="src and tgt must hold the same number of sequences"):
        fit(model, SRC, TGT[:2], steps=1)
    with pytest.raises(ValueError, match="src must hold at least one sequence, got none"):
        fit(model, [], [], steps=1)
    with pytest.raises(TypeError, match="tgt must be a sequence of id sequences, got str"):
        fit(model, SRC, "abc", steps=1)
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        fit(model, SRC, TGT, steps=0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got -1$"):
        fit(model, SRC, TGT, steps=1, lr=-1)
    with pytest.raises(ValueError, match="clip must be a finite number > 0, got 0$"):
        fit(model, SRC, TGT, steps=1, clip=0)
    with pytest.raises(ValueError, match=r"teacher_prob must be a number in \[0, 1\], got 2"):
        fit(model, SRC, TGT, steps=1, teacher_prob=2)
    with pytest.raises(ValueError, match=r"src\[1\] must hold at least one id"):
        translate(model, [[4], []], max_len=3)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        translate(model, SRC, max_len=3, batch_size=0)


def test_beam_search_on_a_model():
    model = tiny("gru", V=7)
    fn = model_log_prob_fn(model, SRC[0])
    hyps = beam_search(fn, BOS, EOS, 4, 6, 0.5)
    assert 1 <= len(hyps) <= 4
    scores = [s for _, s in hyps]
    assert scores == sorted(scores, reverse=True)
    for tokens, score in hyps:
        prefix = torch.tensor([[BOS, *tokens]])
        full = sum(fn(prefix[:, : t + 1])[0, tokens[t]].item() for t in range(len(tokens)))
        assert score == pytest.approx(full / len(tokens) ** 0.5, abs=1e-9)


# ---------------------------------------------------------------------------- BLEU
def _sacrebleu(hyps, refs):
    width = max(len(r) for r in refs)
    streams = [[" ".join(r[j]) if j < len(r) else None for r in refs] for j in range(width)]
    return sacrebleu.corpus_bleu([" ".join(h) for h in hyps], streams, tokenize="none").score


def test_bleu_equals_sacrebleu_on_random_corpora():
    rng = random.Random(0)
    nonzero = 0
    for _ in range(300):
        V, H = rng.choice([2, 3, 5, 20]), rng.randint(1, 8)
        words = [f"w{i}" for i in range(V)]
        hyps = [[rng.choice(words) for _ in range(rng.randint(0, 12))] for _ in range(H)]
        refs = [
            [
                [rng.choice(words) for _ in range(rng.randint(0, 12))]
                for _ in range(rng.randint(1, 4))
            ]
            for _ in range(H)
        ]
        got, want = corpus_bleu(hyps, refs), _sacrebleu(hyps, refs)
        assert abs(got - want) < 1e-6, (hyps, refs, got, want)
        nonzero += want > 0
    assert nonzero > 100  # the comparison is not all zeros


def test_bleu_edge_cases_match_sacrebleu():
    cases = [
        ([["a", "b", "c", "d"]], [[["a", "b", "c", "d"]]]),  # perfect: 100
        ([["a", "b", "c", "d", "e"]], [[["a", "b", "c", "d"]]]),  # longer than reference
        ([["a", "b"]], [[["a", "b"]]]),  # no 3-grams at all: 0
        ([["x", "y", "z", "w"]], [[["a", "b", "c", "d"]]]),  # nothing matches: 0
        ([[]], [[["a", "b"]]]),  # empty hypothesis: 0
        ([["a", "b", "c", "x"]], [[["a", "b", "c", "d"]]]),  # no 4-gram match: exp smoothing
        ([["a", "x", "c", "y", "e"]], [[["a", "b", "c", "d", "e"]]]),  # only unigrams match
        ([["a", "b", "c", "d"]], [[["a", "b", "c", "d", "e", "f"], ["a", "b", "c"]]]),
        ([["a", "b", "c", "d"]], [[["a", "b", "c", "d", "e"], ["a", "b", "c"]]]),  # tie: shorter
        ([["a", "a", "a", "a"]], [[["a", "b"], ["a", "a", "c"]]]),  # clipping by max per ref
        ([["a", "b", "c", "d"], ["e"]], [[["a", "b", "c", "d"]], [[]]]),  # an empty reference
    ]
    for hyps, refs in cases:
        assert abs(corpus_bleu(hyps, refs) - _sacrebleu(hyps, refs)) < 1e-6, (hyps, refs)
    assert corpus_bleu(*cases[0]) == pytest.approx(100.0)
    assert corpus_bleu(*cases[2]) == 0.0 and corpus_bleu(*cases[3]) == 0.0


def test_bleu_errors():
    with pytest.raises(ValueError, match="hyps must be a non-empty list of token lists"):
        corpus_bleu([], [])
    with pytest.raises(ValueError, match="refs must hold one list of references per hypothesis: 2"):
        corpus_bleu([["a"], ["b"]], [[["a"]]])
    with pytest.raises(ValueError, match=r"refs\[0\] must be a non-empty list of references"):
        corpus_bleu([["a"]], [[]])
    with pytest.raises(ValueError, match=r"hyps\[0\] must hold non-empty tokens without spaces"):
        corpus_bleu([["a b"]], [[["a"]]])
    with pytest.raises(TypeError, match=r"refs\[0\]\[0\] must be a list of str tokens, got str"):
        corpus_bleu([["a"]], [["a b"]])
    with pytest.raises(TypeError, match=r"hyps\[0\] must be a list of str tokens"):
        corpus_bleu(["ab"], [[["a"]]])
