"""Image captioning: Show and Tell, and Show, Attend and Tell (chapter 6).

A caption S = S_1..S_N of an image I is modelled left to right, as chapter 5's decoder
models a translation, with the image in place of the source sentence:

    log P(S | I) = sum_{t=1}^{N+1} log P(S_t | I, S_0..S_{t-1}),  S_0 = <bos>, S_{N+1} = <eos>

A small CNN (``ConvEncoder``) turns the 32 x 32 image into a grid of L = 16 feature vectors
a_1..a_L (D each), one per 8 x 8 cell. As in both papers, whose CNNs were trained on
ImageNet first, it is pretrained on a classification task and then frozen: here, what each
cell holds, nothing or one of the 24 object kinds (size, colour, shape), as the backbone
of a detector is trained (eq-caption-pretrain):

    P(cell i holds k | I) = softmax(U a_i + b)_k,   k = 0 (empty), 1..24,
    cross-entropy averaged over the cells

The captioners then train on the frozen grids (``encode_images``), computed once.

Show and Tell (Vinyals et al. 2015; eq-showtell): the image enters the LSTM once, as its
input before the first word, and never again:

    x_{-1} = W_I vec(a_1..a_L),   x_t = W_e S_t,   h_t = LSTM(x_t, h_{t-1}),
    P(S_{t+1} | I, S_<=t) = softmax(W_o h_t)

Show, Attend and Tell (Xu et al. 2015): at every step the decoder looks at the grid again.
Soft attention scores each cell against the previous state, normalises over the cells and
takes the expected feature vector (eq-sat-attention):

    e_ti = w^T tanh(W_a a_i + W_h h_{t-1}),   alpha_ti = exp(e_ti) / sum_k exp(e_tk)
    z_t  = beta_t * sum_i alpha_ti a_i,        beta_t = sigma(w_beta^T h_{t-1} + b_beta)

Each a_i has a learned vector p_i of its cell added first (position). The LSTM reads
[E y_{t-1}; z_t]; the state starts from the mean feature,
h_0 = tanh(W_init,h mean_i a_i), c_0 = tanh(W_init,c mean_i a_i), and the output is the
"deep output" P(y_t) = softmax(L_o(E y_{t-1} + L_h h_t + L_z z_t)).

Since sum_i alpha_ti = 1 at every step, nothing makes each cell receive attention at some
step. The doubly stochastic regulariser (eq-sat-doubly-stochastic) pushes the attention
each cell receives over the caption towards one:

    loss = -(1/N) sum_t log P(y_t | ...) + lambda sum_i (1 - sum_t alpha_ti)^2

(averaged over the batch, the sum over t running over the real tokens of each caption).

Tensors are batch-first: images (B, 3, 32, 32) float, captions (B, T) LongTensors padded
with 0 (<pad>); ids as in ``seqcourse.data.translation.Vocab``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqcourse._checks import check_bool, check_ids, check_int, check_positive
from seqcourse.data.translation import BOS, EOS, pad_sequences
from seqcourse.gated import LSTM, lstm_cell
from seqcourse.seq2seq import beam_search, sequence_loss
from seqcourse.train import History, _optional_clip, adam_steps, eval_mode

__all__ = [
    "ConvEncoder",
    "check_features",
    "check_images",
    "encode_images",
    "pretrain_encoder",
    "ShowAttendTell",
    "ShowTell",
    "attention_hits",
    "beam_caption",
    "caption_loss",
    "doubly_stochastic_penalty",
    "exact_match",
    "fit",
    "generate",
    "soft_attention",
]


# ---------------------------------------------------------------------------- checks
def _check_batch(x: Any, tail: tuple[int, ...], layout: str, name: str) -> torch.Tensor:
    """A finite float tensor (B, *tail), B >= 1; ``layout`` names the shape in messages."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {layout}, got {type(x)}")
    if x.dim() != 1 + len(tail) or tuple(x.shape[1:]) != tail or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape {layout}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must hold finite values, got NaN or inf")
    return x


