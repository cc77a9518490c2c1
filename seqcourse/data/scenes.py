"""Generated scenes of coloured shapes with captions, for image captioning (chapter 6).

Each image is 32 x 32 RGB, a dark noisy background split into a 4 x 4 grid of 8 x 8 cells.
A scene holds 1 to 3 objects, each a circle, square or triangle, small or large, in one of
four colours, drawn near the centre of its own cell; no two objects share a column, so
"left of" is always defined. The cells match the 4 x 4 feature grid of
``seqcourse.captioning.ConvEncoder`` (three 2 x 2 poolings of 32 pixels), so where a model
attends can be scored against where the object is (``Scene.cells``).

Captions come from a small grammar. An object is the phrase "a <size> <colour> <shape>";
a scene's references list its objects left to right joined by "left of", and right to
left joined by "right of":

    a small red circle left of a large blue square
    a large blue square right of a small red circle

(one reference for a single object). Everything is deterministic given the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqcourse._checks import check_int

__all__ = [
    "CELL",
    "COLOURS",
    "GRID",
    "SHAPES",
    "SIZES",
    "Scene",
    "SceneObject",
    "Scenes",
    "KINDS",
    "describe",
    "generate_scenes",
    "render",
]

GRID = 4  # cells per side
CELL = 8  # pixels per cell side
SIZE = GRID * CELL  # 32 pixels per image side
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
COLOURS = {  # RGB in [0, 1]
    "red": (0.9, 0.15, 0.1),
    "green": (0.15, 0.75, 0.2),
    "blue": (0.2, 0.35, 0.95),
    "yellow": (0.95, 0.85, 0.15),
}
KINDS = tuple((s, c, h) for s in SIZES for c in COLOURS for h in SHAPES)  # 24 object kinds
_RADIUS = {"small": 2.6, "large": 3.9}  # half-extent in pixels
_BACKGROUND = 0.1


@dataclass(frozen=True)
class SceneObject:
    """One shape: its words and its cell (row, col) in the 4 x 4 grid."""

    shape: str
    colour: str
    size: str
    row: int
    col: int

    @property
    def cell(self) -> int:
        """Row-major index of the cell, 0..15, as in the encoder's flattened grid."""
        return self.row * GRID + self.col

    @property
    def words(self) -> tuple[str, ...]:
        return ("a", self.size, self.colour, self.shape)


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]

    @property
    def references(self) -> list[tuple[str, ...]]:
        return describe(self.objects)

    @property
    def cells(self) -> tuple[int, ...]:
        return tuple(o.cell for o in self.objects)


@dataclass(frozen=True)
class Scenes:
    """images (N, 3, 32, 32) float32 in [0, 1]; scenes: N ``Scene``s (objects, references)."""

    images: torch.Tensor
    scenes: tuple[Scene, ...]

    def __len__(self) -> int:
        return len(self.scenes)

    @property
    def references(self) -> list[list[tuple[str, ...]]]:
        return [s.references for s in self.scenes]

    def cell_labels(self) -> torch.Tensor:
        """(N, 16) long: per cell, 0 when empty, else 1 + k for an object of kind
        ``KINDS[k]`` (size, colour, shape): the labels the encoder is pretrained on."""
        index = {kind: k for k, kind in enumerate(KINDS)}
        labels = torch.zeros(len(self.scenes), GRID * GRID, dtype=torch.long)
        for i, scene in enumerate(self.scenes):
            for o in scene.objects:
                labels[i, o.cell] = 1 + index[(o.size, o.colour, o.shape)]
        return labels


