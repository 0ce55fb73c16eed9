"""Proxy-human episodes: the same bag format as sim episodes, with the hand as the actions."""

from __future__ import annotations

import numpy as np
from rosbags.rosbag2 import Reader

from simhum_core.episode_bag import read_metadata, typestore
from simhum_core.topics import load_topics
from simhum_human_capture.proxy_human import main as generate_human
from simhum_human_capture.retargeting import RetargetConfig, Retargeter

TOPICS = load_topics()


def test_generated_human_episode(tmp_path, camera) -> None:
    assert (
        generate_human(["--out", str(tmp_path), "--tasks", "stack", "-n", "1", "--workers", "1"])
        == 0
    )
    (bag,) = (tmp_path / "stack" / "human").glob("human-*")
    assert bag.name == "human-stack-human_wild-in-000000"  # the wild look, the inner grid
    meta = read_metadata(bag)
    assert (meta.domain, meta.embodiment, meta.task) == ("human", "human", "stack")
    assert meta.note.endswith("scene domain human_wild, split in")
    messages: dict[str, list] = {}
    with Reader(bag) as reader:
        for conn, _, raw in reader.messages():
            messages.setdefault(conn.topic, []).append(
                typestore().deserialize_cdr(raw, conn.msgtype)
            )
    assert set(messages) == {
        TOPICS.camera_image,
        TOPICS.camera_info,
        TOPICS.hand_pose,
        TOPICS.end_effector_target,
        TOPICS.episode_events,
    }
    assert len(messages[TOPICS.hand_pose]) == len(messages[TOPICS.camera_image]) > 50
    # retargeting the recorded ground-truth hand gives the recorded target back
    retargeter = Retargeter(
        RetargetConfig(workspace_min=(-5, -5, -5), workspace_max=(5, 5, 5)), camera.T_base_camera
    )
    hand, target = messages[TOPICS.hand_pose][10], messages[TOPICS.end_effector_target][10]
    keypoints = np.array([[p.x, p.y, p.z] for p in hand.keypoints_camera])
    result = retargeter.update(0.0, keypoints)
    position = target.pose.position
    np.testing.assert_allclose(
        result.T_base_tool[:3, 3], [position.x, position.y, position.z], atol=1e-6
    )


def test_the_hand_pushes_fingertips_first_and_succeeds(tmp_path) -> None:
    """The push expert folds its yaw for the gripper's symmetric fingers; a hand turned
    around that way landed its knuckles on the block, and half the pushes failed."""
    args = ["--out", str(tmp_path), "--tasks", "push", "-n", "8", "--seed", "20000"]
    assert generate_human([*args, "--width", "96", "--height", "72", "--workers", "1"]) == 0
    bags = sorted((tmp_path / "push" / "human").glob("human-*"))
    assert len(bags) == 8
    assert [read_metadata(b).success for b in bags] == [True] * 8
