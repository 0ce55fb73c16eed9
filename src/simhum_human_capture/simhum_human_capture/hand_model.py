"""An articulated human hand: 21 keypoints in MediaPipe order from a wrist pose and an
aperture, with fixed bone lengths. Used to render the proxy-human source and to test
retargeting against a hand whose pose is known.

Hand frame (origin at the wrist): z points along the palm towards the fingers, y across the
palm towards the thumb side (index MCP side), x = y cross z, out of the palm.
"""

from __future__ import annotations

import numpy as np

from simhum_core.pose_math import WRIST

THUMB = (1, 2, 3, 4)
INDEX = (5, 6, 7, 8)
MIDDLE = (9, 10, 11, 12)
RING = (13, 14, 15, 16)
PINKY = (17, 18, 19, 20)
FINGERS = (THUMB, INDEX, MIDDLE, RING, PINKY)
# Bones as keypoint pairs (the MediaPipe hand connections).
PALM_BONES = ((WRIST, 1), (WRIST, 5), (WRIST, 17), (5, 9), (9, 13), (13, 17))
BONES = (*((f[i], f[i + 1]) for f in FINGERS for i in range(3)), *PALM_BONES)

# Knuckle (MCP / thumb CMC) positions in the hand frame, metres: an adult hand.
KNUCKLES = {
    THUMB: np.array([0.012, 0.022, 0.025]),
    INDEX: np.array([0.0, 0.030, 0.085]),
    MIDDLE: np.array([0.0, 0.008, 0.090]),
    RING: np.array([0.0, -0.013, 0.085]),
    PINKY: np.array([0.0, -0.030, 0.075]),
}
SEGMENTS = {  # proximal, middle, distal bone lengths
    THUMB: (0.040, 0.032, 0.028),
    INDEX: (0.042, 0.025, 0.021),
    MIDDLE: (0.046, 0.028, 0.022),
    RING: (0.043, 0.026, 0.021),
    PINKY: (0.034, 0.020, 0.019),
}
FLEX_MAX = np.radians([55.0, 80.0, 45.0])  # per joint, at full curl
THUMB_OPEN = np.array([0.15, 0.75, 0.65])  # thumb direction, open hand
THUMB_BEND = 0.15  # rad per thumb joint when pinching


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def keypoints_in_hand(aperture: float) -> np.ndarray:
    """(21, 3) keypoints in the hand frame; aperture 1 is an open hand, 0 a closed pinch."""
    closure = 1.0 - float(np.clip(aperture, 0.0, 1.0))
    points = np.zeros((21, 3))
    for finger in FINGERS[1:]:
        curl = closure * (0.75 if finger == INDEX else 0.95)
        points[finger[0]] = KNUCKLES[finger]
        direction = np.array([0.0, 0.0, 1.0])
        for k, length in enumerate(SEGMENTS[finger]):
            direction = _rot_y(curl * FLEX_MAX[k]) @ direction
            points[finger[k + 1]] = points[finger[k]] + length * direction
    # the thumb swings from its open direction towards the index fingertip (opposition)
    points[THUMB[0]] = KNUCKLES[THUMB]
    towards_index = _unit(points[INDEX[-1]] - KNUCKLES[THUMB])
    direction = _unit((1 - closure) * _unit(THUMB_OPEN) + closure * towards_index)
    for k, length in enumerate(SEGMENTS[THUMB]):
        if k:
            direction = _unit(_rot_y(closure * THUMB_BEND) @ direction)
        points[THUMB[k + 1]] = points[THUMB[k]] + length * direction
    return points


def grasp_point_in_hand(aperture: float) -> np.ndarray:
    """Midpoint of the thumb and index fingertips in the hand frame."""
    points = keypoints_in_hand(aperture)
    return (points[THUMB[-1]] + points[INDEX[-1]]) / 2


def pinch_distance(aperture: float) -> float:
    """Thumb-tip to index-tip distance of the model hand at ``aperture``."""
    points = keypoints_in_hand(aperture)
    return float(np.linalg.norm(points[THUMB[-1]] - points[INDEX[-1]]))


def keypoints(T_world_hand: np.ndarray, aperture: float) -> np.ndarray:
    """(21, 3) keypoints of the hand at pose ``T_world_hand`` (4x4) in that world frame."""
    local = keypoints_in_hand(aperture)
    return local @ T_world_hand[:3, :3].T + T_world_hand[:3, 3]
