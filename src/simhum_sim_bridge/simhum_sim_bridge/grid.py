"""Object placements on a grid wider than the in-distribution region.

The inner cells are the training distribution; the outer ring is held out to measure spatial
generalisation (unseen object positions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLITS = ("in", "out", "all")


@dataclass(frozen=True)
class PlacementGrid:
    """A ``cells`` x ``cells`` grid over [x_min, x_max] x [y_min, y_max] in the base frame;
    cells with ``margin`` or more cells to the border form the in-distribution region."""

    x_min: float = 0.30
    x_max: float = 0.58
    y_min: float = -0.24
    y_max: float = 0.24
    cells: int = 7
    margin: int = 1
    jitter: float = 0.008  # metres, uniform within a cell

    def centres(self, split: str) -> np.ndarray:
        """(N, 2) cell centres of a split: 'in', 'out' (the held-out ring) or 'all'."""
        if split not in SPLITS:
            raise ValueError(f"unknown placement split '{split}'; use one of {SPLITS}")
        xs = np.linspace(self.x_min, self.x_max, self.cells)
        ys = np.linspace(self.y_min, self.y_max, self.cells)
        ix, iy = np.meshgrid(np.arange(self.cells), np.arange(self.cells), indexing="ij")
        border = np.minimum.reduce([ix, iy, self.cells - 1 - ix, self.cells - 1 - iy])
        keep = {"in": border >= self.margin, "out": border < self.margin}.get(
            split, np.ones_like(border, dtype=bool)
        )
        return np.stack([xs[ix[keep]], ys[iy[keep]]], axis=1)

    def sample(
        self, rng: np.random.Generator, count: int, split: str, min_distance: float
    ) -> np.ndarray:
        """``count`` distinct placements (N, 2) at least ``min_distance`` apart."""
        centres = self.centres(split)
        for _ in range(1000):
            picks = centres[rng.choice(len(centres), size=count, replace=False)]
            picks = picks + rng.uniform(-self.jitter, self.jitter, picks.shape)
            gaps = np.linalg.norm(picks[:, None] - picks[None], axis=-1)
            if count == 1 or gaps[np.triu_indices(count, 1)].min() >= min_distance:
                return picks
        raise ValueError(
            f"cannot place {count} objects {min_distance} m apart in the '{split}' split"
        )
