"""A LeRobotDataset (v3.0) folder -> episodes of one domain and embodiment in a training store.

Per episode of the dataset:
- frames: the camera ``image_key`` (needed only when there are several), from its video (any
  codec PyAV decodes) or its images in the parquet, resized to the store's size;
- state and target rows: ``observation.state`` and ``action``. Rows named as ``export``
  names them (the store's layout for the embodiment) are taken as they are; for a robot,
  vectors that name the store's joints (URDF names, any order, other entries ignored) give
  the joint positions, and the rows are computed from them as the bag converter does
  (forward kinematics on the URDF);
- stamps: the frame timestamps; task: the first frame's, or ``task`` for every episode.

A dataset recorded at a whole multiple of the store's rate is thinned to it (every k-th
frame). Every check of the metadata runs before anything is written; then each episode is
appended in one atomic step, and episodes already imported are skipped, so a re-run after an
interruption finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from simhum_core.episode_bag import decode_image
from simhum_core.errors import DescriptionError
from simhum_core.paths import default_urdf
from simhum_core.robot import RobotDescription, load_robot
from simhum_train import keys, states
from simhum_train import lerobot_format as fmt
from simhum_train.convert import DEFAULT_TOLERANCE_S, store_info
from simhum_train.lerobot_format import LeRobotFormatError
from simhum_train.store import COMMANDED, EpisodeRecord, EpisodeStore, StoreInfo

RowMap = Callable[[np.ndarray], np.ndarray]  # a dataset vector [N, D] -> store rows [N, S]


@dataclass(frozen=True)
class ImportSummary:
    """What an import added."""

    added: int
    already_in_store: int
    frames: int
    step: int  # every step-th frame kept

    def __str__(self) -> str:
        thinned = f", every {self.step}th frame kept" if self.step > 1 else ""
        return (
            f"imported {self.added} episodes ({self.frames} frames{thinned}); "
            f"{self.already_in_store} already in the store"
        )


def import_dataset(
    dataset: Path,
    store_path: Path,
    domain: str,
    embodiment: str | None = None,
    task: str | None = None,
    image_key: str | None = None,
    urdf: Path | None = None,
    image_size: tuple[int, int] | None = None,
    tool_frame: str = "tcp",
    progress: bool = True,
) -> ImportSummary:
    """Append the episodes of the LeRobot dataset at ``dataset`` to the store at
    ``store_path`` as episodes of ``domain`` and ``embodiment`` (the domain's by default).
    Where there is no store yet, one is made for the robot of ``urdf`` (SimHum's arm by
    default; its ``tool_frame``) at ``image_size`` (W, H) and the dataset's frame rate."""
    dataset = Path(dataset)
    if domain not in keys.DOMAINS:
        raise LeRobotFormatError(f"--domain {domain!r}: expected one of {', '.join(keys.DOMAINS)}")
    embodiment = embodiment or keys.EMBODIMENT_OF[domain]
    if embodiment not in keys.EMBODIMENTS:
        raise LeRobotFormatError(
            f"--embodiment {embodiment!r}: expected one of {', '.join(keys.EMBODIMENTS)}"
        )
    info = fmt.read_info(dataset)
    camera = _camera(dataset, info["features"], image_key)
    if Path(store_path).exists():
        store: EpisodeStore | None = EpisodeStore.open(store_path, mode="a")
        target = store.info
    elif image_size is None:
        raise LeRobotFormatError(
            f"{store_path}: no store there; give --image-size W H to make one (or import into "
            "a store built with simhum_dataset: it fixes the robot, the image size and the rate)"
        )
    else:  # made once every check has passed
        store, robot = None, _load(urdf, tool_frame)
        target = store_info(robot, image_size, float(info["fps"]), DEFAULT_TOLERANCE_S)
    rows = _row_maps(dataset, info["features"], target, embodiment, urdf)
    step = _step(dataset, info["fps"], target.control_hz)
    tasks = fmt.read_tasks(dataset)
    frames = _Frames(dataset, info, camera)
    data = _DataFiles(dataset, info, camera)
    store = store or EpisodeStore.create(store_path, target)
    done = {record.source for record in store.episodes}
    size = (target.image_width, target.image_height)
    added = skipped = count = 0
    for episode in tqdm(fmt.read_episodes(dataset), desc="importing", disable=not progress):
        source = f"{dataset.resolve()}#episode_index={episode['episode_index']}"
        if source in done:
            skipped += 1
            continue
        columns = data.episode(episode)
        images = frames.episode(episode, columns)[::step]
        kept = {key: values[::step] for key, values in columns.items()}
        record = EpisodeRecord(
            episode_id=f"{dataset.name}-{episode['episode_index']:06d}",
            task=task or tasks[int(kept["task_index"][0])],
            domain=domain,
            embodiment=embodiment,
            source=source,
            frames=len(images),
            actions=episode.get(fmt.ACTIONS_ORIGIN) or COMMANDED,  # the dataset's "action"
        )
        store.append(
            record,
            np.stack([_resize(image, size) for image in images]),
            np.round(kept["timestamp"].astype(np.float64) * 1e9).astype(np.int64),
            rows[fmt.STATE](kept[fmt.STATE]),
            rows[fmt.ACTION](kept[fmt.ACTION]),
        )
        added, count = added + 1, count + len(images)
    return ImportSummary(added, skipped, count, step)


def _camera(dataset: Path, features: dict, image_key: str | None) -> str:
    """The image feature to read: ``image_key``, else the only one; an error naming the
    dataset's features when it has none or ``image_key`` is not one of them."""
    cameras = [k for k, f in features.items() if f.get("dtype") in fmt.VISUAL_DTYPES]
    if not cameras:
        raise LeRobotFormatError(
            f"{dataset}: no image feature (dtype video or image) to train on; its features: "
            f"{', '.join(features)}"
        )
    if image_key is None and len(cameras) > 1:
        raise LeRobotFormatError(
            f"{dataset}: {len(cameras)} cameras ({', '.join(cameras)}); pick one with --image-key"
        )
    if image_key is not None and image_key not in cameras:
        raise LeRobotFormatError(
            f"{dataset}: --image-key {image_key!r} is not one of its cameras: {', '.join(cameras)}"
        )
    return image_key or cameras[0]


def _row_maps(
    dataset: Path, features: dict, info: StoreInfo, embodiment: str, urdf: Path | None
) -> dict[str, RowMap]:
    """How the dataset's state and action vectors become the store's rows; an error naming
    a vector's entries and what is missing when they match neither way."""
    ours = fmt.row_names(info.layouts[embodiment], info.joint_names)
    joints = list(info.joint_names)
    maps: dict[str, RowMap] = {}
    by_joint: dict[str, list[int]] = {}
    for key in (fmt.STATE, fmt.ACTION):
        if key not in features:
            raise LeRobotFormatError(
                f"{dataset}: no {key!r} feature; its features: {', '.join(features)}"
            )
        names = _names(features[key].get("names"))
        if names == ours:
            maps[key] = lambda values: states.pad(values, info.state_width)
            continue
        missing = [j for j in joints if j not in names]
        if embodiment != keys.ROBOT or missing:
            wanted = (
                f"the robot's joints ({', '.join(joints)}; missing {', '.join(missing)})"
                if embodiment == keys.ROBOT
                else f"SimHum's {embodiment} row ({', '.join(ours)})"
            )
            raise LeRobotFormatError(
                f"{dataset}: {key} entries ({', '.join(names) or 'unnamed'}) do not name "
                f"{wanted}; rename them in meta/info.json or import as another embodiment"
            )
        by_joint[key] = [names.index(j) for j in joints]
    if by_joint:
        robot = _robot(urdf, info)
        for key, columns in by_joint.items():
            maps[key] = lambda values, columns=columns: states.pad(
                states.robot_rows(robot, values[:, columns].astype(np.float64)), info.state_width
            )
    return maps


def _load(urdf: Path | None, tool_frame: str) -> RobotDescription:
    """The robot of ``urdf`` (SimHum's arm by default); a description error as bad input."""
    try:
        return load_robot(urdf or default_urdf(), tool_frame=tool_frame)
    except DescriptionError as err:
        raise LeRobotFormatError(str(err)) from None


def _robot(urdf: Path | None, info: StoreInfo) -> RobotDescription:
    """The store's robot from ``urdf`` (SimHum's arm by default), checked against it."""
    robot = _load(urdf, info.tool_frame)
    if list(robot.joint_names) != list(info.joint_names):
        raise LeRobotFormatError(
            f"{robot.source}: joints {list(robot.joint_names)} differ from the store's "
            f"{list(info.joint_names)}; pass the store's robot with --urdf"
        )
    return robot


def _names(names) -> list[str]:
    """A feature's entry names as a flat list (older datasets nest them in a dict)."""
    if isinstance(names, dict):
        return [n for group in names.values() for n in group]
    return list(names or [])


def _step(dataset: Path, fps: float, control_hz: float) -> int:
    """Keep every step-th frame to bring ``fps`` to the store's rate; an error unless whole."""
    ratio = fps / control_hz
    if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-6:
        raise LeRobotFormatError(
            f"{dataset}: recorded at {fps} fps, not a whole multiple of the store's "
            f"{control_hz} Hz; import into a store built at a rate that divides it"
        )
    return round(ratio)


class _DataFiles:
    """Reads episodes' rows from the data parquet files, one file held at a time."""

    def __init__(self, root: Path, info: dict, camera: str) -> None:
        self.root, self.template = Path(root), info["data_path"]
        self.columns = [fmt.STATE, fmt.ACTION, "timestamp", "frame_index", "task_index"]
        if info["features"][camera]["dtype"] == "image":
            self.columns.append(camera)
        self._path: Path | None = None
        self._table = None

    def episode(self, episode: dict) -> dict[str, np.ndarray]:
        """The episode's columns by frame_index (vectors as [N, D], images as bytes)."""
        path = self.root / self.template.format(
            chunk_index=episode["data/chunk_index"], file_index=episode["data/file_index"]
        )
        if path != self._path:
            self._table = pq.read_table(path, columns=[*self.columns, "episode_index"])
            self._path = path
        mask = self._table.column("episode_index").to_numpy() == episode["episode_index"]
        table = self._table.filter(mask)
        if table.num_rows != episode["length"]:
            raise LeRobotFormatError(
                f"{path}: episode {episode['episode_index']} has {table.num_rows} rows, its "
                f"metadata says {episode['length']}"
            )
        order = np.argsort(table.column("frame_index").to_numpy())
        out = {}
        for name in self.columns:
            column = table.column(name).combine_chunks()
            if name in (fmt.STATE, fmt.ACTION):
                values = column.flatten().to_numpy(zero_copy_only=False)
                out[name] = values.reshape(table.num_rows, -1)[order]
            elif name in ("timestamp", "frame_index", "task_index"):
                out[name] = column.to_numpy(zero_copy_only=False)[order]
            else:
                out[name] = [column[int(i)]["bytes"].as_py() for i in order]
        return out


class _Frames:
    """Decodes an episode's frames of one camera, from its video or its parquet images."""

    def __init__(self, root: Path, info: dict, camera: str) -> None:
        self.root, self.info, self.camera = Path(root), info, camera
        self._path: Path | None = None
        self._container = None

    def episode(self, episode: dict, columns: dict) -> np.ndarray:
        """RGB uint8 frames [N, H, W, 3] of the episode, in frame order."""
        if self.info["features"][self.camera]["dtype"] == "image":
            return np.stack([decode_image(data, "png") for data in columns[self.camera]])
        prefix = f"videos/{self.camera}/"
        path = self.root / self.info["video_path"].format(
            video_key=self.camera,
            chunk_index=episode[prefix + "chunk_index"],
            file_index=episode[prefix + "file_index"],
        )
        wanted = episode[prefix + "from_timestamp"] + columns["timestamp"].astype(np.float64)
        frames = self._decode(path, wanted, 0.5 / self.info["fps"])
        missing = [i for i, frame in enumerate(frames) if frame is None]
        if missing:
            raise LeRobotFormatError(
                f"{path}: {len(missing)} of episode {episode['episode_index']}'s "
                f"{len(frames)} frames are not in the video (first at "
                f"{wanted[missing[0]]:.3f} s)"
            )
        return np.stack(frames)

    def _decode(self, path: Path, wanted: np.ndarray, tolerance: float) -> list:
        """The decoded frame nearest each time in ``wanted`` (None where none is within
        ``tolerance``), seeking to the keyframe before the first."""
        if path != self._path:
            if self._container is not None:
                self._container.close()
            self._container, self._path = av.open(str(path)), path
        stream = self._container.streams.video[0]
        self._container.seek(int(max(wanted[0] - tolerance, 0) / stream.time_base), stream=stream)
        frames: list = [None] * len(wanted)
        for frame in self._container.decode(stream):
            if frame.time > wanted[-1] + tolerance:
                break
            i = int(np.argmin(np.abs(wanted - frame.time)))
            if abs(wanted[i] - frame.time) <= tolerance:
                frames[i] = frame.to_ndarray(format="rgb24")
        return frames


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at ``size`` (W, H), bilinear, as the bag converter resizes."""
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
