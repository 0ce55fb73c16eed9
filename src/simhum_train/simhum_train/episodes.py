"""Read one rosbag2 episode and align its streams to the camera clock.

Every stream is keyed by its message header stamp (capture time), not by when the bag
recorded it. Alignment rules, with one explicit tolerance:
- joint states and hand poses: the sample nearest each camera frame, at most ``tolerance``
  away;
- joint trajectory commands: the latest command sent at or before the frame (what the
  controller is tracking), no older than the command period plus ``tolerance``. The arm's
  trajectory and the gripper controller's command (std_msgs/Float64MultiArray, which has no
  stamp: matched by the time the bag logged them) form one full joint target; mimic joints
  follow their leaders.
An episode with any frame outside these bounds is reported with the offending stream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from simhum_core.episode_bag import EpisodeMetadata, decode_image, read_metadata, typestore
from simhum_core.robot import RobotDescription
from simhum_core.topics import Topics
from simhum_train.errors import SimhumTrainError

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
IDENTITY_BYTES = 1 << 20  # of each storage file hashed into a bag's content identity
# a gripper command logged this long after an arm trajectory still belongs to its control step
GRIPPER_SLACK_NS = 20_000_000


class EpisodeError(SimhumTrainError):
    """A bag that cannot be read as a SimHum episode; the message names the bag."""


@dataclass
class RawEpisode:
    """The streams of one episode as recorded (header stamps in ns, URDF joint order)."""

    bag: Path
    metadata: EpisodeMetadata
    image_stamps: np.ndarray  # int64 [N]
    images: np.ndarray  # uint8 [N, H, W, 3]
    joint_stamps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    joint_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    command_stamps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    command_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    hand_stamps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hand_keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 21, 3)))


@dataclass(frozen=True)
class AlignmentIssue:
    """A stream that could not be matched to some camera frames within the tolerance."""

    stream: str
    frames: int  # how many camera frames violate
    worst_offset_s: float  # the largest offset (or command age) found, seconds

    def __str__(self) -> str:
        return f"{self.stream}: {self.frames} frame(s) off by up to {self.worst_offset_s:.3f} s"


@dataclass
class AlignedEpisode:
    """Per camera frame: the image and the other streams' samples matched to it."""

    raw: RawEpisode
    stamps: np.ndarray  # int64 [N]
    images: np.ndarray  # uint8 [N, H, W, 3]
    joint_positions: np.ndarray | None  # [N, n] measured (robot)
    joint_targets: np.ndarray | None  # [N, n] commanded (robot)
    hand_keypoints: np.ndarray | None  # [N, 21, 3] camera optical frame (human)
    issues: list[AlignmentIssue]


def read_episode(
    bag: Path, topics: Topics, robot: RobotDescription, image_size: tuple[int, int]
) -> RawEpisode:
    """Every stream of ``bag`` the dataset needs, images resized to ``image_size`` (W, H)."""
    from rosbags.rosbag2 import Reader

    bag = Path(bag)
    metadata = read_metadata(bag)
    store = typestore()
    image_topics = (topics.camera_image, topics.camera_image_compressed)
    logged = (topics.joint_trajectory, topics.gripper_command)  # matched by log time
    wanted = {*image_topics, *logged, topics.joint_states, topics.hand_pose}
    streams: dict[str, list] = {t: [] for t in wanted}
    log_times: dict[str, list[int]] = {t: [] for t in logged}
    with Reader(bag) as reader:
        connections = [c for c in reader.connections if c.topic in wanted]
        for conn, log_ns, raw in reader.messages(connections=connections):
            streams[conn.topic].append(store.deserialize_cdr(raw, conn.msgtype))
            if conn.topic in log_times:
                log_times[conn.topic].append(log_ns)
    frames = streams[topics.camera_image] or streams[topics.camera_image_compressed]
    if not frames:
        raise EpisodeError(f"{bag}: no camera frames on {' or '.join(image_topics)}")
    episode = RawEpisode(
        bag=bag,
        metadata=metadata,
        image_stamps=np.array([_stamp(m) for m in frames], dtype=np.int64),
        images=np.stack([_rgb(m, bag, image_size) for m in frames]),
    )
    joint_names = robot.joint_names
    n = len(joint_names)
    if streams[topics.joint_states]:
        msgs = streams[topics.joint_states]
        episode.joint_stamps = np.array([_stamp(m) for m in msgs], dtype=np.int64)
        episode.joint_positions = np.stack(
            [_in_order(m.name, m.position, joint_names, bag, topics.joint_states) for m in msgs]
        ).reshape(-1, n)
    trajectories = zip(
        log_times[topics.joint_trajectory], streams[topics.joint_trajectory], strict=True
    )
    sent = [(t, m) for t, m in trajectories if len(m.points)]
    if sent:
        episode.command_stamps = np.array([_stamp(m) for _, m in sent], dtype=np.int64)
        gripper = (log_times[topics.gripper_command], streams[topics.gripper_command])
        episode.command_positions = _commands(sent, gripper, robot, bag, topics.gripper_command)
    if streams[topics.hand_pose]:
        msgs = streams[topics.hand_pose]
        episode.hand_stamps = np.array([_stamp(m) for m in msgs], dtype=np.int64)
        episode.hand_keypoints = np.array(
            [[[p.x, p.y, p.z] for p in m.keypoints_camera] for m in msgs], dtype=np.float64
        )
    return episode


