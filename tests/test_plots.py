"""seqcourse.plots: shared figures."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from seqcourse.plots import decoding_figure


def test_decoding_figure_draws_posterior_path_and_truth():
    states = np.array([0, 0, 1, 1, 0])
    posterior = np.stack([1 - np.linspace(0, 1, 5), np.linspace(0, 1, 5)], axis=1)
    fig = decoding_figure(states, posterior, path=np.array([0, 0, 1, 1, 1]))
    ax = fig.axes[0]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["true: loaded", "posterior P(loaded | x)", "Viterbi: loaded"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), posterior[:, 1])
    plt.close(fig)


def test_decoding_figure_draws_into_given_axes_without_path():
    fig, ax = plt.subplots()
    out = decoding_figure(np.zeros(3, int), np.full((3, 2), 0.5), ax=ax, state=0, state_name="fair")
    assert out is fig and len(ax.lines) == 1
    plt.close(fig)


def test_decoding_figure_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"posterior must have shape \(T, K\) with T = 3"):
        decoding_figure(np.zeros(3, int), np.zeros((4, 2)))
