"""Read one rosbag2 episode and align its streams to the camera clock.

Every stream is keyed by its message header stamp (capture time), not by when the bag
recorded it (a stamp left at zero by its publisher falls back to the bag's time). Alignment
rules, with one explicit tolerance:
- joint states and hand poses: the sample nearest each camera frame, at most ``tolerance``
  away;
- joint commands: the latest command sent at or before the frame (what the controller is
  tracking), no older than the command period plus ``tolerance``. The arm's trajectory and
  the gripper controller's command (std_msgs/Float64MultiArray, which has no stamp: matched
  by the time the bag logged them) form one full joint target; mimic joints follow their
  leaders. A forward position controller's Float64MultiArray command is stamped by the bag's
  time too;
- without commands (actions ``measured_future``): each frame's target is the measured joint
  state one control step (camera frame) later, the last frame holding its own.
An episode with any frame outside these bounds is reported with the offending stream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from simhum_core.episode_bag import EpisodeMetadata, decode_image, read_metadata, typestore
from simhum_core.robot import RobotDescription
from simhum_core.topics import Topics
from simhum_train import states
from simhum_train.bag_sources import (
    COMPRESSED_IMAGE,
    RGB_ENCODINGS,
    TRAJECTORY,
    EpisodeError,
    StreamTopics,
    choose_streams,
    joint_index,
    present_topics,
)
from simhum_train.ingest_options import IngestOptions
from simhum_train.keys import ROBOT
from simhum_train.store import COMMANDED, MEASURED_FUTURE

IDENTITY_BYTES = 1 << 20  # of each storage file hashed into a bag's content identity
# a gripper command logged this long after an arm trajectory still belongs to its control step
GRIPPER_SLACK_NS = 20_000_000


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
    image_log_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # bag times


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
    joint_targets: np.ndarray | None  # [N, n] commanded, or measured a frame later (robot)
    hand_keypoints: np.ndarray | None  # [N, 21, 3] camera optical frame (human)
    issues: list[AlignmentIssue]
    within: np.ndarray  # bool [N]: every stream within its bound at this frame
    trimmed: int = 0  # frames left out at the edges (align_covered)


def read_episode(
    bag: Path,
    topics: Topics,
    robot: RobotDescription,
    image_size: tuple[int, int],
    streams: StreamTopics | None = None,
    metadata: EpisodeMetadata | None = None,
) -> RawEpisode:
    """Every stream of ``bag`` the dataset needs, images resized to ``image_size`` (W, H),
    read from ``streams`` (by default the bag's SimHum topics), with ``metadata`` (by default
    the bag's SimHum metadata)."""
    from rosbags.rosbag2 import Reader

    bag = Path(bag)
    metadata = metadata or read_metadata(bag)
    streams = streams or choose_streams(
        bag, present_topics(bag), IngestOptions(), topics, robot, metadata.embodiment
    )
    store = typestore()
    with Reader(bag) as reader:
        wanted = {streams.image, streams.joint_states, streams.command, streams.gripper}
        wanted = {*wanted, streams.hand_pose} - {None}
        received: dict[str, list] = {t: [] for t in wanted}
        connections = [c for c in reader.connections if c.topic in wanted]
        for conn, log_ns, raw in reader.messages(connections=connections):
            received[conn.topic].append((log_ns, store.deserialize_cdr(raw, conn.msgtype)))
    frames = received[streams.image]
    if not frames:
        raise EpisodeError(f"{bag}: no camera frames on {streams.image}")
    episode = RawEpisode(
        bag=bag,
        metadata=metadata,
        image_stamps=_stamps(frames),
        images=np.stack([frame_rgb(m, bag, image_size) for _, m in frames]),
        image_log_ns=np.array([t for t, _ in frames], dtype=np.int64),
    )
    if streams.joint_states and received[streams.joint_states]:
        msgs = received[streams.joint_states]
        episode.joint_stamps, episode.joint_positions = joint_rows(
            msgs, robot, bag, streams.joint_states
        )
    sent = sent_commands(received[streams.command], streams, bag) if streams.command else []
    if sent:
        episode.command_stamps = np.array([stamp for stamp, *_ in sent], dtype=np.int64)
        gripper = received.get(streams.gripper, [])
        episode.command_positions = command_targets(sent, gripper, robot, bag, streams.gripper)
    if streams.hand_pose and received[streams.hand_pose]:
        msgs = received[streams.hand_pose]
        episode.hand_stamps = _stamps(msgs)
        episode.hand_keypoints = np.array(
            [[[p.x, p.y, p.z] for p in m.keypoints_camera] for _, m in msgs], dtype=np.float64
        )
    return episode


def select_frames(raw: RawEpisode, keep: np.ndarray) -> RawEpisode:
    """``raw`` with only the camera frames where ``keep`` (bool [N]) holds; the other
    streams whole (a frame's nearest sample or held command may lie outside)."""
    log_ns = raw.image_log_ns[keep] if len(raw.image_log_ns) else raw.image_log_ns
    return replace(
        raw, image_stamps=raw.image_stamps[keep], images=raw.images[keep], image_log_ns=log_ns
    )


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


def align_episode(
    raw: RawEpisode, tolerance_s: float, embodiment: str, actions: str = COMMANDED
) -> AlignedEpisode:
    """Match the ``embodiment``'s streams (robot: joints, and commands unless ``actions``
    is MEASURED_FUTURE; human: hand poses) to the camera clock; frames outside the
    tolerance are listed in ``issues``."""
    tol = round(tolerance_s * 1e9)
    stamps = raw.image_stamps
    order = np.argsort(stamps, kind="stable")
    stamps, images = stamps[order], raw.images[order]
    bounds: list[tuple[str, np.ndarray, float]] = []  # (stream, offset per frame, limit)
    joints = targets = hands = None
    if embodiment == ROBOT:
        idx, off = _nearest(stamps, raw.joint_stamps)
        bounds.append(("joint_states", off, tol))
        joints = raw.joint_positions[idx] if len(raw.joint_stamps) else None
        if actions == MEASURED_FUTURE:
            # the next frame's measured joints, as a hand's next state is its target
            targets = None if joints is None else states.human_targets(joints)
        else:
            idx, age, period = _held(stamps, raw.command_stamps, tol)
            bounds.append(("joint_trajectory", age, period + tol))
            targets = raw.command_positions[idx] if len(raw.command_stamps) else None
    else:
        idx, off = _nearest(stamps, raw.hand_stamps)
        bounds.append(("hand_pose", off, tol))
        hands = raw.hand_keypoints[idx] if len(raw.hand_stamps) else None
    issues = [issue for b in bounds for issue in _violations(*b)]
    within = np.all([offsets <= limit for _, offsets, limit in bounds], axis=0)
    return AlignedEpisode(raw, stamps, images, joints, targets, hands, issues, within)


def align_covered(
    raw: RawEpisode, tolerance_s: float, embodiment: str, actions: str = COMMANDED
) -> AlignedEpisode:
    """``align_episode`` without the leading and trailing camera frames that a stream does
    not cover (a recording started before a driver, or stopped after one); ``trimmed``
    counts them. Frames in between stay, and are reported if a stream misses them."""
    aligned = align_episode(raw, tolerance_s, embodiment, actions)
    covered = np.flatnonzero(aligned.within)
    if len(covered) == 0 or (covered[0] == 0 and covered[-1] == len(aligned.within) - 1):
        return aligned
    first, last = aligned.stamps[covered[0]], aligned.stamps[covered[-1]]
    kept = select_frames(raw, (raw.image_stamps >= first) & (raw.image_stamps <= last))
    out = align_episode(kept, tolerance_s, embodiment, actions)
    out.trimmed = len(raw.image_stamps) - len(kept.image_stamps)
    return out


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


def _stamp(msg, log_ns: int) -> int:
    """The header stamp (ns), or the bag's time when the publisher left it at zero."""
    ns = int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)
    return ns or log_ns


