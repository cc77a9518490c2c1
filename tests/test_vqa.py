"""seqcourse.vqa: questions and their answers, padding, the blind prior, training, bad input."""

import pytest
import torch

from seqcourse.data.scenes import Scene, SceneObject, Scenes, generate_scenes
from seqcourse.vqa import (
    QUESTION_VOCAB,
    CountVQA,
    blind_accuracy,
    count_questions,
    fit_vqa,
    question,
    vqa_accuracy,
    vqa_predict,
)

F64 = torch.float64
ALL = question(None, None)


def test_question_words():
    assert question(None, None) == ("how", "many", "objects", "?")
    assert question("red", "circle") == ("how", "many", "red", "circles", "?")
    assert question(None, "triangle") == ("how", "many", "triangles", "?")
    assert all(QUESTION_VOCAB.encode(question(c, s)) for c in ("blue", None) for s in ("square",))


def test_answers_are_the_counts():
    objects = (
        SceneObject("circle", "red", "small", 0, 0),
        SceneObject("circle", "blue", "large", 1, 1),
        SceneObject("square", "red", "small", 2, 2),
    )
    scenes = Scenes(torch.zeros(1, 3, 32, 32), (Scene(objects),))
    seen = set()
    for seed in range(60):
        (q,), a, ((colour, shape),) = count_questions(scenes, seed)
        want = sum(
            (colour is None or o.colour == colour) and (shape is None or o.shape == shape)
            for o in objects
        )
        assert int(a[0]) == want and q == question(colour, shape)
        seen.add((colour is not None, shape is not None))
    assert len(seen) == 4  # all four kinds of question are asked


def test_questions_are_deterministic_and_mostly_nonzero():
    s = generate_scenes(400, seed=0, max_objects=3)
    a, b = count_questions(s, seed=1), count_questions(s, seed=1)
    assert a[0] == b[0] and a[2] == b[2] and torch.equal(a[1], b[1])
    assert (a[1] > 0).float().mean() > 0.6 and int(a[1].max()) <= 3


def test_padding_does_not_change_answers():
    torch.manual_seed(0)
    model = CountVQA(8, hidden=6, embed=4).double()
    qs = [question(None, "circle"), question("red", "square"), question("blue", None)]
    grids = torch.randn(3, 16, 8, dtype=F64)
    _, batch = vqa_predict(model, grids, qs)
    for b, q in enumerate(qs):
        _, alone = vqa_predict(model, grids[b : b + 1], [q])
        torch.testing.assert_close(alone[0], batch[b])


def test_weights_are_per_cell_sigmoids_and_count_feeds_the_head():
    torch.manual_seed(0)
    model = CountVQA(8, hidden=6, embed=4)
    ids = torch.tensor([QUESTION_VOCAB.encode(question(None, None))])
    logits, weights = model(torch.randn(1, 16, 8), ids, torch.tensor([4]))
    assert logits.shape == (1, 4) and weights.shape == (1, 16)
    assert bool(((weights > 0) & (weights < 1)).all())
    assert model.mlp[0].in_features == 2 * 6 + 1


def test_blind_prior():
    qs = [("how", "many", "objects", "?")] * 3 + [("how", "many", "circles", "?")] * 2
    a = torch.tensor([2, 2, 1, 0, 0])
    assert blind_accuracy(qs, a, qs, a) == pytest.approx(4 / 5)


def test_training_beats_the_blind_prior():
    s = generate_scenes(600, seed=0, max_objects=3)
    grids = torch.zeros(600, 16, 26)  # an oracle grid: one-hot of what each cell holds
    grids[..., :25] = torch.nn.functional.one_hot(s.cell_labels(), 25).float()
    grids[..., 25] = torch.randn(600, 16)
    qs, a, _ = count_questions(s, seed=0)
    torch.manual_seed(0)
    model = CountVQA(26, hidden=32)
    history = fit_vqa(model, grids, qs, a, 400, seed=0, progress=False)
    assert len(history.loss) == 400 and history.loss[-1] < history.loss[0]
    assert vqa_accuracy(model, grids, qs, a) > blind_accuracy(qs, a, qs, a) + 0.1


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: question("purple", None), ValueError, "colour must be None or one of"),
        (lambda m: question(None, "hexagon"), ValueError, "shape must be None or one of"),
        (lambda m: count_questions([1, 2]), TypeError, "scenes must be a Scenes"),
        (
            lambda m: vqa_predict(m, torch.zeros(1, 16, 8), [("how", "tall", "?")]),
            ValueError,
            "tall",
        ),
        (lambda m: vqa_predict(m, torch.zeros(1, 16, 8), []), ValueError, "non-empty"),
        (
            lambda m: vqa_predict(m, torch.zeros(1, 9, 8), [ALL]),
            ValueError,
            "shape",
        ),
        (
            lambda m: fit_vqa(m, torch.zeros(2, 16, 8), [ALL] * 2, torch.tensor([0, 7]), 1),
            ValueError,
            "answers must lie in",
        ),
        (
            lambda m: fit_vqa(m, torch.zeros(2, 16, 8), [ALL], torch.tensor([0, 1]), 1),
            ValueError,
            "questions must number 2",
        ),
        (
            lambda m: fit_vqa(m, torch.zeros(2, 16, 8), [ALL] * 2, [0, 1], 1),
            TypeError,
            "answers must be a LongTensor",
        ),
        (lambda m: fit_vqa(torch.nn.Linear(1, 1), None, [], None, 1), TypeError, "CountVQA"),
        (lambda m: CountVQA(8, answers=1), ValueError, "answers must be an int >= 2"),
    ],
)
def test_bad_input_is_named(call, error, match):
    torch.manual_seed(0)
    with pytest.raises(error, match=match):
        call(CountVQA(8, hidden=6, embed=4))
