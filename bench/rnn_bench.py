"""Time seqcourse.rnn.ElmanRNN against torch.nn.RNN on the CPU and print the ratio.

Case (issue: chapter 2): forward + backward of one tanh layer, batch 64, length 100,
input size 64, hidden size 256, float32 (target: ElmanRNN within 1.5x of nn.RNN). The
from-scratch layer is the readable Python loop of ``elman_layer``; nn.RNN loops in C++.
Both models hold the same weights. Runs alternate between the two models so that load on
a shared machine hits both alike; each figure is the best of ``--repeat`` runs, in
milliseconds. Run: ``python bench/rnn_bench.py``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from seqcourse.rnn import ElmanRNN


def step(model: nn.Module, x: torch.Tensor) -> None:
    """One forward and backward pass of a loss on every output and the final state."""
    model.zero_grad(set_to_none=True)
    out, h_n = model(x)
    (out.sum() + h_n.sum()).backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    ref = nn.RNN(args.input, args.hidden, batch_first=True)
    ours = ElmanRNN.from_torch(ref)
    x = torch.randn(args.batch, args.length, args.input)
    models = {"ElmanRNN": ours, "nn.RNN": ref}
    best = dict.fromkeys(models, float("inf"))
    for model in models.values():
        step(model, x)  # warm-up
    for _ in range(args.repeat):
        for name, model in models.items():
            start = time.perf_counter()
            step(model, x)
            best[name] = min(best[name], time.perf_counter() - start)

    target = 1.5
    ratio = best["ElmanRNN"] / best["nn.RNN"]
    print(
        f"tanh RNN, B={args.batch} T={args.length} D={args.input} H={args.hidden}, float32, "
        f"{torch.get_num_threads()} thread(s); best of {args.repeat} runs"
    )
    header = f"{'case':28s} {'ElmanRNN':>10s} {'nn.RNN':>10s} {'ratio':>7s} {'target':>7s}"
    print(header)
    print("-" * (len(header) + 7))
    mark = "ok" if ratio <= target else "MISSED"
    print(
        f"{'forward + backward, 1 layer':28s} {1e3 * best['ElmanRNN']:8.1f}ms "
        f"{1e3 * best['nn.RNN']:8.1f}ms {ratio:6.2f}x {'<=' + str(target):>5s}x {mark}"
    )
    print("ratio = ElmanRNN time / nn.RNN time")


if __name__ == "__main__":
    main()
