"""Recordings as another robot team's `ros2 bag record` makes them, written with rosbags.

Their own topic names, no SimHum metadata, a 30 Hz camera (JPEG CompressedImage or rgb8
Image), 200 Hz joint_states with jittered stamps (the URDF's joints in another order plus a
joint of something else), 10 Hz commands (JointTrajectory with its stamp left at zero, as
teleoperation nodes send them, or a forward position controller's Float64MultiArray), and
optionally EpisodeEvent messages. Images are 32x24. The ground truth comes back with the bag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from simhum_core.episode_bag import EPISODE_EVENT, EVENTS, encode_jpeg, typestore
from simhum_core.robot import RobotDescription

START_NS = 1_780_000_000 * 10**9  # the recording's clock at t = 0
CAMERA_HZ, JOINT_HZ, COMMAND_HZ = 30.0, 200.0, 10.0
IMAGE_LATENCY_NS, JOINT_LATENCY_NS = 4_000_000, 500_000  # capture stamp -> bag time
EXTRA_JOINT = "conveyor_joint"  # another machine's joint on the same /joint_states
SIZE = (32, 24)


@dataclass
class Recording:
    """What a written bag holds: stamps (ns) and joint values in URDF order."""

    bag: Path
    start_ns: int  # the bag's first message, bag time
    image_ns: np.ndarray  # header stamps
    image_log_ns: np.ndarray  # bag times
    joint_ns: np.ndarray
    joint_q: np.ndarray  # [K, dof]
    command_ns: np.ndarray  # bag times (the stamp the converter falls back on)
    command_q: np.ndarray  # [K, dof], mimic joints following their leaders


def motion(robot: RobotDescription, t: np.ndarray) -> np.ndarray:
    """A smooth motion [len(t), dof] inside the limits, each joint at its own pace."""
    middle, half = (robot.lower + robot.upper) / 2, (robot.upper - robot.lower) / 2
    pace = 0.3 + 0.11 * np.arange(robot.dof)
    q = middle + 0.4 * half * np.sin(2 * np.pi * pace * t[:, None] + np.arange(robot.dof))
    return robot.apply_mimic(q)


def write_recording(
    out: Path,
    robot: RobotDescription,
    *,
    storage: StoragePlugin = StoragePlugin.MCAP,
    spans: tuple[tuple[float, float], ...] = ((0.0, 2.0),),
    image_topic: str = "/camera/color/image_raw/compressed",
    compressed: bool = True,
    joint_topic: str = "/joint_states",
    command: str | None = "trajectory",
    command_topic: str = "/arm_controller/joint_trajectory",
    command_joints: tuple[str, ...] = (),
    command_delay_s: float = 0.0,
    gripper_topic: str | None = None,
    renamed: dict[str, str] | None = None,
    omitted: tuple[str, ...] = (),
    split: tuple[str, ...] = (),
    events: tuple[tuple[float, str, str], ...] = (),
    events_topic: str = "/simhum/episode_events",
    seed: int = 0,
) -> Recording:
    """A bag at ``out`` whose streams run during each of ``spans`` (seconds); ``command``:
    "trajectory", "array" (values in ``command_joints`` order) or None; with
    ``gripper_topic``, trajectories name the arm's joints only and the gripper's commands go
    there; ``renamed`` renames joints in joint_states, ``omitted`` leaves them out, ``split``
    publishes them in messages of their own (a second driver's, 1 ms later in bag time);
    ``events``: (seconds, start|stop|success|failure, task)."""
    rng = np.random.default_rng(seed)
    store, types = typestore(), typestore().types
    kept = [n for n in robot.joint_names if n not in omitted]
    order = [*map(str, rng.permutation(kept)), EXTRA_JOINT]
    commanded = [n for n in robot.joint_names if n not in robot.mimic]
    named = robot.arm_joint_names if gripper_topic else commanded
    sent_names = list(map(str, rng.permutation(named)))  # a trajectory's own joint order
    command_joints = command_joints or tuple(commanded)

    def times(hz: float, delay: float = 0.0) -> np.ndarray:
        return np.concatenate([np.arange(a + delay, b, 1 / hz) for a, b in spans])

    image_t, joint_t = times(CAMERA_HZ), times(JOINT_HZ)
    command_t = times(COMMAND_HZ, command_delay_s) if command else np.zeros(0)
    joint_ns = START_NS + np.round(joint_t * 1e9).astype(np.int64)
    joint_ns += rng.integers(-1_500_000, 1_500_000, len(joint_ns))  # driver jitter
    joint_q = motion(robot, (joint_ns - START_NS) / 1e9)
    command_ns = START_NS + np.round(command_t * 1e9).astype(np.int64)
    command_ns += rng.integers(0, 3_000_000, len(command_ns))
    command_q = motion(robot, command_t + 1 / COMMAND_HZ)  # a target one command ahead
    image_ns = START_NS + np.round(image_t * 1e9).astype(np.int64)

    def header(ns: int, frame: str = ""):
        stamp = types["builtin_interfaces/msg/Time"](sec=int(ns) // 10**9, nanosec=int(ns) % 10**9)
        return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame)

    messages = []  # (bag time, topic, message)
    for k, ns in enumerate(image_ns):
        rgb = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
        rgb[..., 0] = k * 7 % 256
        rgb[4:12, (k % 24) : (k % 24) + 8] = 255
        if compressed:
            data = np.frombuffer(encode_jpeg(rgb), np.uint8)
            msg = types["sensor_msgs/msg/CompressedImage"](
                header=header(ns, "camera"), format="rgb8; jpeg compressed bgr8", data=data
            )
        else:
            msg = types["sensor_msgs/msg/Image"](
                header=header(ns, "camera"),
                height=SIZE[1],
                width=SIZE[0],
                encoding="rgb8",
                is_bigendian=0,
                step=SIZE[0] * 3,
                data=rgb.reshape(-1),
            )
        messages.append((ns + IMAGE_LATENCY_NS, image_topic, msg))
    publishers = [[n for n in order if n not in split], [n for n in order if n in split]]
    for delay_ns, published in enumerate(p for p in publishers if p):
        where = [
            list(robot.joint_names).index(n) if n in robot.joint_names else -1 for n in published
        ]
        labels = [(renamed or {}).get(n, n) for n in published]
        for ns, q in zip(joint_ns, joint_q, strict=True):
            msg = types["sensor_msgs/msg/JointState"](
                header=header(ns),
                name=labels,
                position=np.array([q[i] if i >= 0 else 0.5 for i in where]),
                velocity=np.zeros(0),
                effort=np.zeros(0),
            )
            messages.append((ns + JOINT_LATENCY_NS + delay_ns * 1_000_000, joint_topic, msg))
    for ns, q in zip(command_ns, command_q, strict=True):
        msg = _command(types, robot, command, q, sent_names, command_joints)
        messages.append((ns, command_topic, msg))
        if gripper_topic:
            gripper = _command(types, robot, "array", q, (), robot.gripper_command_joint_names)
            messages.append((ns + 1_000_000, gripper_topic, gripper))
    for seconds, kind, task in events:
        ns = START_NS + round(seconds * 1e9)
        msg = types[EPISODE_EVENT](
            header=header(ns),
            episode_id="",
            task=task,
            domain="",
            embodiment="",
            event=EVENTS[kind],
            seed=-1,
            note="",
        )
        messages.append((ns, events_topic, msg))

    writer = Writer(out, version=9, storage_plugin=storage)
    writer.open()
    connections = {}
    for ns, topic, msg in sorted(messages, key=lambda m: m[0]):
        if topic not in connections:
            connections[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=store)
        writer.write(connections[topic], int(ns), store.serialize_cdr(msg, msg.__msgtype__))
    writer.close()
    return Recording(
        bag=out,
        start_ns=int(min(m[0] for m in messages)),
        image_ns=image_ns,
        image_log_ns=image_ns + IMAGE_LATENCY_NS,
        joint_ns=joint_ns,
        joint_q=joint_q,
        command_ns=command_ns,
        command_q=command_q,
    )


def _command(types, robot: RobotDescription, kind: str, q: np.ndarray, names, joints):
    """A JointTrajectory to ``q`` naming ``names`` and the conveyor (stamp zero: 'start
    now'), or a Float64MultiArray of ``q``'s ``joints``."""
    if kind == "array":
        index = [list(robot.joint_names).index(n) for n in joints]
        layout = types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
        return types["std_msgs/msg/Float64MultiArray"](layout=layout, data=q[index])
    index = [list(robot.joint_names).index(n) for n in names]
    point = types["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=np.append(q[index], 0.3),
        velocities=np.zeros(0),
        accelerations=np.zeros(0),
        effort=np.zeros(0),
        time_from_start=types["builtin_interfaces/msg/Duration"](sec=0, nanosec=100_000_000),
    )
    return types["trajectory_msgs/msg/JointTrajectory"](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id=""
        ),
        joint_names=[*names, EXTRA_JOINT],
        points=[point],
    )