def describe(objects: tuple[SceneObject, ...] | list[SceneObject]) -> list[tuple[str, ...]]:
    """The reference captions of a scene: left to right with "left of", then (for two or
    more objects) right to left with "right of"."""
    if not objects:
        raise ValueError("objects must hold at least one SceneObject, got none")
    order = sorted(objects, key=lambda o: o.col)
    if len({o.col for o in order}) != len(order):
        raise ValueError(f"objects must sit in distinct columns, got {[o.col for o in order]}")

    def chain(seq: list[SceneObject], relation: str) -> tuple[str, ...]:
        words: list[str] = list(seq[0].words)
        for o in seq[1:]:
            words += [relation, "of", *o.words]
        return tuple(words)

    refs = [chain(order, "left")]
    if len(order) > 1:
        refs.append(chain(order[::-1], "right"))
    return refs


def _mask(shape: str, radius: float, cy: float, cx: float) -> np.ndarray:
    """Pixels (32, 32) bool covered by the shape centred at (cy, cx)."""
    y, x = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    dy, dx = y - cy, x - cx
    if shape == "circle":
        return dy**2 + dx**2 <= radius**2
    if shape == "square":
        side = radius * 0.9
        return (np.abs(dy) <= side) & (np.abs(dx) <= side)
    # triangle, apex up: inside when below the apex and within the widening sides
    top, bottom = cy - radius, cy + radius
    half = (y - top) / (2 * radius) * radius * 1.1
    return (y >= top) & (y <= bottom) & (np.abs(dx) <= half)


def render(
    objects: tuple[SceneObject, ...] | list[SceneObject],
    noise: float = 0.05,
    rng: np.random.Generator | None = None,
    jitter: tuple[tuple[float, float], ...] | None = None,
) -> np.ndarray:
    """The image (3, 32, 32) float32 of ``objects`` on a dark background with Gaussian
    ``noise`` (std), each shape at its cell centre plus ``jitter`` (dy, dx) pixels."""
    rng = rng if rng is not None else np.random.default_rng(0)
    image = np.full((3, SIZE, SIZE), _BACKGROUND, dtype=np.float32)
    for k, o in enumerate(objects):
        dy, dx = jitter[k] if jitter is not None else (0.0, 0.0)
        cy, cx = (o.row + 0.5) * CELL + dy, (o.col + 0.5) * CELL + dx
        mask = _mask(o.shape, _RADIUS[o.size], cy, cx)
        image[:, mask] = np.asarray(COLOURS[o.colour], dtype=np.float32)[:, None]
    if noise > 0:
        image += rng.normal(0.0, noise, image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def generate_scenes(
    n: int,
    seed: Any = 0,
    min_objects: int = 1,
    max_objects: int = 2,
    noise: float = 0.05,
) -> Scenes:
    """``n`` random scenes with ``min_objects``..``max_objects`` objects each (1..4), drawn
    with a NumPy generator seeded by ``seed``: the same seed gives the same scenes."""
    n = check_int(n, "n")
    lo = check_int(min_objects, "min_objects")
    hi = check_int(max_objects, "max_objects")
    if not lo <= hi <= GRID:
        raise ValueError(
            f"need 1 <= min_objects <= max_objects <= {GRID} (one object per column), "
            f"got min_objects={lo}, max_objects={hi}"
        )
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not 0 <= noise < 1:
        raise ValueError(f"noise must be a number in [0, 1), got {noise!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise TypeError(f"seed must be an int >= 0, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    images = np.empty((n, 3, SIZE, SIZE), dtype=np.float32)
    scenes = []
    for i in range(n):
        k = int(rng.integers(lo, hi + 1))
        cols = rng.choice(GRID, size=k, replace=False)
        objects = tuple(
            SceneObject(
                shape=SHAPES[rng.integers(len(SHAPES))],
                colour=tuple(COLOURS)[rng.integers(len(COLOURS))],
                size=SIZES[rng.integers(len(SIZES))],
                row=int(rng.integers(GRID)),
                col=int(c),
            )
            for c in cols
        )
        jitter = tuple((float(a), float(b)) for a, b in rng.uniform(-1.0, 1.0, (k, 2)))
        images[i] = render(objects, noise, rng, jitter)
        scenes.append(Scene(objects))
    return Scenes(torch.from_numpy(images), tuple(scenes))
