"""Time seqcourse.gated.LSTM and GRU against torch.nn.LSTM and nn.GRU and print the ratios.

Case (issue: chapter 4): forward + backward of one layer, batch 64, length 100, input
size 64, hidden size 256, float32, on the CPU (target for the LSTM: within 1.3x of
nn.LSTM), and on CUDA against cuDNN when a GPU is present (reported, no target). Rows:

- LSTM, autograd: the default path, the input projection of all steps in one product
  (both biases folded in) and the step function of ``seqcourse.gated`` under autograd;
- LSTM, fused: ``model.fused = True``, the hand-derived backward pass of
  ``seqcourse.fused`` (no autograd graph per step);
- GRU (default path) against nn.GRU.

nn.LSTM runs a fused C++ kernel (oneDNN on the CPU, cuDNN on CUDA). The models hold the
same weights. Runs alternate between the models so that load on a shared machine hits all
alike; each figure is the best of ``--repeat`` runs, in milliseconds.
Run: ``python bench/lstm_bench.py`` (``--device cuda`` for the GPU only).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from seqcourse.gated import GRU, LSTM


def step(model: nn.Module, x: torch.Tensor) -> None:
    """One forward and backward pass of a loss on every output and the final state."""
    model.zero_grad(set_to_none=True)
    out, state = model(x)
    h_n = state[0] if isinstance(state, tuple) else state
    (out.sum() + h_n.sum()).backward()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(device: torch.device, args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(0)
    lstm = nn.LSTM(args.input, args.hidden, batch_first=True).to(device)
    gru = nn.GRU(args.input, args.hidden, batch_first=True).to(device)
    ours = LSTM.from_torch(lstm)
    ours_fused = LSTM.from_torch(lstm)
    ours_fused.fused = True
    models = {
        "nn.LSTM": lstm,
        "LSTM autograd": ours,
        "LSTM fused": ours_fused,
        "nn.GRU": gru,
        "GRU autograd": GRU.from_torch(gru),
    }
    x = torch.randn(args.batch, args.length, args.input, device=device)
    best = dict.fromkeys(models, float("inf"))
    for model in models.values():
        step(model, x)  # warm-up
    sync(device)
    for _ in range(args.repeat):
        for name, model in models.items():
            start = time.perf_counter()
            step(model, x)
            sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def report(device: torch.device, best: dict[str, float], args: argparse.Namespace) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = f", {torch.get_num_threads()} thread(s)" if device.type == "cpu" else ""
    print(
        f"\n{device} ({name}{threads}): B={args.batch} T={args.length} D={args.input} "
        f"H={args.hidden}, float32, forward + backward, best of {args.repeat} runs"
    )
    header = f"{'case':16s} {'ours':>10s} {'PyTorch':>10s} {'ratio':>7s} {'target':>8s}"
    print(header)
    print("-" * len(header))
    for ours, ref in (
        ("LSTM autograd", "nn.LSTM"),
        ("LSTM fused", "nn.LSTM"),
        ("GRU autograd", "nn.GRU"),
    ):
        ratio = best[ours] / best[ref]
        target = "<= 1.3x" if device.type == "cpu" and ours == "LSTM autograd" else "-"
        mark = "" if target == "-" else ("  ok" if ratio <= 1.3 else "  MISSED")
        print(
            f"{ours:16s} {1e3 * best[ours]:8.1f}ms {1e3 * best[ref]:8.1f}ms "
            f"{ratio:6.2f}x {target:>8s}{mark}"
        )
    print("ratio = seqcourse time / PyTorch time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = []
    if args.device in ("all", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    for device in devices:
        report(device, bench(device, args), args)


if __name__ == "__main__":
    main()
