"""Time seqcourse's word2vec against gensim's Word2Vec on the CPU and compare their analogies.

Case (issue: chapter 8): skip-gram with negative sampling on the shipped Gutenberg books
(``seqcourse.data.corpora.load_gutenberg``, 1.79 million words; a generated Zipfian corpus of
10^6 words when that module is absent), dim 100, window 5, 5 negatives, sample 1e-3,
min_count 5, on every core (``workers`` = the number of cores for both).
Targets: seqcourse's words/second within 2x of gensim's (ratio gensim / seqcourse <= 2),
and an analogy accuracy (3CosAdd on Mikolov et al.'s questions, gensim's
``evaluate_word_analogies`` for both) no lower than gensim's by more than 0.5 points. On these
books accuracies are low (about 4% of the 9,881 questions whose words they hold) and move by
about 0.3 points from seed to seed. Measured over 5 epochs with one worker: gensim 4.41%,
4.09%, 4.29% (seeds 0, 1, 2), seqcourse 4.16%, 4.30%, 4.37%; with two workers (this
script): gensim 4.21% and 4.3%, seqcourse 4.8% to 5.2% (as with a larger learning rate: one
worker at lr 0.05 reaches 4.8% too). Timing, on a 2-core
CPU shared with other jobs: gensim / seqcourse = 1.43x with one worker each, 1.5x to 1.8x
with two, depending on the load.

How it is measured: words/second is the raw words of the corpus times the epochs over the
wall time of the training call (gensim's ``raw_word_count``): ``train_word2vec`` (the
token stream encoded inside it, as gensim looks words up inside ``train``) against
``Word2Vec.train`` (its ``build_vocab`` is not timed, nor is seqcourse's ``Vocabulary``).
The two are timed interleaved, one epoch each, over ``--rounds`` rounds; the ratio is taken
per round and the median printed. The quality runs train ``--epochs`` epochs once each.
Run: ``python bench/word2vec_bench.py`` (``--no-quality`` for the timing alone).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from seqcourse.embeddings.vocab import Vocabulary
from seqcourse.embeddings.word2vec import train_word2vec

MAX_WORDS = 10_000  # gensim cuts longer sentences: feed it the stream in pieces of this size


def corpus() -> tuple[str, list[str]]:
    try:
        from seqcourse.data.corpora import load_gutenberg
    except ImportError:
        rng = np.random.default_rng(0)
        ranks = np.arange(1, 30_001)
        p = 1.0 / (ranks + 2.7)
        ids = rng.choice(len(ranks), size=1_000_000, p=p / p.sum())
        return "a Zipfian corpus (generated)", [f"w{i}" for i in ids]
    return "the Gutenberg books", load_gutenberg()


def gensim_model(settings: dict, sentences: list[list[str]], epochs: int, seed: int):
    from gensim.models import Word2Vec

    model = Word2Vec(
        vector_size=settings["dim"],
        window=settings["window"],
        negative=settings["negatives"],
        sample=settings["subsample_t"],
        min_count=settings["min_count"],
        sg=1,
        hs=0,
        workers=settings["threads"],
        epochs=epochs,
        seed=seed,
    )
    model.build_vocab(sentences)
    return model


def time_gensim(settings: dict, sentences: list[list[str]], epochs: int, seed: int = 0):
    model = gensim_model(settings, sentences, epochs, seed)
    start = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=epochs)
    return time.perf_counter() - start, model


def time_ours(settings: dict, tokens: list[str], vocab: Vocabulary, epochs: int, seed: int = 0):
    start = time.perf_counter()
    result = train_word2vec(
        tokens,
        vocab,
        model="skipgram",
        dim=settings["dim"],
        window=settings["window"],
        negatives=settings["negatives"],
        subsample_t=settings["subsample_t"],
        epochs=epochs,
        workers=settings["threads"],
        seed=seed,
        progress=False,
    )
    return time.perf_counter() - start, result


def analogy_accuracy(words: list[str] | tuple[str, ...], vectors: np.ndarray) -> float:
    """3CosAdd accuracy on questions-words.txt, as gensim evaluates it (questions with a word
    outside the vocabulary skipped)."""
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(list(words), vectors)
    score, _ = kv.evaluate_word_analogies(datapath("questions-words.txt"))
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the quality runs")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tokens", type=int, default=None, help="use the first N tokens")
    parser.add_argument("--no-quality", action="store_true", help="time only")
    args = parser.parse_args()
    settings = dict(dim=100, window=5, negatives=5, subsample_t=1e-3, min_count=5)
    settings["threads"] = args.threads

    name, tokens = corpus()
    if args.tokens:
        tokens = tokens[: args.tokens]
    vocab = Vocabulary.from_tokens(tokens, min_count=settings["min_count"])
    sentences = [tokens[i : i + MAX_WORDS] for i in range(0, len(tokens), MAX_WORDS)]
    print(
        f"word2vec skip-gram on {name}: {len(tokens):,} words, V={len(vocab):,} at min_count "
        f"{settings['min_count']}; dim 100, window 5, 5 negatives, sample 1e-3, "
        f"{args.threads} thread(s)/worker(s)"
    )

    time_ours(settings, tokens[:50_000], vocab, 1)  # warm-up
    time_gensim(settings, sentences[:5], 1)
    ours, theirs = [], []
    for r in range(args.rounds):
        a, _ = time_ours(settings, tokens, vocab, 1, seed=r)
        b, _ = time_gensim(settings, sentences, 1, seed=r)
        ours.append(len(tokens) / a)
        theirs.append(len(tokens) / b)
        print(f"round {r + 1}: seqcourse {ours[-1]:>9,.0f} words/s   gensim {theirs[-1]:>9,.0f}")
    ratio = statistics.median(t / o for o, t in zip(ours, theirs, strict=True))
    print(
        f"median words/s: seqcourse {statistics.median(ours):,.0f}, "
        f"gensim {statistics.median(theirs):,.0f}; gensim / seqcourse = {ratio:.2f}x "
        f"(target <= 2): {'met' if ratio <= 2 else 'MISSED'}"
    )
    if args.no_quality:
        return

    a, result = time_ours(settings, tokens, vocab, args.epochs)
    b, model = time_gensim(settings, sentences, args.epochs)
    acc_ours = analogy_accuracy(vocab.words, result.vectors.numpy())
    acc_theirs = analogy_accuracy(model.wv.index_to_key, model.wv.vectors)
    print(
        f"{args.epochs} epochs: seqcourse {a:.1f}s, analogies {acc_ours:.1%}; "
        f"gensim {b:.1f}s, analogies {acc_theirs:.1%} "
        f"(target >= gensim - 0.5 points): "
        + ("met" if acc_ours >= acc_theirs - 0.005 else "MISSED")
    )


if __name__ == "__main__":
    main()
