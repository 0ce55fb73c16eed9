"""The hand tracker: its model loads with no network and it finds hands in frames."""

from __future__ import annotations

import numpy as np
import pytest

from simhum_human_capture import hand_model
from simhum_human_capture.hand_tracking import HandTracker, anchor_world_landmarks


def test_tracker_runs_offline_on_proxy_frames(proxy_frames, camera) -> None:
    _, sink = proxy_frames
    tracker = HandTracker()
    try:
        errors = []
        for (t, rgb), truth in zip(sink.frames, sink.keypoints, strict=True):
            hand = tracker.track(rgb, t, camera)
            if hand is not None:
                assert hand.keypoints_image.shape == (21, 3)
                assert hand.keypoints_camera.shape == (21, 3)
                assert np.all(hand.keypoints_camera[:, 2] > 0)  # in front of the camera
                errors.append(np.linalg.norm(hand.keypoints_image[:, :2] - truth, axis=1).mean())
        # the rendered hand is found in part of the episode (reported in the README)
        assert len(errors) >= 5, f"found in {len(errors)} of {len(sink.frames)} frames"
        assert np.median(errors) < 20.0  # pixels, at 640x480
        assert tracker.track(np.zeros((480, 640, 3), np.uint8), 99.0, camera) is None
    finally:
        tracker.close()


def test_anchoring_recovers_a_hand_in_front_of_the_camera(camera) -> None:
    """Hand-centred metric landmarks + their pixels give back the camera-frame hand."""
    pose = np.eye(4)
    pose[:3, 3] = [0.05, -0.02, 0.6]
    truth = hand_model.keypoints(pose, 0.7)
    centred = truth - truth.mean(axis=0)
    pixels = camera.project(truth)
    recovered = anchor_world_landmarks(centred, pixels, camera)
    # the palm-length prior (8.5 cm) differs from the model hand's palm: depth scales with it
    assert np.linalg.norm(recovered.mean(axis=0) - truth.mean(axis=0)) < 0.08
    np.testing.assert_allclose(camera.project(recovered), pixels, atol=1.0)


def test_missing_model_is_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.task: hand-tracking model not found"):
        HandTracker(tmp_path / "nope.task")
