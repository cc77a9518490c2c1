"""seqcourse.glimpse: crops against slicing, the model's shapes and modes, the REINFORCE
estimator against autograd and Monte Carlo, its exact variance, training, and bad input."""

import pytest
import torch
import torch.nn.functional as F

from seqcourse.data.scenes import SHAPES, generate_scenes
from seqcourse.glimpse import (
    GlimpseModel,
    coarse_view,
    crops,
    fit_glimpses,
    glimpse_accuracy,
    glimpse_objective,
    policy_gradient_exact,
    policy_gradient_samples,
    policy_gradient_variance,
)

F64 = torch.float64


def one_object(n: int, seed: int):
    s = generate_scenes(n, seed=seed, min_objects=1, max_objects=1)
    labels = torch.tensor([SHAPES.index(x.objects[0].shape) for x in s.scenes])
    return s, labels


def test_crops_are_the_windows_around_each_cell():
    images = torch.rand(2, 3, 32, 32)
    out = crops(images)
    assert out.shape == (2, 16, 3, 12, 12)
    padded = F.pad(images, (2, 2, 2, 2))
    for cell in (0, 5, 15):
        r, c = divmod(cell, 4)
        assert torch.equal(out[:, cell], padded[:, :, 8 * r : 8 * r + 12, 8 * c : 8 * c + 12])


def test_coarse_view_marks_the_object_cell():
    s, _ = one_object(50, seed=0)
    view = coarse_view(s.images)
    assert view.shape == (50, 16)
    assert torch.equal(view.argmax(1), torch.tensor([x.cells[0] for x in s.scenes]))


@pytest.mark.parametrize("mode", ["hard", "soft", "random"])
@pytest.mark.parametrize("steps", [1, 2])
def test_forward_shapes_and_policy(mode, steps):
    torch.manual_seed(0)
    model = GlimpseModel(3, hidden=8, steps=steps)
    out = model(torch.rand(5, 3, 32, 32), mode, generator=torch.Generator().manual_seed(0))
    assert out["logits"].shape == (5, 3)
    assert out["probs"].shape == (5, steps, 16) and out["cells"].shape == (5, steps)
    assert out["log_pi"].shape == out["baseline"].shape == (5, steps)
    torch.testing.assert_close(out["probs"].sum(-1), torch.ones(5, steps))
    picked = out["probs"].gather(2, out["cells"][..., None])[..., 0]
    torch.testing.assert_close(out["log_pi"], picked.log())


def test_soft_glimpse_is_the_expected_hard_glimpse():
    torch.manual_seed(0)
    model = GlimpseModel(3, hidden=8).double()
    images = torch.rand(4, 3, 32, 32, dtype=F64)
    h, patches = model.start(images)
    p = model.policy(h).softmax(-1)
    every = torch.stack([model.glimpse(patches[:, k], torch.full((4,), k)) for k in range(16)], 1)
    expected = model.step((p[..., None] * every).sum(1), h)
    torch.testing.assert_close(model.out(expected), model(images, "soft")["logits"])


def test_forced_cells_and_generator_are_deterministic():
    torch.manual_seed(0)
    model = GlimpseModel(3, hidden=8, steps=2)
    images = torch.rand(6, 3, 32, 32)
    a = model(images, generator=torch.Generator().manual_seed(3))
    b = model(images, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a["cells"], b["cells"]) and torch.equal(a["logits"], b["logits"])
    forced = model(images, cells=a["cells"])
    torch.testing.assert_close(forced["logits"], a["logits"])


def test_exact_policy_gradient_matches_autograd():
    torch.manual_seed(1)
    model = GlimpseModel(3, hidden=8).double()
    s, labels = one_object(12, seed=1)
    images = s.images.double()
    pi, rewards, grad = policy_gradient_exact(model, images, labels)
    z = model.policy(model.start(images)[0]).detach().requires_grad_(True)
    J = (z.softmax(-1) * rewards).sum()
    (auto,) = torch.autograd.grad(J, z)
    torch.testing.assert_close(grad, auto)
    torch.testing.assert_close(pi, z.softmax(-1).detach())


@pytest.mark.parametrize("baseline", [0.0, 0.5, "per image"])
def test_reinforce_is_unbiased_with_the_stated_variance(baseline):
    g = torch.Generator().manual_seed(0)
    pi = torch.rand(4, 16, dtype=F64, generator=g) ** 3
    pi = pi / pi.sum(-1, keepdim=True)
    rewards = (torch.rand(4, 16, dtype=F64, generator=g) > 0.6).to(F64)
    b = torch.tensor([0.1, 0.9, 0.3, 0.5], dtype=F64) if baseline == "per image" else baseline
    J = (pi * rewards).sum(-1, keepdim=True)
    exact = pi * (rewards - J)
    S = 100_000
    est = policy_gradient_samples(pi, rewards, S, b, torch.Generator().manual_seed(1))
    var = policy_gradient_variance(pi, rewards, b)
    err = (est.mean(0) - exact).pow(2).sum(-1)  # expected var / S per image
    assert bool((err < 10 * var / S).all())
    torch.testing.assert_close((est - exact).pow(2).sum(-1).mean(0), var, rtol=0.03, atol=1e-6)


