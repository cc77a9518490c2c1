"""seqcourse: sequence models from scratch, the package behind the course book.

Modules, one concept each (the chapter that teaches it in brackets):
    runtime  seeding, device and scale settings shared by every notebook
    data     frozen, checksummed corpora (data.frozen) and synthetic tasks (data.tasks)
    markov   character n-gram models (1)
    hmm      hidden Markov models: forward-backward, Viterbi, Baum-Welch (1)
    rnn      Elman RNN from scratch (= nn.RNN), NumPy BPTT, Jordan and leaky units, CharRNN (2)
    esn      echo state networks: fixed random reservoir, ridge-regression readout (2)
    hopfield Hopfield networks: Hebbian storage, asynchronous recall, energy (2)
    deep     deep recurrent networks: stacked, deep-transition and deep-output (2)
    delays   recurrent networks with delay connections (2)
    rtrl     real-time recurrent learning: exact RTRL, Williams-Zipser, SnAp-1, UORO, online (3)
    gated    the LSTM and the GRU from their equations (= nn.LSTM, nn.GRU) and variants (4)
    fused    their backward passes derived by hand, one autograd.Function per layer (4)
    seq2seq  encoder-decoder, masked loss, scheduled sampling, greedy/sampled/beam decoding,
             BLEU (5); its sentence pairs and Vocab in data.translation
    captioning  CNN encoder, Show and Tell, Show-Attend-Tell, doubly stochastic attention (6);
             its generated scenes in data.scenes
    glimpse  hard attention: a recurrent glimpse model trained by REINFORCE (6)
    vqa      counting questions answered from the captioning encoder (6)
    attention  scaled dot-product and multi-head attention (= nn.MultiheadAttention),
             attention in the encoder-decoder (7)
    transformer  a small pre-LN Transformer encoder-decoder (7)
    memory   attention as memory addressing: Neural Turing Machine heads, a small NTM and a
             hand-wired copy machine (7); the copy task in data.tasks
    embeddings  word2vec (skip-gram, CBOW, negative sampling), PPMI-SVD and GloVe, analogies,
             bias directions and debiasing (8); its corpora in data.corpora, data.planted
    train    the training loop, gradient clipping, truncated BPTT, bits per char (2)
    plots    figures several pages share
    graphs   a training step recorded once and replayed as a CUDA graph, and a check that
             a step reads nothing back on the host (appendix; train_seeds on a GPU)
    widgets  controls for the labs

The runtime helpers are importable from the top level (``from seqcourse import device``);
they are loaded on first use, so NumPy-only chapters do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_RUNTIME_NAMES = (
    "describe",
    "device",
    "full_precision",
    "pick",
    "scale",
    "seed_everything",
    "seed_shift",
    "tolerance",
)

__all__ = [*_RUNTIME_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _RUNTIME_NAMES:
        return getattr(importlib.import_module("seqcourse.runtime"), name)
    raise AttributeError(f"module 'seqcourse' has no attribute {name!r}")
