"""Word embeddings (chapter 8), one concept per submodule:

    vocab       the shared word vocabulary (most frequent first, min_count)
    word2vec    skip-gram and CBOW: full softmax, negative sampling with the unigram^0.75
                noise, subsampling, dynamic windows, the hand-derived SGNS gradient, training
    count       co-occurrence counts, (shifted, smoothed) PMI and PPMI, PPMI-SVD, GloVe, and
                how close trained SGNS vectors come to factorising the shifted PMI matrix
    similarity  cosine neighbours, analogies (3CosAdd, 3CosMul) and their accuracy, word
                similarity (Spearman's rho)
    bias        a bias direction from definitional pairs, projections, neutralise and equalise
                (Bolukbasi et al. 2016), and the neighbour-based residual bias of Gonen and
                Goldberg (2019)

Everything public is importable from here: ``from seqcourse.embeddings import sgns_loss``.
The data live in ``seqcourse.data.corpora`` (real text, the analogy questions, WordSim-353)
and ``seqcourse.data.planted`` (a generated corpus with known analogies and a planted bias).
"""

from seqcourse.embeddings.bias import (
    BiasDirection,
    NeighbourBias,
    bias_direction,
    equalise,
    neighbour_bias,
    neutralise,
    project,
)
from seqcourse.embeddings.count import (
    WEIGHTINGS,
    GloVe,
    PMIFit,
    cooccurrence,
    glove_loss,
    pmi,
    ppmi,
    ppmi_svd,
    sgns_pmi_fit,
    train_glove,
)
from seqcourse.embeddings.similarity import (
    METHODS,
    AnalogyScore,
    WordSimilarity,
    analogy,
    analogy_accuracy,
    nearest,
    spearman,
    unit,
    word_similarity,
)
from seqcourse.embeddings.vocab import Vocabulary
from seqcourse.embeddings.word2vec import (
    CBOW,
    MODELS,
    NoiseSampler,
    SkipGram,
    TrainedEmbeddings,
    cbow_windows,
    full_softmax_loss,
    keep_probability,
    noise_distribution,
    sgns_grad,
    sgns_loss,
    skipgram_pairs,
    subsample,
    train_word2vec,
)

__all__ = [
    "CBOW",
    "METHODS",
    "MODELS",
    "WEIGHTINGS",
    "AnalogyScore",
    "BiasDirection",
    "GloVe",
    "NeighbourBias",
    "NoiseSampler",
    "PMIFit",
    "SkipGram",
    "TrainedEmbeddings",
    "Vocabulary",
    "WordSimilarity",
    "analogy",
    "analogy_accuracy",
    "bias_direction",
    "cbow_windows",
    "cooccurrence",
    "equalise",
    "full_softmax_loss",
    "glove_loss",
    "keep_probability",
    "nearest",
    "neighbour_bias",
    "neutralise",
    "noise_distribution",
    "pmi",
    "ppmi",
    "ppmi_svd",
    "project",
    "sgns_grad",
    "sgns_loss",
    "sgns_pmi_fit",
    "skipgram_pairs",
    "spearman",
    "subsample",
    "train_glove",
    "train_word2vec",
    "unit",
    "word_similarity",
]
