"""seqcourse.captioning and seqcourse.data.scenes: generated scenes, the encoder, soft
attention, the doubly stochastic penalty, both captioners, decoding and the metrics.

Gradients are checked in float64 against finite differences; the from-scratch decoder step
against a hand-written one built on nn.LSTMCell; beam search against exhaustive enumeration.
"""

import itertools

import pytest
import torch

from seqcourse.captioning import (
    ConvEncoder,
    ShowAttendTell,
    ShowTell,
    attention_hits,
    beam_caption,
    caption_loss,
    doubly_stochastic_penalty,
    encode_images,
    exact_match,
    fit,
    generate,
    pretrain_encoder,
    soft_attention,
)
from seqcourse.data.scenes import KINDS, SceneObject, describe, generate_scenes, render
from seqcourse.data.translation import BOS, EOS

F64 = torch.float64


# ---------------------------------------------------------------------------- scenes
def test_scenes_are_deterministic_and_shaped():
    a, b = generate_scenes(20, seed=3), generate_scenes(20, seed=3)
    assert a.images.shape == (20, 3, 32, 32) and a.images.dtype == torch.float32
    assert torch.equal(a.images, b.images) and a.scenes == b.scenes
    assert not torch.equal(a.images, generate_scenes(20, seed=4).images)
    assert float(a.images.min()) >= 0 and float(a.images.max()) <= 1
    counts = {len(s.objects) for s in generate_scenes(200, 0, 1, 3).scenes}
    assert counts == {1, 2, 3}


def test_describe_orders_left_to_right_and_back():
    red = SceneObject("circle", "red", "small", 0, 2)
    blue = SceneObject("square", "blue", "large", 3, 0)
    refs = describe([red, blue])
    assert refs == [
        tuple("a large blue square left of a small red circle".split()),
        tuple("a small red circle right of a large blue square".split()),
    ]
    assert describe([red]) == [tuple("a small red circle".split())]
    with pytest.raises(ValueError, match="distinct columns"):
        describe([red, SceneObject("square", "blue", "large", 1, 2)])
    with pytest.raises(ValueError, match="at least one"):
        describe([])


def test_objects_are_drawn_in_their_cell():
    obj = SceneObject("square", "green", "large", 1, 2)
    image = torch.from_numpy(render([obj], noise=0.0))
    coloured = (image - 0.1).abs().sum(0) > 0.2  # (32, 32) pixels off the background
    rows, cols = coloured.nonzero(as_tuple=True)
    assert rows.float().mean().round() == 12 and cols.float().mean().round() == 20
    assert obj.cell == 6


def test_cell_labels_mark_each_object_in_its_cell():
    s = generate_scenes(30, seed=1, min_objects=1, max_objects=3)
    labels = s.cell_labels()
    assert labels.shape == (30, 16) and labels.dtype == torch.long and len(KINDS) == 24
    for row, scene in zip(labels, s.scenes, strict=True):
        marked = {i: KINDS[int(row[i]) - 1] for i in row.nonzero().flatten().tolist()}
        assert marked == {o.cell: (o.size, o.colour, o.shape) for o in scene.objects}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be an int >= 1"),
        ({"n": 2.0}, TypeError, "n must be an int"),
        ({"n": 5, "min_objects": 3, "max_objects": 2}, ValueError, "min_objects <= max_objects"),
        ({"n": 5, "max_objects": 5}, ValueError, "<= 4"),
        ({"n": 5, "noise": -0.1}, ValueError, "noise must be a number in"),
        ({"n": 5, "seed": -1}, TypeError, "seed must be an int >= 0"),
    ],
)
def test_scene_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        generate_scenes(**kwargs)


# ---------------------------------------------------------------------------- encoder
def test_encoder_grid_is_row_major_cells():
    torch.manual_seed(0)
    enc = ConvEncoder(25, channels=(4, 8, 8)).eval()  # batch norm with its running statistics
    image = torch.zeros(1, 3, 32, 32)
    base = enc(image)
    assert base.shape == (1, 16, 8)
    image[0, :, 8:16, 24:32] = 1.0  # cell (row 1, col 3) = index 7
    changed = (enc(image) - base).abs().sum(-1)[0]  # (16,)
    # each cell sees its 8 x 8 pixels and 7 more on every side: only cell 7 and its
    # neighbours (rows 0-2, columns 2-3) can change
    moved = set(changed.nonzero().flatten().tolist())
    assert 7 in moved and moved <= {2, 3, 6, 7, 10, 11}, moved