def _stamps(received: list[tuple[int, object]]) -> np.ndarray:
    return np.array([_stamp(m, log_ns) for log_ns, m in received], dtype=np.int64)


def frame_rgb(msg, bag: Path, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8 [H, W, 3] of an Image (rgb8/bgr8) or CompressedImage, resized to ``size``."""
    if msg.__msgtype__ == COMPRESSED_IMAGE:
        rgb = decode_image(msg.data, msg.format, size)
    elif msg.encoding in RGB_ENCODINGS:
        rows = np.asarray(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
        rgb = rows[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
        rgb = rgb[..., ::-1] if msg.encoding == "bgr8" else rgb
    else:
        raise EpisodeError(
            f"{bag}: image encoding '{msg.encoding}' unsupported (use rgb8/bgr8, or record the "
            "camera's /compressed topic)"
        )
    if (rgb.shape[1], rgb.shape[0]) != tuple(size):
        rgb = np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize(size, Image.BILINEAR))
    return np.ascontiguousarray(rgb)


def joint_rows(
    received: list[tuple[int, object]], robot: RobotDescription, bag: Path, topic: str
) -> tuple[np.ndarray, np.ndarray]:
    """Measured positions [K, dof] in URDF order, matched by joint name, and their stamps.
    Joint states split over several publishers (an arm's and a gripper driver's messages,
    each naming some joints) are merged: a message updates the joints it names, and rows
    start once every joint has been heard; a mimic joint no message names follows its
    leader."""
    heard_of = dict.fromkeys(n for _, msg in received for n in msg.name)
    where = joint_index(bag, topic, list(heard_of), robot)  # refuses missing joints
    followers = where < 0
    column = {n: j for j, n in enumerate(robot.joint_names)}
    current = np.full(robot.dof, np.nan)
    current[followers] = 0.0  # filled from the leaders below
    rows, kept = [], []
    updates: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}  # per name list
    for k, (_, msg) in enumerate(received):
        names = tuple(msg.name)
        if names not in updates:
            pairs = [(i, column[n]) for i, n in enumerate(names) if n in column]
            updates[names] = (
                np.array([i for i, _ in pairs], int),
                np.array([j for _, j in pairs], int),
            )
        source, target = updates[names]
        current[target] = np.asarray(msg.position, dtype=np.float64)[source]
        if np.isnan(current).any():
            continue
        row = current.copy()
        row[followers] = robot.apply_mimic(row)[followers]
        rows.append(row)
        kept.append(k)
    return _stamps([received[k] for k in kept]), np.array(rows).reshape(-1, robot.dof)


def sent_commands(
    received: list[tuple[int, object]], streams: StreamTopics, bag: Path
) -> list[tuple[int, int, tuple[str, ...], np.ndarray]]:
    """(stamp, bag time, joint names, positions) of each command: a trajectory's first point
    (empty trajectories, which stop the arm, are left out) or a Float64MultiArray's values
    in ``streams.command_joints`` order."""
    sent = []
    for log_ns, msg in received:
        if streams.command_type == TRAJECTORY:
            if len(msg.points):
                positions = np.asarray(msg.points[0].positions, dtype=np.float64)
                sent.append((_stamp(msg, log_ns), log_ns, tuple(msg.joint_names), positions))
            continue
        if len(msg.data) != len(streams.command_joints):
            raise EpisodeError(
                f"{bag}: {streams.command} has {len(msg.data)} values; its joints "
                f"(--command-joints) are {list(streams.command_joints)}"
            )
        sent.append((log_ns, log_ns, streams.command_joints, np.asarray(msg.data, np.float64)))
    return sent


def command_targets(
    sent: list[tuple[int, int, tuple[str, ...], np.ndarray]],
    gripper: list[tuple[int, object]],
    robot: RobotDescription,
    bag: Path,
    gripper_topic: str,
) -> np.ndarray:
    """Commanded full joint vectors [K, dof]: each command with the gripper command in force
    when it was sent (a command that names the gripper joints needs none); mimic joints
    follow their leaders."""
    out = np.zeros((len(sent), robot.dof))
    times = np.array([t for t, _ in gripper], dtype=np.int64)
    values = [m.data for _, m in gripper]
    gripper_idx = robot.gripper_command_index
    for k, (_, log_ns, names, point) in enumerate(sent):
        index = {n: i for i, n in enumerate(names)}
        named = [n for n in robot.joint_names if n in index]
        out[k, robot.indices(named)] = point[[index[n] for n in named]]
        missing = [n for n in robot.joint_names if n not in index and n not in robot.mimic]
        if not missing:
            continue
        if set(missing) - set(robot.gripper_command_joint_names) or not len(times):
            raise EpisodeError(
                f"{bag}: commands lack joint(s) {missing} of the robot description (the "
                f"gripper's come from {gripper_topic}: --gripper-topic); without them, "
                "--command-topic none takes the actions from the measured joints"
            )
        j = max(int(np.searchsorted(times, log_ns + GRIPPER_SLACK_NS, side="right")) - 1, 0)
        if len(values[j]) != len(gripper_idx):
            raise EpisodeError(
                f"{bag}: {gripper_topic} has {len(values[j])} values; the gripper's commanded "
                f"joints are {list(robot.gripper_command_joint_names)}"
            )
        out[k, gripper_idx] = values[j]
    return robot.apply_mimic(out)
