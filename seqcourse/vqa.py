"""Visual question answering: counting questions on the captioning scenes (chapter 6).

A question is read by an LSTM (chapter 4), the image is chapter 6's frozen encoder grid
a_1..a_L (``seqcourse.captioning.encode_images``), and the answer is a class: here a count,
0..3, for questions such as "how many circles ?" or "how many red objects ?" (Antol et al.
2015 frame VQA as classification over answers in the same way).

The model (eq-vqa): q is the LSTM's output after the question's last word; each cell gets a
weight in (0, 1) from its (layer-normalised) features and the question, the weights give a
soft count and a pooled image vector, and a small network maps them and q to answer logits:

    q = LSTM(W_e w_1 .. W_e w_n)_n,     g_i = sigma(v^T tanh(W_a LN(a_i) + W_q q))
    c = sum_i g_i,    r = sum_i g_i W_v LN(a_i)
    P(answer | I, Q) = softmax(W_2 relu(W_1 [r; q; c] + b_1) + b_2)

Unlike soft attention's softmax, the weights g_i are not normalised over the cells: each
cell says for itself whether it matches the question, so the sum c can grow with the number
of matching objects instead of being one by construction (Zhang et al. 2018 analyse why
normalised attention struggles to count).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_int, check_positive
from seqcourse.captioning import check_features
from seqcourse.data.scenes import COLOURS, SHAPES, Scenes
from seqcourse.data.translation import Vocab, pad_sequences
from seqcourse.gated import LSTM
from seqcourse.train import History, adam_steps, eval_mode

__all__ = [
    "QUESTION_VOCAB",
    "CountVQA",
    "blind_accuracy",
    "count_questions",
    "fit_vqa",
    "question",
    "vqa_accuracy",
]

_PLURAL = {s: s + "s" for s in SHAPES}
QUESTION_VOCAB = Vocab(
    ("how", "many", "?", "objects", *_PLURAL.values(), *COLOURS), unk=False
)  # every word a question can use; encode refuses any other


def question(colour: str | None, shape: str | None) -> tuple[str, ...]:
    """The words of "how many [colour] <shapes | objects> ?"."""
    if colour is not None and colour not in COLOURS:
        raise ValueError(f"colour must be None or one of {tuple(COLOURS)}, got {colour!r}")
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"shape must be None or one of {SHAPES}, got {shape!r}")
    words = ["how", "many"] + ([colour] if colour else [])
    return (*words, _PLURAL[shape] if shape else "objects", "?")


def count_questions(
    scenes: Scenes, seed: int = 0
) -> tuple[list[tuple[str, ...]], torch.Tensor, list[tuple[str | None, str | None]]]:
    """One counting question per scene, drawn with a generator seeded by ``seed``: its kind
    (by colour, by shape, by both, or all objects) uniformly, and each word it names taken
    from an object of the scene with probability 3/4, else uniformly, so that the answers
    are not nearly all 0. Returns (questions, answers (N,) long, filters (colour, shape))."""
    if not isinstance(scenes, Scenes):
        raise TypeError(f"scenes must be a Scenes, got {type(scenes).__name__}")
    rng = np.random.default_rng(check_int(seed, "seed", 0))
    questions, answers, filters = [], [], []
    for scene in scenes.scenes:
        kind = int(rng.integers(4))  # 0: colour, 1: shape, 2: both, 3: all objects
        seen = scene.objects[int(rng.integers(len(scene.objects)))]
        from_scene = rng.random() < 0.75
        colour = seen.colour if from_scene else tuple(COLOURS)[int(rng.integers(len(COLOURS)))]
        shape = seen.shape if from_scene else SHAPES[int(rng.integers(len(SHAPES)))]
        colour = colour if kind in (0, 2) else None
        shape = shape if kind in (1, 2) else None
        count = sum(
            (colour is None or o.colour == colour) and (shape is None or o.shape == shape)
            for o in scene.objects
        )
        questions.append(question(colour, shape))
        answers.append(count)
        filters.append((colour, shape))
    return questions, torch.tensor(answers, dtype=torch.long), filters


def _encode(questions: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded ids (N, T) and lengths (N,) of questions; ValueError on unknown words."""
    if isinstance(questions, str) or not len(questions):
        raise ValueError("questions must be a non-empty list of word sequences")
    ids = [QUESTION_VOCAB.encode(q) for q in questions]
    if any(len(q) == 0 for q in ids):
        raise ValueError("questions must not be empty")
    padded = pad_sequences(ids)
    return padded.ids, padded.lengths


