"""Time seqcourse's recurrent layers against PyTorch's fused ones and print the ratios.

Case (issues: chapters 2 and 4, performance): forward + backward of one layer, batch 64,
length 100, input size 64, hidden size 256, float32, a loss on every output and the final
state. Rows, each against the PyTorch layer holding the same weights:

- LSTM, autograd: the default path, the input projection of all steps in one product
  (both biases folded in) and the step function of ``seqcourse.gated`` under autograd;
- LSTM, fused: ``model.fused = True``, the hand-derived backward pass of ``seqcourse.fused``
  (the whole layer one autograd.Function, no graph per step);
- GRU (default path) against nn.GRU, and ElmanRNN (``seqcourse.rnn``) against nn.RNN.

On the CPU nn.LSTM runs oneDNN's kernel; targets: LSTM within 1.3x, ElmanRNN within 1.5x.
The CPU table is printed twice: with one thread (as every page of the book runs) and with
all of them. oneDNN splits its whole loop across the threads; the from-scratch layers can
only split each step's operations, the small matrix product above all, and gain less from a
second thread (the fused LSTM computes that product with oneDNN too, see seqcourse.fused).
On CUDA the PyTorch layers run cuDNN, and each seqcourse layer is timed twice: eager (one
kernel launch per operation, from Python) and replayed as a CUDA graph
(``seqcourse.graphs.CapturedStep``, one launch per step); targets for the graphed rows:
LSTM and GRU within 2x of cuDNN, ElmanRNN within 4x. TF32 is switched off so that every
row does the same float32 arithmetic.

Each round runs every model once, one after the other, so that load on a shared machine
hits all alike; a ratio is taken within each round and the table shows its median over
``--rounds`` rounds (and the range), times in milliseconds.
Run: ``python bench/lstm_bench.py`` (``--device cuda`` for the GPU only).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from seqcourse.gated import GRU, LSTM
from seqcourse.graphs import CapturedStep
from seqcourse.rnn import ElmanRNN


def loss_of(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    def loss(x: torch.Tensor) -> torch.Tensor:
        out, state = model(x)
        h_n = state[0] if isinstance(state, tuple) else state
        return out.sum() + h_n.sum()

    return loss


def eager_step(model: nn.Module) -> Callable[[torch.Tensor], None]:
    """One forward and backward pass of a loss on every output and the final state."""
    loss = loss_of(model)

    def run(x: torch.Tensor) -> None:
        model.zero_grad(set_to_none=True)
        loss(x).backward()

    return run


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# (seqcourse row, PyTorch row, CPU target, graphed CUDA target)
ROWS = (
    ("LSTM autograd", "nn.LSTM", 1.3, 2.0),
    ("LSTM fused", "nn.LSTM", 1.3, 2.0),
    ("GRU autograd", "nn.GRU", None, 2.0),
    ("ElmanRNN", "nn.RNN", 1.5, 4.0),
)


def bench(device: torch.device, args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds per forward + backward of every model, one list entry per round."""
    torch.manual_seed(0)
    size = (args.input, args.hidden)
    lstm = nn.LSTM(*size, batch_first=True).to(device)
    gru = nn.GRU(*size, batch_first=True).to(device)
    rnn = nn.RNN(*size, batch_first=True).to(device)
    fused = LSTM.from_torch(lstm)
    fused.fused = True
    ours = {
        "LSTM autograd": LSTM.from_torch(lstm),
        "LSTM fused": fused,
        "GRU autograd": GRU.from_torch(gru),
        "ElmanRNN": ElmanRNN.from_torch(rnn),
    }
    x = torch.randn(args.batch, args.length, args.input, device=device)
    steps = {"nn.LSTM": eager_step(lstm), "nn.GRU": eager_step(gru), "nn.RNN": eager_step(rnn)}
    steps |= {name: eager_step(model) for name, model in ours.items()}
    if device.type == "cuda":
        for name, model in ours.items():
            graphed = CapturedStep(loss_of(model), (x,), parameters=model.parameters())
            steps[f"{name} graphed"] = graphed
    times: dict[str, list[float]] = {name: [] for name in steps}
    for run in steps.values():
        run(x)  # warm-up
    sync(device)
    for _ in range(args.rounds):
        for name, run in steps.items():
            start = time.perf_counter()
            run(x)
            sync(device)
            times[name].append(time.perf_counter() - start)
    return times


def ratio(times: dict[str, list[float]], ours: str, ref: str) -> tuple[float, float, float]:
    r = [a / b for a, b in zip(times[ours], times[ref], strict=True)]
    return statistics.median(r), min(r), max(r)


def ms(times: dict[str, list[float]], name: str) -> str:
    return f"{1e3 * statistics.median(times[name]):8.2f}ms"


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return f"{'-':>8s}"
    return f"{'<= ' + str(target) + 'x':>8s} {'ok' if value <= target else 'MISSED'}"


def report(device: torch.device, times: dict[str, list[float]], args: argparse.Namespace) -> None:
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else "CPU"
    threads = "" if cuda else f", {torch.get_num_threads()} thread(s)"
    print(
        f"\n{device} ({name}{threads}): B={args.batch} T={args.length} D={args.input} "
        f"H={args.hidden}, float32, forward + backward, median of {args.rounds} rounds"
    )
    if cuda:
        header = (
            f"{'case':14s} {'eager':>10s} {'graphed':>10s} {'cuDNN':>10s} "
            f"{'eager/cuDNN':>12s} {'graphed/cuDNN':>14s} {'target':>8s}"
        )
    else:
        header = (
            f"{'case':14s} {'ours':>10s} {'PyTorch':>10s} {'ratio':>7s} {'range':>12s} "
            f"{'target':>8s}"
        )
    print(header)
    print("-" * len(header))
    for ours, ref, cpu_target, gpu_target in ROWS:
        if cuda:
            eager, graphed = ratio(times, ours, ref)[0], ratio(times, f"{ours} graphed", ref)[0]
            print(
                f"{ours:14s} {ms(times, ours)} {ms(times, ours + ' graphed')} {ms(times, ref)} "
                f"{eager:11.2f}x {graphed:13.2f}x {verdict(graphed, gpu_target)}"
            )
        else:
            mid, lo, hi = ratio(times, ours, ref)
            print(
                f"{ours:14s} {ms(times, ours)} {ms(times, ref)} {mid:6.2f}x "
                f"{lo:5.2f}-{hi:.2f}x {verdict(mid, cpu_target)}"
            )
    print("ratio = median over rounds of seqcourse time / PyTorch time in the same round")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads on the CPU (default: one table with 1, as the book's pages run, "
        "and one with all)",
    )
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if args.device in ("all", "cpu"):
        every = torch.get_num_threads()
        for threads in [args.threads] if args.threads else sorted({1, every}):
            torch.set_num_threads(threads)
            report(torch.device("cpu"), bench(torch.device("cpu"), args), args)
        torch.set_num_threads(args.threads or every)
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        report(torch.device("cuda"), bench(torch.device("cuda"), args), args)


if __name__ == "__main__":
    main()
