"""Time seqcourse.hmm against hmmlearn's CategoricalHMM in one run and print the ratios.

Cases (issue: chapter 1): forward-backward (state posteriors) and Viterbi on
  - one sequence of 10^5 steps           (target: seqcourse within 5x of hmmlearn)
  - a batch of 256 sequences of 1,000    (target: seqcourse at least as fast as hmmlearn
                                          looping over the sequences)
hmmlearn's own multi-sequence call (``lengths=``) is timed too, for reference.
Each figure is the best of ``--repeat`` runs, in milliseconds. Run: ``make bench``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from seqcourse.hmm import random_hmm, to_hmmlearn


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--states", type=int, default=2, help="number of hidden states K")
    parser.add_argument("--symbols", type=int, default=6, help="number of symbols V")
    args = parser.parse_args()

    model = random_hmm(args.states, args.symbols, seed=0)
    ref = to_hmmlearn(model)
    _, one = model.sample(100_000, seed=1)
    _, batch = model.sample(1_000, seed=2, batch=256)
    col = one[:, None]
    stacked, lengths = batch.reshape(-1, 1), [batch.shape[1]] * batch.shape[0]

    rows = [
        (
            "forward-backward, 1 x 100,000",
            best_ms(lambda: model.posteriors(one), args.repeat),
            best_ms(lambda: ref.predict_proba(col), args.repeat),
            None,
            5.0,
        ),
        (
            "Viterbi, 1 x 100,000",
            best_ms(lambda: model.viterbi(one), args.repeat),
            best_ms(lambda: ref.decode(col), args.repeat),
            None,
            5.0,
        ),
        (
            "forward-backward, 256 x 1,000",
            best_ms(lambda: model.posteriors(batch), args.repeat),
            best_ms(lambda: [ref.predict_proba(s[:, None]) for s in batch], args.repeat),
            best_ms(lambda: ref.predict_proba(stacked, lengths), args.repeat),
            1.0,
        ),
        (
            "Viterbi, 256 x 1,000",
            best_ms(lambda: model.viterbi(batch), args.repeat),
            best_ms(lambda: [ref.decode(s[:, None]) for s in batch], args.repeat),
            best_ms(lambda: ref.decode(stacked, lengths), args.repeat),
            1.0,
        ),
    ]
    print(f"HMM with K={args.states} states, V={args.symbols} symbols; best of {args.repeat} runs")
    header = f"{'case':32s} {'seqcourse':>10s} {'hmmlearn':>10s} {'ratio':>7s} {'target':>7s}"
    print(header + f" {'hmmlearn lengths=':>18s}")
    print("-" * (len(header) + 19))
    for name, ours, theirs, theirs_lengths, target in rows:
        ratio = ours / theirs
        mark = "ok" if ratio <= target else "MISSED"
        extra = f"{theirs_lengths:15.1f} ms" if theirs_lengths is not None else f"{'-':>18s}"
        print(
            f"{name:32s} {ours:8.1f}ms {theirs:8.1f}ms {ratio:6.2f}x {'<=' + str(target):>5s}x "
            f"{extra} {mark}"
        )
    print("ratio = seqcourse time / hmmlearn time (hmmlearn looping over sequences for batches)")


if __name__ == "__main__":
    main()
