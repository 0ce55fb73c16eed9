"""Per-embodiment normalisation of proprio and actions: kept outside the model, saved with
its statistics in every checkpoint and in the exported ONNX metadata."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalizer:
    """Mean/std of one embodiment's proprio and action vectors (float32)."""

    proprio_mean: np.ndarray
    proprio_std: np.ndarray
    action_mean: np.ndarray
    action_std: np.ndarray

    def proprio(self, raw: np.ndarray) -> np.ndarray:
        """Normalised proprio."""
        return ((raw - self.proprio_mean) / self.proprio_std).astype(np.float32)

    def action(self, raw: np.ndarray) -> np.ndarray:
        """Normalised actions."""
        return ((raw - self.action_mean) / self.action_std).astype(np.float32)

    def unnormalize_action(self, normalized: np.ndarray) -> np.ndarray:
        """Actions in their physical units."""
        return (normalized * self.action_std + self.action_mean).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready statistics (the ONNX metadata's ``normalization``)."""
        return {k: np.asarray(v, dtype=np.float64).tolist() for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        """The inverse of ``to_dict``."""
        return cls(**{k: np.asarray(data[k], dtype=np.float32) for k in cls.__dataclass_fields__})
