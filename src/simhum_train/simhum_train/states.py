"""Per-frame state and target rows of each embodiment, as stored in the dataset.

Robot (from joint states and commands, FK with pinocchio on the shared URDF):
  state  = [tool position (3), tool 6D rotation (6), gripper aperture (1), joints (n)]
  target = the same quantities of the commanded joint targets.
Human (from hand keypoints in the camera optical frame, moved into the robot base frame):
  state  = [wrist position (3), wrist 6D rotation (6), fingertips in the wrist frame (15)]
  target = the next frame's state (the hand's next pose is its "command"); the last frame
  holds its own.
Rows are zero-padded to the store's width; a layout names each slice.
"""

from __future__ import annotations

import numpy as np

from simhum_core.kinematics import IKSolver
from simhum_core.pose_math import (
    FINGERTIPS,
    invert_pose,
    pose_to_vector,
    transform_points,
    wrist_frame,
)
from simhum_core.robot import RobotDescription
from simhum_train.keys import HUMAN, ROBOT

Layout = list[tuple[str, int, int]]  # (name, start, stop) slices of a vector

HUMAN_LAYOUT: Layout = [("position", 0, 3), ("rot6d", 3, 9), ("fingertips", 9, 24)]


def robot_layout(num_joints: int) -> Layout:
    """Slices of a robot state/target row."""
    return [
        ("position", 0, 3),
        ("rot6d", 3, 9),
        ("gripper", 9, 10),
        ("joints", 10, 10 + num_joints),
    ]


def layout_slice(layout: Layout, name: str) -> slice:
    """Where the part ``name`` of a layout lies in its vectors."""
    start, stop = next((lo, hi) for part, lo, hi in layout if part == name)
    return slice(start, stop)


def layouts(robot: RobotDescription) -> dict[str, Layout]:
    """State/target layout of each embodiment."""
    return {ROBOT: robot_layout(robot.dof), HUMAN: HUMAN_LAYOUT}


def state_width(robot: RobotDescription) -> int:
    """Width of the store's state/target rows: the widest embodiment."""
    return max(stop for layout in layouts(robot).values() for _, _, stop in layout)


def robot_rows(robot: RobotDescription, q: np.ndarray) -> np.ndarray:
    """Robot rows [N, 10 + n] of joint positions ``q`` [N, n]."""
    kinematics = IKSolver(robot)
    poses = np.stack([kinematics.forward(qi) for qi in q])
    apertures = np.array([robot.aperture(qi) for qi in q])[:, None]
    return np.concatenate([pose_to_vector(poses), apertures, q], axis=1)


def human_rows(keypoints_camera: np.ndarray, T_base_camera: np.ndarray) -> np.ndarray:
    """Human rows [N, 24] of keypoints [N, 21, 3] in the camera optical frame."""
    keypoints = transform_points(T_base_camera, keypoints_camera)
    T_base_wrist = wrist_frame(keypoints)
    tips = transform_points(invert_pose(T_base_wrist), keypoints[:, list(FINGERTIPS)])
    return np.concatenate([pose_to_vector(T_base_wrist), tips.reshape(len(tips), -1)], axis=1)


def human_targets(states: np.ndarray) -> np.ndarray:
    """Each frame's target: the next frame's state (the last frame holds)."""
    return np.concatenate([states[1:], states[-1:]], axis=0)


def pad(rows: np.ndarray, width: int) -> np.ndarray:
    """``rows`` as float32 zero-padded to ``width`` columns."""
    out = np.zeros((len(rows), width), dtype=np.float32)
    out[:, : rows.shape[1]] = rows
    return out
