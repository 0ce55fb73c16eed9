"""The training store: one zarr group of chunked, compressed, time-major arrays.

    data/image      uint8   [N, H, W, 3]  camera frames at the training resolution
    data/timestamp  int64   [N]           camera stamps (ns)
    data/state      float32 [N, S]        per-embodiment state rows (see states.py)
    data/target     float32 [N, S]        per-embodiment target rows
    meta/episode_ends int64 [E]           exclusive end row of each episode

Group attributes hold the robot (joint names, frames), the image size, the camera rate,
the alignment tolerance and the layouts, written once when the store is created (in a
hidden folder renamed into place, so a store exists complete or not at all).

The commit file ``commit.json`` holds the episode records (id, task, domain, embodiment,
source bag, content identity, frames, how the targets were obtained) and per-embodiment
running sums for normalisation statistics. It is the only source of truth for what the
store holds: an append writes the rows and the episode's end first, then replaces the
commit file in one atomic step (temp file, fsync, os.replace). Rows and ends past the
committed episodes are leftovers of an interrupted append: readers ignore them and the next
append writes over them, so a crash at any point leaves every committed episode as it was.

One writer at a time: creating or opening a store for appending takes an exclusive lock on
``.<store name>.lock`` beside it (flock, held while the writer object lives); a second
writer is refused, naming the store, instead of writing over the first one's rows.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simhum_train import keys
from simhum_train.errors import SimhumTrainError
from simhum_train.states import Layout

FRAMES_PER_CHUNK = 64
COMMIT = "commit.json"
DATA = (keys.IMAGE, keys.TIMESTAMP, keys.STATE, keys.TARGET)
STD_FLOOR = 1e-2  # keeps near-constant features (a resting gripper) from blowing up
# How an episode's targets were obtained: what the robot was commanded, or the state measured
# one frame later (recordings without commands, and human hands). Stores made before the tag
# hold robot episodes from commands and human episodes from the next frame.
COMMANDED, MEASURED_FUTURE = "commanded", "measured_future"


class StoreError(SimhumTrainError):
    """A store that cannot be created, opened or appended to; the message names it."""


@dataclass(frozen=True)
class EpisodeRecord:
    """What the store knows about one of its episodes."""

    episode_id: str
    task: str
    domain: str
    embodiment: str
    source: str  # the bag it came from ("BAG#START-STOP" seconds: a part of it)
    frames: int
    identity: str = ""  # the bag's content identity (see episodes.content_identity)
    actions: str = COMMANDED  # COMMANDED or MEASURED_FUTURE


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

    def __init__(self, path: Path, group, commit: dict, lock=None) -> None:
        self.path = Path(path)
        self.group = group
        self._commit = commit
        self._lock = lock  # the writer's lock file, open (and locked) while the writer lives

    @classmethod
    def create(cls, path: Path, info: StoreInfo) -> EpisodeStore:
        """A new empty store at ``path`` (an error if one exists), built in a hidden folder
        beside it and renamed into place."""
        import zarr

        path = Path(path)
        lock = _lock_writer(path)
        if path.exists():
            raise StoreError(f"{path}: already exists; open it to append")
        staging = path.with_name(f".{path.name}.creating")
        shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted create
        group = zarr.open_group(staging, mode="w")
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
        group.attrs.update({"info": info.__dict__})
        commit = {"episodes": [], "sums": {e: _zero_sums(s) for e in keys.EMBODIMENTS}}
        _write_atomically(staging / COMMIT, commit)
        os.replace(staging, path)
        return cls.open(path, mode="a", lock=lock)

    @classmethod
    def open(cls, path: Path, mode: str = "r", lock=None) -> EpisodeStore:
        """An existing store, read-only (``r``) or for appending (``a``, the one writer)."""
        import zarr

        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise StoreError(f"{path}: not a SimHum training store (no zarr.json)")
        if mode != "r" and lock is None:
            lock = _lock_writer(path)
        group = zarr.open_group(path, mode=mode)
        for name in (*DATA, keys.EPISODE_ENDS, "info"):
            if name not in group and name not in group.attrs:
                raise StoreError(f"{path}: missing '{name}'; rebuild the store")
        store = cls(path, group, _read_commit(path, group), lock)
        store._check()
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
        return [
            EpisodeRecord(**{"actions": _ACTIONS_BEFORE_THE_TAG[e["embodiment"]], **e})
            for e in self._commit["episodes"]
        ]

    @property
    def episode_ends(self) -> np.ndarray:
        """Exclusive end row of each committed episode."""
        count = len(self._commit["episodes"])
        return np.asarray(self.group[keys.EPISODE_ENDS][:count], dtype=np.int64)

    @property
    def rows(self) -> int:
        """Committed rows (frames)."""
        ends = self.episode_ends
        return int(ends[-1]) if len(ends) else 0

    def append(
        self,
        record: EpisodeRecord,
        images: np.ndarray,
        stamps: np.ndarray,
        states: np.ndarray,
        targets: np.ndarray,
    ) -> None:
        """Write one episode's rows and end past the committed ones (over any leftovers of
        an interrupted append), then commit it with its statistics in one atomic step."""
        n = len(images)
        if not (len(stamps) == len(states) == len(targets) == n == record.frames):
            raise StoreError(f"{self.path}: episode {record.episode_id} has ragged arrays")
        start, count = self.rows, len(self._commit["episodes"])
        for name, rows in zip(DATA, (images, stamps, states, targets), strict=True):
            _write_rows(self.group[name], start, rows)
        _write_rows(self.group[keys.EPISODE_ENDS], count, np.array([start + n], np.int64))
        sums = dict(self._commit["sums"])
        sums[record.embodiment] = _add_sums(sums[record.embodiment], states, targets)
        commit = {"episodes": [*self._commit["episodes"], record.__dict__], "sums": sums}
        _write_atomically(self.path / COMMIT, commit)
        self._commit = commit

    def statistics(self, embodiment: str) -> dict[str, np.ndarray]:
        """Mean and std (floored at STD_FLOOR) of the state and target rows of every frame
        of ``embodiment``; an error when the store has none."""
        sums = self._commit["sums"][embodiment]
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
        """Every committed row in memory (the sampler reads from RAM, not from disk)."""
        rows = self.rows
        arrays = {name: np.asarray(self.group[name][:rows]) for name in DATA}
        return {**arrays, keys.EPISODE_ENDS: self.episode_ends}

    def _check(self) -> None:
        """An error naming the store unless every committed episode's rows are there."""
        ends = self.episode_ends
        if len(ends) < len(self._commit["episodes"]) or np.any(np.diff(ends, prepend=0) <= 0):
            raise StoreError(f"{self.path}: episode ends do not match the commit; rebuild it")
        for name in DATA:
            if self.group[name].shape[0] < self.rows:
                raise StoreError(
                    f"{self.path}: '{name}' has {self.group[name].shape[0]} rows, the commit "
                    f"{self.rows}; rebuild the store"
                )


