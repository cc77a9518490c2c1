"""The one training loop, gradient clipping and truncated BPTT (chapter 2, reused by all).

Gradient clipping by norm (eq-bptt-clip): with g the gradient of all parameters stacked
into one vector and c the threshold,

    g <- g * min(1, c / (||g||_2 + 1e-6)),

so the direction is kept and only the length is capped; this tames exploding gradients
(Pascanu et al., 2013). ``clip_grad_norm`` computes exactly what
``torch.nn.utils.clip_grad_norm_`` computes and returns ||g|| before clipping.

Truncated backpropagation through time, TBPTT(k1, k2): a stream of length L is
cut into windows of k1 steps. The hidden state is carried from one window to the next but
detached, so no gradient crosses a window boundary. In a window the first k1 - k2 steps
only advance the state (no graph is kept); the loss is taken over the last k2 steps, whose
gradient

    dL/dtheta = sum_{t in last k2} sum_{s = t0}^{t} dl_t/dh_t  dh_t/dh_s  d+h_s/dtheta

stops at t0, the first of those k2 steps: no gradient reaches further back than k2 steps.
With k1 = k2 = L it is full BPTT. Memory grows with k2, not with L.

Bits per character: the average of -log2 p(x_{t+1} | x_1..x_t) over a
text, evaluated statefully (the hidden state carried across windows, as in training).

``train`` is the loop every chapter uses for (x, y) batches: model.train(), forward,
loss, backward, optional clipping, optimizer step, a tqdm bar, and a ``History`` of the
loss and of the gradient norm before clipping; ``val_fn`` runs in eval mode under
``torch.no_grad()``.

Comparisons over seeds (chapter 4's long-lag pages): a claim that one model learns and
another does not rests on several seeds per model, not on one run. ``train_seeds`` trains
one architecture from S seeds (seed k fixes the initial weights) on the same minibatches
(``Minibatches``), each seed with its own Adam and its own gradient clipping, and stops a
seed at the first validation where ``stop`` says it is done. With ``batched=True`` the S
models run as one: their parameters are stacked along a new first dimension
(``torch.func.stack_module_state``) and ``torch.func.vmap`` maps one forward pass over it,

    loss = sum_k loss_fn(f(x; theta_k), y),   so   d loss / d theta_k = d loss_k / d theta_k,

the gradient of each seed's own loss: clipped per seed and passed to an elementwise optimizer
(Adam), the S runs are the S separate runs, to rounding, at the cost of one run with S times
the arithmetic. Modules whose forward is one fused kernel (nn.RNN, nn.LSTM, nn.GRU) have no
vmap rule; they train with ``batched=False``, one seed after the other. On a GPU the stacked
step (forward, backward, per-seed clipping, Adam) is recorded once as a CUDA graph and
replayed (``seqcourse.graphs.CapturedStep``; Adam is then built with ``capturable=True``);
a step that reads device values on the host runs eagerly, after a warning.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.utils._pytree import tree_flatten, tree_unflatten
from tqdm.auto import tqdm

from seqcourse._checks import check_int, check_positive
from seqcourse.graphs import CapturedStep

__all__ = [
    "History",
    "adam_steps",
    "eval_mode",
    "LastStep",
    "Minibatches",
    "SeedRuns",
    "clip_grad_norm",
    "detach_state",
    "evaluate_bits_per_char",
    "median_range",
    "sequence_cross_entropy",
    "train",
    "train_seeds",
    "train_tbptt",
]

Batches = Iterable[tuple[Any, Any]] | Callable[[], Iterable[tuple[Any, Any]]]
ValFn = Callable[[nn.Module], "float | Mapping[str, float]"]

_CLIP_EPS = 1e-6  # added to the norm, as torch.nn.utils.clip_grad_norm_ does
_MAX_GRAPHS = 2  # CUDA graphs train_seeds records (one per batch shape) before going eager


# ---------------------------------------------------------------------------- validation
@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the block, back in its own mode after (also on error)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _optional_clip(clip: Any) -> float | None:
    return None if clip is None else check_positive(clip, "clip")


def _model_device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if device is not None:
        return torch.device(device)
    try:
        return next(model.parameters()).device
    except StopIteration:
        raise ValueError("model must have parameters to train, got none") from None


def _to(obj: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors in a tuple/list/dict, to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, tuple | list):
        return type(obj)(_to(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    return obj


def _scalar_loss(loss: Any) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar tensor, got {got}")
    return loss.reshape(())


# ---------------------------------------------------------------------------- clipping
def _grads(parameters: torch.Tensor | Iterable[torch.Tensor]) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor | None:
    if not grads:
        return None
    dev = grads[0].device
    norms = [torch.linalg.vector_norm(g.detach(), 2.0).to(dev) for g in grads]
    return torch.linalg.vector_norm(torch.stack(norms), 2.0)


def clip_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> float:
    """Rescale the gradients so that their joint 2-norm is at most ``max_norm`` (eq-bptt-clip).

    g <- g * min(1, max_norm / (||g||_2 + 1e-6)), with ||g||_2 taken over all gradients
    together (parameters whose ``.grad`` is None are skipped). Gradients are changed in
    place; the same result as ``torch.nn.utils.clip_grad_norm_``. Chapter 2.

    Returns ||g||_2 before clipping, as a float (0.0 when no parameter has a gradient).
    """
    max_norm = check_positive(max_norm, "max_norm")
    grads = _grads(parameters)
    total = _total_norm(grads)
    if total is None:
        return 0.0
    coef = torch.clamp(max_norm / (total + _CLIP_EPS), max=1.0)
    for g in grads:
        g.detach().mul_(coef.to(g.device))
    return float(total)


def _grad_norm(parameters: Iterable[torch.Tensor]) -> float:
    total = _total_norm(_grads(parameters))
    return 0.0 if total is None else float(total)


def _clip_or_measure(model: nn.Module, clip: float | None) -> float:
    """The gradient norm before clipping, clipping to ``clip`` when it is given."""
    if clip is None:
        return _grad_norm(model.parameters())
    return clip_grad_norm(model.parameters(), clip)


# ---------------------------------------------------------------------------- history
@dataclass
class History:
    """What a training run recorded, one entry per optimizer step (chapter 2, reused by all).

    loss: the training loss of each step; grad_norm: the gradient norm before clipping;
    step: the step number (1, 2, ...); val: validation results, ``val["step"]`` the steps at
    which ``val_fn`` ran and one list per metric it returned (``val["loss"]`` when it returns
    a plain number).
    """

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    val: dict[str, list[float]] = field(default_factory=dict)

    def record(self, loss: float, grad_norm: float) -> None:
        self.loss.append(float(loss))
        self.grad_norm.append(float(grad_norm))
        self.step.append(len(self.step) + 1)

    def record_val(self, result: float | Mapping[str, float]) -> None:
        metrics = result if isinstance(result, Mapping) else {"loss": result}
        self.val.setdefault("step", []).append(len(self.step))
        for key, value in metrics.items():
            if key == "step":
                raise ValueError("val_fn must not return a metric named 'step' (reserved)")
            self.val.setdefault(key, []).append(float(value))

    def first_step(
        self, key: str, *, below: float | None = None, above: float | None = None
    ) -> int | None:
        """The first validation step at which metric ``key`` is below ``below`` (or above
        ``above``; give exactly one), or None if it never was."""
        if (below is None) == (above is None):
            raise ValueError("give exactly one of below= and above=")
        if key not in self.val or key == "step":
            raise KeyError(f"key must be a validation metric {list(self.val)[1:]}, got {key!r}")
        for step, value in zip(self.val["step"], self.val[key], strict=True):
            if (value < below) if below is not None else (value > above):  # type: ignore[operator]
                return int(step)
        return None

    def last(self, key: str = "loss") -> float:
        """The latest value of 'loss', 'grad_norm', 'step' or a validation metric."""
        if key in ("loss", "grad_norm", "step"):
            values = getattr(self, key)
        elif key in self.val:
            values = self.val[key]
        else:
            known = ["loss", "grad_norm", "step", *self.val]
            raise KeyError(f"key must be one of {known}, got {key!r}")
        if not values:
            raise ValueError(f"no value of {key!r} recorded yet")
        return values[-1]


def _validate(model: nn.Module, val_fn: ValFn | None, history: History) -> None:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            history.record_val(val_fn(model))  # type: ignore[misc]
    finally:
        model.train(was_training)


def _check_loop_args(loss_fn: Any, optimizer: Any, val_fn: Any, val_every: Any) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if not (hasattr(optimizer, "zero_grad") and hasattr(optimizer, "step")):
        raise TypeError(
            f"optimizer must have zero_grad() and step(), got {type(optimizer).__name__}"
        )
    if val_fn is not None and not callable(val_fn):
        raise TypeError(f"val_fn must be callable or None, got {type(val_fn).__name__}")
    if val_every is not None:
        check_int(val_every, "val_every")


# ---------------------------------------------------------------------------- train
def train(
    model: nn.Module,
    batches: Batches,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int = 1,
    clip: float | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    val_fn: ValFn | None = None,
    val_every: int | None = None,
) -> History:
    """The training loop every chapter uses (chapter 2): one optimizer step per batch.

    For each (x, y) in ``batches``: x and y moved to ``device`` (default: the device of the
    model's parameters), ``loss = loss_fn(model(x), y)`` (a scalar tensor; ``model(x)`` may
    return anything ``loss_fn`` accepts, e.g. logits (B, T, V) or an (output, state) pair),
    backward, the gradient norm recorded, clipping to ``clip`` (eq-bptt-clip) when given,
    ``optimizer.step()``.

    batches: an iterable of (x, y) that can be iterated once per epoch (a list, a
        DataLoader), or a function with no argument returning a fresh iterable per epoch
        (to reshuffle); a one-shot iterator is allowed only for ``epochs=1``.
    val_fn: called as ``val_fn(model)`` in ``model.eval()`` under ``torch.no_grad()``,
        returning a number (stored as ``history.val["loss"]``) or a dict of numbers;
        it runs every ``val_every`` steps, or at the end of every epoch when that is None.

    The model is in train mode while training and back in its original mode on return.
    Nothing here draws random numbers: under ``seed_everything`` two runs are identical.
    """
    dev = _model_device(model, device)
    epochs = check_int(epochs, "epochs")
    clip = _optional_clip(clip)
    _check_loop_args(loss_fn, optimizer, val_fn, val_every)
    if isinstance(batches, Iterator) and epochs > 1:
        raise ValueError(
            f"batches is a one-shot iterator but epochs={epochs}: pass a list, a DataLoader, "
            "or a function returning fresh batches"
        )
    history = History()
    was_training = model.training
    per_epoch = None if callable(batches) else _len_or_none(batches)
    total = None if per_epoch is None else per_epoch * epochs
    bar = tqdm(total=total, desc="train", disable=not progress)
    try:
        model.train()
        for _ in range(epochs):
            for x, y in batches() if callable(batches) else batches:
                x, y = _to(x, dev), _to(y, dev)
                optimizer.zero_grad(set_to_none=True)
                loss = _scalar_loss(loss_fn(model(x), y))
                loss.backward()
                _finish_step(model, optimizer, loss, clip, history, bar, val_fn, val_every)
            if val_fn is not None and val_every is None:
                _validate(model, val_fn, history)
    finally:
        bar.close()
        model.train(was_training)
    return history


def adam_steps(
    model: nn.Module,
    steps: int,
    step_loss: Callable[[int, History], tuple[torch.Tensor, torch.Tensor]],
    lr: float,
    clip: float | None,
    desc: str = "train",
    progress: bool = True,
) -> History:
    """``steps`` Adam steps on ``model`` with a tqdm bar, for loops that draw their own batch
    each step (``seqcourse.seq2seq.fit``, ``seqcourse.captioning.fit``, ``pretrain_encoder``,
    ``seqcourse.glimpse.fit_glimpses`` and ``seqcourse.vqa.fit_vqa``).

    ``step_loss(i, history)`` builds step i's batch and returns (objective, loss): the
    objective is minimised (backward, the gradient norm measured and clipped to ``clip``
    when given, optimizer step), the loss is what ``history.loss`` records (the two differ
    when a regulariser is added; ``step_loss`` may record more in ``history.val``). The model
    is in train mode while training and back in its original mode on return.
    """
    lr, clip = check_positive(lr, "lr"), _optional_clip(clip)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    was_training = model.training
    model.train()
    try:
        for i in tqdm(range(steps), desc=desc, disable=not progress):
            objective, loss = step_loss(i, history)
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            norm = _clip_or_measure(model, clip)
            optimizer.step()
            history.record(float(loss.detach()), norm)
    finally:
        model.train(was_training)
    return history


def _finish_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    clip: float | None,
    history: History,
    bar: Any,
    val_fn: ValFn | None,
    val_every: int | None,
) -> None:
    """After backward: record the loss and gradient norm, clip, step, update the bar, and
    validate every ``val_every`` steps. Shared by ``train`` and ``train_tbptt``."""
    history.record(loss.item(), _clip_or_measure(model, clip))
    optimizer.step()
    bar.update(1)
    bar.set_postfix(loss=f"{history.loss[-1]:.4f}", refresh=False)
    if val_fn is not None and val_every and len(history.step) % val_every == 0:
        _validate(model, val_fn, history)


def _len_or_none(obj: Any) -> int | None:
    try:
        return len(obj)
    except TypeError:
        return None


# ---------------------------------------------------------------------------- seeds
class LastStep(nn.Module):
    """A recurrent layer read out at its last step: x (B, T, D) -> head(h_T) (B, n_out).

    rnn: a module called as ``rnn(x) -> (output (B, T, H), state)`` with a ``hidden_size``
    (nn.RNN, nn.LSTM, nn.GRU, seqcourse.gated.LSTM/GRU, batch_first); head: nn.Linear(H, n_out).
    The model of the long-lag problems, which ask for one answer after the whole sequence.
    """

    def __init__(self, rnn: nn.Module, n_out: int) -> None:
        super().__init__()
        if not isinstance(getattr(rnn, "hidden_size", None), int):
            raise TypeError(f"rnn must be a recurrent module with hidden_size, got {rnn!r}")
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size, check_int(n_out, "n_out"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])  # h_T (B, H) -> (B, n_out)


class Minibatches:
    """``steps`` minibatches (x[idx], y[idx]) of ``batch`` rows drawn with replacement.

    x: (N, ...), y: (N, ...) on the CPU. The rows come from a generator seeded with ``seed``
    at each iteration, so every model trained on it sees the same batches in the same order.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int, seed: int) -> None:
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            raise TypeError(f"x and y must be tensors, got {type(x).__name__}, {type(y).__name__}")
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(
                f"x and y must hold the same number N >= 1 of rows, got {x.shape[0]} and "
                f"{y.shape[0]}"
            )
        self.x, self.y = x, y
        self.batch, self.steps = check_int(batch, "batch"), check_int(steps, "steps")
        self.seed = check_int(seed, "seed", low=0)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.steps):
            idx = torch.randint(0, len(self.x), (self.batch,), generator=gen)
            yield self.x[idx], self.y[idx]


