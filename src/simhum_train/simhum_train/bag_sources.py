"""Which topics of a bag hold the camera frames, the joint states and the commands.

SimHum's own bags use the names in topics.yaml. Any other rosbag2 recording is mapped by the
options (flags, topics file, sidecar: see ingest_options); an option not given defaults to:

- image: topics.yaml's camera topic, else the first in the bag of the common camera drivers'
  names (DRIVER_CAMERA_TOPICS), each raw before its /compressed; sensor_msgs/Image (rgb8 or
  bgr8) or sensor_msgs/CompressedImage (JPEG, PNG), told apart by the bag's topic type;
- joint states: topics.yaml's (/joint_states);
- commands: topics.yaml's joint trajectory topic, else the bag's only JointTrajectory topic,
  else none: the actions are then the measured future (see episodes.align_episode);
- gripper commands (std_msgs/Float64MultiArray of the gripper's commanded joints, joined with
  an arm trajectory that does not name them): topics.yaml's.

A command on a forward position controller's std_msgs/Float64MultiArray topic has no joint
names: its values are in ``command_joints`` order, by default the URDF's actuated joints
(every moving joint except mimic ones) in URDF order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from simhum_core.robot import RobotDescription
from simhum_core.topics import Topics
from simhum_train.errors import SimhumTrainError
from simhum_train.ingest_options import NO_COMMAND, IngestOptions
from simhum_train.keys import HUMAN

COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = ("sensor_msgs/msg/Image", COMPRESSED_IMAGE)
RGB_ENCODINGS = ("rgb8", "bgr8")
JOINT_STATE = "sensor_msgs/msg/JointState"
TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
FLOAT_ARRAY = "std_msgs/msg/Float64MultiArray"
HAND_POSE = "simhum_msgs/msg/HandPose"
DRIVER_CAMERA_TOPICS = (
    "/camera/color/image_raw",  # realsense2_camera
    "/camera/camera/color/image_raw",  # realsense2_camera 4.54+ (camera namespace and name)
    "/camera/image_raw",  # drivers run in a /camera namespace
    "/image_raw",  # usb_cam, v4l2_camera
)


class EpisodeError(SimhumTrainError):
    """A bag that cannot be read as a SimHum episode; the message names the bag."""


@dataclass(frozen=True)
class StreamTopics:
    """The topics one bag's episode is read from (None: the bag has no such stream)."""

    image: str
    image_type: str
    joint_states: str | None = None  # robot episodes
    command: str | None = None  # None: actions from the measured future
    command_type: str | None = None  # TRAJECTORY or FLOAT_ARRAY
    command_joints: tuple[str, ...] = ()  # the values' joints of a FLOAT_ARRAY command
    gripper: str | None = None  # the gripper controller's commands
    hand_pose: str | None = None  # human episodes

    def describe(self) -> str:
        """One line: which topic gives what."""
        parts = [f"image {self.image} ({self.image_type.rsplit('/', 1)[-1]})"]
        if self.hand_pose:
            parts.append(f"hand poses {self.hand_pose}")
        if self.joint_states:
            parts.append(f"joint states {self.joint_states}")
            parts.append(
                f"commands {self.command} ({self.command_type.rsplit('/', 1)[-1]})"
                if self.command
                else "no commands: actions = measured joints one frame later"
            )
        return ", ".join(parts)


