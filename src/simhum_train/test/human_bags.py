"""Human-hand episodes for tests, written like a capture recorder writes them.

Until recorded human episodes exist, a real-domain robot episode stands in: a hand whose
wrist follows the robot's tool frame, fingers opening with the gripper, drawn over the
camera frames (skin-coloured bones, so the images differ from the robot's) and published as
simhum_msgs/HandPose keypoints in the camera optical frame.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from simhum_core.calibration import CameraCalibration
from simhum_core.episode_bag import (
    METADATA_KEY,
    EpisodeMetadata,
    read_metadata,
    typestore,
)
from simhum_core.kinematics import IKSolver
from simhum_core.pose_math import INDEX_MCP, PINKY_MCP, invert_pose, transform_points
from simhum_core.robot import RobotDescription
from simhum_core.topics import Topics

HAND_POSE = "simhum_msgs/msg/HandPose"
SKIN = (224, 172, 105)
# MediaPipe bones: wrist to each finger's base, then along each finger.
BONES = [(0, 1 + 4 * f) for f in range(5)] + [
    (1 + 4 * f + j, 2 + 4 * f + j) for f in range(5) for j in range(3)
]


def hand_keypoints(aperture: float) -> np.ndarray:
    """21 keypoints [21, 3] of a flat hand in its wrist frame, fingers spread by aperture."""
    k = np.zeros((21, 3))
    for finger, y in enumerate(np.linspace(0.04, -0.04, 5)):
        for joint in range(4):
            k[1 + 4 * finger + joint] = [0.05 + 0.025 * joint, y * (0.5 + aperture), 0.0]
    k[INDEX_MCP], k[PINKY_MCP] = [0.08, 0.03, 0.0], [0.08, -0.03, 0.0]
    return k


def draw_hand(frame, pixels: np.ndarray):
    """A copy of an rgb8 Image message with the hand's bones drawn at ``pixels`` [21, 2]."""
    rgb = np.asarray(frame.data, dtype=np.uint8).reshape(frame.height, frame.width, 3)
    image = Image.fromarray(rgb.copy())
    draw = ImageDraw.Draw(image)
    width = max(1, frame.width // 40)
    for a, b in BONES:
        draw.line([tuple(pixels[a]), tuple(pixels[b])], fill=SKIN, width=width)
    frame.data = np.asarray(image).reshape(-1)
    return frame


def stamp(msg) -> int:
    """Header stamp of a message, ns."""
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def write_human_bag(
    robot_bag: Path,
    out: Path,
    robot: RobotDescription,
    camera: CameraCalibration,
    topics: Topics,
    hand_offset_s: float = 0.0,
) -> Path:
    """A human episode at ``out`` from ``robot_bag``'s frames; ``hand_offset_s`` shifts the
    hand stamps away from the camera's (to test alignment)."""
    store = typestore()
    frames, joints = [], []
    with Reader(robot_bag) as reader:
        for conn, _, raw in reader.messages():
            if conn.topic == topics.camera_image:
                frames.append(store.deserialize_cdr(raw, conn.msgtype))
            elif conn.topic == topics.joint_states:
                joints.append(store.deserialize_cdr(raw, conn.msgtype))
    joint_stamps = np.array([stamp(m) for m in joints])
    kinematics = IKSolver(robot)
    T_camera_base = invert_pose(camera.T_base_camera)
    image_camera = camera.resized(frames[0].width, frames[0].height)
    types = store.types
    meta = EpisodeMetadata(
        episode_id=out.name,
        task=read_metadata(robot_bag).task,
        domain="human",
        embodiment="human",
        seed=0,
        success=True,
        operator="test",
        note=f"hand following {robot_bag.name}",
    )
    writer = Writer(out, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    image_conn = writer.add_connection(topics.camera_image, frames[0].__msgtype__, typestore=store)
    hand_conn = writer.add_connection(topics.hand_pose, HAND_POSE, typestore=store)
    for frame in frames:
        t = stamp(frame)
        q = np.asarray(joints[int(np.argmin(np.abs(joint_stamps - t)))].position)
        keypoints = transform_points(
            T_camera_base @ kinematics.forward(q), hand_keypoints(robot.aperture(q))
        )
        hand_t = t + round(hand_offset_s * 1e9)
        header = types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](
                sec=hand_t // 10**9, nanosec=hand_t % 10**9
            ),
            frame_id=camera.frame_id,
        )
        points = [types["geometry_msgs/msg/Point"](x=x, y=y, z=z) for x, y, z in keypoints]
        pixels = image_camera.project(keypoints)
        hand = types[HAND_POSE](
            header=header,
            keypoints_image=[types["geometry_msgs/msg/Point"](x=u, y=v, z=0.0) for u, v in pixels],
            keypoints_camera=points,
            keypoint_confidence=np.full(21, 0.9, dtype=np.float32),
            handedness=2,
            confidence=0.9,
            source="test_robot_tool_frame",
        )
        frame = draw_hand(frame, pixels)
        writer.write(image_conn, t, store.serialize_cdr(frame, frame.__msgtype__))
        writer.write(hand_conn, hand_t, store.serialize_cdr(hand, HAND_POSE))
    writer.set_custom_data(METADATA_KEY, yaml.safe_dump(asdict(meta), sort_keys=True))
    writer.close()
    return out
