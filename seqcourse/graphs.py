"""One training step replayed as a CUDA graph (the appendix on speed).

A from-scratch recurrent layer runs its time loop in Python: every step launches a handful
of small kernels (a matrix product, a few pointwise operations) and, on a GPU, each launch
costs a few microseconds of CPU time however little work the kernel does. At the sizes of
this course the GPU then waits on Python most of the time: the layer is *launch-bound*.
cuDNN avoids this by running the whole loop in one library call. A CUDA graph removes the
launch cost without rewriting the layer: the kernels of one step are recorded once and then
replayed as a single launch, with the same memory addresses every time. The price is a
static step: the same shapes, the same control flow, no reading of GPU values on the host
(``check_finite`` in ``seqcourse._checks`` is queued on the device for that reason).

``CapturedStep(loss_fn, example_inputs, optimizer)`` records forward, ``backward()`` and
(optionally) ``optimizer.step()`` following PyTorch's recipe for whole-network capture:
a few warm-up steps on a side stream (undone afterwards), gradients set to None, then one
capture. Calling it
copies new inputs into the recorded buffers, replays, and returns the loss. On the CPU, or
for tensors not on CUDA, it runs the same step eagerly, so a page can use it everywhere;
``captured`` tells which happened. Adam and AdamW must be built with ``capturable=True`` to
be recorded (their step counter then lives on the GPU).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from seqcourse._checks import check_int

__all__ = ["CapturedStep"]


def _check_inputs(inputs: Any, name: str) -> tuple[torch.Tensor, ...]:
    if not isinstance(inputs, Sequence) or isinstance(inputs, str) or not inputs:
        raise TypeError(f"{name} must be a non-empty tuple of tensors, got {type(inputs).__name__}")
    for k, t in enumerate(inputs):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}[{k}] must be a torch.Tensor, got {type(t).__name__}")
    return tuple(inputs)


def _snapshot(
    params: list[torch.Tensor], optimizer: torch.optim.Optimizer | None
) -> tuple[list[torch.Tensor], dict[torch.Tensor, dict[str, Any]]]:
    """Copies of the parameters and of the optimizer's per-parameter state."""
    values = [p.detach().clone() for p in params]
    state: dict[torch.Tensor, dict[str, Any]] = {}
    if optimizer is not None:
        for p, entries in optimizer.state.items():
            state[p] = {
                k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
                for k, v in entries.items()
            }
    return values, state


def _restore(
    params: list[torch.Tensor],
    values: list[torch.Tensor],
    optimizer: torch.optim.Optimizer | None,
    state: dict[torch.Tensor, dict[str, Any]],
) -> None:
    """Put parameters and optimizer state back as ``_snapshot`` saw them, writing into the
    tensors the optimizer holds now. In place matters: a graph records the addresses of the
    state tensors, and state created during capture would be initialised (zeroed) inside
    the graph, so that every replay reset Adam's moments and step count. State that did not
    exist before is zeroed, which is where SGD (momentum, dampening 0), Adam, AdamW and
    RMSprop start."""
    with torch.no_grad():
        for p, value in zip(params, values, strict=True):
            p.copy_(value)
        if optimizer is None:
            return
        for p, entries in optimizer.state.items():
            before = state.get(p, {})
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    if key in before:
                        value.copy_(before[key])
                    else:
                        value.zero_()
                elif key in before:
                    entries[key] = before[key]
                else:
                    raise TypeError(
                        f"optimizer state {key!r} of {type(optimizer).__name__} is not a tensor, "
                        "so the warm-up cannot be undone in place; CapturedStep takes optimizers "
                        "whose state is tensors (SGD, Adam, AdamW, RMSprop)"
                    )


