"""Pose math: 6D rotations, relative poses, point transforms and the hand's wrist frame."""

from __future__ import annotations

import numpy as np
import pytest

from simhum_core.pose_math import (
    FINGERTIPS,
    INDEX_MCP,
    PINKY_MCP,
    WRIST,
    invert_pose,
    matrix_from_rot6d,
    pose_to_vector,
    relative_pose,
    rot6d_from_matrix,
    transform_points,
    vector_to_pose,
    wrist_frame,
)


def random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    return q * np.sign(np.linalg.det(q))[:, None, None]  # proper rotations (det +1)


def random_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, :3] = random_rotations(rng, n)
    T[:, :3, 3] = rng.uniform(-1, 1, (n, 3))
    return T


def test_rot6d_round_trip_and_layout() -> None:
    R = random_rotations(np.random.default_rng(0), 100)
    x = rot6d_from_matrix(R)
    assert x.shape == (100, 6)
    np.testing.assert_array_equal(x[:, :3], R[:, :, 0])
    np.testing.assert_array_equal(x[:, 3:], R[:, :, 1])
    np.testing.assert_allclose(matrix_from_rot6d(x), R, atol=1e-12)
    np.testing.assert_array_equal(rot6d_from_matrix(np.eye(3)), [1, 0, 0, 0, 1, 0])


def test_rot6d_of_noisy_numbers_is_a_proper_rotation() -> None:
    x = np.random.default_rng(1).normal(size=(50, 6))
    R = matrix_from_rot6d(x)
    np.testing.assert_allclose(
        R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)


def test_pose_vector_round_trip_and_relative_pose() -> None:
    rng = np.random.default_rng(2)
    A, B = random_poses(rng, 20), random_poses(rng, 20)
    np.testing.assert_allclose(vector_to_pose(pose_to_vector(A)), A, atol=1e-12)
    np.testing.assert_allclose(invert_pose(A) @ A, np.broadcast_to(np.eye(4), A.shape), atol=1e-12)
    rel = relative_pose(A, B)
    np.testing.assert_allclose(A @ rel, B, atol=1e-12)
    np.testing.assert_allclose(
        relative_pose(A, A), np.broadcast_to(np.eye(4), A.shape), atol=1e-12
    )


def test_transform_points_matches_homogeneous_product() -> None:
    rng = np.random.default_rng(3)
    T, p = random_poses(rng, 4), rng.normal(size=(4, 7, 3))
    homogeneous = np.concatenate([p, np.ones((4, 7, 1))], axis=-1)
    expected = np.einsum("bij,bnj->bni", T, homogeneous)[..., :3]
    np.testing.assert_allclose(transform_points(T, p), expected, atol=1e-12)


def canonical_hand() -> np.ndarray:
    """A flat right hand in its own wrist frame: fingers along +x, index towards +y."""
    k = np.zeros((21, 3))
    for finger, y in enumerate([0.04, 0.02, 0.0, -0.02, -0.04]):
        for joint in range(4):
            k[1 + 4 * finger + joint] = [0.05 + 0.025 * joint, y, 0.0]
    k[INDEX_MCP], k[PINKY_MCP] = [0.08, 0.03, 0.0], [0.08, -0.03, 0.0]
    return k


def test_wrist_frame_recovers_the_pose_of_a_moved_hand() -> None:
    hand = canonical_hand()
    np.testing.assert_allclose(wrist_frame(hand), np.eye(4), atol=1e-12)
    T = random_poses(np.random.default_rng(4), 8)
    moved = transform_points(T, np.broadcast_to(hand, (8, 21, 3)))
    np.testing.assert_allclose(wrist_frame(moved), T, atol=1e-12)
    np.testing.assert_allclose(wrist_frame(moved)[:, :3, 3], moved[:, WRIST], atol=1e-12)
    assert len(FINGERTIPS) == 5


def test_wrist_frame_rejects_wrong_keypoint_count() -> None:
    with pytest.raises(ValueError, match=r"\[\.\.\., 21, 3\]"):
        wrist_frame(np.zeros((20, 3)))


def test_quaternion_round_trip() -> None:
    from simhum_core.pose_math import matrix_from_quaternion, quaternion_from_matrix

    rng = np.random.default_rng(7)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        R = matrix_from_quaternion(q)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        back = quaternion_from_matrix(R)
        np.testing.assert_allclose(np.abs(back @ q), 1.0, atol=1e-12)  # q and -q are one rotation
    np.testing.assert_allclose(quaternion_from_matrix(np.eye(3)), [1, 0, 0, 0])
