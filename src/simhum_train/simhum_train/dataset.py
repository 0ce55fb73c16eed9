"""Training batches from a store held in memory: per domain, normalised numpy windows.

Vectorised numpy indexing over RAM (no per-sample Python, no disk), which is what makes
the loader fast; the naive per-bag loader in bench/train_bench.py is the baseline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simhum_train import keys
from simhum_train.action_space import ActionSpace, action_spaces
from simhum_train.normalize import Normalizer
from simhum_train.sampler import WindowSampler, split_episodes
from simhum_train.states import Layout
from simhum_train.store import STD_FLOOR, EpisodeRecord, EpisodeStore, StoreInfo

ACTION_STAT_SAMPLES = 20_000  # anchors used for action statistics (all when fewer)
# Normalisation choices, the default first: statistics over the episodes a training loads or
# over every episode of the embodiment in the store; each rot6d block scaled as one or per
# entry ("block" gained 44 points over "dimension" on validation scenes:
# docs/learning_record.md, session 31).
STATISTICS = ("training", "store")
ROTATION_SCALES = ("block", "dimension")


class DomainWindows:
    """Normalised batches of one domain's episodes (one split)."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        sampler: WindowSampler,
        action_space: ActionSpace,
        normalizer: Normalizer,
    ) -> None:
        self.arrays, self.sampler = arrays, sampler
        self.action_space, self.normalizer = action_space, normalizer

    def __len__(self) -> int:
        return len(self.sampler)

    def batch(self, anchors: np.ndarray) -> dict[str, np.ndarray]:
        """Images [B, T, H, W, 3] uint8, proprio [B, T, P] and actions [B, H, A] float32,
        both normalised."""
        obs, act = self.sampler.windows(anchors)
        state = self.arrays[keys.STATE]
        space = self.action_space
        actions = space.actions(state[anchors], self.arrays[keys.TARGET][act])
        return {
            keys.OBS_IMAGE: self.arrays[keys.IMAGE][obs],
            keys.OBS_PROPRIO: self.normalizer.proprio(space.proprio(state[obs])),
            keys.ACTION: self.normalizer.action(actions),
        }

    def sample(self, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
        """A batch of ``size`` uniformly drawn windows."""
        return self.batch(self.sampler.sample(rng, size))


def first_episodes(records: list[EpisodeRecord], ids: list[int], limit: int) -> list[int]:
    """Of the store indices ``ids``, the first ``limit`` of each task by episode id (the
    generator names episodes by seed, so this is seed order), sorted."""
    by_task: dict[str, list[int]] = {}
    for i in sorted(ids, key=lambda i: records[i].episode_id):
        by_task.setdefault(records[i].task, []).append(i)
    return sorted(i for chosen in by_task.values() for i in chosen[:limit])


def floored_std(values: np.ndarray) -> np.ndarray:
    """Per-column std of rows ``values``, floored at STD_FLOOR."""
    return np.maximum(values.std(0), STD_FLOOR).astype(np.float32)


def block_scaled(std: np.ndarray, layout: Layout) -> np.ndarray:
    """``std`` with each rot6d block's entries replaced by one scale, the root of the block's
    summed variances. Per-entry scaling would stretch a 6D rotation: near the identity its
    cosine-like entries barely vary (1 - cos), and Gram-Schmidt discards most of their
    error, yet they would weigh as much in the loss as the sine-like ones."""
    out = np.array(std, dtype=np.float32)
    for name, start, stop in layout:
        if name == "rot6d":
            out[start:stop] = np.sqrt(np.sum(np.square(out[start:stop], dtype=np.float64)))
    return out


class TrainingData:
    """A store in memory, split by episode into train/val per domain (optionally only the
    first episodes of some domains), with the policy's action spaces and per-embodiment
    normalisers."""

    def __init__(
        self,
        store_path: Path,
        action_space: str,
        history: int,
        chunk_length: int,
        val_fraction: float,
        seed: int,
        tasks: list[str] | None = None,
        episodes: dict[str, int] | None = None,
        statistics: str = STATISTICS[0],
        rotation_scale: str = ROTATION_SCALES[0],
    ) -> None:
        store = EpisodeStore.open(store_path)
        self.store_path = Path(store_path)
        self.info: StoreInfo = store.info
        self.records = store.episodes
        self.arrays = store.load()
        self.history, self.chunk_length = history, chunk_length
        self.spaces = action_spaces(action_space, len(self.info.joint_names))
        rng = np.random.default_rng(seed)
        self.splits: dict[str, dict[str, np.ndarray]] = {}
        for domain in keys.DOMAINS:
            ids = [
                i
                for i, r in enumerate(self.records)
                if r.domain == domain and (tasks is None or r.task in tasks)
            ]
            if episodes and domain in episodes:
                ids = first_episodes(self.records, ids, episodes[domain])
            if ids:
                train, val = split_episodes(np.array(ids), val_fraction, rng)
                self.splits[domain] = {"train": train, "val": val}
        read = set().union(*(part.tolist() for s in self.splits.values() for part in s.values()))
        self.normalizers = {}
        for e in keys.EMBODIMENTS:
            ids = [
                i
                for i, r in enumerate(self.records)
                if r.embodiment == e and (statistics == "store" or i in read)
            ]
            if ids:
                self.normalizers[e] = self._normalizer(store, e, ids, statistics, rotation_scale)

    @property
    def domains(self) -> list[str]:
        """Domains with episodes (after the task filter)."""
        return list(self.splits)

    def windows(self, domain: str, split: str) -> DomainWindows:
        """Batches of ``domain``'s ``split`` ('train' or 'val') episodes."""
        if domain not in self.splits:
            raise ValueError(
                f"{self.store_path}: no '{domain}' episodes (has {self.domains}); add them "
                "with simhum_dataset or drop the domain from the stage's mixing"
            )
        embodiment = keys.EMBODIMENT_OF[domain]
        sampler = WindowSampler(
            self.arrays[keys.EPISODE_ENDS],
            self.splits[domain][split],
            self.history,
            self.chunk_length,
        )
        return DomainWindows(
            self.arrays, sampler, self.spaces[embodiment], self.normalizers[embodiment]
        )

    def _normalizer(
        self,
        store: EpisodeStore,
        embodiment: str,
        episodes: list[int],
        statistics: str,
        rotation_scale: str,
    ) -> Normalizer:
        """Proprio statistics over every frame of ``episodes`` ("store": the store's running
        sums over them), action statistics over their windows (they depend on the action
        space and chunk length); with "block", each rot6d block scaled as one."""
        space = self.spaces[embodiment]
        sampler = WindowSampler(
            self.arrays[keys.EPISODE_ENDS], np.array(episodes), 1, self.chunk_length
        )
        frames = sampler.anchors  # every frame of the episodes
        if statistics == "store":
            stats = store.statistics(embodiment)
            proprio_mean = stats["state_mean"][: space.proprio_dim]
            proprio_std = stats["state_std"][: space.proprio_dim]
        else:
            proprio = space.proprio(self.arrays[keys.STATE][frames]).astype(np.float64)
            proprio_mean, proprio_std = proprio.mean(0), floored_std(proprio)
        anchors = frames
        if len(anchors) > ACTION_STAT_SAMPLES:
            anchors = np.random.default_rng(0).choice(anchors, ACTION_STAT_SAMPLES, replace=False)
        _, act = sampler.windows(anchors)
        actions = space.actions(self.arrays[keys.STATE][anchors], self.arrays[keys.TARGET][act])
        flat = actions.reshape(-1, space.action_dim).astype(np.float64)
        action_std = floored_std(flat)
        if rotation_scale == "block":
            proprio_std = block_scaled(proprio_std, space.proprio_layout)
            action_std = block_scaled(action_std, space.action_layout)
        return Normalizer(
            proprio_mean=np.asarray(proprio_mean, np.float32),
            proprio_std=np.asarray(proprio_std, np.float32),
            action_mean=flat.mean(0).astype(np.float32),
            action_std=np.asarray(action_std, np.float32),
        )
