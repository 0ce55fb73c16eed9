"""Proxy-human episodes: the same bag format as sim episodes, with the hand as the actions."""

from __future__ import annotations

import numpy as np
from rosbags.rosbag2 import Reader

from simhum_core.episode_bag import read_metadata, typestore
from simhum_core.topics import load_topics
from simhum_human_capture.proxy_human import hand_plan
from simhum_human_capture.proxy_human import main as generate_human
from simhum_human_capture.retargeting import RetargetConfig, Retargeter
from simhum_sim_bridge.experts import push_yaw
from simhum_sim_bridge.rollout import EpisodeSpec, sample_episode

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


def test_the_hand_turns_the_short_way_to_push() -> None:
    """Taking the unfolded yaw as it came, in (0, 2 pi], the hand turned its wrist up to
    355 degrees from the start (half the pushes more than half a turn) where the gripper
    turns at most 90: the same final pose, reached the long way round."""
    turns = []
    for seed in range(20000, 20100):
        task, _, layout = sample_episode(EpisodeSpec("push", "human_wild", seed))
        plan = hand_plan(task, layout)
        yaws = np.array([w.yaw for w in plan.points])
        facing = push_yaw(layout["block"], layout["target"])
        # fingertips first: every push waypoint faces the unfolded push direction
        np.testing.assert_allclose(np.cos(yaws[1:] - facing), 1.0, atol=1e-9)
        turns.append(np.max(np.abs(yaws - yaws[0])))
    assert max(turns) <= np.pi
    assert max(turns) > np.pi / 2  # the hand, unlike the gripper, still turns round