class CountVQA(nn.Module):
    """The counting model of eq. (eq-vqa) over grids (B, cells, feature_dim)."""

    def __init__(
        self,
        feature_dim: int,
        answers: int = 4,
        hidden: int = 64,
        embed: int = 16,
        cells: int = 16,
    ) -> None:
        super().__init__()
        self.feature_dim = check_int(feature_dim, "feature_dim")
        self.answers = check_int(answers, "answers", 2)
        self.cells = check_int(cells, "cells")
        hidden, embed = check_int(hidden, "hidden"), check_int(embed, "embed")
        self.embed = nn.Embedding(len(QUESTION_VOCAB), embed, padding_idx=0)
        self.reader = LSTM(embed, hidden)
        self.norm = nn.LayerNorm(self.feature_dim)
        self.key = nn.Linear(self.feature_dim, hidden)
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.score = nn.Linear(hidden, 1, bias=False)
        self.value = nn.Linear(self.feature_dim, hidden)
        self.mlp = nn.Sequential(
            nn.Linear(2 * hidden + 1, hidden), nn.ReLU(), nn.Linear(hidden, self.answers)
        )

    def read(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """q (B, H): the LSTM's output after each question's last word."""
        out, _ = self.reader(self.embed(ids))
        return out[torch.arange(ids.shape[0], device=ids.device), lengths - 1]

    def forward(
        self, features: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Answer logits (B, answers) and the cells' weights g (B, cells)."""
        a = self.norm(check_features(features, self.cells, self.feature_dim))
        if ids.shape[0] != a.shape[0]:
            raise ValueError(f"ids must hold {a.shape[0]} questions, got {ids.shape[0]}")
        q = self.read(ids, lengths)
        s = self.score(torch.tanh(self.key(a) + self.query(q)[:, None])).squeeze(-1)  # (B, L)
        weights = torch.sigmoid(s)
        r = (weights[..., None] * self.value(a)).sum(1)
        count = weights.sum(-1, keepdim=True)
        return self.mlp(torch.cat([r, q, count], -1)), weights


def _check_answers(answers: Any, n: int, classes: int) -> torch.Tensor:
    if not isinstance(answers, torch.Tensor) or answers.dtype != torch.long:
        raise TypeError(f"answers must be a LongTensor, got {type(answers).__name__}")
    if answers.shape != (n,):
        raise ValueError(f"answers must have shape ({n},), got {tuple(answers.shape)}")
    if int(answers.min()) < 0 or int(answers.max()) >= classes:
        raise ValueError(
            f"answers must lie in [0, {classes}), got {int(answers.min())}..{int(answers.max())}"
        )
    return answers


def fit_vqa(
    model: CountVQA,
    features: torch.Tensor,
    questions: Sequence[Sequence[str]],
    answers: torch.Tensor,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Adam on the cross-entropy of the answers, ``steps`` minibatches drawn with a generator
    seeded by ``seed``. Returns the ``History``."""
    if not isinstance(model, CountVQA):
        raise TypeError(f"model must be a CountVQA, got {type(model).__name__}")
    check_features(features, model.cells, model.feature_dim)
    ids, lengths = _encode(questions)
    if ids.shape[0] != features.shape[0]:
        raise ValueError(f"questions must number {features.shape[0]}, got {ids.shape[0]}")
    answers = _check_answers(answers, features.shape[0], model.answers)
    steps, batch_size = check_int(steps, "steps"), check_int(batch_size, "batch_size")
    lr, seed = check_positive(lr, "lr"), check_int(seed, "seed", 0)
    device = model.score.weight.device
    gen = torch.Generator().manual_seed(seed)

    def step_loss(i: int, history: History) -> tuple[torch.Tensor, torch.Tensor]:
        pick = torch.randint(features.shape[0], (batch_size,), generator=gen)
        logits, _ = model(features[pick].to(device), ids[pick].to(device), lengths[pick].to(device))
        loss = F.cross_entropy(logits, answers[pick].to(device))
        return loss, loss

    return adam_steps(model, steps, step_loss, lr, None, "VQA", progress)


@torch.no_grad()
def vqa_predict(
    model: CountVQA, features: torch.Tensor, questions: Sequence[Sequence[str]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted answers (N,) and cell weights (N, cells), in eval mode, on the CPU."""
    if not isinstance(model, CountVQA):
        raise TypeError(f"model must be a CountVQA, got {type(model).__name__}")
    ids, lengths = _encode(questions)
    device = model.score.weight.device
    with eval_mode(model):
        logits, weights = model(features.to(device), ids.to(device), lengths.to(device))
    return logits.argmax(-1).cpu(), weights.cpu()


def vqa_accuracy(
    model: CountVQA,
    features: torch.Tensor,
    questions: Sequence[Sequence[str]],
    answers: torch.Tensor,
) -> float:
    """The fraction of questions answered exactly right."""
    predicted, _ = vqa_predict(model, features, questions)
    answers = _check_answers(answers, predicted.shape[0], model.answers)
    return (predicted == answers).float().mean().item()


def blind_accuracy(
    train_questions: Sequence[Sequence[str]],
    train_answers: torch.Tensor,
    questions: Sequence[Sequence[str]],
    answers: torch.Tensor,
) -> float:
    """The "prior" baseline: answer each question with its most frequent training answer,
    never looking at the image."""
    best: dict[tuple[str, ...], Counter[int]] = {}
    for q, a in zip(train_questions, train_answers.tolist(), strict=True):
        best.setdefault(tuple(q), Counter())[a] += 1
    overall = Counter(train_answers.tolist()).most_common(1)[0][0]
    guess = [
        best[tuple(q)].most_common(1)[0][0] if tuple(q) in best else overall for q in questions
    ]
    return (torch.tensor(guess) == answers).float().mean().item()
