"""Character n-gram language models with add-alpha smoothing (chapter 1).

An order-k Markov model predicts the next character from the k before it, eq.
(eq-markov-k) of chapter 1:

    p(x_1, ..., x_T) = prod_t p(x_t | x_{t-k}, ..., x_{t-1})

Counts give the maximum-likelihood estimate; add-alpha (Lidstone) smoothing keeps
unseen continuations possible:

    p(c | ctx) = (N(ctx, c) + alpha) / (N(ctx) + alpha * V)

where V is the alphabet size. A text is read as if ``order`` newlines came before it
(the start-of-document context), so ``log_prob`` scores every character.

Counts are kept sparse: each (context, next) pair is one int64 key in base V, so fitting
and scoring are a sort and a binary search over the whole text, not a Python loop.
"""

from __future__ import annotations

import math

import numpy as np

from seqcourse._checks import check_temperature
from seqcourse.data.text import CharVocab

__all__ = ["NGramModel"]

PAD = "\n"


class NGramModel:
    """An order-``order`` character model with add-``alpha`` smoothing.

    order: number of preceding characters the model conditions on (0 = unigram).
    alpha: pseudo-count added to every (context, character) pair, alpha > 0.
    vocab: the alphabet; by default the characters of the text given to ``fit``
        (plus the newline used as start context).
    """

    def __init__(self, order: int, alpha: float = 1.0, vocab: CharVocab | None = None) -> None:
        if isinstance(order, bool) or not isinstance(order, int | np.integer):
            raise TypeError(f"order must be an int, got {type(order).__name__}")
        if order < 0:
            raise ValueError(f"order must be >= 0, got {order}")
        if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.floating):
            raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
        if not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a finite number > 0, got {alpha}")
        if vocab is not None and PAD not in vocab:
            raise ValueError("vocab must contain the newline character, used as start context")
        self.order = int(order)
        self.alpha = float(alpha)
        self.vocab = vocab
        self._keys: np.ndarray | None = None  # sorted (context, next) keys
        self._key_counts: np.ndarray | None = None
        self._ctx: np.ndarray | None = None  # sorted context codes
        self._ctx_counts: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"NGramModel(order={self.order}, alpha={self.alpha})"

    # ------------------------------------------------------------------ codes
    def _check_fitted(self) -> CharVocab:
        if self._keys is None or self.vocab is None:
            raise RuntimeError("call fit(text) before using the model")
        return self.vocab

    def _contexts_and_next(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Context codes (N,) and next-character ids (N,) for every position of ``text``."""
        vocab = self._check_fitted()
        ids = vocab.encode(PAD * self.order + text)
        n, k, V = len(text), self.order, len(vocab)
        ctx = np.zeros(n, dtype=np.int64)
        for j in range(k):  # ctx = sum_j ids[i + j] * V^(k-1-j), built by Horner's rule
            ctx = ctx * V + ids[j : j + n]
        return ctx, ids[k:]

    # ------------------------------------------------------------------- fit
    def fit(self, text: str) -> NGramModel:
        """Count every (context, next character) pair of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if len(text) == 0:
            raise ValueError("text must not be empty")
        if self.vocab is None:
            self.vocab = CharVocab.from_text(text + PAD)
        V = len(self.vocab)
        if V ** (self.order + 1) >= 2**63:
            raise ValueError(
                f"order {self.order} is too large for an alphabet of {V}: "
                f"the keys need V**(order+1) < 2**63"
            )
        self._keys = np.zeros(0, dtype=np.int64)  # mark fitted so encoding works
        ctx, nxt = self._contexts_and_next(text)
        self._keys, self._key_counts = np.unique(ctx * V + nxt, return_counts=True)
        self._ctx, self._ctx_counts = np.unique(ctx, return_counts=True)
        return self

    # ---------------------------------------------------------------- scoring
    @staticmethod
    def _lookup(sorted_keys: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(sorted_keys, query)
        pos_c = np.minimum(pos, len(sorted_keys) - 1)
        found = (pos < len(sorted_keys)) & (sorted_keys[pos_c] == query)
        return np.where(found, counts[pos_c], 0)

    def log_prob(self, text: str) -> float:
        """Natural log-probability of ``text`` under the model."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if len(text) == 0:
            raise ValueError("text must not be empty")
        ctx, nxt = self._contexts_and_next(text)
        V = len(self.vocab)  # type: ignore[arg-type]
        joint = self._lookup(self._keys, self._key_counts, ctx * V + nxt)  # type: ignore[arg-type]
        total = self._lookup(self._ctx, self._ctx_counts, ctx)  # type: ignore[arg-type]
        return float(np.sum(np.log(joint + self.alpha) - np.log(total + self.alpha * V)))

    def bits_per_char(self, text: str) -> float:
        """Average negative log2-probability per character of ``text``."""
        return -self.log_prob(text) / (len(text) * math.log(2))

    def distribution(self, context: str) -> np.ndarray:
        """p(next character | the last ``order`` characters of ``context``), shape (V,)."""
        vocab = self._check_fitted()
        if not isinstance(context, str):
            raise TypeError(f"context must be a str, got {type(context).__name__}")
        V = len(vocab)
        ids = vocab.encode((PAD * self.order + context)[len(context) :])
        code = 0
        for i in ids.tolist():
            code = code * V + i
        joint = self._lookup(self._keys, self._key_counts, code * V + np.arange(V))  # type: ignore[arg-type]
        total = joint.sum()  # equals N(context)
        return (joint + self.alpha) / (total + self.alpha * V)

    # --------------------------------------------------------------- sampling
    def sample(
        self, n: int, seed: int | None = None, temperature: float = 1.0, prompt: str = ""
    ) -> str:
        """Draw ``n`` characters after ``prompt``; temperature rescales log-probabilities.

        temperature < 1 sharpens the distribution (towards the most likely character),
        temperature > 1 flattens it (towards uniform).
        """
        vocab = self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        temperature = check_temperature(temperature)
        vocab.encode(prompt)  # unknown characters raise here
        rng = np.random.default_rng(seed)
        out = list(prompt)
        for _ in range(int(n)):
            context = "".join(out[len(out) - self.order :]) if self.order else ""
            logits = np.log(self.distribution(context)) / temperature
            p = np.exp(logits - logits.max())
            out.append(vocab.chars[rng.choice(len(vocab), p=p / p.sum())])
        return "".join(out[len(prompt) :])
