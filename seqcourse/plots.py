"""Figures that several notebooks share, so each page shows the same picture the same way."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["decoding_figure"]


def decoding_figure(
    states: np.ndarray,
    posterior: np.ndarray,
    path: np.ndarray | None = None,
    state: int = 1,
    state_name: str = "loaded",
    ax: Axes | None = None,
) -> Figure:
    """Posterior P(h_t = state | x) against the true hidden states and the Viterbi path.

    states: (T,) true hidden states; posterior: (T, K) state marginals; path: (T,) the
    Viterbi path or None. The true periods in ``state`` are shaded.
    """
    states, posterior = np.asarray(states), np.asarray(posterior)
    if posterior.ndim != 2 or posterior.shape[0] != states.shape[0]:
        raise ValueError(
            f"posterior must have shape (T, K) with T = {states.shape[0]}, got {posterior.shape}"
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 2.8))
    else:
        fig = ax.figure
    t = np.arange(len(states))
    ax.fill_between(
        t,
        0,
        1,
        where=states == state,
        step="mid",
        color="tab:red",
        alpha=0.15,
        label=f"true: {state_name}",
    )
    ax.plot(
        t, posterior[:, state], color="tab:blue", lw=1.2, label=f"posterior P({state_name} | x)"
    )
    if path is not None:
        ax.plot(
            t,
            (np.asarray(path) == state) * 1.04 - 0.02,
            color="black",
            lw=1,
            ls="--",
            drawstyle="steps-mid",
            label=f"Viterbi: {state_name}",
        )
    ax.set_ylim(-0.05, 1.1)
    ax.set_xlim(0, len(states) - 1)
    ax.set_xlabel("t (roll)")
    ax.set_ylabel("probability")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=3, frameon=False)
    return fig