def test_a_baseline_at_J_lowers_the_variance():
    pi = torch.full((1, 16), 1 / 16, dtype=F64)
    rewards = torch.zeros(1, 16, dtype=F64)
    rewards[0, 3] = 1.0
    J = (pi * rewards).sum(-1)
    assert policy_gradient_variance(pi, rewards, J) < policy_gradient_variance(pi, rewards, 0.0)


def test_objective_adds_reinforce_only_in_hard_mode():
    torch.manual_seed(0)
    model = GlimpseModel(3, hidden=8)
    images, labels = torch.rand(6, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    out = model(images, "hard", generator=torch.Generator().manual_seed(0))
    hard, ce, acc = glimpse_objective(out, labels, "hard")
    soft, ce2, _ = glimpse_objective(out, labels, "soft")
    torch.testing.assert_close(ce, F.cross_entropy(out["logits"], labels))
    torch.testing.assert_close(soft, ce)
    right = (out["logits"].argmax(-1) == labels).float()
    adv = right[:, None] - out["baseline"]
    want = ce - (adv.detach() * out["log_pi"]).sum(1).mean() + adv.pow(2).sum(1).mean()
    torch.testing.assert_close(hard, want)
    assert 0 <= float(acc) <= 1
    # the policy's gradient is the REINFORCE term's: -(R - b) d log pi / d theta
    hard.backward()
    assert model.policy.weight.grad is not None and model.policy.weight.grad.abs().sum() > 0


def test_hard_attention_learns_where_to_look():
    train, y_train = one_object(4000, seed=1)
    test, y_test = one_object(300, seed=2)
    torch.manual_seed(0)
    model = GlimpseModel(3)
    history = fit_glimpses(model, train.images, y_train, 700, "hard", seed=0, progress=False)
    assert len(history.loss) == len(history.val["accuracy"]) == 700
    assert glimpse_accuracy(model, test.images, y_test) > 0.7
    with torch.no_grad():
        looked = model(test.images, generator=torch.Generator().manual_seed(0))["cells"][:, 0]
    truth = torch.tensor([s.cells[0] for s in test.scenes])
    assert (looked == truth).float().mean() > 0.5  # chance: 1/16


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m(torch.rand(2, 3, 32, 32), "sharp"), ValueError, "mode must be one of"),
        (lambda m: m(torch.rand(2, 3, 16, 16)), ValueError, "images must have shape"),
        (lambda m: m(torch.rand(2, 3, 32, 32), cells=torch.zeros(2, 2)), ValueError, "cells must"),
        (
            lambda m: fit_glimpses(m, torch.rand(2, 3, 32, 32), torch.tensor([0, 5]), 1),
            ValueError,
            "labels must lie in",
        ),
        (
            lambda m: fit_glimpses(m, torch.rand(2, 3, 32, 32), torch.tensor([0]), 1),
            ValueError,
            "labels must be a LongTensor",
        ),
        (
            lambda m: fit_glimpses(m, torch.rand(2, 3, 32, 32), torch.tensor([0, 1]), 1, lr=-1),
            ValueError,
            "lr must be a finite number > 0",
        ),
        (
            lambda m: fit_glimpses(
                m, torch.rand(2, 3, 32, 32), torch.tensor([0, 1]), 1, reward="money"
            ),
            ValueError,
            "reward must be one of",
        ),
        (lambda m: fit_glimpses(nn_linear(), None, None, 1), TypeError, "model must be a Glimpse"),
        (
            lambda m: policy_gradient_exact(GlimpseModel(3, steps=2), torch.rand(1, 3, 32, 32), 0),
            ValueError,
            "steps=1",
        ),
        (
            lambda m: policy_gradient_samples(torch.ones(2, 16), torch.ones(2, 16), 5),
            ValueError,
            "probability rows",
        ),
        (
            lambda m: policy_gradient_variance(torch.full((2, 16), 1 / 16), torch.ones(2, 4)),
            ValueError,
            "rewards must be a tensor",
        ),
        (
            lambda m: policy_gradient_variance(
                torch.full((2, 16), 1 / 16), torch.ones(2, 16), torch.ones(3)
            ),
            ValueError,
            "baseline must be a number or a tensor",
        ),
        (lambda m: GlimpseModel(1), ValueError, "classes must be an int >= 2"),
    ],
)
def test_bad_input_is_named(call, error, match):
    torch.manual_seed(0)
    with pytest.raises(error, match=match):
        call(GlimpseModel(3, hidden=8))


def nn_linear():
    return torch.nn.Linear(2, 2)