@dataclass
class SeedRuns:
    """What ``train_seeds`` returns: per seed, the trained model and its ``History``.

    seconds: the wall time of all seeds together. ``models[k]`` holds the weights at the
    validation where ``stop`` ended seed k, or at the last step. graphed: how many of the
    training steps replayed a CUDA graph (0 off CUDA, and for seeds trained one by one).
    """

    seeds: list[int]
    models: list[nn.Module]
    histories: list[History]
    seconds: float
    graphed: int = 0


def median_range(values: Sequence[float], fmt: str = ".3f") -> str:
    """'median (min-max)' of one number per seed, each formatted with ``fmt``; '-' when empty."""
    if not len(values):
        return "-"
    lo, mid, hi = min(values), float(np.median(values)), max(values)
    return f"{mid:{fmt}} ({lo:{fmt}}-{hi:{fmt}})"


class _Until:
    """The batches of ``batches`` until ``done()`` (asked before each one); keeps its len."""

    def __init__(self, batches: Iterable[Any], done: Callable[[], bool]) -> None:
        self.batches, self.done = batches, done

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        for item in self.batches:
            if self.done():
                return
            yield item


def _per_seed_clip(grads: list[torch.Tensor], clip: float | None) -> torch.Tensor:
    """(eq-bptt-clip) for each seed k on its own: grads are (S, ...) each; returns the
    norms (S,) before clipping."""
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads]).norm(dim=0)  # (S,)
    if clip is not None:
        coef = torch.clamp(clip / (norms + _CLIP_EPS), max=1.0)  # (S,)
        for g in grads:
            g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))
    return norms


