"""Hand-to-robot retargeting: a tracked hand's keypoints (camera frame) to a target pose of
the robot's tool-centre point in the base frame, and a gripper aperture.

The target position is the midpoint of thumb and index fingertips; its orientation is the
palm frame (z along the palm towards the fingers, y towards the index side, x out of the
palm), which maps to the tool frame (z out of the gripper, y along the fingers' closing
axis). The aperture comes from the thumb-index distance between calibrated closed and open
values. Poses are smoothed with One Euro filters and clamped to a workspace box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhum_core.pose_math import (
    FINGERTIPS,
    matrix_from_quaternion,
    quaternion_from_matrix,
    wrist_frame,
)
from simhum_human_capture.one_euro import OneEuroFilter

THUMB_TIP, INDEX_TIP = FINGERTIPS[0], FINGERTIPS[1]


@dataclass(frozen=True)
class RetargetConfig:
    """Calibrated pinch distances, the workspace box, and filter settings."""

    pinch_closed_m: float = 0.015  # thumb-index distance read as a closed gripper
    pinch_open_m: float = 0.11  # ... and as a fully open one
    workspace_min: tuple[float, float, float] = (0.15, -0.45, 0.0)
    workspace_max: tuple[float, float, float] = (0.75, 0.45, 0.55)
    min_confidence: float = 0.5
    min_cutoff_hz: float = 1.5
    beta: float = 2.0

    def __post_init__(self) -> None:
        if not 0 <= self.pinch_closed_m < self.pinch_open_m:
            raise ValueError(
                f"pinch_closed_m ({self.pinch_closed_m}) must be below pinch_open_m "
                f"({self.pinch_open_m}); recalibrate them with a closed and an open pinch"
            )
        if np.any(np.asarray(self.workspace_min) >= np.asarray(self.workspace_max)):
            raise ValueError("workspace_min must be below workspace_max on every axis")


# The palm frame's axes in pose_math's wrist frame (x along the hand, z normal to the palm):
# palm z = wrist x, palm y = wrist y, palm x = -(wrist z).
PALM_IN_WRIST = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


def palm_frame(keypoints: np.ndarray) -> np.ndarray:
    """Rotation (3x3, columns x y z) of the palm frame from wrist, index and pinky MCPs."""
    return wrist_frame(keypoints)[:3, :3] @ PALM_IN_WRIST


def grasp_pose(keypoints: np.ndarray) -> np.ndarray:
    """4x4 pose of the pinch point with the palm frame's orientation, in the keypoints' frame."""
    pose = np.eye(4)
    pose[:3, :3] = palm_frame(keypoints)
    pose[:3, 3] = (keypoints[THUMB_TIP] + keypoints[INDEX_TIP]) / 2
    return pose


def aperture_from_pinch(distance: float, config: RetargetConfig) -> float:
    """Normalised gripper aperture (0 closed .. 1 open) of a thumb-index distance."""
    span = config.pinch_open_m - config.pinch_closed_m
    return float(np.clip((distance - config.pinch_closed_m) / span, 0.0, 1.0))


@dataclass(frozen=True)
class RetargetResult:
    """A tool target in the robot base frame."""

    T_base_tool: np.ndarray
    aperture: float
    clamped: bool  # the raw target was outside the workspace box


class Retargeter:
    """Stateful retargeting of a stream of hand observations (filters keep history)."""

    def __init__(self, config: RetargetConfig, T_base_camera: np.ndarray) -> None:
        self.config, self.T_base_camera = config, np.asarray(T_base_camera, dtype=np.float64)
        self._position = OneEuroFilter(config.min_cutoff_hz, config.beta)
        self._rotation = OneEuroFilter(config.min_cutoff_hz, config.beta)
        self._aperture = OneEuroFilter(config.min_cutoff_hz, config.beta)
        self._last_q: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the filters' history (the hand was lost)."""
        for f in (self._position, self._rotation, self._aperture):
            f.reset()
        self._last_q = None

    def update(
        self, t: float, keypoints_camera: np.ndarray, confidence: float = 1.0
    ) -> RetargetResult | None:
        """The tool target for hand keypoints (21, 3) in the camera optical frame at time
        ``t``; None when the hand's confidence is below the threshold."""
        if confidence < self.config.min_confidence:
            return None
        kp = np.asarray(keypoints_camera, dtype=np.float64)
        if kp.shape != (21, 3) or not np.all(np.isfinite(kp)):
            raise ValueError(f"expected 21 finite 3-D keypoints, got shape {kp.shape}")
        raw = self.T_base_camera @ grasp_pose(kp)
        q = quaternion_from_matrix(raw[:3, :3])
        if self._last_q is not None and q @ self._last_q < 0:
            q = -q  # keep the quaternion on one hemisphere so filtering is continuous
        self._last_q = q
        position = self._position(t, raw[:3, 3])
        clamped_position = np.clip(position, self.config.workspace_min, self.config.workspace_max)
        pose = np.eye(4)
        pose[:3, :3] = matrix_from_quaternion(self._rotation(t, q))
        pose[:3, 3] = clamped_position
        distance = float(np.linalg.norm(kp[THUMB_TIP] - kp[INDEX_TIP]))
        aperture = float(self._aperture(t, [aperture_from_pinch(distance, self.config)])[0])
        return RetargetResult(pose, aperture, bool(np.any(clamped_position != position)))
