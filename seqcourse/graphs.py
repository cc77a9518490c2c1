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

A graph cannot record an operation whose result the host must read: ``.item()``, ``if
tensor:``, boolean-mask indexing, ``nonzero``, a copy to the CPU. ``host_reads(fn, *args)``
runs ``fn`` once and names every such operation it performed (forward and backward), on any
device, so a step can be checked on a laptop before it meets a GPU. ``CapturedStep`` runs
its first warm-up step under the same watch: a step that reads back is refused with the
operations named, or, with ``fallback=True``, run eagerly with a warning.
``seqcourse.train.train_seeds`` captures its stacked step this way on CUDA.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from seqcourse._checks import check_bool, check_int

__all__ = ["CapturedStep", "host_reads"]

# operations whose result (a value, or an output shape that depends on values) the host reads
_READS = {
    "aten::_local_scalar_dense": ".item() / bool() / int() / float() of a tensor",
    "aten::is_nonzero": "bool() of a tensor",
    "aten::equal": "torch.equal",
    "aten::nonzero": "nonzero (output size depends on the values)",
    "aten::nonzero_static": None,  # a fixed output size: no read
    "aten::masked_select": "masked_select (output size depends on the values)",
    "aten::_unique": "unique",
    "aten::_unique2": "unique",
    "aten::unique_dim": "unique",
    "aten::unique_consecutive": "unique_consecutive",
    "aten::unique_dim_consecutive": "unique_consecutive",
    "aten::bincount": "bincount (output size depends on the values)",
    "aten::histc": "histc (reads the range of the values)",
    "aten::embedding_renorm_": "embedding with max_norm (reads which rows to renormalise)",
}
_SYNC_WARNING = "synchronizing CUDA operation"  # what CUDA's sync debug mode warns


