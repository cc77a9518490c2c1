"""seqcourse: sequence models from scratch, the package behind the course book.

Modules, one concept each (the chapter that teaches it in brackets):
    runtime  seeding, device and scale settings shared by every notebook
    data     offline corpora and synthetic tasks
    markov   character n-gram models (1)
    hmm      hidden Markov models: forward-backward, Viterbi, Baum-Welch (1)
    plots    figures several pages share
"""

from seqcourse.runtime import describe, device, pick, scale, seed_everything

__version__ = "0.1.0"

__all__ = ["describe", "device", "pick", "scale", "seed_everything", "__version__"]
