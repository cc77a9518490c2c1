"""Time seqcourse.hmm against hmmlearn's CategoricalHMM for K = 2..10 states and print ratios.

Cases (issue: chapter 1), forward-backward (state posteriors):
  - a batch of 256 sequences of 1,000 steps (target: seqcourse at least as fast as hmmlearn
    looping over the sequences, ratio <= 1)
  - one sequence of 10^5 steps               (target: seqcourse within 5x of hmmlearn)
``--viterbi`` adds the same two cases for Viterbi decoding (no target).

How it is measured: the machines this runs on are shared and noisy, so the two libraries
are timed interleaved, seqcourse then hmmlearn, one call each, over ``--rounds`` rounds
(after one warm-up call each); the ratio is taken per round and the table shows the median
ratio and the median milliseconds. Run: ``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from seqcourse.hmm import random_hmm, to_hmmlearn


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int
) -> tuple[float, float, float]:
    """Median ms of ours, of theirs, and the median of the per-round ratios ours / theirs."""
    ours(), theirs()  # warm-up
    a, b = [], []
    for _ in range(rounds):
        a.append(seconds(ours))
        b.append(seconds(theirs))
    ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
    return 1e3 * statistics.median(a), 1e3 * statistics.median(b), ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    parser.add_argument("--states", type=int, nargs="+", default=list(range(2, 11)))
    parser.add_argument("--symbols", type=int, default=6, help="number of symbols V")
    parser.add_argument("--viterbi", action="store_true", help="also time Viterbi decoding")
    args = parser.parse_args()

    cases = [("posteriors", "predict_proba", 1.0, 5.0)]
    if args.viterbi:
        cases.append(("viterbi", "decode", None, None))
    print(
        f"seqcourse.hmm / hmmlearn, V={args.symbols} symbols; median over {args.rounds} "
        "interleaved rounds (ratio = median of per-round ratios)"
    )
    for method, ref_method, target_batch, target_long in cases:
        title = "forward-backward (posteriors)" if method == "posteriors" else "Viterbi"
        print(f"\n{title}")
        head = (
            f"{'K':>3s} | {'256 x 1,000: ours':>17s} {'hmmlearn':>9s} {'ratio':>6s} | "
            f"{'1 x 100,000: ours':>17s} {'hmmlearn':>9s} {'ratio':>6s}"
        )
        print(head)
        print("-" * len(head))
        missed = []
        for K in args.states:
            model = random_hmm(K, args.symbols, seed=0)
            ref = to_hmmlearn(model)
            ours_fn, theirs_fn = getattr(model, method), getattr(ref, ref_method)
            _, batch = model.sample(1_000, seed=2, batch=256)
            _, one = model.sample(100_000, seed=1)
            col = one[:, None]
            b = interleaved(
                lambda: ours_fn(batch),  # noqa: B023 (called within this iteration)
                lambda: [theirs_fn(s[:, None]) for s in batch],  # noqa: B023
                args.rounds,
            )
            s = interleaved(
                lambda: ours_fn(one),  # noqa: B023
                lambda: theirs_fn(col),  # noqa: B023
                args.rounds,
            )
            if target_batch is not None and b[2] > target_batch:
                missed.append(f"K={K} batch {b[2]:.2f}x > {target_batch}x")
            if target_long is not None and s[2] > target_long:
                missed.append(f"K={K} long {s[2]:.2f}x > {target_long}x")
            print(
                f"{K:3d} | {b[0]:15.1f}ms {b[1]:7.1f}ms {b[2]:5.2f}x | "
                f"{s[0]:15.1f}ms {s[1]:7.1f}ms {s[2]:5.2f}x"
            )
        if target_batch is not None:
            print(
                f"targets: batch <= {target_batch}x (hmmlearn looping over the sequences), "
                f"one long sequence <= {target_long}x: "
                + ("all met" if not missed else "MISSED " + "; ".join(missed))
            )


if __name__ == "__main__":
    main()