def test_encoder_errors():
    enc = ConvEncoder(25, channels=(4, 8, 8))
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, 32, 32\)"):
        enc(torch.zeros(2, 3, 16, 16))
    with pytest.raises(TypeError, match="images must be a float tensor"):
        enc(torch.zeros(2, 3, 32, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="finite"):
        enc(torch.full((1, 3, 32, 32), float("nan")))
    with pytest.raises(ValueError, match="channels must hold 3 sizes"):
        ConvEncoder(25, channels=(4, 8))
    with pytest.raises(ValueError, match=r"labels must be a tensor \(N, L\) = \(4, 16\)"):
        pretrain_encoder(enc, torch.zeros(4, 3, 32, 32), torch.zeros(4, 3), 1)
    with pytest.raises(ValueError, match=r"labels must be class ids \(long\) in \[0, 25\)"):
        pretrain_encoder(enc, torch.zeros(4, 3, 32, 32), torch.full((4, 16), 25), 1)


def test_pretraining_lowers_the_loss_and_encode_images_batches():
    s = generate_scenes(64, seed=0)
    torch.manual_seed(0)
    enc = ConvEncoder(25, channels=(4, 8, 8))
    h = pretrain_encoder(enc, s.images, s.cell_labels(), 30, batch_size=32, lr=1e-2, progress=False)
    assert len(h.loss) == 30 and sum(h.loss[-5:]) < sum(h.loss[:5])
    whole = encode_images(enc, s.images)
    assert torch.allclose(encode_images(enc, s.images, batch_size=7), whole, atol=1e-6)
    assert enc.training  # restored


# ---------------------------------------------------------------------------- attention
def test_soft_attention_is_a_softmax_weighted_mean():
    torch.manual_seed(0)
    a, keys, q, w = (
        torch.randn(3, 5, 4, dtype=F64),
        torch.randn(3, 5, 6, dtype=F64),
        torch.randn(3, 6, dtype=F64),
        torch.randn(6, dtype=F64),
    )
    z, alpha = soft_attention(a, keys, q, w)
    for b in range(3):
        e = torch.stack([w @ torch.tanh(keys[b, i] + q[b]) for i in range(5)])
        want = torch.exp(e) / torch.exp(e).sum()
        assert torch.allclose(alpha[b], want, atol=1e-14)
        assert torch.allclose(z[b], (want[:, None] * a[b]).sum(0), atol=1e-14)


def test_doubly_stochastic_penalty_by_hand_and_gradient():
    alphas = torch.softmax(torch.randn(2, 3, 4, dtype=F64), -1).requires_grad_()
    mask = torch.tensor([[True, True, False], [True, True, True]])
    got = doubly_stochastic_penalty(alphas, mask)
    want = (((1 - alphas[0, :2].sum(0)) ** 2).sum() + ((1 - alphas[1].sum(0)) ** 2).sum()) / 2
    assert abs(float((got - want).detach())) < 1e-14
    assert torch.autograd.gradcheck(lambda x: doubly_stochastic_penalty(x, mask), (alphas,))
    one_hot = torch.eye(4, dtype=F64)[None]  # T = L = 4, each cell attended once: penalty 0
    assert float(doubly_stochastic_penalty(one_hot, torch.ones(1, 4, dtype=torch.bool))) == 0


def test_penalty_and_loss_errors():
    a = torch.rand(2, 3, 4)
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        doubly_stochastic_penalty(a, torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"mask must have shape \(B, T\) = \(2, 3\)"):
        doubly_stochastic_penalty(a, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"alphas must be a tensor \(B, T, L\)"):
        doubly_stochastic_penalty(torch.rand(2, 3), torch.ones(2, 3, dtype=torch.bool))
    logits, y, m = torch.randn(2, 3, 7), torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3).bool()
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        caption_loss(logits, y, m, a, lam=-1.0)
    with pytest.raises(TypeError, match="lam must be a number"):
        caption_loss(logits, y, m, a, lam="big")
    assert float(caption_loss(logits, y, m, a, 0.5)) > float(caption_loss(logits, y, m))


# ---------------------------------------------------------------------------- models
def tiny(kind: str, seed: int = 0, V: int = 9):
    torch.manual_seed(seed)
    if kind == "st":
        return ShowTell(V, feature_dim=5, embed=4, hidden=6).to(F64)
    return ShowAttendTell(V, feature_dim=5, embed=4, hidden=6, attention=3).to(F64)