def check_images(images: Any, name: str = "images") -> torch.Tensor:
    """A finite float tensor (B, 3, 32, 32), B >= 1."""
    return _check_batch(images, (3, 32, 32), "(B, 3, 32, 32)", name)


def check_features(features: Any, cells: int, dim: int, name: str = "features") -> torch.Tensor:
    """A finite float tensor (B, cells, dim), B >= 1: an encoded image grid."""
    return _check_batch(features, (cells, dim), f"(B, L, D) = (B, {cells}, {dim})", name)


def _lam(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"lam must be a number >= 0, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"lam must be a finite number >= 0, got {value}")
    return float(value)


# ---------------------------------------------------------------------------- encoder
class ConvEncoder(nn.Module):
    """Three blocks of 3 x 3 convolution, batch norm, ReLU and 2 x 2 max-pooling: images
    (B, 3, 32, 32)
    to a grid (B, L, D) of L = 4 x 4 = 16 cells (row-major, as ``Scene.cells``), D =
    ``channels[-1]``. Each cell's vector sees its own 8 x 8 pixels and a border around them.

    ``classify`` is the pretraining head (eq-caption-pretrain): a linear layer from each
    cell's vector to one logit per class of what the cell holds."""

    def __init__(self, classes: int = 25, channels: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        channels = [check_int(c, "channels") for c in channels]
        if len(channels) != 3:
            raise ValueError(f"channels must hold 3 sizes (one per block), got {channels}")
        layers: list[nn.Module] = []
        for c_in, c_out in zip([3, *channels[:-1]], channels, strict=True):
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            layers += [conv, nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.net = nn.Sequential(*layers)
        self.dim = channels[-1]
        self.cells = 16
        self.head = nn.Linear(self.dim, check_int(classes, "classes", 2))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        grid = self.net(check_images(images))  # (B, D, 4, 4)
        return grid.flatten(2).transpose(1, 2)  # (B, 16, D)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, classes): what each cell holds."""
        return self.head(self(images))


def pretrain_encoder(
    encoder: ConvEncoder,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train ``encoder`` and its head to tell what each cell holds (eq-caption-pretrain):
    labels (N, L) class ids (``Scenes.cell_labels``), cross-entropy averaged over the cells,
    Adam, minibatches drawn with a generator seeded by ``seed``. Returns the ``History``."""
    if not isinstance(encoder, ConvEncoder):
        raise TypeError(f"encoder must be a ConvEncoder, got {type(encoder).__name__}")
    check_images(images)
    classes, N = encoder.head.out_features, images.shape[0]
    if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != (N, encoder.cells):
        raise ValueError(
            f"labels must be a tensor (N, L) = ({N}, {encoder.cells}), got "
            f"{getattr(labels, 'shape', type(labels).__name__)}"
        )
    if labels.dtype != torch.long or int(labels.min()) < 0 or int(labels.max()) >= classes:
        raise ValueError(f"labels must be class ids (long) in [0, {classes}), got {labels.dtype}")
    steps, batch_size = check_int(steps, "steps"), check_int(batch_size, "batch_size")
    lr, seed = check_positive(lr, "lr"), check_int(seed, "seed", 0)
    device = encoder.head.weight.device
    gen = torch.Generator().manual_seed(seed)

    def step_loss(i: int, history: History) -> tuple[torch.Tensor, torch.Tensor]:
        pick = torch.randint(images.shape[0], (batch_size,), generator=gen)
        logits = encoder.classify(images[pick].to(device))
        loss = F.cross_entropy(logits.flatten(0, 1), labels[pick].flatten().to(device))
        return loss, loss

    return adam_steps(encoder, steps, step_loss, lr, None, "encoder", progress)


@torch.no_grad()
def encode_images(
    encoder: ConvEncoder, images: torch.Tensor, batch_size: int = 512
) -> torch.Tensor:
    """The frozen encoder's grids (N, 16, D) of ``images``, in eval mode, on its device."""
    if not isinstance(encoder, ConvEncoder):
        raise TypeError(f"encoder must be a ConvEncoder, got {type(encoder).__name__}")
    check_images(images)
    batch_size = check_int(batch_size, "batch_size")
    device = encoder.head.weight.device
    with eval_mode(encoder):
        parts = [
            encoder(images[k : k + batch_size].to(device))
            for k in range(0, images.shape[0], batch_size)
        ]
    return torch.cat(parts)


# ---------------------------------------------------------------------------- attention
def soft_attention(
    features: torch.Tensor, keys: torch.Tensor, query: torch.Tensor, w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Additive soft attention (eq-sat-attention) without the gate beta.

    features: (B, L, D) the a_i; keys: (B, L, A) = W_a a_i (+ bias), computed once per
    image; query: (B, A) = W_h h_{t-1}; w: (A,). Returns (z (B, D), alpha (B, L)) with
    e_i = w^T tanh(keys_i + query), alpha = softmax(e) over the L cells, z = sum_i alpha_i a_i.
    """
    e = torch.tanh(keys + query[:, None, :]) @ w  # (B, L)
    alpha = e.softmax(dim=-1)
    return (alpha[:, :, None] * features).sum(1), alpha


def doubly_stochastic_penalty(alphas: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(eq-sat-doubly-stochastic): mean over the batch of sum_i (1 - sum_t alpha_ti)^2,
    summing t over the steps where ``mask`` (B, T) is True; alphas (B, T, L)."""
    if not isinstance(alphas, torch.Tensor) or alphas.dim() != 3:
        raise ValueError(
            f"alphas must be a tensor (B, T, L), got {getattr(alphas, 'shape', type(alphas))}"
        )
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (B, T), got {type(mask).__name__}")
    if mask.shape != alphas.shape[:2]:
        raise ValueError(
            f"mask must have shape (B, T) = {tuple(alphas.shape[:2])}, got {tuple(mask.shape)}"
        )
    received = (alphas * mask[:, :, None]).sum(1)  # (B, L): attention each cell received
    return ((1.0 - received) ** 2).sum(1).mean()


def caption_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    alphas: torch.Tensor | None = None,
    lam: float = 0.0,
) -> torch.Tensor:
    """Chapter 5's masked cross-entropy (eq-seq2seq-loss) plus lam times the doubly
    stochastic penalty (when ``alphas`` are given and lam > 0)."""
    lam = _lam(lam)
    loss = sequence_loss(logits, targets, mask)
    if alphas is not None and lam > 0:
        loss = loss + lam * doubly_stochastic_penalty(alphas, mask)
    return loss


# ---------------------------------------------------------------------------- models
class _Captioner(nn.Module):
    """What both decoders share: the vocabulary size, the grid they read (``cells`` vectors
    of ``feature_dim``) and a layer norm over each vector (frozen features come at any
    scale)."""

    def __init__(self, vocab_size: int, feature_dim: int, cells: int) -> None:
        super().__init__()
        self.vocab_size = check_int(vocab_size, "vocab_size", 5)
        self.cells = check_int(cells, "cells")
        self.feature_dim = check_int(feature_dim, "feature_dim")
        self.norm = nn.LayerNorm(self.feature_dim)


class ShowTell(_Captioner):
    """Show and Tell (eq-showtell) on an encoded grid (B, L, D): the whole grid, flattened
    and projected to the word space (the CNN's fully connected layer), is the LSTM's input
    before <bos>; chapter 4's from-scratch LSTM; one output layer."""

    def __init__(
        self, vocab_size: int, feature_dim: int, cells: int = 16, embed: int = 48, hidden: int = 128
    ) -> None:
        super().__init__(vocab_size, feature_dim, cells)
        self.image = nn.Linear(self.cells * self.feature_dim, check_int(embed, "embed"))
        self.embed = nn.Embedding(self.vocab_size, embed, padding_idx=0)
        self.lstm = LSTM(embed, check_int(hidden, "hidden"))
        self.out = nn.Linear(hidden, self.vocab_size)

    def _image(self, features: torch.Tensor) -> torch.Tensor:
        check_features(features, self.cells, self.feature_dim)
        return self.image(self.norm(features).flatten(1))[:, None]  # (B, 1, E): x_{-1}

    def start(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM state after reading the image x_{-1}: (h, c), each (1, B, H)."""
        _, state = self.lstm(self._image(features))
        return state

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any, None]:
        """One word: tokens (B,) -> (logits (B, V), new state, no attention)."""
        check_ids(tokens, "tokens", self.vocab_size, dims=1, shape="(B,)")
        out, state = self.lstm(self.embed(tokens)[:, None], state)
        return self.out(out[:, 0]), state, None

    def forward(self, features: torch.Tensor, tgt_in: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Teacher forcing: features (B, L, D), tgt_in (B, T) = [<bos>, y_1..] ->
        (logits (B, T, V), None)."""
        check_ids(tgt_in, "tgt_in", self.vocab_size)
        out, _ = self.lstm(torch.cat([self._image(features), self.embed(tgt_in)], dim=1))
        return self.out(out[:, 1:]), None


class ShowAttendTell(_Captioner):
    """Show, Attend and Tell with soft attention (eq-sat-attention) on an encoded grid
    (B, L, D), the gate beta (``gate``), a state initialised from the mean feature and the
    deep output layer. A learned vector per cell is added to its features (``position``):
    the convolutional features say what is in a cell but hardly where the cell is, and the
    captions' "left of" needs that."""

    def __init__(
        self,
        vocab_size: int,
        feature_dim: int,
        cells: int = 16,
        embed: int = 48,
        hidden: int = 128,
        attention: int = 64,
        gate: bool = True,
    ) -> None:
        super().__init__(vocab_size, feature_dim, cells)
        D, E = self.feature_dim, check_int(embed, "embed")
        H, A = check_int(hidden, "hidden"), check_int(attention, "attention")
        self.hidden = H
        self.position = nn.Parameter(torch.zeros(self.cells, D))
        self.embed = nn.Embedding(self.vocab_size, E, padding_idx=0)
        self.init_h, self.init_c = nn.Linear(D, H), nn.Linear(D, H)
        self.att_keys = nn.Linear(D, A)  # W_a (and the bias)
        self.att_query = nn.Linear(H, A, bias=False)  # W_h
        self.att_w = nn.Parameter(torch.empty(A).uniform_(-(A**-0.5), A**-0.5))  # w
        self.gate = nn.Linear(H, 1) if check_bool(gate, "gate") else None  # beta_t
        self.input = nn.Linear(E + D, 4 * H)  # W_ih [E y; z] + b_ih
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H).uniform_(-(H**-0.5), H**-0.5))
        self.out_h, self.out_z = nn.Linear(H, E), nn.Linear(D, E)  # L_h, L_z
        self.out = nn.Linear(E, self.vocab_size)  # L_o

    def start(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(a (B, L, D) with positions added, keys (B, L, A), h_0, c_0): what each step needs."""
        a = self.norm(check_features(features, self.cells, self.feature_dim)) + self.position
        mean = a.mean(1)
        return a, self.att_keys(a), torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))

    def step(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        """One word: tokens (B,) = y_{t-1} -> (logits (B, V), new state, alpha_t (B, L))."""
        check_ids(tokens, "tokens", self.vocab_size, dims=1, shape="(B,)")
        return self._step(tokens, state)

    def _step(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        a, keys, h, c = state
        z, alpha = soft_attention(a, keys, self.att_query(h), self.att_w)
        if self.gate is not None:
            z = torch.sigmoid(self.gate(h)) * z
        e = self.embed(tokens)
        h, c = lstm_cell(self.input(torch.cat([e, z], dim=1)), h, c, self.weight_hh)
        logits = self.out(e + self.out_h(h) + self.out_z(z))
        return logits, (a, keys, h, c), alpha

    def forward(
        self, features: torch.Tensor, tgt_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: (logits (B, T, V), alphas (B, T, L))."""
        check_ids(tgt_in, "tgt_in", self.vocab_size)
        state = self.start(features)
        logits, alphas = [], []
        for t in range(tgt_in.shape[1]):
            s, state, alpha = self._step(tgt_in[:, t], state)
            logits.append(s)
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)


Captioner = ShowTell | ShowAttendTell


def _check_model(model: Any) -> None:
    if not isinstance(model, _Captioner):
        raise TypeError(f"model must be a ShowTell or ShowAttendTell, got {type(model).__name__}")


# ---------------------------------------------------------------------------- training
def _references(captions: Any, n: int) -> list[list[list[int]]]:
    if isinstance(captions, str) or not isinstance(captions, Sequence) or len(captions) != n:
        got = len(captions) if isinstance(captions, Sequence) else type(captions).__name__
        raise ValueError(
            f"captions must hold one list of reference id lists per image ({n}), got {got}"
        )
    out = []
    for k, refs in enumerate(captions):
        refs = [list(r) for r in refs]
        if not refs or any(len(r) == 0 for r in refs):
            raise ValueError(f"captions[{k}] must hold non-empty reference id lists, got {refs}")
        out.append(refs)
    return out


def fit(
    model: Captioner,
    features: torch.Tensor,
    captions: Sequence[Sequence[Sequence[int]]],
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    lam: float = 0.0,
    seed: int = 0,
    clip: float | None = 5.0,
    progress: bool = True,
) -> History:
    """Train with Adam and teacher forcing on encoded images ``features`` (N, L, D) and
    ``captions`` (N lists of reference id lists, without <bos>/<eos>).

    Each step draws ``batch_size`` images and one of each image's references uniformly,
    with a generator seeded by ``seed`` (two runs are identical), and minimises
    ``caption_loss`` with the doubly stochastic weight ``lam`` (ShowAttendTell only),
    clipping the gradient norm to ``clip`` (None: measured, not clipped). Returns the
    ``History`` of the cross-entropy; for ShowAttendTell ``history.val["penalty"]`` holds
    the penalty of every step, whatever ``lam``.
    """
    _check_model(model)
    check_features(features, model.cells, model.feature_dim)
    refs = _references(captions, features.shape[0])
    steps, batch_size = check_int(steps, "steps"), check_int(batch_size, "batch_size")
    seed, lam = check_int(seed, "seed", 0), _lam(lam)
    lr, clip = check_positive(lr, "lr"), _optional_clip(clip)
    if lam > 0 and not isinstance(model, ShowAttendTell):
        raise ValueError(f"lam > 0 needs a ShowAttendTell (attention to regularise), got {lam}")
    device = model.out.weight.device
    gen = torch.Generator().manual_seed(seed)

    def step_loss(i: int, history: History) -> tuple[torch.Tensor, torch.Tensor]:
        pick = torch.randint(len(refs), (batch_size,), generator=gen)
        which = torch.randint(1 << 30, (batch_size,), generator=gen).tolist()
        chosen = [refs[k][w % len(refs[k])] for k, w in zip(pick.tolist(), which, strict=True)]
        tgt_in = pad_sequences([[BOS, *y] for y in chosen]).ids.to(device)
        out = pad_sequences([[*y, EOS] for y in chosen])
        targets, mask = out.ids.to(device), out.mask.to(device)
        logits, alphas = model(features[pick].to(device), tgt_in)
        loss = sequence_loss(logits, targets, mask)
        if alphas is None:
            return loss, loss
        penalty = doubly_stochastic_penalty(alphas, mask)
        history.val.setdefault("penalty", []).append(float(penalty.detach()))
        return (loss + lam * penalty if lam > 0 else loss), loss

    return adam_steps(model, steps, step_loss, lr, clip, type(model).__name__, progress)


# ---------------------------------------------------------------------------- decoding
@torch.no_grad()
def generate(
    model: Captioner, features: torch.Tensor, max_len: int = 16, batch_size: int = 512
) -> tuple[list[list[int]], list[torch.Tensor | None]]:
    """Greedy captions of encoded images (N, L, D): (N id lists without <eos>, N attention
    maps (n_i, L) on the CPU, row t the alpha that produced word t; None for ShowTell)."""
    _check_model(model)
    check_features(features, model.cells, model.feature_dim)
    max_len = check_int(max_len, "max_len")
    batch_size = check_int(batch_size, "batch_size")
    device = model.out.weight.device
    captions: list[list[int]] = []
    maps: list[torch.Tensor | None] = []
    with eval_mode(model):
        for start in range(0, features.shape[0], batch_size):
            x = features[start : start + batch_size].to(device)
            state = model.start(x)
            tokens = torch.full((x.shape[0],), BOS, dtype=torch.long, device=device)
            out, att = [], []
            done = torch.zeros(x.shape[0], dtype=torch.bool, device=device)
            for _ in range(max_len):
                logits, state, alpha = model.step(tokens, state)
                tokens = logits.argmax(-1)
                out.append(tokens)
                if alpha is not None:
                    att.append(alpha)
                done = done | (tokens == EOS)
                if bool(done.all()):
                    break
            ids = torch.stack(out, 1).tolist()
            alphas = torch.stack(att, 1).cpu() if att else None
            for b, row in enumerate(ids):
                n = row.index(EOS) if EOS in row else len(row)
                captions.append(row[:n])
                maps.append(None if alphas is None else alphas[b, :n])
    return captions, maps


def beam_caption(
    model: Captioner,
    features: torch.Tensor,
    beam_width: int = 3,
    max_len: int = 16,
    length_penalty: float = 0.0,
) -> list[tuple[list[int], float]]:
    """Chapter 5's ``beam_search`` on one encoded image (L, D): the best (ids, score)
    pairs, best first, ids without <eos>. Each call of the search's log_prob_fn reruns the
    decoder over the prefixes with teacher forcing (captions are short)."""
    _check_model(model)
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        raise ValueError(
            f"features must be one encoded image (L, D), got {getattr(features, 'shape', features)}"
        )
    check_features(features[None], model.cells, model.feature_dim)
    device = model.out.weight.device
    grid = features.to(device)

    @torch.no_grad()
    def log_prob_fn(prefixes: torch.Tensor) -> torch.Tensor:
        with eval_mode(model):
            logits, _ = model(grid[None].expand(prefixes.shape[0], -1, -1), prefixes.to(device))
        return logits[:, -1].log_softmax(-1)

    found = beam_search(log_prob_fn, BOS, EOS, beam_width, max_len, length_penalty)
    return [(ids[:-1] if ids and ids[-1] == EOS else ids, score) for ids, score in found]


# ---------------------------------------------------------------------------- metrics
def exact_match(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]) -> float:
    """The fraction of hypotheses equal to one of their references."""
    if len(hyps) != len(refs) or not hyps:
        raise ValueError(
            f"hyps and refs must be equally long and non-empty, got {len(hyps)} and {len(refs)}"
        )
    hits = sum(tuple(h) in {tuple(r) for r in rs} for h, rs in zip(hyps, refs, strict=True))
    return hits / len(hyps)


def attention_hits(
    objects: Sequence[Any], tokens: Sequence[str], alpha: torch.Tensor
) -> tuple[int, int]:
    """How often the most attended cell holds the object a word names.

    ``objects``: the scene's ``SceneObject``s; ``tokens``: a generated caption; alpha
    (n, L): the attention that produced each token. Every colour and shape word inside a
    phrase "a <size> <colour> <shape>" that names exactly one object of the scene is
    scored: a hit when argmax_i alpha_ti is that object's cell. Returns (hits, scored).
    """
    if not isinstance(alpha, torch.Tensor) or alpha.dim() != 2 or alpha.shape[0] != len(tokens):
        raise ValueError(
            f"alpha must have shape (len(tokens), L) = ({len(tokens)}, L), got "
            f"{getattr(alpha, 'shape', type(alpha).__name__)}"
        )
    hits = scored = 0
    for t in range(len(tokens) - 3):
        if tokens[t] != "a":
            continue
        size, colour, shape = tokens[t + 1 : t + 4]
        named = [o for o in objects if (o.size, o.colour, o.shape) == (size, colour, shape)]
        if len(named) != 1:
            continue
        for k in (t + 2, t + 3):  # the colour word and the shape word
            scored += 1
            hits += int(alpha[k].argmax()) == named[0].cell
    return hits, scored