class CapturedStep:
    """A static-shape training step, ``loss = loss_fn(*inputs); loss.backward();
    optimizer.step()``, recorded once as a CUDA graph and replayed on every call.

    loss_fn: takes the input tensors and returns a scalar loss tensor; example_inputs: tensors
    with the shapes, dtypes and device every later call will use; optimizer: stepped inside
    the graph, or None (forward and backward alone, as for a benchmark); parameters: the
    tensors whose ``.grad`` the step writes (default: the optimizer's; one of the two must be
    given). Each call leaves exactly its own gradient in ``.grad`` (set to None before the
    backward pass, never accumulated). warmup: eager steps on the example before capturing;
    the parameters and the optimizer's state are then put back in place, so that the first
    call makes the first update on every device (buffers such as batch-norm statistics are
    not put back; state the warm-up created is zeroed, which is where SGD with dampening 0,
    Adam, AdamW and RMSprop start). Off CUDA the step runs eagerly.
    """

    def __init__(
        self,
        loss_fn: Callable[..., torch.Tensor],
        example_inputs: Sequence[torch.Tensor],
        optimizer: torch.optim.Optimizer | None = None,
        warmup: int = 3,
        parameters: Iterable[torch.Tensor] | None = None,
    ) -> None:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        inputs = _check_inputs(example_inputs, "example_inputs")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}"
            )
        if parameters is None:
            if optimizer is None:
                raise TypeError(
                    "give an optimizer or the parameters whose gradients the step writes"
                )
            parameters = [p for group in optimizer.param_groups for p in group["params"]]
        self.params = list(parameters)
        for k, p in enumerate(self.params):
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"parameters[{k}] must be a torch.Tensor, got {type(p).__name__}")
        self.warmup = check_int(warmup, "warmup", low=1)
        self.loss_fn, self.optimizer = loss_fn, optimizer
        self.shapes = [(t.shape, t.dtype, t.device) for t in inputs]
        self.captured = all(t.device.type == "cuda" for t in inputs)
        if self.captured and optimizer is not None:
            for group in optimizer.param_groups:
                if group.get("capturable") is False:
                    raise ValueError(
                        f"optimizer must be built with capturable=True to be recorded in a "
                        f"CUDA graph, got {type(optimizer).__name__} with capturable=False"
                    )
        if self.captured:
            self._capture(inputs)

    def _clear_grads(self) -> None:
        for p in self.params:
            p.grad = None

    def _eager(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        self._clear_grads()
        loss = self.loss_fn(*inputs)
        if not (isinstance(loss, torch.Tensor) and loss.dim() == 0):
            raise TypeError(
                f"loss_fn must return a scalar tensor, got {type(loss).__name__} "
                f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else ''}"
            )
        loss.backward()
        if self.optimizer is not None:
            self.optimizer.step()
        return loss.detach()

    def _capture(self, inputs: Sequence[torch.Tensor]) -> None:
        self.static_inputs = [t.detach().clone() for t in inputs]
        opt = self.optimizer
        values, state = _snapshot(self.params, opt)
        side = torch.cuda.Stream(device=inputs[0].device)
        side.wait_stream(torch.cuda.current_stream(inputs[0].device))
        with torch.cuda.stream(side):  # warm-up away from the default stream, as PyTorch asks
            for _ in range(self.warmup):
                self._eager(self.static_inputs)
        torch.cuda.current_stream(inputs[0].device).wait_stream(side)
        # undo the warm-up so that the first call makes the first update; in place, so that
        # the optimizer's state exists (and is not re-initialised) inside the graph
        _restore(self.params, values, opt, state)
        # gradients None while recording: the graph allocates them and every replay rewrites them
        self._clear_grads()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            loss = self.loss_fn(*self.static_inputs)
            loss.backward()
            if opt is not None:
                opt.step()
        self.static_loss = loss.detach()

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        """One step on ``inputs`` (same shapes, dtypes and device as the example); the loss."""
        if len(inputs) != len(self.shapes):
            raise ValueError(f"expected {len(self.shapes)} input tensor(s), got {len(inputs)}")
        for k, (t, (shape, dtype, dev)) in enumerate(zip(inputs, self.shapes, strict=True)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"input {k} must be a torch.Tensor, got {type(t).__name__}")
            if t.shape != shape or t.dtype != dtype or t.device != dev:
                raise ValueError(
                    f"input {k} must match the captured step: shape {tuple(shape)}, {dtype} on "
                    f"{dev}; got shape {tuple(t.shape)}, {t.dtype} on {t.device}"
                )
        if not self.captured:
            return self._eager(inputs)
        for buffer, t in zip(self.static_inputs, inputs, strict=True):
            buffer.copy_(t)
        self.graph.replay()
        return self.static_loss.clone()