def content_identity(bag: Path) -> str:
    """A hash of the bag's metadata.yaml (which holds the episode id and message counts)
    and of the size and first ``IDENTITY_BYTES`` of each storage file: the same for a copy
    or a moved bag, different for another recording."""
    bag = Path(bag)
    meta = (bag / "metadata.yaml").read_bytes()
    info = yaml.safe_load(meta)["rosbag2_bagfile_information"]
    digest = hashlib.sha256(meta)
    for name in info["relative_file_paths"]:
        with open(bag / name, "rb") as f:
            digest.update(f"{name}:{(bag / name).stat().st_size}".encode())
            digest.update(f.read(IDENTITY_BYTES))
    return digest.hexdigest()


def align_episode(raw: RawEpisode, tolerance_s: float, embodiment: str) -> AlignedEpisode:
    """Match the ``embodiment``'s streams (robot: joints + commands; human: hand poses) to
    the camera clock; frames outside the tolerance are listed in ``issues``."""
    tol = round(tolerance_s * 1e9)
    stamps = raw.image_stamps
    order = np.argsort(stamps, kind="stable")
    stamps, images = stamps[order], raw.images[order]
    issues: list[AlignmentIssue] = []
    joints = targets = hands = None
    if embodiment == "robot":
        idx, off = _nearest(stamps, raw.joint_stamps)
        issues += _violations("joint_states", off, tol)
        joints = raw.joint_positions[idx] if len(raw.joint_stamps) else None
        idx, age, period = _held(stamps, raw.command_stamps, tol)
        issues += _violations("joint_trajectory", age, period + tol)
        targets = raw.command_positions[idx] if len(raw.command_stamps) else None
    else:
        idx, off = _nearest(stamps, raw.hand_stamps)
        issues += _violations("hand_pose", off, tol)
        hands = raw.hand_keypoints[idx] if len(raw.hand_stamps) else None
    return AlignedEpisode(raw, stamps, images, joints, targets, hands, issues)


def camera_period_s(stamps: np.ndarray) -> float:
    """Median interval between camera frames, seconds (0 for fewer than two frames)."""
    return float(np.median(np.diff(stamps)) / 1e9) if len(stamps) > 1 else 0.0


