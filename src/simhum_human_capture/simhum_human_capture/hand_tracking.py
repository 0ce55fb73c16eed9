"""Hand tracking with MediaPipe's HandLandmarker: 21 keypoints in pixels and in the camera
frame (metres).

Camera-frame keypoints come from the depth image where it has a value at a keypoint, else
from the model's metric world landmarks, scaled to a hand-size prior and placed by solving
for the translation that projects them onto the detected pixels (linear least squares with
the calibrated intrinsics).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simhum_core.calibration import CameraCalibration
from simhum_core.pose_math import INDEX_MCP, PINKY_MCP, WRIST

PALM_LENGTH_PRIOR_M = 0.085  # wrist to the middle of the index and pinky MCPs, adult hand
HANDEDNESS = {"Left": 1, "Right": 2}


def default_model_path() -> Path:
    """Where scripts/setup.sh puts the hand_landmarker.task bundle (the venv's share/)."""
    return Path(sys.prefix) / "share" / "simhum" / "hand_landmarker.task"


@dataclass(frozen=True)
class TrackedHand:
    """One detected hand."""

    keypoints_image: np.ndarray  # (21, 3): u, v in pixels, the model's relative depth
    keypoints_camera: np.ndarray  # (21, 3) metres, camera optical frame
    keypoint_confidence: np.ndarray  # (21,)
    handedness: int  # 0 unknown, 1 left, 2 right (HandPose constants)
    confidence: float
    source: str  # "mediapipe" or "mediapipe+depth"


def anchor_world_landmarks(
    world: np.ndarray, pixels: np.ndarray, camera: CameraCalibration
) -> np.ndarray:
    """Camera-frame keypoints from hand-centred metric landmarks (21, 3) and their pixels
    (21, 2): scale to the palm-length prior, then the translation that best reprojects."""
    palm = np.linalg.norm((world[INDEX_MCP] + world[PINKY_MCP]) / 2 - world[WRIST])
    shape = world * (PALM_LENGTH_PRIOR_M / palm) if palm > 1e-6 else world
    fx, fy, cx, cy = camera.K[0, 0], camera.K[1, 1], camera.K[0, 2], camera.K[1, 2]
    du, dv = pixels[:, 0] - cx, pixels[:, 1] - cy
    # u = fx (X + tx) / (Z + tz) + cx  ->  fx tx - du tz = du Z - fx X  (and likewise for v)
    A = np.concatenate(
        [
            np.stack([np.full(21, fx), np.zeros(21), -du], axis=1),
            np.stack([np.zeros(21), np.full(21, fy), -dv], axis=1),
        ]
    )
    b = np.concatenate([du * shape[:, 2] - fx * shape[:, 0], dv * shape[:, 2] - fy * shape[:, 1]])
    t, *_ = np.linalg.lstsq(A, b, rcond=None)
    return shape + t


def backproject(pixels: np.ndarray, depth: np.ndarray, camera: CameraCalibration) -> np.ndarray:
    """Camera-frame points of pixels (N, 2) at depths (N,) in metres."""
    x = (pixels[:, 0] - camera.K[0, 2]) / camera.K[0, 0] * depth
    y = (pixels[:, 1] - camera.K[1, 2]) / camera.K[1, 1] * depth
    return np.stack([x, y, depth], axis=1)


class HandTracker:
    """MediaPipe HandLandmarker in video mode; call close() when done."""

    def __init__(self, model_path: str | Path | None = None, min_confidence: float = 0.5) -> None:
        path = Path(model_path) if model_path else default_model_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: hand-tracking model not found; scripts/setup.sh builds it, or set "
                "the model_path parameter to a hand_landmarker.task file"
            )
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.VIDEO,
            num_hands=1,
            min_hand_detection_confidence=min_confidence,
            min_hand_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self._landmarker = vision.HandLandmarker.create_from_options(options)
        self._last_ms = -1

    def track(
        self,
        rgb: np.ndarray,
        stamp_s: float,
        camera: CameraCalibration,
        depth_m: np.ndarray | None = None,
    ) -> TrackedHand | None:
        """The hand in an (H, W, 3) uint8 RGB frame, or None when there is none."""
        import mediapipe as mp

        height, width = rgb.shape[:2]
        if (camera.width, camera.height) != (width, height):
            camera = camera.resized(width, height)
        stamp_ms = max(int(stamp_s * 1000), self._last_ms + 1)  # strictly increasing
        self._last_ms = stamp_ms
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._landmarker.detect_for_video(image, stamp_ms)
        if not result.hand_landmarks:
            return None
        norm = np.array([[p.x, p.y, p.z] for p in result.hand_landmarks[0]])
        world = np.array([[p.x, p.y, p.z] for p in result.hand_world_landmarks[0]])
        category = result.handedness[0][0]
        pixels = norm[:, :2] * [width, height]
        in_camera = anchor_world_landmarks(world, pixels, camera)
        source = "mediapipe"
        if depth_m is not None:
            cols = np.clip(np.round(pixels[:, 0]).astype(int), 0, width - 1)
            rows = np.clip(np.round(pixels[:, 1]).astype(int), 0, height - 1)
            depth = depth_m[rows, cols]
            valid = np.isfinite(depth) & (depth > 0)
            if valid.any():
                in_camera[valid] = backproject(pixels[valid], depth[valid], camera)
                source = "mediapipe+depth"
        presence = np.array([getattr(p, "presence", 0.0) or 0.0 for p in result.hand_landmarks[0]])
        score = float(category.score)
        return TrackedHand(
            keypoints_image=np.column_stack([pixels, norm[:, 2]]),
            keypoints_camera=in_camera,
            keypoint_confidence=np.where(presence > 0, presence, score),
            handedness=HANDEDNESS.get(category.category_name, 0),
            confidence=score,
            source=source,
        )

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._landmarker.close()
