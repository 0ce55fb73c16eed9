"""The training store: one zarr group of chunked, compressed, time-major arrays.

    data/image      uint8   [N, H, W, 3]  camera frames at the training resolution
    data/timestamp  int64   [N]           camera stamps (ns)
    data/state      float32 [N, S]        per-embodiment state rows (see states.py)
    data/target     float32 [N, S]        per-embodiment target rows
    meta/episode_ends int64 [E]           exclusive end row of each episode

Group attributes hold the episode records (id, task, domain, embodiment, source bag,
frames), the robot (joint names, frames), the image size, the camera rate, the alignment
tolerance, the layouts and per-embodiment running sums for normalisation statistics.
Episodes are appended one at a time; the episode index is written last, so an interrupted
append leaves rows past the last episode end, which the next ``append`` mode open drops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simhum_train import keys
from simhum_train.states import Layout

FRAMES_PER_CHUNK = 64
STD_FLOOR = 1e-2  # keeps near-constant features (a resting gripper) from blowing up


class StoreError(ValueError):
    """A store that cannot be created, opened or appended to; the message names it."""


@dataclass(frozen=True)
class EpisodeRecord:
    """What the store knows about one of its episodes."""

    episode_id: str
    task: str
    domain: str
    embodiment: str
    source: str  # the bag it came from
    frames: int


@dataclass(frozen=True)
class StoreInfo:
    """The facts every episode of a store shares."""

    joint_names: list[str]
    tool_frame: str
    base_frame: str
    image_width: int
    image_height: int
    control_hz: float
    tolerance_s: float
    layouts: dict[str, Layout]
    state_width: int


class EpisodeStore:
    """A zarr training store; create, open and append through the classmethods."""

    def __init__(self, path: Path, group) -> None:
        self.path = Path(path)
        self.group = group

    @classmethod
    def create(cls, path: Path, info: StoreInfo) -> EpisodeStore:
        """A new empty store at ``path`` (an error if one exists)."""
        import zarr

        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: already exists; open it to append")
        group = zarr.open_group(path, mode="w")
        h, w, s = info.image_height, info.image_width, info.state_width
        for name, shape, dtype in [
            (keys.IMAGE, (0, h, w, 3), "uint8"),
            (keys.TIMESTAMP, (0,), "int64"),
            (keys.STATE, (0, s), "float32"),
            (keys.TARGET, (0, s), "float32"),
            (keys.EPISODE_ENDS, (0,), "int64"),
        ]:
            chunks = (FRAMES_PER_CHUNK, *shape[1:]) if name != keys.EPISODE_ENDS else (1024,)
            group.create_array(name, shape=shape, chunks=chunks, dtype=dtype)
        group.attrs.update(
            {
                "info": info.__dict__,
                "episodes": [],
                "sums": {e: _zero_sums(s) for e in keys.EMBODIMENTS},
            }
        )
        return cls(path, group)

    @classmethod
    def open(cls, path: Path, mode: str = "r") -> EpisodeStore:
        """An existing store, read-only (``r``) or for appending (``a``)."""
        import zarr

        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise StoreError(f"{path}: not a SimHum training store (no zarr.json)")
        store = cls(path, zarr.open_group(path, mode=mode))
        for name in (keys.IMAGE, keys.STATE, keys.TARGET, keys.EPISODE_ENDS, "info"):
            if name not in store.group and name not in store.group.attrs:
                raise StoreError(f"{path}: missing '{name}'; rebuild the store")
        if mode == "a":
            store._drop_unindexed_rows()
        return store

    @classmethod
    def open_or_create(cls, path: Path, info: StoreInfo) -> EpisodeStore:
        """Open ``path`` for appending, checking it matches ``info``; create it if absent."""
        if not Path(path).exists():
            return cls.create(path, info)
        store = cls.open(path, mode="a")
        have = store.info
        for name in ("joint_names", "tool_frame", "image_width", "image_height", "state_width"):
            if getattr(have, name) != getattr(info, name):
                raise StoreError(
                    f"{path}: stored {name} {getattr(have, name)!r} differs from "
                    f"{getattr(info, name)!r}; write a new store or convert with the same settings"
                )
        return store

    @property
    def info(self) -> StoreInfo:
        """The store's shared facts."""
        raw = dict(self.group.attrs["info"])
        raw["layouts"] = {k: [tuple(s) for s in v] for k, v in raw["layouts"].items()}
        return StoreInfo(**raw)

    @property
    def episodes(self) -> list[EpisodeRecord]:
        """Every episode, in row order."""
        return [EpisodeRecord(**e) for e in self.group.attrs["episodes"]]

    @property
    def episode_ends(self) -> np.ndarray:
        """Exclusive end row of each episode."""
        return np.asarray(self.group[keys.EPISODE_ENDS][:], dtype=np.int64)

    @property
    def sources(self) -> set[str]:
        """The bags already in the store."""
        return {e.source for e in self.episodes}

    def append(
        self,
        record: EpisodeRecord,
        images: np.ndarray,
        stamps: np.ndarray,
        states: np.ndarray,
        targets: np.ndarray,
    ) -> None:
        """Add one episode's rows, then its index entry and statistics."""
        n = len(images)
        if not (len(stamps) == len(states) == len(targets) == n == record.frames):
            raise StoreError(f"{self.path}: episode {record.episode_id} has ragged arrays")
        for name, rows in [
            (keys.IMAGE, images),
            (keys.TIMESTAMP, stamps),
            (keys.STATE, states),
            (keys.TARGET, targets),
        ]:
            self.group[name].append(rows, axis=0)
        ends = self.episode_ends
        end = (int(ends[-1]) if len(ends) else 0) + n
        sums = dict(self.group.attrs["sums"])
        sums[record.embodiment] = _add_sums(sums[record.embodiment], states, targets)
        self.group[keys.EPISODE_ENDS].append(np.array([end], dtype=np.int64), axis=0)
        self.group.attrs.update(
            {"episodes": [*self.group.attrs["episodes"], record.__dict__], "sums": sums}
        )

    def statistics(self, embodiment: str) -> dict[str, np.ndarray]:
        """Mean and std (floored at STD_FLOOR) of the state and target rows of every frame
        of ``embodiment``; an error when the store has none."""
        sums = self.group.attrs["sums"][embodiment]
        count = sums["count"]
        if count == 0:
            raise StoreError(f"{self.path}: no '{embodiment}' episodes to compute statistics from")
        out = {}
        for name in ("state", "target"):
            mean = np.asarray(sums[f"{name}_sum"]) / count
            var = np.asarray(sums[f"{name}_sumsq"]) / count - mean**2
            out[f"{name}_mean"] = mean.astype(np.float32)
            out[f"{name}_std"] = np.maximum(np.sqrt(np.maximum(var, 0)), STD_FLOOR).astype(
                np.float32
            )
        return out

    def load(self) -> dict[str, np.ndarray]:
        """Every array in memory (the sampler reads from RAM, not from disk)."""
        names = (keys.IMAGE, keys.TIMESTAMP, keys.STATE, keys.TARGET, keys.EPISODE_ENDS)
        return {name: np.asarray(self.group[name][:]) for name in names}

    def _drop_unindexed_rows(self) -> None:
        ends = self.episode_ends
        rows = int(ends[-1]) if len(ends) else 0
        for name in (keys.IMAGE, keys.TIMESTAMP, keys.STATE, keys.TARGET):
            array = self.group[name]
            if array.shape[0] != rows:
                array.resize((rows, *array.shape[1:]))


def _zero_sums(width: int) -> dict:
    zeros = [0.0] * width
    return {
        "count": 0,
        "state_sum": zeros,
        "state_sumsq": zeros,
        "target_sum": zeros,
        "target_sumsq": zeros,
    }


def _add_sums(sums: dict, states: np.ndarray, targets: np.ndarray) -> dict:
    out = {"count": sums["count"] + len(states)}
    for name, rows in (("state", states), ("target", targets)):
        rows = rows.astype(np.float64)
        out[f"{name}_sum"] = (np.asarray(sums[f"{name}_sum"]) + rows.sum(0)).tolist()
        out[f"{name}_sumsq"] = (np.asarray(sums[f"{name}_sumsq"]) + (rows**2).sum(0)).tolist()
    return out
