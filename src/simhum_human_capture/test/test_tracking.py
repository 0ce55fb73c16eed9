"""The hand tracker: its model loads with no network and it finds hands in frames."""

from __future__ import annotations

import numpy as np
import pytest

from simhum_human_capture import hand_model
from simhum_human_capture.hand_tracking import HandTracker, anchor_world_landmarks

# Measured on PROXY_SEEDS: the hand found in 54 of 597 frames (9.0%), median keypoint error
# 13.1 px where found; over seeds 0-19, 16.5% and 13.9 px. It is found mostly in episodes
# whose grasp yaw shows the hand obliquely, rarely while pinching (the fingers curl away behind
# the palm); seen squarely from the back, the hand is often read mirrored (about 45 px off).
MIN_FOUND = 0.03  # of all frames: well below what is measured, far above a tracker that fails
MAX_MEDIAN_ERROR_PX = 20.0  # at 640x480


def test_tracker_finds_proxy_hands_offline(proxy_episodes, camera) -> None:
    """Over all the proxy-human episodes, each tracked as one video stream (as the tracker
    node does): the hand is found in part of the frames, and where it is found its keypoints
    lie on the rendered hand's."""
    frames, errors = 0, []
    for episode in proxy_episodes:
        tracker = HandTracker()
        try:
            for (t, rgb), truth in zip(episode.frames, episode.keypoints, strict=True):
                frames += 1
                hand = tracker.track(rgb, t, camera)
                if hand is not None:
                    assert hand.keypoints_image.shape == (21, 3)
                    assert hand.keypoints_camera.shape == (21, 3)
                    assert np.all(hand.keypoints_camera[:, 2] > 0)  # in front of the camera
                    errors.append(
                        np.linalg.norm(hand.keypoints_image[:, :2] - truth, axis=1).mean()
                    )
        finally:
            tracker.close()
    summary = f"found in {len(errors)} of {frames} frames of {len(proxy_episodes)} episodes"
    assert len(errors) >= MIN_FOUND * frames, summary
    assert np.median(errors) < MAX_MEDIAN_ERROR_PX, f"{summary}, errors {np.round(errors)}"


def test_tracker_finds_no_hand_in_a_blank_frame(camera) -> None:
    tracker = HandTracker()
    try:
        assert tracker.track(np.zeros((480, 640, 3), np.uint8), 0.0, camera) is None
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
