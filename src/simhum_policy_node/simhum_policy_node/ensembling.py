"""Temporal ensembling of action chunks (after ACT, Zhao et al. 2023).

Every inference predicts a chunk of actions for the coming control steps; the action applied
at a step is the weighted mean of every chunk's prediction for that step, with weight
exp(-decay * age), where age is the number of control steps since that chunk was predicted:
the newest prediction weighs most, decay 0 averages uniformly (ACT weights the oldest most,
which lags when chunks are long). Actions are absolute (poses in the base frame as position +
6D rotation, or joint positions), so predictions made at different times are comparable; 6D
rotations are re-orthonormalised after averaging.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from simhum_core.pose_math import matrix_from_rot6d, rot6d_from_matrix

# Weight decay per control step of a prediction's age: at 0.5 a prediction 2 steps old
# weighs 0.37 of the newest, one 6 steps old 0.05.
DEFAULT_DECAY = 0.5


class TemporalEnsembler:
    """Weighted mean of overlapping chunk predictions; ``enabled=False`` applies the latest
    chunk only (receding horizon)."""

    def __init__(
        self,
        chunk_length: int,
        decay: float = DEFAULT_DECAY,
        enabled: bool = True,
        rot6d: slice | None = None,
    ) -> None:
        if decay < 0:
            raise ValueError(f"ensemble decay must be non-negative, got {decay}")
        self.chunk_length, self.decay, self.enabled, self.rot6d = (
            chunk_length,
            decay,
            enabled,
            rot6d,
        )
        self._chunks: deque[tuple[int, np.ndarray]] = deque()

    def reset(self) -> None:
        """Forget every prediction (a new episode)."""
        self._chunks.clear()

    def add(self, step: int, chunk: np.ndarray) -> None:
        """Record the chunk predicted at control step ``step`` (its row k is for step+k)."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or len(chunk) != self.chunk_length:
            raise ValueError(f"expected a chunk of {self.chunk_length} actions, got {chunk.shape}")
        if not self.enabled:
            self._chunks.clear()
        self._chunks.append((step, chunk))
        while self._chunks and self._chunks[0][0] + self.chunk_length <= step:
            self._chunks.popleft()

    def action(self, step: int) -> np.ndarray | None:
        """The action for control step ``step``, or None if no chunk covers it."""
        covering = [(step - s, c) for s, c in self._chunks if 0 <= step - s < len(c)]
        if not covering:
            return None
        ages = np.array([age for age, _ in covering], dtype=np.float64)
        predictions = np.stack([c[age] for age, c in covering])
        mean = np.average(predictions, axis=0, weights=np.exp(-self.decay * ages))
        if self.rot6d is not None:
            mean[self.rot6d] = rot6d_from_matrix(matrix_from_rot6d(mean[self.rot6d]))
        return mean

    @property
    def size(self) -> int:
        """How many chunks currently contribute."""
        return len(self._chunks)
