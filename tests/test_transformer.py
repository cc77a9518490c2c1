"""seqcourse.transformer: positions, layers against torch.nn.TransformerEncoderLayer and
TransformerDecoderLayer (pre-LN, float64), padding and causality, chapter 5's decoders."""

import math

import pytest
import torch
from torch import nn

from seqcourse.attention import causal_mask
from seqcourse.data.translation import BOS
from seqcourse.seq2seq import greedy_decode, make_batch, model_log_prob_fn
from seqcourse.transformer import DecoderLayer, EncoderLayer, Transformer, sinusoidal_positions

F64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def test_sinusoidal_positions_follow_the_formula():
    pe = sinusoidal_positions(7, 6)
    for p in range(7):
        for i in range(3):
            w = 10000 ** (-2 * i / 6)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(p * w), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(p * w), abs=1e-6)


def torch_twin(ours, cls):
    torch.manual_seed(1)
    theirs = cls(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True).double()
    ours.load_state_dict(theirs.state_dict())
    return theirs


def test_encoder_layer_equals_torch():
    torch.manual_seed(0)
    ours = EncoderLayer(8, 2, 16).double()
    theirs = torch_twin(ours, nn.TransformerEncoderLayer)
    x = rand(3, 5, 8, seed=2)
    padding = torch.zeros(3, 5, dtype=torch.bool)
    padding[0, 3:] = True
    got, want = ours(x, padding), theirs(x, src_key_padding_mask=padding)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_decoder_layer_equals_torch():
    torch.manual_seed(0)
    ours = DecoderLayer(8, 2, 16).double()
    theirs = torch_twin(ours, nn.TransformerDecoderLayer)
    y, memory = rand(3, 4, 8, seed=2), rand(3, 6, 8, seed=3)
    padding = torch.zeros(3, 6, dtype=torch.bool)
    padding[1, 4:] = True
    want = theirs(y, memory, tgt_mask=~causal_mask(4), memory_key_padding_mask=padding)
    torch.testing.assert_close(ours(y, memory, padding), want, rtol=0, atol=1e-12)


SRC = [[5, 6, 7, 8], [9, 5], [6, 6, 7]]
TGT = [[6, 7], [8, 9, 10, 11], [5]]


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_padding_and_the_future_do_not_leak(positions):
    torch.manual_seed(0)
    model = Transformer(12, 13, d=8, heads=2, layers=2, ff=16, positions=positions).double()
    b = make_batch(SRC, TGT)
    batch = model(b.src, b.src_lengths, b.tgt_in)
    for i in range(3):
        one = make_batch([SRC[i]], [TGT[i]])
        T = one.tgt_in.shape[1]
        alone = model(one.src, one.src_lengths, one.tgt_in)
        torch.testing.assert_close(batch[i, :T], alone[0], rtol=0, atol=1e-12)
    changed = b.tgt_in.clone()
    changed[:, -1] = 4  # a later target token changes no earlier step
    torch.testing.assert_close(model(b.src, b.src_lengths, changed)[:, :-1], batch[:, :-1])


def test_chapter_5_decoders_run_it():
    torch.manual_seed(0)
    model = Transformer(12, 13, d=8, heads=2, layers=1, ff=16).double().eval()
    b = make_batch(SRC, TGT)
    out = greedy_decode(model, b.src, b.src_lengths, max_len=5)
    assert len(out) == 3 and all(1 <= len(o) <= 5 for o in out)
    one = make_batch([SRC[0]], [[5]])
    prefix = torch.tensor([[BOS, *out[0][:2]]])
    teacher = model(one.src, one.src_lengths, prefix).log_softmax(-1)[:, -1]
    whole = model_log_prob_fn(model, torch.tensor(SRC[0]))(prefix)  # from the encoder state
    fn = model_log_prob_fn(model, torch.tensor(SRC[0]))
    for t in range(1, prefix.shape[1] + 1):  # one cached step at a time
        stepped = fn(prefix[:, :t])
    torch.testing.assert_close(whole, teacher)
    torch.testing.assert_close(stepped, teacher)


def test_embeddings_do_not_drown_the_positions():
    # N(0, 1/d) tables scaled by sqrt(d): token coordinates of about unit size, like the
    # sinusoids (nn.Embedding's N(0, 1) would make them sqrt(d) = 8 times larger)
    torch.manual_seed(0)
    d = 64
    model = Transformer(200, 300, d=d, heads=4)
    for table in (model.src_embed, model.tgt_embed):
        assert not table.weight[0].any()  # <pad> stays the zero vector
        scaled = table.weight[1:].detach() * math.sqrt(d)
        assert 0.9 < scaled.std().item() < 1.1
    ids = torch.arange(1, 11)[None]
    tokens = model._embed(ids, model.src_embed) - model.position[:10]
    assert tokens.abs().mean() < 2 * model.position[:10].abs().mean()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: Transformer(10, 10, positions="rotary"), "positions must be one of"),
        (lambda: Transformer(10, 10, d=10, heads=3), "divisible by num_heads"),
        (lambda: sinusoidal_positions(4, 5), "d must be even"),
        (
            lambda: Transformer(10, 10, d=8, heads=2, max_len=3)(
                torch.ones(1, 4, dtype=torch.long) * 5,
                torch.tensor([4]),
                torch.ones(1, 2, dtype=torch.long),
            ),
            "at most max_len = 3",
        ),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
