"""Retargeting against a synthetic hand with a known pose, and the filter on noisy input."""

from __future__ import annotations

import numpy as np
import pytest

from simhum_human_capture import hand_model
from simhum_human_capture.one_euro import OneEuroFilter
from simhum_human_capture.retargeting import (
    RetargetConfig,
    Retargeter,
    aperture_from_pinch,
    grasp_pose,
)


def random_pose(rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    pose = np.eye(4)
    pose[:3, :3] = q * np.sign(np.linalg.det(q))
    pose[:3, 3] = rng.uniform([-0.2, -0.2, 0.5], [0.2, 0.2, 1.0])
    return pose


def rotation_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a.T @ b) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))))


def test_grasp_pose_of_known_hand() -> None:
    """The keypoints of a hand at a known pose give back that pose's pinch point and frame."""
    rng = np.random.default_rng(0)
    for _ in range(100):
        T_cam_hand = random_pose(rng)
        aperture = rng.uniform()
        kp = hand_model.keypoints(T_cam_hand, aperture)
        pose = grasp_pose(kp)
        expected = T_cam_hand[:3, :3] @ hand_model.grasp_point_in_hand(aperture)
        expected += T_cam_hand[:3, 3]
        assert np.linalg.norm(pose[:3, 3] - expected) < 1e-3  # < 1 mm
        assert rotation_error_deg(pose[:3, :3], T_cam_hand[:3, :3]) < 1.0  # < 1 degree


def test_retargeted_target_in_base_frame(camera) -> None:
    """Through the calibrated extrinsics: the target equals the known pose in the base frame."""
    rng = np.random.default_rng(1)
    config = RetargetConfig(workspace_min=(-5, -5, -5), workspace_max=(5, 5, 5))
    for _ in range(20):
        retargeter = Retargeter(config, camera.T_base_camera)
        T_cam_hand = random_pose(rng)
        result = retargeter.update(0.0, hand_model.keypoints(T_cam_hand, 1.0))
        T_base_hand = camera.T_base_camera @ T_cam_hand
        point = T_base_hand[:3, :3] @ hand_model.grasp_point_in_hand(1.0) + T_base_hand[:3, 3]
        assert np.linalg.norm(result.T_base_tool[:3, 3] - point) < 1e-3
        assert rotation_error_deg(result.T_base_tool[:3, :3], T_base_hand[:3, :3]) < 1.0
        assert result.aperture == pytest.approx(1.0, abs=0.01)


def test_aperture_from_calibrated_pinch() -> None:
    config = RetargetConfig(pinch_closed_m=0.02, pinch_open_m=0.10)
    assert aperture_from_pinch(0.02, config) == 0.0
    assert aperture_from_pinch(0.06, config) == pytest.approx(0.5)
    assert aperture_from_pinch(0.5, config) == 1.0
    with pytest.raises(ValueError, match="recalibrate"):
        RetargetConfig(pinch_closed_m=0.1, pinch_open_m=0.05)


def test_filter_smooths_noise_and_follows_motion() -> None:
    rng = np.random.default_rng(2)
    rate = 30.0
    times = np.arange(300) / rate
    still = np.zeros((300, 3)) + rng.normal(0, 0.004, (300, 3))
    f = OneEuroFilter(min_cutoff=1.5, beta=2.0)
    smoothed = np.array([f(t, x) for t, x in zip(times, still, strict=True)])
    assert smoothed[30:].std() < 0.5 * still[30:].std()  # jitter at least halved
    moving = np.stack([0.3 * times, np.zeros_like(times), np.zeros_like(times)], 1)  # 0.3 m/s
    f = OneEuroFilter(min_cutoff=1.5, beta=2.0)
    followed = np.array([f(t, x) for t, x in zip(times, moving, strict=True)])
    lag = np.abs(followed[60:, 0] - moving[60:, 0]).max()
    assert lag < 0.03  # under 3 cm behind a hand moving at 0.3 m/s


def test_noisy_hand_through_retargeter(camera) -> None:
    """Keypoint noise of 5 mm: the filtered target is steadier than the raw pinch point."""
    rng = np.random.default_rng(3)
    T_cam_hand = random_pose(rng)
    clean = hand_model.keypoints(T_cam_hand, 0.5)
    retargeter = Retargeter(
        RetargetConfig(workspace_min=(-5, -5, -5), workspace_max=(5, 5, 5)), camera.T_base_camera
    )
    raw, filtered = [], []
    for k in range(200):
        noisy = clean + rng.normal(0, 0.005, clean.shape)
        raw.append((camera.T_base_camera @ grasp_pose(noisy))[:3, 3])
        filtered.append(retargeter.update(k / 30, noisy).T_base_tool[:3, 3])
    raw, filtered = np.array(raw[30:]), np.array(filtered[30:])
    assert filtered.std(axis=0).max() < 0.5 * raw.std(axis=0).max()
    truth = (camera.T_base_camera @ grasp_pose(clean))[:3, 3]
    assert np.linalg.norm(filtered.mean(axis=0) - truth) < 0.003


def test_workspace_clamping_and_low_confidence(camera) -> None:
    retargeter = Retargeter(RetargetConfig(), camera.T_base_camera)
    far = np.eye(4)
    far[:3, 3] = [0.0, 0.0, 3.0]  # 3 m in front of the camera: beyond the table
    result = retargeter.update(0.0, hand_model.keypoints(far, 1.0))
    assert result.clamped
    assert np.all(result.T_base_tool[:3, 3] <= np.array(RetargetConfig().workspace_max) + 1e-12)
    assert retargeter.update(0.1, hand_model.keypoints(far, 1.0), confidence=0.1) is None
    with pytest.raises(ValueError, match="21 finite"):
        retargeter.update(0.2, np.full((21, 3), np.nan))