@pytest.mark.parametrize("kind", ["st", "sat"])
def test_teacher_forcing_equals_stepping(kind):
    model = tiny(kind)
    feats = torch.randn(3, 16, 5, dtype=F64)
    tgt_in = torch.tensor([[BOS, 4, 5, 6], [BOS, 7, 8, 0], [BOS, 5, 0, 0]])
    logits, alphas = model(feats, tgt_in)
    state = model.start(feats)
    for t in range(4):
        s, state, alpha = model.step(tgt_in[:, t], state)
        assert torch.allclose(s, logits[:, t], atol=1e-12)
        if kind == "sat":
            assert torch.allclose(alpha, alphas[:, t], atol=1e-12)
            assert torch.allclose(alpha.sum(-1), torch.ones(3, dtype=F64))
    assert (alphas is None) == (kind == "st")


def test_show_attend_tell_step_matches_nn_lstmcell():
    """One step written out with nn.LSTMCell and the attention equations by hand."""
    m = tiny("sat", seed=1)
    feats = torch.randn(2, 16, 5, dtype=F64)
    tokens = torch.tensor([4, 6])
    a, keys, h, c = m.start(feats)
    assert torch.allclose(a, m.norm(feats) + m.position)
    cell = torch.nn.LSTMCell(4 + 5, 6).to(F64)
    with torch.no_grad():
        cell.weight_ih.copy_(m.input.weight)
        cell.bias_ih.copy_(m.input.bias)
        cell.weight_hh.copy_(m.weight_hh)
        cell.bias_hh.zero_()
    e = torch.tanh(m.att_keys(a) + m.att_query(h)[:, None]) @ m.att_w
    alpha = e.softmax(-1)
    z = torch.sigmoid(m.gate(h)) * (alpha[..., None] * a).sum(1)
    emb = m.embed(tokens)
    h1, _ = cell(torch.cat([emb, z], 1), (h, c))
    want = m.out(emb + m.out_h(h1) + m.out_z(z))
    got, _, got_alpha = m.step(tokens, (a, keys, h, c))
    assert torch.allclose(got, want, atol=1e-12) and torch.allclose(got_alpha, alpha, atol=1e-14)


def test_gradients_match_finite_differences():
    m = tiny("sat", seed=2)
    feats = torch.randn(2, 16, 5, dtype=F64, requires_grad=True)
    tgt_in = torch.tensor([[BOS, 4, 5], [BOS, 6, 0]])
    tgt_out = torch.tensor([[4, 5, EOS], [6, EOS, 0]])
    mask = tgt_out != 0

    def loss(x):
        logits, alphas = m(x, tgt_in)
        return caption_loss(logits, tgt_out, mask, alphas, lam=0.3)

    assert torch.autograd.gradcheck(loss, (feats,))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda m: m(torch.zeros(2, 15, 5, dtype=F64), torch.ones(2, 3).long()),
            ValueError,
            r"features must have shape \(B, L, D\) = \(B, 16, 5\)",
        ),
        (
            lambda m: m(torch.zeros(2, 16, 5, dtype=F64), torch.ones(2, 3)),
            TypeError,
            "tgt_in must be a LongTensor",
        ),
        (
            lambda m: m(torch.zeros(2, 16, 5, dtype=F64), torch.full((2, 3), 9)),
            ValueError,
            r"tgt_in must hold ids in \[0, 9\)",
        ),
        (
            lambda m: m.step(torch.ones(2, 2).long(), None),
            ValueError,
            r"tokens must have shape \(B,\)",
        ),
        (
            lambda m: m(torch.full((1, 16, 5), float("inf"), dtype=F64), torch.ones(1, 2).long()),
            ValueError,
            "features must hold finite values",
        ),
    ],
)
@pytest.mark.parametrize("kind", ["st", "sat"])
def test_model_errors(kind, call, error, match):
    with pytest.raises(error, match=match):
        call(tiny(kind))


def test_constructor_errors():
    with pytest.raises(ValueError, match="vocab_size must be an int >= 5"):
        ShowTell(3, 5)
    with pytest.raises(TypeError, match="gate must be a bool"):
        ShowAttendTell(9, 5, gate=1)