def _nearest(ref: np.ndarray, stamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the sample nearest each reference stamp and its offset (ns); an empty
    stream gives an infinite offset everywhere."""
    if len(stamps) == 0:
        return np.zeros(len(ref), np.int64), np.full(len(ref), np.inf)
    order = np.argsort(stamps, kind="stable")
    sorted_stamps = stamps[order]
    pick = np.zeros(len(ref), np.int64)
    if len(stamps) > 1:
        right = np.clip(np.searchsorted(sorted_stamps, ref), 1, len(stamps) - 1)
        left = right - 1
        closer_left = np.abs(sorted_stamps[left] - ref) <= np.abs(sorted_stamps[right] - ref)
        pick = np.where(closer_left, left, right)
    return order[pick], np.abs(sorted_stamps[pick] - ref).astype(np.float64)


def _held(ref: np.ndarray, stamps: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Index of the latest sample at or before each reference stamp (``tol`` of jitter
    allowed), its age (ns; infinite before the first sample) and the stream's period."""
    if len(stamps) == 0:
        return np.zeros(len(ref), np.int64), np.full(len(ref), np.inf), 0
    order = np.argsort(stamps, kind="stable")
    sorted_stamps = stamps[order]
    pos = np.searchsorted(sorted_stamps, ref + tol, side="right") - 1
    age = np.where(pos >= 0, ref - sorted_stamps[np.maximum(pos, 0)], np.inf)
    period = int(np.median(np.diff(sorted_stamps))) if len(stamps) > 1 else 0
    return order[np.maximum(pos, 0)], np.maximum(age, 0).astype(np.float64), period


def _violations(stream: str, offsets: np.ndarray, limit_ns: float) -> list[AlignmentIssue]:
    bad = offsets > limit_ns
    if not bad.any():
        return []
    return [AlignmentIssue(stream, int(bad.sum()), float(offsets[bad].max() / 1e9))]


def _stamp(msg) -> int:
    return int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)


def _rgb(msg, bag: Path, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 [H, W, 3] of an Image (rgb8/bgr8) or CompressedImage, resized to ``size``."""
    if msg.__msgtype__ == IMAGE_TYPES[1]:
        rgb = decode_image(msg.data, msg.format)
    elif msg.encoding in ("rgb8", "bgr8"):
        rows = np.asarray(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
        rgb = rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
        rgb = rgb[..., ::-1] if msg.encoding == "bgr8" else rgb
    else:
        raise EpisodeError(f"{bag}: image encoding '{msg.encoding}' unsupported (use rgb8/bgr8)")
    if (rgb.shape[1], rgb.shape[0]) != tuple(size):
        rgb = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.BILINEAR))
    return np.ascontiguousarray(rgb)


def _commands(
    sent: list[tuple[int, object]],
    gripper: tuple[list[int], list],
    robot: RobotDescription,
    bag: Path,
    gripper_topic: str,
) -> np.ndarray:
    """Commanded full joint vectors [K, dof]: each arm trajectory's first point with the
    gripper command in force when it was sent (a trajectory that names the gripper joints
    needs none); mimic joints follow their leaders."""
    out = np.zeros((len(sent), robot.dof))
    times, values = np.asarray(gripper[0], dtype=np.int64), [m.data for m in gripper[1]]
    gripper_idx = robot.gripper_command_index
    for k, (log_ns, msg) in enumerate(sent):
        index = {n: i for i, n in enumerate(msg.joint_names)}
        named = [n for n in robot.joint_names if n in index]
        point = np.asarray(msg.points[0].positions, dtype=np.float64)
        out[k, robot.indices(named)] = point[[index[n] for n in named]]
        missing = [n for n in robot.joint_names if n not in index and n not in robot.mimic]
        if not missing:
            continue
        if set(missing) - set(robot.gripper_command_joint_names) or not len(times):
            raise EpisodeError(
                f"{bag}: commands lack joint(s) {missing} of the robot description (the "
                f"gripper's come from {gripper_topic})"
            )
        j = max(int(np.searchsorted(times, log_ns + GRIPPER_SLACK_NS, side="right")) - 1, 0)
        if len(values[j]) != len(gripper_idx):
            raise EpisodeError(
                f"{bag}: {gripper_topic} has {len(values[j])} values; the gripper's commanded "
                f"joints are {list(robot.gripper_command_joint_names)}"
            )
        out[k, gripper_idx] = values[j]
    return robot.apply_mimic(out)


def _in_order(names, values, joint_names: tuple[str, ...], bag: Path, stream: str) -> np.ndarray:
    """``values`` reordered from the message's joint ``names`` into URDF order."""
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in joint_names if n not in index]
    if missing:
        raise EpisodeError(f"{bag}: {stream} lacks joint(s) {missing} of the robot description")
    values = np.asarray(values, dtype=np.float64)
    return values[[index[n] for n in joint_names]]