def train_seeds(
    build: Callable[[], nn.Module],
    seeds: Sequence[int],
    batches: Iterable[tuple[Any, Any]],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    lr: float,
    *,
    clip: float | None = None,
    val_fn: ValFn | None = None,
    val_every: int | None = None,
    stop: Callable[[Mapping[str, float]], bool] | None = None,
    batched: bool | None = None,
    progress: bool = True,
) -> SeedRuns:
    """Train one architecture from each seed in ``seeds`` with Adam(lr), on the same batches.

    build: makes the model (on its device); called after ``torch.manual_seed(seed)``, so seed
        k fixes model k's initial weights. batches: iterated once per seed, e.g.
        ``Minibatches``, whose batches are the same on every pass.
    clip: each seed's gradient norm is clipped on its own (eq-bptt-clip).
    val_fn, val_every: as in ``train``; stop: called with each validation's metrics, True ends
        that seed (its model keeps the weights of that step, its history ends there).
    batched: True trains the seeds as one model mapped over stacked parameters with
        ``torch.func.vmap`` (module docstring), the same runs to rounding, faster for models
        written as many small operations; False trains them one after the other with
        ``train``. None (default): False when the model holds an nn.RNN, nn.LSTM or nn.GRU
        (their fused kernels have no vmap rule), True otherwise. On CUDA the batched step is
        replayed as a CUDA graph, one per batch shape (at most two; further shapes eager).
    """
    seeds = [check_int(s, "seed", low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed, got none")
    if stop is not None and val_fn is None:
        raise ValueError("stop needs a val_fn whose metrics it can look at")
    if isinstance(batches, Iterator):
        raise TypeError("batches must be re-iterable (a list, Minibatches), not an iterator")
    lr, clip = check_positive(lr, "lr"), _optional_clip(clip)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if val_fn is not None and not callable(val_fn):
        raise TypeError(f"val_fn must be callable or None, got {type(val_fn).__name__}")
    if val_every is not None:
        check_int(val_every, "val_every")
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build())
    if batched is None:
        batched = not any(isinstance(m, nn.RNNBase) for m in models[0].modules())
    start = time.perf_counter()
    graphed = 0
    if batched:
        bar = tqdm(total=_len_or_none(batches), desc=f"{len(seeds)} seeds", disable=not progress)
        with bar:
            histories, graphed = _train_stacked(
                models, batches, loss_fn, lr, clip, val_fn, val_every, stop, bar
            )
    else:
        histories = [
            _train_one(model, batches, loss_fn, lr, clip, val_fn, val_every, stop, progress)
            for model in models
        ]
    return SeedRuns(seeds, models, histories, time.perf_counter() - start, graphed)


def _train_one(model, batches, loss_fn, lr, clip, val_fn, val_every, stop, progress):
    """One seed with ``train``, ending at the first validation that ``stop`` accepts."""
    latest: dict[str, float] = {}

    def validate(m: nn.Module) -> Mapping[str, float]:
        result = val_fn(m)  # type: ignore[misc]
        latest.clear()
        latest.update(result if isinstance(result, Mapping) else {"loss": result})
        return dict(latest)

    def done() -> bool:
        return stop is not None and bool(latest) and bool(stop(latest))

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return train(
        model,
        _Until(batches, done),
        loss_fn,
        optimizer,
        clip=clip,
        progress=progress,
        val_fn=None if val_fn is None else validate,
        val_every=val_every,
    )


def _train_stacked(models, batches, loss_fn, lr, clip, val_fn, val_every, stop, bar):
    """All seeds at once: vmap over the stacked parameters (see the module docstring).
    Returns the histories and the number of steps that replayed a CUDA graph."""
    S, dev = len(models), _model_device(models[0], None)
    params, buffers = stack_module_state(models)  # name -> (S, ...) leaf tensors
    base = copy.deepcopy(models[0]).to("meta").train()  # the architecture, without weights

    def forward(p, b, x):  # one seed's parameters, the shared minibatch
        return functional_call(base, (p, b), (x,))

    batched_forward = vmap(forward, in_dims=(0, 0, None))  # -> (S, ...) outputs
    batched_loss = vmap(loss_fn, in_dims=(0, None))  # -> (S,) losses
    # elementwise: S separate Adams; capturable keeps its step count on the GPU for the graph
    optimizer = torch.optim.Adam(params.values(), lr=lr, capturable=dev.type == "cuda")
    histories = [History() for _ in range(S)]
    running = list(range(S))  # the seeds not stopped yet

    def objective_for(leaves, spec):  # the step's loss for batches shaped like this one
        def objective(*tensors):  # what is back-propagated, and the S losses for the histories
            given = iter(tensors)  # the batch's tensors in order; its other leaves as they were
            x, y = tree_unflatten(
                [next(given) if isinstance(v, torch.Tensor) else v for v in leaves], spec
            )
            losses = batched_loss(batched_forward(params, buffers, x), y)  # (S,)
            return losses.sum(), losses.detach()  # seed k's parameters get d loss_k only

        return objective

    def clip_per_seed():  # the S norms before clipping
        return _per_seed_clip([p.grad for p in params.values() if p.grad is not None], clip)

    # one step per batch structure and shape, recorded as a CUDA graph on a GPU
    steps: dict[Any, CapturedStep] = {}
    graphed = 0  # steps that replayed a graph

    def unstack(k: int) -> None:  # copy seed k's slice into models[k]
        with torch.no_grad():
            for name, value in [*models[k].named_parameters(), *models[k].named_buffers()]:
                value.copy_((params if name in params else buffers)[name][k])

    for x, y in batches:
        if not running:
            break
        leaves, spec = tree_flatten((_to(x, dev), _to(y, dev)))  # a batch may be nested
        tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
        key = (spec, tuple((t.shape, t.dtype, t.device) for t in tensors))
        step = steps.get(key)
        if step is None:
            # a new shape: a new graph, up to _MAX_GRAPHS of them; eager (on CUDA too) after
            # that, and for batches holding more than tensors, whose other leaves a graph
            # would freeze at their first values (such steps are made afresh for every batch)
            capture = len(tensors) == len(leaves) and len(steps) < _MAX_GRAPHS
            step = CapturedStep(
                objective_for(leaves, spec),
                tensors,
                optimizer,
                after_backward=clip_per_seed,
                fallback=True,
                capture=capture,
                buffers=buffers.values(),
            )
            if capture:
                steps[key] = step
        _, losses = step(*tensors)
        graphed += step.captured
        both = torch.stack((losses, step.after))[:, running].tolist()  # one read of the GPU
        for k, loss, norm in zip(running, *both, strict=True):
            histories[k].record(loss, norm)
        bar.update(1)
        done = len(histories[running[0]].step)
        if val_fn is None or not val_every or done % val_every:
            continue
        for k in list(running):
            unstack(k)
            _validate(models[k], val_fn, histories[k])
            metrics = {key: v[-1] for key, v in histories[k].val.items() if key != "step"}
            if stop is not None and stop(metrics):
                running.remove(k)
    for k in running:
        unstack(k)
        if val_fn is not None and val_every is None:
            _validate(models[k], val_fn, histories[k])
    return histories, graphed


# ---------------------------------------------------------------------------- TBPTT
def detach_state(state: Any) -> Any:
    """The hidden state cut from its graph: same values, no gradient history (chapter 2).

    state: a tensor (e.g. h (layers, B, H)), a tuple/list of tensors (e.g. LSTM (h, c)),
    nested, or None. This is what separates truncated-BPTT windows.
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(
        f"state must be a tensor, a tuple/list of tensors or None, got {type(state).__name__}"
    )


def _check_stream(stream: Any, targets: Any) -> None:
    for name, value in (("stream", stream), ("targets", targets)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if value.ndim < 2:
            raise ValueError(f"{name} must have shape (B, L, ...), got {tuple(value.shape)}")
    if stream.shape[:2] != targets.shape[:2]:
        raise ValueError(
            "stream and targets must share (B, L), got "
            f"{tuple(stream.shape[:2])} and {tuple(targets.shape[:2])}"
        )


def _tbptt_windows(length: int, k1: int, k2: int) -> list[tuple[int, int, int, int]]:
    """(graph_start, start, end, cut) per update of TBPTT(k1, k2) over ``length`` steps.

    The update at step ``end`` takes the loss of the targets in [start, end) (k1 of them, the
    last window maybe fewer) and backpropagates through [graph_start, end): the window and the
    k2 - k1 steps before it (fewer at the beginning of the stream). ``cut`` is where the next
    update's graph starts: the forward pass stops there once to save the state (``end`` for
    the last window).
    """
    spans = [(start, min(start + k1, length)) for start in range(0, length, k1)]
    graph_starts = [max(0, start - (k2 - k1)) for start, _ in spans]
    cuts = [*graph_starts[1:], length]
    return [
        (g, start, end, cut) for g, (start, end), cut in zip(graph_starts, spans, cuts, strict=True)
    ]


def _concat_time(outputs: list[Any]) -> Any:
    """Model outputs of consecutive pieces joined along the time axis (dim 1)."""
    if len(outputs) == 1:
        return outputs[0]
    if not all(isinstance(o, torch.Tensor) for o in outputs):
        raise TypeError(
            "with k2 > k1 the model's output must be a tensor (B, T, ...), got "
            f"{type(outputs[0]).__name__}"
        )
    return torch.cat(outputs, dim=1)


def train_tbptt(
    model: nn.Module,
    stream: torch.Tensor,
    targets: torch.Tensor,
    k1: int,
    k2: int | None = None,
    *,
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int = 1,
    clip: float | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
    val_fn: ValFn | None = None,
    val_every: int | None = None,
) -> History:
    """Truncated BPTT, TBPTT(k1, k2) of Williams and Peng, over B parallel streams (chapter 2).

    stream: (B, L) int ids or (B, L, D) floats; targets: (B, L, ...) aligned with it (for a
    language model, ``ids = stream_batches(...)``, stream ``ids[:, :-1]``, targets
    ``ids[:, 1:]``). The model is called as ``model(x, state) -> (output, state)`` with
    state None at the start of each epoch; state may be a tensor or a tuple of tensors, and
    output a tensor with time on dim 1 (or anything ``loss_fn`` takes when k2 = k1).

    Every k1 steps (the last update maybe fewer) there is one optimizer step: the loss is
    ``loss_fn(output, targets)`` over the targets of those k1 steps, so every target counts
    exactly once, and its gradient is backpropagated through the k2 >= k1 steps that end at
    the update, eq-tbptt (fewer at the start of the stream and in a shorter last window): the
    last target of a window sees k2 - 1 steps of history, the first k2 - k1. The k2 - k1
    steps before the window are run again with a graph, from the state saved (detached) when
    the previous update passed them. k2 defaults to k1 (non-overlapping
    windows, the common choice); k1 = k2 = L is full BPTT. Clipping, ``History``,
    ``device``, ``val_fn`` and ``val_every`` as in ``train``.
    """
    dev = _model_device(model, device)
    k1 = check_int(k1, "k1")
    k2 = k1 if k2 is None else check_int(k2, "k2")
    if k2 < k1:
        raise ValueError(
            f"k2 must be >= k1 = {k1} (each update backpropagates k2 steps through the k1 "
            f"steps whose targets it takes), got {k2}"
        )
    epochs = check_int(epochs, "epochs")
    clip = _optional_clip(clip)
    _check_loop_args(loss_fn, optimizer, val_fn, val_every)
    _check_stream(stream, targets)
    stream, targets = stream.to(dev), targets.to(dev)
    windows = _tbptt_windows(stream.shape[1], k1, k2)
    history = History()
    was_training = model.training
    bar = tqdm(total=epochs * len(windows), desc=f"TBPTT({k1}, {k2})", disable=not progress)
    try:
        model.train()
        for _ in range(epochs):
            state = None  # the detached state at the current window's graph start
            for graph_start, start, end, cut in windows:
                optimizer.zero_grad(set_to_none=True)
                outputs, carry = [], state
                for lo, hi in ((graph_start, cut), (cut, end)):
                    if hi > lo:
                        out, carry = model(stream[:, lo:hi], carry)
                        outputs.append(out)
                    if hi == cut:
                        state = detach_state(carry)  # where the next update's graph starts
                output = _concat_time(outputs)
                if start > graph_start:
                    output = output[:, start - graph_start :]
                loss = _scalar_loss(loss_fn(output, targets[:, start:end]))
                loss.backward()
                _finish_step(model, optimizer, loss, clip, history, bar, val_fn, val_every)
            if val_fn is not None and val_every is None:
                _validate(model, val_fn, history)
    finally:
        bar.close()
        model.train(was_training)
    return history


# ---------------------------------------------------------------------------- losses
def sequence_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    """Mean cross-entropy over the positions whose target is not ``ignore_index`` (chapter 2).

    logits: (B, T, V); targets: (B, T) long, ``ignore_index`` where no label is defined.
    loss = -(1/|M|) sum_{(b,t) in M} log softmax(logits_{b,t})[y_{b,t}], M the labelled
    positions; 0 (still differentiable) when M is empty, where ``F.cross_entropy`` gives NaN.
    The count |M| stays on the device (no host read), so the loss can be recorded in a CUDA
    graph (``seqcourse.graphs``).
    """
    if logits.ndim != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(
            f"logits must be (B, T, V) and targets (B, T), got {tuple(logits.shape)} and "
            f"{tuple(targets.shape)}"
        )
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=ignore_index,
        reduction="sum",
    )
    return total / (targets != ignore_index).sum().clamp(min=1)


# ---------------------------------------------------------------------------- evaluation
def evaluate_bits_per_char(
    model: nn.Module,
    ids: torch.Tensor | np.ndarray,
    batch: int = 16,
    window: int = 256,
    device: torch.device | str | None = None,
) -> float:
    """Bits per character of a character language model on a text.

    bpc = -(1/(N-1)) sum_{t=1}^{N-1} log2 p(x_{t+1} | x_1..x_t), every character after the
    first predicted once. ids: (N,) character ids, N >= 2. The model is called as
    ``model(x (B, T) long, state) -> (logits (B, T, V), state)``.

    The N - 1 predictions are split into ``batch`` contiguous streams (the last one padded
    and the padding masked), each read in windows of ``window`` steps with the state
    carried across windows, from state None at the start of each stream. Runs in eval
    mode under ``torch.no_grad()``; the model's mode is restored. Chapter 2.
    """
    dev = _model_device(model, device)
    batch, window = check_int(batch, "batch"), check_int(window, "window")
    ids = torch.as_tensor(ids)
    if ids.ndim != 1 or ids.dtype.is_floating_point or ids.dtype.is_complex:
        raise ValueError(
            f"ids must be a 1-D integer array (N,), got {ids.dtype} of shape {tuple(ids.shape)}"
        )
    if ids.numel() < 2:
        raise ValueError(f"ids must hold at least 2 characters, got {ids.numel()}")
    if int(ids.min()) < 0:
        raise ValueError(f"ids must be non-negative, got {int(ids.min())}")
    ids = ids.long()
    n_pred = ids.numel() - 1
    rows = min(batch, n_pred)
    length = -(-n_pred // rows)  # ceil
    pad = rows * length - n_pred
    x = torch.cat([ids[:-1], ids.new_zeros(pad)]).view(rows, length).to(dev)
    y = torch.cat([ids[1:], ids.new_full((pad,), -100)]).view(rows, length).to(dev)
    total_nats = 0.0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            state = None
            for start in range(0, length, window):
                logits, state = model(x[:, start : start + window], state)
                target = y[:, start : start + window]
                if logits.shape[-1] <= int(target.max()):
                    raise ValueError(
                        f"model gives logits over {logits.shape[-1]} symbols but ids reach "
                        f"{int(target.max())}"
                    )
                total_nats += F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]).double(),
                    target.reshape(-1),
                    ignore_index=-100,
                    reduction="sum",
                ).item()
    finally:
        model.train(was_training)
    return total_nats / n_pred / math.log(2.0)