def present_topics(bag: Path) -> dict[str, str]:
    """Topic -> message type of each topic with messages, from the bag's metadata.yaml (what
    rosbags and `ros2 bag info` read)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = (Path(bag) / "metadata.yaml").read_text()
    info = yaml.load(text, Loader=loader)["rosbag2_bagfile_information"]
    return {
        t["topic_metadata"]["name"]: t["topic_metadata"]["type"]
        for t in info["topics_with_message_count"]
        if t["message_count"]
    }


def actuated_joints(robot: RobotDescription) -> tuple[str, ...]:
    """The joints with a command of their own (all moving joints but the mimic ones)."""
    return tuple(n for n in robot.joint_names if n not in robot.mimic)


def choose_streams(
    bag: Path,
    present: Mapping[str, str],
    options: IngestOptions,
    topics: Topics,
    robot: RobotDescription,
    embodiment: str,
) -> StreamTopics:
    """The streams of ``bag`` (whose topics with messages and their types are ``present``)
    for a ``embodiment`` episode; an error naming the topic that is missing or of a wrong
    type, and what the bag has instead."""
    image = image_topic(bag, present, options.image_topic, topics)
    if embodiment == HUMAN:
        hand = _require(bag, present, topics.hand_pose, (HAND_POSE,), "hand poses", "")
        return StreamTopics(image, present[image], hand_pose=hand)
    joints = _require(
        bag,
        present,
        options.joint_states_topic or topics.joint_states,
        (JOINT_STATE,),
        "joint states",
        "--joint-states-topic",
    )
    gripper = options.gripper_topic or topics.gripper_command
    command = _command_topic(bag, present, options.command_topic, topics, gripper)
    command_joints = ()
    if command and present[command] == FLOAT_ARRAY:
        command_joints = options.command_joints or actuated_joints(robot)
        unknown = [n for n in command_joints if n not in robot.joint_names]
        if unknown:
            raise EpisodeError(
                f"{bag}: --command-joints {unknown} are not joints of {robot.source} "
                f"({list(robot.joint_names)})"
            )
    return StreamTopics(
        image,
        present[image],
        joint_states=joints,
        command=command,
        command_type=present[command] if command else None,
        command_joints=tuple(command_joints),
        gripper=gripper,
    )


def joint_index(bag: Path, stream: str, names, robot: RobotDescription) -> np.ndarray:
    """Where each of ``robot``'s joints is in a message's joint ``names`` (-1 for a mimic
    joint it leaves out, which follows its leader); extra names (another robot's, say) are
    ignored. An error lists the URDF joints missing and the names not in the URDF."""
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in robot.joint_names if n not in index and n not in robot.mimic]
    if missing:
        extra = [n for n in names if n not in robot.joint_names]
        raise EpisodeError(
            f"{bag}: {stream} lacks joint(s) {missing} of the robot description "
            f"{robot.source}; its joints not in the description: {extra}. Convert with the "
            "recording robot's URDF (--urdf)"
        )
    return np.array([index.get(n, -1) for n in robot.joint_names], dtype=np.int64)


def image_topic(bag: Path, present: Mapping[str, str], wanted: str | None, topics: Topics) -> str:
    """The camera topic asked for, else the first present of the defaults."""
    if wanted:
        return _require(bag, present, wanted, IMAGE_TYPES, "camera images", "--image-topic")
    defaults = [topics.camera_image, topics.camera_image_compressed]
    for name in DRIVER_CAMERA_TOPICS:
        defaults += [name, f"{name}/compressed"]
    for name in defaults:
        if present.get(name) in IMAGE_TYPES:
            return name
    images = sorted(t for t, kind in present.items() if kind in IMAGE_TYPES)
    raise EpisodeError(
        f"{bag}: none of the usual camera topics {defaults} is in the bag; its image topics: "
        f"{images}. Pass --image-topic"
    )


def _command_topic(
    bag: Path, present: Mapping[str, str], wanted: str | None, topics: Topics, gripper: str
) -> str | None:
    """The command topic asked for (None for ``none``), else the default."""
    if wanted == NO_COMMAND:
        return None
    if wanted:
        return _require(
            bag, present, wanted, (TRAJECTORY, FLOAT_ARRAY), "commands", "--command-topic"
        )
    if present.get(topics.joint_trajectory) == TRAJECTORY:
        return topics.joint_trajectory
    trajectories = sorted(t for t, kind in present.items() if kind == TRAJECTORY and t != gripper)
    if len(trajectories) > 1:
        raise EpisodeError(
            f"{bag}: several JointTrajectory topics {trajectories}: pass --command-topic with "
            f"the one the robot followed (or {NO_COMMAND})"
        )
    return trajectories[0] if trajectories else None


def _require(
    bag: Path,
    present: Mapping[str, str],
    topic: str,
    kinds: tuple[str, ...],
    what: str,
    flag: str,
) -> str:
    """``topic``, checked to be in the bag with one of ``kinds``."""
    if present.get(topic) in kinds:
        return topic
    have = sorted(t for t, kind in present.items() if kind in kinds)
    found = f"is {present[topic]}, not" if topic in present else "is not in the bag; expected"
    fix = f". Pass {flag}" if flag else ""
    raise EpisodeError(
        f"{bag}: {what} topic {topic} {found} {' or '.join(kinds)}; the bag's "
        f"{' or '.join(k.rsplit('/', 1)[-1] for k in kinds)} topics: {have}{fix}"
    )