def _is_bool_mask(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.dtype in (torch.bool, torch.uint8)


def _host_read(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """Why ``func(*args, **kwargs)`` makes the host wait for device values, or None."""
    name = func.name()
    if name in _READS:
        return _READS[name]
    if name.startswith(("aten::index.", "aten::index_put")) and len(args) > 1:
        indices = [t for t in args[1] if isinstance(t, torch.Tensor)]
        if any(_is_bool_mask(t) for t in indices):
            return "indexing with a boolean mask (output size depends on the values)"
        if (
            isinstance(args[0], torch.Tensor)
            and args[0].device.type != "cpu"
            and any(t.device.type == "cpu" and t.dim() > 0 for t in indices)
        ):
            return "indexing a GPU tensor with CPU indices (a copy to the GPU)"
    if name in ("aten::repeat_interleave.Tensor", "aten::repeat_interleave.self_Tensor"):
        if kwargs.get("output_size") is None:  # repeats given as a tensor: sums them on the host
            return "repeat_interleave by a tensor of repeats, without output_size"
    if name in ("aten::_to_copy", "aten::copy_") and args:
        src = args[1] if name == "aten::copy_" and len(args) > 1 else args[0]
        if not isinstance(src, torch.Tensor):
            return None
        if name == "aten::copy_":
            dst = args[0].device if isinstance(args[0], torch.Tensor) else src.device
        else:
            dst = torch.device(kwargs.get("device") or src.device)
        if src.device.type != "cpu" and dst.type == "cpu":
            return f"a copy from {src.device.type} to the CPU (.cpu(), .tolist(), .numpy())"
        if src.device.type == "cpu" and dst.type == "cuda":
            return "a copy from the CPU to the GPU (torch.tensor(...) or .to(device) in the step)"
    return None


def _on_device(args: Any) -> bool:
    """Whether any tensor among ``args`` (nested) lives off the CPU."""
    return any(isinstance(t, torch.Tensor) and t.device.type != "cpu" for t in tree_leaves(args))


class _HostReads(TorchDispatchMode):
    """Records, in order of first appearance, why the operations run under it read device
    values on the host (``_host_read``); changes nothing else. device_only: count a read
    only when the operation has an argument off the CPU (a CUDA step may read CPU tensors
    freely); False counts what would read on a GPU, which is what a check on a CPU needs."""

    def __init__(self, device_only: bool = False) -> None:
        super().__init__()
        self.found: list[str] = []
        self.device_only = device_only

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        why = _host_read(func, args, kwargs)
        if why is not None and self.device_only and not _on_device((args, kwargs)):
            why = None
        if why is not None and why not in self.found:
            self.found.append(why)
        return func(*args, **kwargs)


def host_reads(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[str]:
    """Run ``fn(*args, **kwargs)`` once and list the operations in it that read device values
    on the host (each reason once, in order; backward passes run inside ``fn`` included).
    An empty list means the operations could be recorded in a CUDA graph. On the CPU the
    same operations are reported (they would sync on a GPU) except copies to the CPU.
    Python-level choices (``random.random()``, a branch on a Python counter) are not
    operations and are not seen: a graph freezes whichever branch ran while recording."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    with _HostReads() as mode:
        fn(*args, **kwargs)
    return mode.found


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


_CAPTURE_BROKEN = False  # set when a capture failed: the allocator cannot record another


def _close_pool(dev: torch.device, pool: Any) -> None:
    """After a failed capture: end and release the graph's memory pool, which
    ``capture_end`` leaves open when it fails (best effort, through PyTorch's private
    bindings, which may be missing or refuse)."""
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    for name in ("_cuda_endAllocateToPool", "_cuda_releasePool"):
        close = getattr(torch._C, name, None)
        if close is not None:
            with contextlib.suppress(Exception):
                close(index, pool)


def _detached(result: Any) -> tuple[torch.Tensor, ...]:
    """loss_fn's result as a tuple (loss, *extra) of detached tensors, the loss a scalar."""
    parts = result if isinstance(result, tuple) else (result,)
    if not (parts and all(isinstance(t, torch.Tensor) for t in parts) and parts[0].dim() == 0):
        got = type(result).__name__
        if isinstance(result, torch.Tensor):
            got += f" of shape {tuple(result.shape)}"
        raise TypeError(
            f"loss_fn must return a scalar tensor, or a tuple (scalar loss, tensors...), got {got}"
        )
    return tuple(t.detach() for t in parts)


class CapturedStep:
    """A static-shape training step, ``loss = loss_fn(*inputs); loss.backward();
    after_backward(); optimizer.step()``, recorded once as a CUDA graph and replayed on
    every call.

    loss_fn: takes the input tensors and returns a scalar loss tensor, or a tuple (scalar
    loss, more tensors) whose first element is back-propagated; a call returns the same
    structure, detached. example_inputs: tensors with the shapes, dtypes and device every
    later call will use. optimizer: stepped inside the graph, or None (forward and backward
    alone, as for a benchmark). parameters: the tensors whose ``.grad`` the step writes
    (default: the optimizer's; one of the two must be given). Each call leaves exactly its
    own gradient in ``.grad`` (set to None before the backward pass, never accumulated).
    after_backward: a function of no argument run between backward and the optimizer step
    (gradient clipping); what it returns is ``step.after`` once the call is done. warmup:
    eager steps on the example before capturing; the parameters and the optimizer's state
    are then put back in place, so that the first call makes the first update on every
    device (and so are ``buffers``; state the warm-up created is zeroed, which is where SGD
    with dampening 0, Adam, AdamW and RMSprop start). The first
    warm-up step runs under ``host_reads``: a step that reads device values on the host
    cannot be recorded, and is refused (ValueError naming the operations) or, with
    ``fallback=True``, run eagerly after a warning, as is a capture that fails. Off CUDA, or
    with ``capture=False``, the step runs eagerly. ``captured`` tells which happened.
    buffers: tensors the step changes in place that are not parameters (batch-norm
    statistics), put back after the warm-up too. The first warm-up step also runs under
    CUDA's sync debug mode, which sees synchronising calls inside kernels that no dispatch mode
    can; a capture that fails all the same (which leaves the process's CUDA allocator in a
    state no later capture can use) turns capturing off for the rest of the process, and is
    refused or, with ``fallback``, warned about.
    """

    def __init__(
        self,
        loss_fn: Callable[..., Any],
        example_inputs: Sequence[torch.Tensor],
        optimizer: torch.optim.Optimizer | None = None,
        warmup: int = 3,
        parameters: Iterable[torch.Tensor] | None = None,
        after_backward: Callable[[], Any] | None = None,
        fallback: bool = False,
        capture: bool = True,
        buffers: Iterable[torch.Tensor] = (),
    ) -> None:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        if after_backward is not None and not callable(after_backward):
            raise TypeError(
                f"after_backward must be callable or None, got {type(after_backward).__name__}"
            )
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
        self.buffers = list(buffers)
        for k, b in enumerate(self.buffers):
            if not isinstance(b, torch.Tensor):
                raise TypeError(f"buffers[{k}] must be a torch.Tensor, got {type(b).__name__}")
        self.warmup = check_int(warmup, "warmup", low=1)
        self.fallback = check_bool(fallback, "fallback")
        self.loss_fn, self.optimizer, self.after_backward = loss_fn, optimizer, after_backward
        self.shapes = [(t.shape, t.dtype, t.device) for t in inputs]
        self.reason: str | None = None  # why a step on CUDA was not captured
        self._after: Any = None
        self.captured = check_bool(capture, "capture") and all(
            t.device.type == "cuda" for t in inputs
        )
        if self.captured and optimizer is not None:
            for group in optimizer.param_groups:
                if group.get("capturable") is False:
                    raise ValueError(
                        f"optimizer must be built with capturable=True to be recorded in a "
                        f"CUDA graph, got {type(optimizer).__name__} with capturable=False"
                    )
        if self.captured:
            self._capture(inputs)

    @property
    def after(self) -> Any:
        """What ``after_backward`` returned at the latest call (None before the first)."""
        if self.captured and isinstance(self._after, torch.Tensor):
            return self._after.clone()  # the graph rewrites its output at every replay
        return self._after

    @property
    def _state_tensors(self) -> list[torch.Tensor]:
        return self.params + self.buffers

    def _clear_grads(self) -> None:
        for p in self.params:
            p.grad = None

    def _body(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The step itself: what is recorded, and what runs eagerly."""
        raw = self.loss_fn(*inputs)
        result = _detached(raw)
        (raw[0] if isinstance(raw, tuple) else raw).backward()
        self._after = self.after_backward() if self.after_backward is not None else None
        if self.optimizer is not None:
            self.optimizer.step()
        return result

    def _eager(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        self._clear_grads()
        with warnings.catch_warnings():
            # a capturable Adam warns when it steps outside a capture, as the warm-up and an
            # eager fallback do by design
            warnings.filterwarnings("ignore", message=".*capturable=True.*", category=UserWarning)
            return self._body(inputs)

    def _refuse(self, why: str) -> None:
        """Eager from now on (with a warning) when fallback is allowed; else ValueError."""
        message = f"the step cannot be recorded in a CUDA graph: {why}"
        if not self.fallback:
            raise ValueError(message)
        warnings.warn(f"{message}; it runs eagerly instead", RuntimeWarning, stacklevel=3)
        self.captured, self.reason = False, why

    def _watched_step(self) -> list[str]:
        """The first warm-up step, under ``host_reads`` (reads of device tensors only) and under
        CUDA's sync debug mode: why the step cannot be recorded, or an empty list."""
        previous = torch.cuda.get_sync_debug_mode()
        with warnings.catch_warnings(record=True) as caught, _HostReads(device_only=True) as watch:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                self._eager(self.static_inputs)
            finally:
                torch.cuda.set_sync_debug_mode(previous)
        syncs = [w for w in caught if _SYNC_WARNING in str(w.message)]
        for w in caught:
            if w not in syncs:  # the step's own warnings, passed on
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        sync = ["an operation that synchronises with the GPU (sync debug mode)"] if syncs else []
        return watch.found + sync

    def _capture(self, inputs: Sequence[torch.Tensor]) -> None:
        dev = inputs[0].device
        with torch.cuda.device(dev):  # streams, graph and pool on the inputs' GPU
            self._capture_on(dev, inputs)
        self._after = None  # the warm-up's or the recording's, not a call's

    def _capture_on(self, dev: torch.device, inputs: Sequence[torch.Tensor]) -> None:
        global _CAPTURE_BROKEN
        self.static_inputs = [t.detach().clone() for t in inputs]
        if _CAPTURE_BROKEN:
            self._refuse("an earlier capture in this process failed; restart it to record again")
            return
        opt = self.optimizer
        values, state = _snapshot(self._state_tensors, opt)
        side = torch.cuda.Stream(device=dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):  # warm-up away from the default stream, as PyTorch asks
            found = self._watched_step()
            for _ in range(0 if found else self.warmup - 1):
                self._eager(self.static_inputs)
        torch.cuda.current_stream(dev).wait_stream(side)
        # undo the warm-up so that the first call makes the first update; in place, so that
        # the optimizer's state exists (and is not re-initialised) inside the graph
        _restore(self._state_tensors, values, opt, state)
        if found:
            self._refuse("it reads device values on the host: " + "; ".join(found))
            return
        # gradients None while recording: the graph allocates them and every replay rewrites them
        self._clear_grads()
        torch.cuda.synchronize(dev)
        graph, pool = torch.cuda.CUDAGraph(), torch.cuda.graph_pool_handle()
        try:
            # torch.cuda.graph's steps, spelled out so that the current stream is put back and
            # the allocator's pool closed even when the capture fails
            with torch.cuda.stream(torch.cuda.Stream(device=dev)):
                graph.capture_begin(pool=pool)
                try:
                    result = self._body(self.static_inputs)
                finally:
                    graph.capture_end()  # raises when the capture was invalidated
        except RuntimeError as error:
            _CAPTURE_BROKEN = True
            _close_pool(dev, pool)
            del graph
            if not self.fallback:
                raise
            cause = error.__context__ or error
            _restore(self._state_tensors, values, opt, state)
            self._refuse(f"capture failed ({str(cause).splitlines()[0]})")
            return
        self.graph, self.static_result = graph, result
        self._static_after = self._after
        self.static_grads = [p.grad for p in self.params]

    def __call__(self, *inputs: torch.Tensor) -> Any:
        """One step on ``inputs`` (same shapes, dtypes and device as the example): the loss,
        or the tuple loss_fn returns, detached."""
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
            result = self._eager(inputs)
        else:
            for buffer, t in zip(self.static_inputs, inputs, strict=True):
                buffer.copy_(t)
            with torch.cuda.device(self.static_inputs[0].device):
                self.graph.replay()
            for p, g in zip(self.params, self.static_grads, strict=True):
                p.grad = g  # the graph's own gradient buffers, whatever ran in between
            self._after = self._static_after
            result = tuple(t.clone() for t in self.static_result)
        return result if len(result) > 1 else result[0]
