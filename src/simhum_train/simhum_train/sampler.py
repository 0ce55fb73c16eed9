"""Windows over a time-major store: an observation history and an action chunk per anchor.

The history before an episode's first frame repeats that frame; the chunk past its last
frame repeats the last target (the robot holds still), so every frame can be an anchor.
"""

from __future__ import annotations

import numpy as np


def episode_bounds(episode_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and exclusive end row of each episode."""
    ends = np.asarray(episode_ends, dtype=np.int64)
    return np.concatenate([[0], ends[:-1]]).astype(np.int64), ends


def split_episodes(
    episode_ids: np.ndarray, val_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random (train, val) split of ``episode_ids``; val gets at least one episode when
    ``val_fraction`` > 0 and there are two or more."""
    ids = rng.permutation(np.asarray(episode_ids, dtype=np.int64))
    n_val = round(val_fraction * len(ids))
    if val_fraction > 0 and len(ids) >= 2:
        n_val = min(max(n_val, 1), len(ids) - 1)
    return np.sort(ids[n_val:]), np.sort(ids[:n_val])


class WindowSampler:
    """Anchor frames of chosen episodes and the row indices of their windows."""

    def __init__(
        self, episode_ends: np.ndarray, episodes: np.ndarray, history: int, horizon: int
    ) -> None:
        if history < 1 or horizon < 1:
            raise ValueError(f"history and horizon must be >= 1, got {history}, {horizon}")
        self.starts, self.ends = episode_bounds(episode_ends)
        self.episodes = np.asarray(episodes, dtype=np.int64)
        self.history, self.horizon = history, horizon
        self.anchors = (
            np.concatenate([np.arange(self.starts[e], self.ends[e]) for e in self.episodes])
            if len(self.episodes)
            else np.zeros(0, np.int64)
        )

    def __len__(self) -> int:
        return len(self.anchors)

    def windows(self, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row indices of the observation history [B, T] (oldest first) and of the action
        chunk [B, H] (the anchor's own target first) for each anchor row."""
        anchors = np.asarray(anchors, dtype=np.int64)
        episode = np.searchsorted(self.ends, anchors, side="right")
        start, end = self.starts[episode][:, None], self.ends[episode][:, None]
        obs = np.maximum(anchors[:, None] + np.arange(1 - self.history, 1), start)
        act = np.minimum(anchors[:, None] + np.arange(self.horizon), end - 1)
        return obs, act

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` anchors drawn uniformly with replacement."""
        if not len(self.anchors):
            raise ValueError("no anchor frames: the sampler has no episodes")
        return self.anchors[rng.integers(0, len(self.anchors), size)]