_ACTIONS_BEFORE_THE_TAG = {keys.ROBOT: COMMANDED, keys.HUMAN: MEASURED_FUTURE}


def _lock_writer(path: Path):
    """The store's writer lock, taken (an open file that holds an exclusive flock)."""
    name = path.with_name(f".{path.name}.lock")
    name.parent.mkdir(parents=True, exist_ok=True)
    lock = open(name, "a")  # noqa: SIM115 - held open by the writer for its lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise StoreError(
            f"{path}: another writer holds {name} (a conversion or import into this store is "
            "still running); wait for it to finish: two writers would overwrite each other's "
            "episodes"
        ) from None
    return lock


def _write_rows(array, start: int, rows: np.ndarray) -> None:
    """``rows`` written at ``start``, the array resized to end with them (dropping any
    uncommitted rows beyond)."""
    array.resize((start + len(rows), *array.shape[1:]))
    array[start:] = rows


def _write_atomically(path: Path, content: dict) -> None:
    """``content`` as JSON at ``path``: written to a temp file, synced, then renamed over."""
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w") as f:
        json.dump(content, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_commit(path: Path, group) -> dict:
    """The committed episodes and sums; stores made before the commit file kept them in the
    group attributes, written after the ends."""
    commit = path / COMMIT
    if not commit.is_file():
        if "episodes" in group.attrs:
            return {"episodes": group.attrs["episodes"], "sums": group.attrs["sums"]}
        raise StoreError(f"{path}: no {COMMIT}; rebuild the store")
    try:
        return json.loads(commit.read_text())
    except (OSError, ValueError) as err:
        raise StoreError(f"{commit}: unreadable ({err}); rebuild the store") from None


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
