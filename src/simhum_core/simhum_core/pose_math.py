"""Pose math shared by the dataset builder and the ONNX policy runtime (numpy only, batched).

Conventions: poses are 4x4 homogeneous matrices ``T_parent_child``; a 6D rotation is the
first two columns of the rotation matrix, column after column (Zhou et al., CVPR 2019):
``[R00, R10, R20, R01, R11, R21]``; a pose vector is ``[x, y, z, rot6d]`` (9 numbers).
Every function accepts leading batch dimensions.
"""

from __future__ import annotations

import numpy as np

# MediaPipe hand keypoint indices.
WRIST = 0
INDEX_MCP = 5
PINKY_MCP = 17
FINGERTIPS = (4, 8, 12, 16, 20)
NUM_HAND_KEYPOINTS = 21


def rot6d_from_matrix(R: np.ndarray) -> np.ndarray:
    """6D rotation ``[..., 6]`` of rotation matrices ``[..., 3, 3]``."""
    R = np.asarray(R)
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def matrix_from_rot6d(x: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` of 6D rotations ``[..., 6]`` (Gram-Schmidt), so any
    6 numbers with two non-parallel halves give a proper rotation."""
    x = np.asarray(x, dtype=np.float64)
    a, b = x[..., :3], x[..., 3:6]
    c0 = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - np.sum(c0 * b, axis=-1, keepdims=True) * c0
    c1 = b / np.linalg.norm(b, axis=-1, keepdims=True)
    c2 = np.cross(c0, c1)
    return np.stack([c0, c1, c2], axis=-1)


def pose_to_vector(T: np.ndarray) -> np.ndarray:
    """Pose vectors ``[..., 9]`` (position, 6D rotation) of 4x4 poses ``[..., 4, 4]``."""
    T = np.asarray(T)
    return np.concatenate([T[..., :3, 3], rot6d_from_matrix(T[..., :3, :3])], axis=-1)


def vector_to_pose(v: np.ndarray) -> np.ndarray:
    """4x4 poses ``[..., 4, 4]`` of pose vectors ``[..., 9]`` (position, 6D rotation)."""
    v = np.asarray(v, dtype=np.float64)
    T = np.zeros((*v.shape[:-1], 4, 4))
    T[..., :3, :3] = matrix_from_rot6d(v[..., 3:9])
    T[..., :3, 3] = v[..., :3]
    T[..., 3, 3] = 1.0
    return T


def invert_pose(T: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms ``[..., 4, 4]``."""
    T = np.asarray(T, dtype=np.float64)
    R_t = np.swapaxes(T[..., :3, :3], -1, -2)
    out = np.zeros_like(T)
    out[..., :3, :3] = R_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", R_t, T[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def relative_pose(T_ref: np.ndarray, T: np.ndarray) -> np.ndarray:
    """``T_ref^-1 @ T``: pose ``T`` expressed in the frame ``T_ref`` (both in one parent)."""
    return invert_pose(T_ref) @ np.asarray(T, dtype=np.float64)


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points ``[..., N, 3]`` mapped by poses ``[..., 4, 4]`` (child frame -> parent frame)."""
    T = np.asarray(T, dtype=np.float64)
    rotated = np.einsum("...ij,...nj->...ni", T[..., :3, :3], points)
    return rotated + T[..., None, :3, 3]


def wrist_frame(keypoints: np.ndarray) -> np.ndarray:
    """4x4 wrist poses ``[..., 4, 4]`` from MediaPipe hand keypoints ``[..., 21, 3]``, in the
    keypoints' frame: origin at the wrist, x towards the middle of the index and pinky
    knuckles (along the hand), z normal to the palm plane (x cross index-minus-pinky), y = z x x.
    """
    k = np.asarray(keypoints, dtype=np.float64)
    if k.shape[-2:] != (NUM_HAND_KEYPOINTS, 3):
        raise ValueError(f"hand keypoints must have shape [..., 21, 3], got {k.shape}")
    wrist = k[..., WRIST, :]
    forward = (k[..., INDEX_MCP, :] + k[..., PINKY_MCP, :]) / 2 - wrist
    across = k[..., INDEX_MCP, :] - k[..., PINKY_MCP, :]
    x = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    z = np.cross(x, across)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    T = np.zeros((*k.shape[:-2], 4, 4))
    T[..., :3, :3] = np.stack([x, y, z], axis=-1)
    T[..., :3, 3] = wrist
    T[..., 3, 3] = 1.0
    return T


def quaternion_from_matrix(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix (one 3x3)."""
    import pinocchio

    q = pinocchio.Quaternion(np.asarray(R, dtype=np.float64))
    return np.array([q.w, q.x, q.y, q.z])


def matrix_from_quaternion(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of a quaternion (w, x, y, z), normalised first."""
    import pinocchio

    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return pinocchio.Quaternion(w, x, y, z).toRotationMatrix()
