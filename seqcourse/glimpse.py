"""Hard attention: a recurrent glimpse model trained with REINFORCE (chapter 6).

Soft attention (``seqcourse.captioning.soft_attention``) looks at every cell and averages;
hard attention *picks* one cell l ~ pi(. | h) and looks only there. Mnih et al. (2014) built
a recurrent model on the idea: a blurred view of the whole image starts the state, and at
each of T steps the model chooses where to take its next sharp glimpse:

    h_0 = tanh(W_c coarse(I) + b_c)       coarse(I): each cell's brightness, standardised
    pi_t = softmax(W_pi h_{t-1} + b_pi)                over the L = 16 cells
    l_t ~ pi_t,  g_t = relu(W_g vec(crop(I, l_t)) + e_{l_t})     "what" plus "where"
    h_t = GRU(g_t, h_{t-1}),   P(y | I) = softmax(W_o h_T + b_o)

crop(I, l) is the 12 x 12 window around cell l (its 8 x 8 pixels and 2 on each side), so an
object drawn in the cell is seen whole. The classifier is trained by backpropagation given
the sampled cells; the cells themselves are not differentiable, so the policy is trained on
the expected reward J = E_{l ~ pi}[R(l)], R = 1 when the answer is right and 0 otherwise
(``reward="log-likelihood"``: R = log P(y | I, l), as in Xu et al.'s hard attention), with the
score-function (REINFORCE) estimate of Williams (1992) (eq-reinforce):

    grad J = E_{l ~ pi}[(R(l) - b) grad log pi(l)],

unbiased for any baseline b that does not depend on l; here b_t = w_b^T h_{t-1} + c_b is
learned by regressing R. With respect to the policy's logits z (one step, one image) the
exact gradient and the one-sample estimate are (eq-reinforce-logits)

    dJ/dz_k = pi_k (R_k - J),          estimate: (R(l) - b)(onehot(l) - pi),  l ~ pi,

which ``policy_gradient_exact`` and ``policy_gradient_samples`` compute;
``policy_gradient_variance`` gives the estimate's variance exactly, by enumerating the
cells. Per image and step the objective minimised is

    -log P(y | I, l_1..l_T) - sum_t (R - b_t) log pi_t(l_t) + sum_t (R - b_t)^2

with (R - b_t) held constant in the second term. ``mode="soft"`` replaces the sample by the
expectation g_t = sum_l pi_t(l) relu(W_g vec(crop(I, l)) + e_l), which is differentiable but
looks at all 16 crops; ``"random"`` draws l uniformly and never learns where to look.

Images are (B, 3, 32, 32) as in ``seqcourse.data.scenes``; cells are row-major 0..15.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_choice, check_int, check_positive
from seqcourse.captioning import check_images
from seqcourse.gated import gru_cell
from seqcourse.train import History, adam_steps, eval_mode

__all__ = [
    "GlimpseModel",
    "MODES",
    "coarse_view",
    "crops",
    "fit_glimpses",
    "glimpse_accuracy",
    "policy_gradient_exact",
    "policy_gradient_samples",
    "policy_gradient_variance",
    "glimpse_objective",
]

GRID, CELL, CROP = 4, 8, 12  # cells per side, pixels per cell, pixels per crop side
MODES = ("hard", "soft", "random")
REWARDS = ("correct", "log-likelihood")


def coarse_view(images: torch.Tensor) -> torch.Tensor:
    """The periphery: the mean brightness of each 8 x 8 cell, standardised over the 16
    cells of the image, (B, 3, 32, 32) -> (B, 16). It shows where something is, not what."""
    grey = F.avg_pool2d(check_images(images).mean(1, keepdim=True), CELL).flatten(1)
    return (grey - grey.mean(1, keepdim=True)) / (grey.std(1, keepdim=True) + 1e-3)


def crops(images: torch.Tensor) -> torch.Tensor:
    """All 16 glimpses: (B, 3, 32, 32) -> (B, 16, 3, 12, 12), crop l centred on cell l
    (row-major), zero outside the image."""
    pad = (CROP - CELL) // 2
    padded = F.pad(check_images(images), (pad, pad, pad, pad))
    windows = padded.unfold(2, CROP, CELL).unfold(3, CROP, CELL)  # (B, 3, 4, 4, 12, 12)
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(images.shape[0], GRID * GRID, 3, CROP, CROP)


class GlimpseModel(nn.Module):
    """The recurrent glimpse model of the module docstring: ``classes`` answers, ``hidden``
    units, ``steps`` glimpses per image (T)."""

    def __init__(self, classes: int, hidden: int = 64, steps: int = 1) -> None:
        super().__init__()
        self.classes = check_int(classes, "classes", 2)
        self.hidden = check_int(hidden, "hidden")
        self.steps = check_int(steps, "steps")
        cells = GRID * GRID
        self.coarse = nn.Linear(cells, hidden)
        self.what = nn.Linear(3 * CROP * CROP, hidden)
        self.where = nn.Embedding(cells, hidden)
        self.core_ih = nn.Linear(hidden, 3 * hidden)
        self.core_hh = nn.Linear(hidden, 3 * hidden)
        self.policy = nn.Linear(hidden, cells)
        self.baseline = nn.Linear(hidden, 1)
        self.out = nn.Linear(hidden, self.classes)

    def start(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h_0 (B, H) from the coarse view, and the flattened crops (B, 16, 432)."""
        return torch.tanh(self.coarse(coarse_view(images))), crops(images).flatten(2)

    def glimpse(self, patches: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """g = relu(W_g vec(crop) + e_cell) for patches (..., 432) at cells (...)."""
        return F.relu(self.what(patches) + self.where(cells))

    def step(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The core: one GRU step (chapter 4's ``gru_cell``)."""
        return gru_cell(self.core_ih(g), h, self.core_hh.weight, self.core_hh.bias)

    def forward(
        self,
        images: torch.Tensor,
        mode: str = "hard",
        generator: torch.Generator | None = None,
        cells: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Run T glimpses. Returns logits (B, classes), probs (B, T, 16) the policy's
        distributions, cells (B, T) the cells looked at (the most likely cell in soft mode),
        log_pi (B, T) their log-probabilities and baseline (B, T).

        ``cells`` (B, T) long forces where to look (for enumerating every choice); otherwise
        hard mode samples from the policy with ``generator`` (on the CPU, then moved)."""
        mode = check_choice(mode, "mode", MODES)
        h, patches = self.start(images)
        B, L = patches.shape[0], patches.shape[1]
        if cells is not None and (
            not isinstance(cells, torch.Tensor)
            or cells.dtype != torch.long
            or tuple(cells.shape) != (B, self.steps)
            or int(cells.min()) < 0
            or int(cells.max()) >= L
        ):
            raise ValueError(f"cells must be a LongTensor (B, T) = ({B}, {self.steps}) in [0, {L})")
        rows = torch.arange(B, device=h.device)
        probs, picked, log_pi, base = [], [], [], []
        for t in range(self.steps):
            p = self.policy(h).softmax(-1)
            base.append(self.baseline(h).squeeze(-1))
            if mode == "soft":
                every = self.glimpse(patches, torch.arange(L, device=h.device).expand(B, L))
                g = (p.unsqueeze(-1) * every).sum(1)
                where = p.argmax(-1)
            else:
                if cells is not None:
                    where = cells[:, t].to(h.device)
                elif mode == "hard":
                    where = torch.multinomial(p.detach().cpu(), 1, generator=generator)[:, 0]
                    where = where.to(h.device)
                else:
                    where = torch.randint(L, (B,), generator=generator).to(h.device)
                g = self.glimpse(patches[rows, where], where)
            log_pi.append(p[rows, where].clamp_min(1e-12).log())
            probs.append(p)
            picked.append(where)
            h = self.step(g, h)
        return {
            "logits": self.out(h),
            "probs": torch.stack(probs, 1),
            "cells": torch.stack(picked, 1),
            "log_pi": torch.stack(log_pi, 1),
            "baseline": torch.stack(base, 1),
        }


def _check_labels(labels: Any, n: int, classes: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.long or labels.shape != (n,):
        raise ValueError(
            f"labels must be a LongTensor ({n},), got "
            f"{getattr(labels, 'dtype', type(labels).__name__)} "
            f"{tuple(getattr(labels, 'shape', ()))}"
        )
    if n and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got {labels.min()}..{labels.max()}")
    return labels


def glimpse_objective(
    out: dict[str, torch.Tensor], labels: torch.Tensor, mode: str, reward: str = "correct"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(objective, cross-entropy, accuracy) of one batch: the objective of the module
    docstring, with the REINFORCE and baseline terms in hard mode only. ``reward`` is
    "correct" (R = 1 for a right answer, else 0, as Mnih et al.) or "log-likelihood"
    (R = log P(y | I, l), as Xu et al.'s hard attention)."""
    mode, reward = check_choice(mode, "mode", MODES), check_choice(reward, "reward", REWARDS)
    nll = F.cross_entropy(out["logits"], labels, reduction="none")  # (B,)
    right = (out["logits"].argmax(-1) == labels).float()
    objective = nll.mean()
    if mode == "hard":
        r = right if reward == "correct" else -nll.detach()
        advantage = r[:, None] - out["baseline"]  # (B, T)
        objective = objective - (advantage.detach() * out["log_pi"]).sum(1).mean()
        objective = objective + advantage.pow(2).sum(1).mean()
    return objective, nll.mean(), right.mean()


def fit_glimpses(
    model: GlimpseModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    mode: str = "hard",
    reward: str = "correct",
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train ``model`` with Adam for ``steps`` minibatches drawn with a generator seeded by
    ``seed`` (which also draws the glimpses), minimising ``glimpse_objective``.
    ``history.loss`` is the cross-entropy; ``history.val["accuracy"]`` the accuracy of each
    training batch."""
    if not isinstance(model, GlimpseModel):
        raise TypeError(f"model must be a GlimpseModel, got {type(model).__name__}")
    check_images(images)
    labels = _check_labels(labels, images.shape[0], model.classes)
    mode, reward = check_choice(mode, "mode", MODES), check_choice(reward, "reward", REWARDS)
    steps, batch_size = check_int(steps, "steps"), check_int(batch_size, "batch_size")
    lr, seed = check_positive(lr, "lr"), check_int(seed, "seed", 0)
    device = model.out.weight.device
    gen = torch.Generator().manual_seed(seed)

    def step_loss(i: int, history: History) -> tuple[torch.Tensor, torch.Tensor]:
        pick = torch.randint(images.shape[0], (batch_size,), generator=gen)
        out = model(images[pick].to(device), mode, generator=gen)
        objective, ce, accuracy = glimpse_objective(out, labels[pick].to(device), mode, reward)
        history.val.setdefault("accuracy", []).append(float(accuracy))
        return objective, ce

    return adam_steps(model, steps, step_loss, lr, None, f"glimpses ({mode})", progress)


@torch.no_grad()
def glimpse_accuracy(
    model: GlimpseModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    mode: str = "hard",
    seed: int = 0,
) -> float:
    """Accuracy on held-out images, in eval mode; hard mode samples its glimpses."""
    if not isinstance(model, GlimpseModel):
        raise TypeError(f"model must be a GlimpseModel, got {type(model).__name__}")
    labels = _check_labels(labels, check_images(images).shape[0], model.classes)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", 0))
    with eval_mode(model):
        out = model(images.to(model.out.weight.device), mode, generator=gen)
    return (out["logits"].argmax(-1).cpu() == labels).float().mean().item()


# ---------------------------------------------------------------------------- the estimator
def _one_step(model: Any) -> GlimpseModel:
    if not isinstance(model, GlimpseModel) or model.steps != 1:
        raise ValueError("model must be a GlimpseModel with steps=1 (one glimpse per image)")
    return model


@torch.no_grad()
def _rewards_per_cell(model: GlimpseModel, images: torch.Tensor, labels: torch.Tensor):
    """pi (B, 16) and R (B, 16): the reward of looking at each cell, by enumeration."""
    B, L = images.shape[0], GRID * GRID
    rewards = torch.empty(B, L, device=model.out.weight.device)
    labels = labels.to(rewards.device)
    for cell in range(L):
        where = torch.full((B, 1), cell, dtype=torch.long)
        out = model(images.to(rewards.device), cells=where)
        rewards[:, cell] = (out["logits"].argmax(-1) == labels).float()
    return out["probs"][:, 0], rewards


def policy_gradient_exact(
    model: GlimpseModel, images: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For a one-glimpse model, by enumerating the 16 cells: the policy pi (B, 16), the
    reward of each cell R (B, 16) and the exact gradient of J = sum_l pi_l R_l with respect
    to the logits, dJ/dz_k = pi_k (R_k - J) (eq-reinforce-logits), (B, 16)."""
    model = _one_step(model)
    labels = _check_labels(labels, check_images(images).shape[0], model.classes)
    pi, rewards = _rewards_per_cell(model, images, labels)
    J = (pi * rewards).sum(-1, keepdim=True)
    return pi, rewards, pi * (rewards - J)


def _check_policy(pi: Any, rewards: Any, baseline: Any) -> torch.Tensor:
    """The baseline as a (B, 1) tensor, after checking pi and rewards (B, L)."""
    if not isinstance(pi, torch.Tensor) or pi.dim() != 2:
        raise ValueError(f"pi must be a tensor (B, L), got {getattr(pi, 'shape', type(pi))}")
    if not isinstance(rewards, torch.Tensor) or rewards.shape != pi.shape:
        got = getattr(rewards, "shape", type(rewards).__name__)
        raise ValueError(f"rewards must be a tensor of pi's shape {tuple(pi.shape)}, got {got}")
    ones = torch.ones(pi.shape[0], dtype=pi.dtype, device=pi.device)
    if not (bool((pi >= 0).all()) and torch.allclose(pi.sum(-1), ones, atol=1e-5)):
        raise ValueError("pi must hold probability rows (>= 0, each summing to 1)")
    b = torch.as_tensor(baseline, dtype=pi.dtype, device=pi.device)
    if b.dim() > 1 or (b.dim() == 1 and b.shape[0] != pi.shape[0]):
        raise ValueError(
            f"baseline must be a number or a tensor ({pi.shape[0]},), got {tuple(b.shape)}"
        )
    if not bool(torch.isfinite(b).all()):
        raise ValueError("baseline must be finite")
    return b.reshape(-1, 1) if b.dim() == 1 else b.reshape(1, 1)


def policy_gradient_samples(
    pi: torch.Tensor,
    rewards: torch.Tensor,
    samples: int,
    baseline: torch.Tensor | float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``samples`` one-sample REINFORCE estimates of dJ/dz per image, (S, B, L):
    (R(l) - b)(onehot(l) - pi) with l ~ pi (eq-reinforce-logits); ``baseline`` b is a number
    or one per image (B,)."""
    b = _check_policy(pi, rewards, baseline)
    samples = check_int(samples, "samples")
    picks = torch.multinomial(pi.detach().cpu(), samples, replacement=True, generator=generator)
    picks = picks.to(pi.device).T  # (S, B)
    r = rewards.T.gather(0, picks)  # (S, B)
    onehot = F.one_hot(picks, pi.shape[1]).to(pi.dtype)
    return (r - b.T)[..., None] * (onehot - pi)


def policy_gradient_variance(
    pi: torch.Tensor, rewards: torch.Tensor, baseline: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """The exact variance (B,) of one REINFORCE estimate, E||g_hat - g||^2 summed over the
    L logits, by enumerating the cells: sum_l pi_l (R_l - b)^2 ||onehot(l) - pi||^2 - ||g||^2."""
    b = _check_policy(pi, rewards, baseline)
    J = (pi * rewards).sum(-1, keepdim=True)
    exact = pi * (rewards - J)
    spread = 1 - 2 * pi + pi.pow(2).sum(-1, keepdim=True)  # ||onehot(l) - pi||^2
    second = (pi * (rewards - b).pow(2) * spread).sum(-1)
    return second - exact.pow(2).sum(-1)