# ---------------------------------------------------------------------------- fit, decode
def _toy(n=24, seed=0):
    """Features that spell their own caption: caption k is [4 + k % 3, 7], marked in cell 0."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, 16, 5, generator=g, dtype=F64) * 0.1
    caps = []
    for k in range(n):
        feats[k, 0, k % 3] += 3.0
        caps.append([[4 + k % 3, 7]])
    return feats, caps


@pytest.mark.parametrize("kind", ["st", "sat"])
def test_fit_learns_and_is_deterministic(kind):
    feats, caps = _toy()
    runs = []
    for _ in range(2):
        model = tiny(kind)
        h = fit(model, feats, caps, 150, batch_size=8, lr=3e-2, seed=1, progress=False)
        runs.append(h.loss)
    assert runs[0] == runs[1]
    assert sum(runs[0][-5:]) / 5 < 0.5 * sum(runs[0][:5]) / 5
    ids, maps = generate(model, feats)
    assert sum(i == c[0] for i, c in zip(ids, caps, strict=True)) >= 20
    assert (maps[0] is None) == (kind == "st")
    if kind == "sat":
        assert maps[0].shape == (len(ids[0]), 16) and "penalty" in h.val


def test_fit_errors():
    feats, caps = _toy()
    with pytest.raises(ValueError, match="lam > 0 needs a ShowAttendTell"):
        fit(tiny("st"), feats, caps, 1, lam=1.0, progress=False)
    with pytest.raises(ValueError, match="captions must hold one list of reference id lists"):
        fit(tiny("sat"), feats, caps[:-1], 1, progress=False)
    with pytest.raises(ValueError, match=r"captions\[0\] must hold non-empty"):
        fit(tiny("sat"), feats, [[[]]] + caps[1:], 1, progress=False)
    with pytest.raises(TypeError, match="model must be a ShowTell or ShowAttendTell"):
        fit(torch.nn.Linear(2, 2), feats, caps, 1)
    with pytest.raises(ValueError, match="lr"):
        fit(tiny("sat"), feats, caps, 1, lr=0.0, progress=False)


@pytest.mark.parametrize("kind", ["st", "sat"])
def test_beam_caption_matches_exhaustive_search(kind):
    model = tiny(kind, seed=3, V=6).eval()
    feats = torch.randn(16, 5, dtype=F64)
    max_len = 3

    @torch.no_grad()
    def logp(prefix: list[int]) -> float:
        logits, _ = model(feats[None], torch.tensor([[BOS, *prefix]]))
        return float(
            logits[0].log_softmax(-1).gather(-1, torch.tensor([*prefix, EOS])[:, None]).sum()
        )

    words = [0, 1, 3, 4, 5]  # every id but <eos>: the search may emit any of them
    scored = []
    for n in range(max_len):  # n words, then <eos> (n + 1 <= max_len tokens)
        for ids in itertools.product(words, repeat=n):
            scored.append((list(ids), logp(list(ids))))
    with torch.no_grad():
        scored_full = []
        for ids in itertools.product(words, repeat=max_len):  # cut at max_len, no <eos>
            logits, _ = model(feats[None], torch.tensor([[BOS, *ids[:-1]]]))
            lp = logits[0].log_softmax(-1).gather(-1, torch.tensor(ids)[:, None]).sum()
            scored_full.append((list(ids), float(lp)))
    best = max(scored + scored_full, key=lambda h: h[1])
    found = beam_caption(model, feats, beam_width=200, max_len=max_len)
    assert found[0][0] == best[0] and abs(found[0][1] - best[1]) < 1e-10


def test_exact_match_and_attention_hits():
    refs = [[("a", "b"), ("b", "a")], [("c",)]]
    assert exact_match([("b", "a"), ("d",)], refs) == 0.5
    with pytest.raises(ValueError, match="equally long"):
        exact_match([("a",)], refs)
    red = SceneObject("circle", "red", "small", 0, 1)
    blue = SceneObject("square", "blue", "large", 2, 3)
    tokens = "a small red circle left of a large blue square".split()
    alpha = torch.zeros(len(tokens), 16)
    alpha[2, red.cell] = alpha[3, red.cell] = 1.0  # both words of the red circle hit
    alpha[8, blue.cell] = 1.0  # "blue" hits, "square" (row 9) looks at cell 0
    assert attention_hits([red, blue], tokens, alpha) == (3, 4)
    assert attention_hits([red], "a small green circle".split(), torch.zeros(4, 16)) == (0, 0)
    with pytest.raises(ValueError, match=r"alpha must have shape \(len\(tokens\), L\)"):
        attention_hits([red], tokens, torch.zeros(3, 16))
