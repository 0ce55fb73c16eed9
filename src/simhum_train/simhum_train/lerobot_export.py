"""A training store, or its episodes of some domains, as a LeRobotDataset (v3.0) folder.

    observation.images.camera  the store's frames, an H.264 video (lerobot_format)
    observation.state          the store's state rows of the episodes' embodiment, without
                               the store's zero padding, named from its layout (joints by
                               the robot's joint names)
    action                     the store's target rows (commanded joint targets and the
                               tool pose they give; a hand's next pose), named alike
    timestamp, frame_index     frame_index / fps, the frame's place in its episode
    episode_index, index       the episode's place in the export, the frame's overall
    task_index                 the episode's task (meta/tasks.parquet)

A LeRobot dataset has one state layout, so one export holds one embodiment. It is built in
a hidden folder beside ``out`` and renamed into place when complete.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from simhum_train import keys
from simhum_train import lerobot_format as fmt
from simhum_train.lerobot_format import LeRobotFormatError
from simhum_train.sampler import episode_bounds
from simhum_train.store import EpisodeStore

MAX_CRF = 51  # H.264's worst quality


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    out: Path
    episodes: int
    frames: int
    domains: list[str]
    embodiment: str
    fps: int
    bytes: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"exported {self.episodes} {self.embodiment} episodes ({', '.join(self.domains)}; "
            f"{self.frames} frames at {self.fps} fps) to {self.out}: "
            f"{self.bytes / 2**20:.1f} MiB in {self.seconds:.1f} s"
        )


def export_store(
    store_path: Path,
    out: Path,
    domains: list[str] | None = None,
    fps: int | None = None,
    overwrite: bool = False,
    repo_id: str | None = None,
    crf: int = fmt.LOSSLESS_CRF,
    progress: bool = True,
) -> ExportSummary:
    """Write the store's episodes of ``domains`` (all when None) as a LeRobot dataset at
    ``out``, its video at H.264 quality ``crf`` (0: lossless); an existing ``out`` is
    replaced only with ``overwrite``, and only once the new dataset is complete."""
    start = time.monotonic()
    out = Path(out)
    if out.exists() and not overwrite:
        raise LeRobotFormatError(f"{out}: already exists; pass --overwrite to replace it")
    if not 0 <= crf <= MAX_CRF:
        raise LeRobotFormatError(f"--crf {crf}: expected 0 (lossless) to {MAX_CRF}")
    store = EpisodeStore.open(store_path)
    chosen = _select(store, domains)
    records = [store.episodes[i] for i in chosen]
    embodiment = records[0].embodiment
    info = store.info
    rate = _rate(store, fps)
    layout = info.layouts[embodiment]
    width = max(stop for _, _, stop in layout)
    names = fmt.row_names(layout, info.joint_names)
    features = {
        fmt.CAMERA: fmt.video_feature(info.image_width, info.image_height, rate),
        fmt.STATE: fmt.vector_feature(names),
        fmt.ACTION: fmt.vector_feature(names),
        **fmt.index_features(),
    }
    staging = out.with_name(f".{out.name}.exporting")
    shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted export
    starts, ends = episode_bounds(store.episode_ends)
    try:
        writer = DatasetWriter(staging, rate, features, crf)
        picked = zip(chosen, records, strict=True)
        for i, record in tqdm(picked, total=len(chosen), desc="exporting", disable=not progress):
            rows = slice(int(starts[i]), int(ends[i]))
            writer.add_episode(
                record.task,
                record.actions,
                np.asarray(store.group[keys.IMAGE][rows]),
                np.asarray(store.group[keys.STATE][rows])[:, :width],
                np.asarray(store.group[keys.TARGET][rows])[:, :width],
            )
        writer.close(embodiment, _card(repo_id or f"simhum/{out.name}", store_path, records))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _replace(out, staging)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return ExportSummary(
        out=out,
        episodes=len(records),
        frames=writer.frames,
        domains=sorted({r.domain for r in records}),
        embodiment=embodiment,
        fps=rate,
        bytes=size,
        seconds=time.monotonic() - start,
    )


class DatasetWriter:
    """Appends episodes (one camera, state and action vectors) to a new LeRobot dataset
    folder; ``close`` writes the metadata."""

    def __init__(self, root: Path, fps: int, features: dict, crf: int) -> None:
        self.root, self.fps, self.features, self.crf = Path(root), fps, features, crf
        self.frames = 0
        self._tasks: dict[str, int] = {}
        self._episodes: list[dict] = []
        self._schema = fmt.data_schema(features)
        self._vectors: dict[str, list[np.ndarray]] = {k: [] for k in self._schema.names}
        self._histogram = np.zeros((3, 256), np.int64)
        self._data = _RollingFile(fmt.DATA_FILES_MB)
        self._video = _RollingFile(fmt.VIDEO_FILES_MB)
        self._parquet: pq.ParquetWriter | None = None
        self._container: av.container.OutputContainer | None = None
        self._video_frames = 0  # frames in the current video file

    def add_episode(
        self, task: str, origin: str, images: np.ndarray, states: np.ndarray, actions: np.ndarray
    ) -> None:
        """Append one episode: uint8 frames [N, H, W, 3] and float32 rows [N, D];
        ``origin``: how the store obtained its actions (store.COMMANDED, MEASURED_FUTURE),
        kept in the episodes table for an import back."""
        n, index = len(images), len(self._episodes)
        task_index = self._tasks.setdefault(task, len(self._tasks))
        columns = {
            fmt.STATE: states.astype(np.float32),
            fmt.ACTION: actions.astype(np.float32),
            "timestamp": (np.arange(n) / self.fps).astype(np.float32),
            "frame_index": np.arange(n),
            "episode_index": np.full(n, index),
            "index": np.arange(self.frames, self.frames + n),
            "task_index": np.full(n, task_index),
        }
        row = {"episode_index": index, "tasks": [task], "length": n, fmt.ACTIONS_ORIGIN: origin}
        row |= self._write_rows(columns)
        row |= {"dataset_from_index": self.frames, "dataset_to_index": self.frames + n}
        row |= self._write_video(images)
        histogram = fmt.pixel_histogram(images)
        stats = {key: fmt.vector_stats(values) for key, values in columns.items()}
        stats[fmt.CAMERA] = fmt.image_stats(histogram, n)
        for feature, values in fmt.jsonable(stats).items():
            row |= {f"stats/{feature}/{name}": value for name, value in values.items()}
        row |= {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        self._episodes.append(row)
        for key, values in columns.items():
            self._vectors[key].append(values)
        self._histogram += histogram
        self.frames += n

    def close(self, robot_type: str, card: str) -> None:
        """Finish the files and write meta/ (info, stats, tasks, episodes) and the card."""
        if self._parquet is not None:
            self._parquet.close()
        self._close_video()
        episodes = self.root / fmt.EPISODES_PATH.format(**fmt.file_location(0))
        episodes.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self._episodes), episodes)
        fmt.write_tasks(self.root, list(self._tasks))
        stats = {k: fmt.vector_stats(np.concatenate(v)) for k, v in self._vectors.items()}
        stats[fmt.CAMERA] = fmt.image_stats(self._histogram, self.frames)
        fmt.write_json(self.root / fmt.STATS, fmt.jsonable(stats))
        info = fmt.info_json(
            self.fps, self.features, robot_type, len(self._episodes), self.frames, len(self._tasks)
        )
        fmt.write_json(self.root / fmt.INFO, info)
        (self.root / fmt.CARD).write_text(card)

    def _write_rows(self, columns: dict[str, np.ndarray]) -> dict[str, int]:
        """The episode's frame rows appended to the current data file (a new one once the
        current one is full); where they went."""
        arrays = []
        for field in self._schema:
            values = columns[field.name]
            if pa.types.is_fixed_size_list(field.type):
                flat = pa.array(values.ravel(), field.type.value_type)
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, field.type.list_size))
            else:
                arrays.append(pa.array(values, field.type))
        table = pa.Table.from_arrays(arrays, schema=self._schema)
        if self._data.full() and self._parquet is not None:
            self._parquet.close()
            self._parquet = None
            self._data.roll()
        if self._parquet is None:
            path = self.root / fmt.DATA_PATH.format(**self._data.location)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._parquet = pq.ParquetWriter(path, table.schema, compression="snappy")
        self._parquet.write_table(table)
        self._data.bytes += table.nbytes
        return {f"data/{k}": v for k, v in self._data.location.items()}

    def _write_video(self, images: np.ndarray) -> dict:
        """The episode's frames encoded after the current video file's (a new file once the
        current one is full); where they went and from/to which time."""
        if self._video.full():
            self._close_video()
            self._video.roll()
        if self._container is None:
            path = self.root / fmt.VIDEO_PATH.format(video_key=fmt.CAMERA, **self._video.location)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(path), "w")
            stream = self._container.add_stream(
                fmt.VIDEO_CODEC, rate=self.fps, options={"g": str(fmt.GOP), "crf": str(self.crf)}
            )
            stream.width, stream.height = images.shape[2], images.shape[1]
            stream.pix_fmt = fmt.PIX_FMT
            self._video_frames = 0
        stream = self._container.streams.video[0]
        first = self._video_frames
        for image in images:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = self._video_frames, Fraction(1, self.fps)
            self._mux(stream.encode(frame))
            self._video_frames += 1
        prefix = f"videos/{fmt.CAMERA}/"
        return {
            **{prefix + k: v for k, v in self._video.location.items()},
            prefix + "from_timestamp": first / self.fps,
            prefix + "to_timestamp": self._video_frames / self.fps,
        }

    def _mux(self, packets: list) -> None:
        for packet in packets:
            self._video.bytes += packet.size
            self._container.mux(packet)

    def _close_video(self) -> None:
        if self._container is not None:
            self._mux(self._container.streams.video[0].encode(None))
            self._container.close()
            self._container = None


class _RollingFile:
    """The current file of one kind (data, a camera's video) and how full it is."""

    def __init__(self, limit_mb: int) -> None:
        self.limit = limit_mb * 2**20
        self.number = 0
        self.bytes = 0

    @property
    def location(self) -> dict[str, int]:
        return fmt.file_location(self.number)

    def full(self) -> bool:
        return self.bytes >= self.limit

    def roll(self) -> None:
        self.number += 1
        self.bytes = 0


def _select(store: EpisodeStore, domains: list[str] | None) -> list[int]:
    """Indices of the store's episodes of ``domains``, all of one embodiment; an error naming
    the store's domains or the embodiments found."""
    records = store.episodes
    present = sorted({r.domain for r in records})
    if not records:
        raise LeRobotFormatError(f"{store.path}: the store holds no episodes")
    unknown = sorted(set(domains or []) - set(present))
    if unknown:
        raise LeRobotFormatError(
            f"{store.path}: no episodes of domain {', '.join(unknown)}; "
            f"the store's domains: {', '.join(present)}"
        )
    chosen = [i for i, r in enumerate(records) if domains is None or r.domain in domains]
    mix = Counter((records[i].embodiment, records[i].domain) for i in chosen)
    embodiments = sorted({embodiment for embodiment, _ in mix})
    if len(embodiments) > 1:
        found = "; ".join(
            f"{e}: " + ", ".join(f"{d} {c}" for (e2, d), c in sorted(mix.items()) if e2 == e)
            for e in embodiments
        )
        raise LeRobotFormatError(
            f"{store.path}: the chosen episodes are of {len(embodiments)} embodiments ({found}) "
            "but a LeRobot dataset has one state layout; export them separately with --domains"
        )
    return chosen


def _rate(store: EpisodeStore, fps: int | None) -> int:
    """The frame rate to stamp: ``fps``, else the store's camera rate when it is whole."""
    if fps is not None:
        if fps <= 0:
            raise LeRobotFormatError(f"--fps {fps}: give a positive whole rate")
        return fps
    hz = store.info.control_hz
    if abs(hz - round(hz)) > 1e-3:
        raise LeRobotFormatError(
            f"{store.path}: camera rate {hz} Hz is not whole; LeRobot datasets need a whole fps, "
            "pass --fps"
        )
    return round(hz)


def _card(repo_id: str, store_path: Path, records: list) -> str:
    """A Hugging Face dataset card: the metadata the Hub needs, and where the data came from."""
    domains = ", ".join(f"{d} {c}" for d, c in sorted(Counter(r.domain for r in records).items()))
    return (
        "---\nlicense: apache-2.0\ntask_categories:\n- robotics\ntags:\n- LeRobot\n- SimHum\n"
        "configs:\n- config_name: default\n  data_files: data/*/*.parquet\n---\n\n"
        f"# {repo_id}\n\nExported by SimHum (`simhum_lerobot export`) from the training store "
        f"`{Path(store_path).name}`: {len(records)} episodes ({domains}).\n\n"
        f'Load it with `LeRobotDataset("{repo_id}", root=<this folder>)`.\n'
    )


def _replace(out: Path, staging: Path) -> None:
    """``staging`` renamed to ``out``; a previous ``out`` is moved aside first and removed
    only once the new one is in place."""
    old = out.with_name(f".{out.name}.replaced")
    _remove(old)  # left by an interrupted replace
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
