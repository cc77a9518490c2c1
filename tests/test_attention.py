"""seqcourse.attention against PyTorch: scaled dot-product attention against
F.scaled_dot_product_attention, MultiHeadAttention.from_torch against nn.MultiheadAttention
(outputs, weights and every gradient, in float64), masks of both conventions, bad input."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqcourse.attention import (
    SCORES,
    AttentionSeq2Seq,
    MultiHeadAttention,
    alignment_accuracy,
    causal_mask,
    scaled_dot_product_attention,
)
from seqcourse.data.translation import BOS, EOS
from seqcourse.seq2seq import (
    beam_search,
    greedy_decode,
    make_batch,
    model_log_prob_fn,
)

F64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- the function
@pytest.mark.parametrize(
    "case", ["plain", "bool mask", "float mask", "causal", "scale", "4-d", "broadcast mask"]
)
def test_sdpa_equals_torch(case):
    q, k, v = rand(2, 5, 8, seed=1), rand(2, 7, 8, seed=2), rand(2, 7, 3, seed=3)
    kwargs = {}
    if case == "bool mask":
        kwargs["attn_mask"] = rand(2, 5, 7, seed=4) > -0.5
        kwargs["attn_mask"][..., 0] = True  # every query keeps a key
    elif case == "float mask":
        kwargs["attn_mask"] = rand(2, 5, 7, seed=4)
    elif case == "causal":
        q, k, v = rand(2, 6, 8, seed=1), rand(2, 6, 8, seed=2), rand(2, 6, 3, seed=3)
        kwargs["is_causal"] = True
    elif case == "scale":
        kwargs["scale"] = 0.3
    elif case == "4-d":
        q, k, v = rand(2, 3, 5, 4, seed=1), rand(2, 3, 7, 4, seed=2), rand(2, 3, 7, 6, seed=3)
    elif case == "broadcast mask":
        kwargs["attn_mask"] = torch.tensor([True, False, True, True, False, True, True])
    ours, weights = scaled_dot_product_attention(q, k, v, **kwargs)
    theirs = F.scaled_dot_product_attention(q, k, v, **kwargs)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1], dtype=F64))


def test_sdpa_weights_are_the_softmax_of_scaled_scores():
    q, k, v = rand(4, 6, seed=1), rand(5, 6, seed=2), rand(5, 2, seed=3)
    _, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(weights, torch.softmax(q @ k.T / math.sqrt(6), -1))


def test_causal_mask_hides_the_future():
    m = causal_mask(3)
    assert m.tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    q = k = v = rand(1, 4, 2)
    _, weights = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert bool((weights[0].triu(1) == 0).all())


# ---------------------------------------------------------------------------- the module
def pair(E=8, h=2, **kwargs):
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(E, h, batch_first=True, **kwargs).double()
    with torch.no_grad():  # non-zero biases, so that they are checked too
        for name, p in theirs.named_parameters():
            if "bias" in name:
                p.normal_()
    return MultiHeadAttention.from_torch(theirs), theirs


def run_both(ours, theirs, q, k, v, **kwargs):
    results = []
    for module in (ours, theirs):
        inputs = [x.clone().requires_grad_(True) for x in (q, k, v)]
        out, weights = module(*inputs, **kwargs)
        out.backward(rand(*out.shape, seed=9))
        grads = [x.grad for x in inputs] + [p.grad for p in module.parameters()]
        module.zero_grad()
        results.append((out, weights, grads))
    return results


CASES = {
    "self": {},
    "cross, L != S": {"S": 9},
    "kdim, vdim": {"S": 9, "kdim": 5, "vdim": 3},
    "no bias": {"bias": False},
    "padding bool": {"key_padding_mask": "bool"},
    "padding float": {"key_padding_mask": "float"},
    "attn_mask bool": {"attn_mask": "bool"},
    "attn_mask float": {"attn_mask": "float"},
    "attn_mask 3-d": {"attn_mask": "3d"},
    "causal": {"attn_mask": "causal"},
    "both masks": {"attn_mask": "causal", "key_padding_mask": "bool"},
    "per head": {"average_attn_weights": False},
    "no weights": {"need_weights": False},
}


@pytest.mark.parametrize("name", list(CASES))
def test_multi_head_attention_equals_torch(name):
    case = dict(CASES[name])
    B, L, E, h = 3, 6, 8, 2
    S = case.pop("S", L)
    module_kwargs = {key: case.pop(key) for key in ("kdim", "vdim", "bias") if key in case}
    ours, theirs = pair(E, h, **module_kwargs)
    q = rand(B, L, E, seed=1)
    k = rand(B, S, module_kwargs.get("kdim", E), seed=2)
    v = rand(B, S, module_kwargs.get("vdim", E), seed=3)
    kwargs = {}
    padding = torch.zeros(B, S, dtype=torch.bool)
    padding[0, -2:] = padding[2, -1] = True  # the last keys of two sequences are padding
    if case.get("key_padding_mask") == "bool":
        kwargs["key_padding_mask"] = padding
    elif case.get("key_padding_mask") == "float":
        kwargs["key_padding_mask"] = torch.zeros(B, S, dtype=F64).masked_fill(padding, -1e9)
    mask = case.get("attn_mask")
    if mask == "bool":
        kwargs["attn_mask"] = rand(L, S, seed=5) > 0.8
    elif mask == "float":
        kwargs["attn_mask"] = rand(L, S, seed=5)
    elif mask == "3d":
        kwargs["attn_mask"] = rand(B * h, L, S, seed=5) > 0.8
    elif mask == "causal":
        kwargs["attn_mask"] = ~causal_mask(L, S)
    for key in ("average_attn_weights", "need_weights"):
        if key in case:
            kwargs[key] = case[key]
    (out, w, grads), (out_t, w_t, grads_t) = run_both(ours, theirs, q, k, v, **kwargs)
    torch.testing.assert_close(out, out_t, rtol=0, atol=1e-12)
    if kwargs.get("need_weights", True):
        torch.testing.assert_close(w, w_t, rtol=0, atol=1e-12)
    else:
        assert w is None and w_t is None
    assert len(grads) == len(grads_t)
    for g, g_t in zip(grads, grads_t, strict=True):
        torch.testing.assert_close(g, g_t, rtol=0, atol=1e-11)


def test_from_torch_copies_names_shapes_device_and_dtype():
    ours, theirs = pair(12, 3, kdim=4, vdim=5)
    assert ours.num_heads == 3 and ours.head_dim == 4
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert all(p.dtype == F64 for p in ours.parameters())
    fresh = MultiHeadAttention(8, 2)
    assert {n: p.shape for n, p in fresh.named_parameters()} == {
        n: p.shape for n, p in nn.MultiheadAttention(8, 2, batch_first=True).named_parameters()
    }


def test_a_fully_masked_row_is_nan_in_torch_and_an_error_here():
    ours, theirs = pair()
    x = rand(1, 3, 8)
    padding = torch.tensor([[True, True, True]])
    out, _ = theirs(x, x, x, key_padding_mask=padding)
    assert bool(out.isnan().all())  # what torch does
    with pytest.raises(ValueError, match="no key to attend to.*NaN"):
        ours(x, x, x, key_padding_mask=padding)
    with pytest.raises(ValueError, match="no key to attend to"):
        scaled_dot_product_attention(x, x, x, attn_mask=torch.zeros(3, 3, dtype=torch.bool))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: MultiHeadAttention(10, 3), ValueError, "divisible by num_heads, got 10 and 3"),
        (lambda: MultiHeadAttention(0, 1), ValueError, "embed_dim must be an int >= 1"),
        (lambda: MHA(rand(2, 3, 8), rand(2, 4, 8), rand(2, 5, 8)), ValueError, "value must have"),
        (lambda: MHA(rand(2, 3, 6), rand(2, 3, 6), rand(2, 3, 6)), ValueError, "query must have"),
        (lambda: MHA(rand(3, 8), rand(3, 8), rand(3, 8)), ValueError, "query must have 3"),
        (
            lambda: MHA(rand(2, 3, 8), rand(2, 3, 8), rand(2, 3, 8), attn_mask=torch.ones(3, 4)),
            ValueError,
            r"attn_mask must have shape \(L, S\) = \(3, 3\)",
        ),
        (
            lambda: MHA(
                rand(2, 3, 8), rand(2, 3, 8), rand(2, 3, 8), key_padding_mask=torch.ones(3, 3) > 0
            ),
            ValueError,
            r"key_padding_mask must have shape \(B, S\) = \(2, 3\)",
        ),
        (
            lambda: MHA(rand(2, 3, 8).float(), rand(2, 3, 8), rand(2, 3, 8)),
            TypeError,
            "share one dtype",
        ),
        (
            lambda: MHA(
                rand(2, 3, 8), rand(2, 3, 8), rand(2, 3, 8), attn_mask=torch.zeros(3, 3).float()
            ),
            TypeError,
            "attn_mask must be bool or torch.float64",
        ),
        (
            lambda: scaled_dot_product_attention(
                rand(2, 4), rand(3, 4), rand(3, 4), attn_mask=torch.ones(2, 2) > 0
            ),
            ValueError,
            "must broadcast to the scores' shape",
        ),
        (
            lambda: scaled_dot_product_attention(rand(2, 4), rand(3, 5), rand(3, 4)),
            ValueError,
            "same last dimension",
        ),
        (
            lambda: scaled_dot_product_attention(rand(2, 4), rand(3, 4), rand(2, 4)),
            ValueError,
            "same number S",
        ),
        (
            lambda: scaled_dot_product_attention(rand(2, 4), rand(3, 4), rand(3, 4), scale=-1.0),
            ValueError,
            "scale must be a positive",
        ),
        (
            lambda: scaled_dot_product_attention(torch.ones(2, 4, dtype=torch.long), 1, 1),
            TypeError,
            "query must be a float tensor",
        ),
        (
            lambda: MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2)),
            ValueError,
            "batch_first=True",
        ),
        (
            lambda: MultiHeadAttention.from_torch(
                nn.MultiheadAttention(8, 2, dropout=0.1, batch_first=True)
            ),
            ValueError,
            "dropout=0",
        ),
        (lambda: MultiHeadAttention.from_torch(nn.Linear(2, 2)), TypeError, "MultiheadAttention"),
    ],
)
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def MHA(*args, **kwargs):
    torch.manual_seed(0)
    return MultiHeadAttention(8, 2).double()(*args, **kwargs)


# ---------------------------------------------------------------------------- in seq2seq
def attn_model(score="additive", cell="lstm", layers=1, backend="seqcourse", seed=0, bi=False):
    torch.manual_seed(seed)
    model = AttentionSeq2Seq(11, 12, 5, 7, cell, layers, backend, score=score, bidirectional=bi)
    return model.double()


SRC = [[5, 6, 7, 8], [9, 5], [6, 6, 7]]
TGT = [[6, 7], [8, 9, 10, 11], [5]]


@pytest.mark.parametrize(
    ("score", "bi"), [(s, False) for s in SCORES] + [(s, True) for s in SCORES[:2]]
)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_attention_weights_sum_to_one_and_skip_padding(score, cell, bi):
    model = attn_model(score, cell, bi=bi)
    b = make_batch(SRC, TGT)
    alpha = model.attention_weights(b.src, b.src_lengths, b.tgt_in)
    assert alpha.shape == (3, b.tgt_in.shape[1], b.src.shape[1])
    torch.testing.assert_close(alpha.sum(-1), torch.ones(alpha.shape[:2], dtype=F64))
    for i, n in enumerate(b.src_lengths.tolist()):
        assert bool((alpha[i, :, n:] == 0).all())


@pytest.mark.parametrize(("score", "bi"), [(s, False) for s in SCORES] + [("additive", True)])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_does_not_change_a_sentence(score, bi, cell):
    model = attn_model(score, cell, layers=2, bi=bi)
    b = make_batch(SRC, TGT)
    batch = model(b.src, b.src_lengths, b.tgt_in)
    for i in range(3):
        one = make_batch([SRC[i]], [TGT[i]])
        alone = model(one.src, one.src_lengths, one.tgt_in)
        T = one.tgt_in.shape[1]
        torch.testing.assert_close(batch[i, :T], alone[0], rtol=0, atol=1e-12)


def test_scores_follow_their_equations():
    b = make_batch(SRC, TGT)
    for score in SCORES:
        model = attn_model(score)
        state = model.encode(b.src, b.src_lengths)
        s, memory = state[0][-1], state[2].transpose(0, 1)
        e = model.scores(s, memory)
        torch.testing.assert_close(model.scores(s, memory, model.keys(memory)), e)  # cached
        for i in range(3):
            for j in range(memory.shape[1]):
                m = memory[i, j]
                if score == "additive":
                    want = model.v.weight[0] @ torch.tanh(model.W_s.weight @ s[i] + model.W_m(m))
                elif score == "multiplicative":
                    want = s[i] @ model.W.weight @ m
                else:
                    want = s[i] @ m
                torch.testing.assert_close(e[i, j], want)


def test_attention_gradients_match_finite_differences():
    model = attn_model("additive")
    s, memory = rand(2, 7, seed=1).requires_grad_(), rand(2, 4, 7, seed=2).requires_grad_()
    mask = torch.tensor([[True] * 4, [True, True, True, False]]).T
    state = (s[None], s[None], memory.transpose(0, 1), mask)

    def context(s, memory):
        return model.attend((s[None], s[None], memory.transpose(0, 1), mask))[1]

    assert model.attend(state)[0].shape == (2, 4)
    assert torch.autograd.gradcheck(context, (s, memory))


@pytest.mark.parametrize("bi", [False, True])
def test_decoders_of_chapter_5_run_it_and_backends_agree(bi):
    model = attn_model("multiplicative", bi=bi)
    b = make_batch(SRC, TGT)
    twin = model.to_backend("torch")
    torch.testing.assert_close(
        model(b.src, b.src_lengths, b.tgt_in), twin(b.src, b.src_lengths, b.tgt_in)
    )
    greedy = greedy_decode(model, b.src, b.src_lengths, max_len=6)
    fn = model_log_prob_fn(model, torch.tensor(SRC[0]))
    prefix = torch.tensor([[BOS, *greedy[0][:2]]])
    teacher = model(b.src[:1, :4], b.src_lengths[:1], prefix).log_softmax(-1)[:, -1]
    torch.testing.assert_close(fn(prefix), teacher)
    hyps = beam_search(fn, BOS, EOS, beam_width=3, max_len=6)
    assert len(hyps) >= 1


def test_bidirectional_memory_reads_both_ways():
    model = attn_model("additive", bi=True)
    b = make_batch(SRC, TGT)
    *_, memory, mask = model.encode(b.src, b.src_lengths)
    assert memory.shape == (b.src.shape[1], 3, 14) and bool((mask.sum(0) == b.src_lengths).all())
    forward, _ = model.encode_all(b.src, b.src_lengths)
    torch.testing.assert_close(memory[..., :7].transpose(0, 1), forward)
    # the backward half at word j, for a sentence alone, is the backward RNN after reading
    # the sentence from its end down to j
    one = make_batch([SRC[0]], [TGT[0]])
    rev = torch.tensor([SRC[0][::-1]])
    back, _ = model._run_encoder(model.encoder_bwd, rev, one.src_lengths)
    *_, alone, _ = model.encode(one.src, one.src_lengths)
    torch.testing.assert_close(alone[:, 0, 7:], back[0].flip(0))


def test_attention_model_errors():
    with pytest.raises(ValueError, match="score must be one of"):
        AttentionSeq2Seq(10, 10, score="cosine")
    with pytest.raises(ValueError, match="attention must be an int >= 1"):
        AttentionSeq2Seq(10, 10, attention=0)
    with pytest.raises(ValueError, match="dot.*not bidirectional"):
        AttentionSeq2Seq(10, 10, score="dot", bidirectional=True)
    with pytest.raises(TypeError, match="bidirectional must be a bool"):
        AttentionSeq2Seq(10, 10, bidirectional=1)


def test_alignment_accuracy_counts_argmax_hits():
    model = attn_model("additive", bi=True)
    src, tgt = [[5, 6, 7], [8, 9]], [[6, 7, 8], [9, 10]]
    links = [(2, 0, 1), (1, 0)]
    b = make_batch(src, tgt)
    with torch.no_grad():
        best = model.attention_weights(b.src, b.src_lengths, b.tgt_in).argmax(-1)
    want = 0
    for k, link in enumerate(links):
        source_of = {j: i for i, j in enumerate(link)}
        want += sum(int(best[k, j]) == source_of[j] for j in range(len(link)))
    assert alignment_accuracy(model, src, tgt, links, batch_size=1) == pytest.approx(want / 5)
    with pytest.raises(ValueError, match=r"alignment\[1\] must map the 2 source words"):
        alignment_accuracy(model, src, tgt, [(2, 0, 1), (0, 0)])
    with pytest.raises(ValueError, match="of one length"):
        alignment_accuracy(model, src, tgt[:1], links)
    with pytest.raises(TypeError, match="AttentionSeq2Seq"):
        alignment_accuracy(torch.nn.Linear(1, 1), src, tgt, links)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("backend", ["seqcourse", "torch"])
def test_one_decoder_step_equals_the_decoder_module(cell, backend):
    # _decoder_step runs the cells layer by layer; it must be the module's own step
    model = AttentionSeq2Seq(9, 8, 5, 6, cell=cell, num_layers=2, backend=backend).double()
    x = rand(3, 5 + 6, seed=3)
    h = rand(2, 3, 6, seed=4)
    rnn = [h, rand(2, 3, 6, seed=5)] if cell == "lstm" else [h]
    out, state = model.decoder(x[:, None], tuple(rnn) if cell == "lstm" else h)
    got = model._decoder_step(x, rnn)
    want = state if cell == "lstm" else (state,)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)
    torch.testing.assert_close(got[0][-1], out[:, 0])
