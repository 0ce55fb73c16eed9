"""Conversions between SimHum's core data and ROS 2 messages (message packages only, no
rclpy), shared by every node: images, camera info, joint states, trajectories, time."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from simhum_core.calibration import CameraCalibration

ENCODING_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}


def to_time(seconds: float) -> Time:
    """builtin_interfaces/Time of a time in seconds."""
    ns = round(seconds * 1e9)
    return Time(sec=ns // 10**9, nanosec=ns % 10**9)


def from_time(stamp: Time | Duration) -> float:
    """Seconds of a builtin_interfaces Time or Duration."""
    return stamp.sec + stamp.nanosec * 1e-9


def to_duration(seconds: float) -> Duration:
    """builtin_interfaces/Duration of a span in seconds."""
    ns = round(seconds * 1e9)
    return Duration(sec=ns // 10**9, nanosec=ns % 10**9)


def image_msg(rgb: np.ndarray, stamp: float, frame_id: str) -> Image:
    """sensor_msgs/Image (rgb8) of an (H, W, 3) uint8 array."""
    height, width = rgb.shape[:2]
    msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    msg.header.stamp = to_time(stamp)
    msg.header.frame_id = frame_id
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def image_array(msg: Image) -> np.ndarray:
    """(H, W, 3) RGB uint8 array of a sensor_msgs/Image; a clear error for other layouts."""
    channels = ENCODING_CHANNELS.get(msg.encoding)
    if channels is None:
        raise ValueError(
            f"image encoding '{msg.encoding}' is not supported; use {sorted(ENCODING_CHANNELS)}"
        )
    if msg.step < msg.width * channels or len(msg.data) < msg.step * msg.height:
        raise ValueError(
            f"image of {msg.width}x{msg.height} {msg.encoding} has step {msg.step} and "
            f"{len(msg.data)} bytes: truncated or corrupt"
        )
    rows = np.frombuffer(msg.data, dtype=np.uint8)[: msg.step * msg.height]
    rows = rows.reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels].reshape(msg.height, msg.width, channels)
    if msg.encoding == "bgr8":
        return pixels[..., ::-1].copy()
    if channels == 1:
        return np.repeat(pixels, 3, axis=2)
    return pixels.copy()


def camera_info_msg(camera: CameraCalibration, stamp: float) -> CameraInfo:
    """sensor_msgs/CameraInfo of a calibration."""
    msg = CameraInfo(
        height=camera.height,
        width=camera.width,
        distortion_model=camera.distortion_model,
        d=camera.D.astype(float).tolist(),
        k=camera.K.reshape(-1).astype(float).tolist(),
        r=np.eye(3).reshape(-1).tolist(),
        p=camera.P.reshape(-1).astype(float).tolist(),
    )
    msg.header.stamp = to_time(stamp)
    msg.header.frame_id = camera.frame_id
    return msg


def joint_state_msg(
    names: tuple[str, ...], position: np.ndarray, velocity: np.ndarray, stamp: float
) -> JointState:
    """sensor_msgs/JointState."""
    msg = JointState(name=list(names), position=position.tolist(), velocity=velocity.tolist())
    msg.header.stamp = to_time(stamp)
    return msg


def trajectory_msg(
    names: tuple[str, ...],
    positions: np.ndarray,
    times_from_start: np.ndarray,
    frame_id: str,
    stamp: float = 0.0,
) -> JointTrajectory:
    """trajectory_msgs/JointTrajectory of (K, J) positions reached at the given times; a
    zero stamp means "start now", as joint_trajectory_controller reads it."""
    msg = JointTrajectory(joint_names=list(names))
    msg.header.stamp = to_time(stamp)
    msg.header.frame_id = frame_id
    msg.points = [
        JointTrajectoryPoint(positions=p.tolist(), time_from_start=to_duration(t))
        for p, t in zip(np.atleast_2d(positions), times_from_start, strict=True)
    ]
    return msg
