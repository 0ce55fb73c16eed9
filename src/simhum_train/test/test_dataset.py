"""Episodes to store: alignment, misaligned and corrupt bags, incremental append, windows."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from human_bags import write_human_bag
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from simhum_core.episode_bag import (
    METADATA_KEY,
    EpisodeMetadata,
    read_metadata,
    typestore,
)
from simhum_sim_bridge.generate import main as generate
from simhum_train import keys
from simhum_train.convert import DatasetBuilder, find_bags
from simhum_train.convert import main as simhum_dataset
from simhum_train.episodes import RawEpisode, align_episode
from simhum_train.sampler import WindowSampler, split_episodes
from simhum_train.store import EpisodeStore

MS = 1_000_000
IMAGE_SIZE = (32, 32)


def raw_episode(image_ns, joint_ns=(), command_ns=()) -> RawEpisode:
    """A robot episode with only stamps (images blank, joint values = sample index)."""
    n = len(image_ns)
    return RawEpisode(
        bag=Path("synthetic"),
        metadata=EpisodeMetadata("e", "pick_place", "real", "robot", 0, True),
        image_stamps=np.asarray(image_ns, dtype=np.int64),
        images=np.zeros((n, 2, 2, 3), np.uint8),
        joint_stamps=np.asarray(joint_ns, dtype=np.int64),
        joint_positions=np.arange(len(joint_ns), dtype=float)[:, None],
        command_stamps=np.asarray(command_ns, dtype=np.int64),
        command_positions=np.arange(len(command_ns), dtype=float)[:, None],
    )


def test_alignment_picks_nearest_joints_and_held_commands() -> None:
    camera = np.arange(0, 1000, 100) * MS + 3 * MS  # 10 Hz, 3 ms after the joint samples
    joints = np.arange(0, 1000, 20) * MS  # 50 Hz
    commands = np.arange(0, 1000, 100) * MS
    aligned = align_episode(raw_episode(camera, joints, commands), 0.015, "robot")
    assert aligned.issues == []
    np.testing.assert_array_equal(aligned.joint_positions[:, 0], np.arange(0, 50, 5))
    np.testing.assert_array_equal(aligned.joint_targets[:, 0], np.arange(10))


def test_a_faster_camera_holds_the_last_command() -> None:
    camera = np.arange(0, 900, 33) * MS  # 30 Hz camera, 10 Hz commands: zero-order hold
    aligned = align_episode(
        raw_episode(camera, np.arange(0, 950, 20) * MS, np.arange(0, 1000, 100) * MS),
        0.015,
        "robot",
    )
    assert aligned.issues == []
    # the latest command sent up to the tolerance (15 ms of jitter) after each frame
    np.testing.assert_array_equal(aligned.joint_targets[:, 0], (camera + 15 * MS) // (100 * MS))


def test_gaps_are_reported_per_stream() -> None:
    camera = np.arange(0, 1000, 100) * MS
    joints = np.concatenate([np.arange(0, 300, 20), np.arange(700, 1000, 20)]) * MS
    commands = np.arange(0, 500, 100) * MS  # stops at 0.4 s
    issues = align_episode(raw_episode(camera, joints, commands), 0.015, "robot").issues
    by_stream = {i.stream: i for i in issues}
    assert set(by_stream) == {"joint_states", "joint_trajectory"}
    # frames at 0.3 .. 0.6 s are 20, 120, 200, 100 ms from the nearest joint sample
    assert by_stream["joint_states"].frames == 4
    assert by_stream["joint_states"].worst_offset_s == pytest.approx(0.2)
    assert by_stream["joint_trajectory"].frames == 4  # 0.6 s .. 0.9 s exceed 0.1 + 0.015 s
    assert str(by_stream["joint_states"]) == "joint_states: 4 frame(s) off by up to 0.200 s"


def test_hand_poses_beyond_the_tolerance_are_reported() -> None:
    """A human episode's hand poses are matched to the nearest camera frame within the
    tolerance (15 ms): 15 ms off is kept, 20 and 40 ms off are reported."""
    camera = np.arange(0, 1000, 100) * MS
    offsets = np.array([0, 5, 15, 20, 10, 0, 40, 5, 0, 15]) * MS
    hands = camera + offsets
    raw = RawEpisode(
        bag=Path("synthetic"),
        metadata=EpisodeMetadata("e", "pick_place", "human", "human", 0, True),
        image_stamps=camera,
        images=np.zeros((len(camera), 2, 2, 3), np.uint8),
        hand_stamps=hands[::-1].copy(),  # any order: matched by stamp
        hand_keypoints=np.arange(len(hands))[::-1, None, None] * np.ones((1, 21, 3)),
    )
    aligned = align_episode(raw, 0.015, "human")
    (issue,) = aligned.issues
    assert (issue.stream, issue.frames) == ("hand_pose", 2)
    assert issue.worst_offset_s == pytest.approx(0.040)
    np.testing.assert_array_equal(aligned.hand_keypoints[:, 0, 0], np.arange(len(camera)))
    assert aligned.joint_positions is None and aligned.joint_targets is None
    assert align_episode(raw, 0.040, "human").issues == []  # 40 ms off is within 40 ms


def copy_bag_without(bag: Path, out: Path, topic: str, start_s: float, stop_s: float) -> Path:
    """``bag`` rewritten without ``topic``'s messages stamped in [start_s, stop_s)."""
    t0 = None
    with Reader(bag) as reader:
        writer = Writer(out, version=9, storage_plugin=StoragePlugin.MCAP)
        writer.open()
        conns = {
            c.id: writer.add_connection(c.topic, c.msgtype, typestore=typestore())
            for c in reader.connections
        }
        for conn, t, raw in reader.messages():
            t0 = t if t0 is None else t0
            if conn.topic == topic and start_s <= (t - t0) / 1e9 < stop_s:
                continue
            writer.write(conns[conn.id], t, raw)
        writer.set_custom_data(METADATA_KEY, yaml.safe_dump(asdict(read_metadata(bag))))
        writer.close()
    return out


def test_misaligned_and_corrupt_bags_are_reported_and_skipped(
    tmp_path: Path, episodes: Path, robot, camera, topics
) -> None:
    real = sorted((episodes / "robot" / "pick_place" / "real").glob("pick*"))
    bad = tmp_path / "bags"
    bad.mkdir()
    gap = copy_bag_without(real[0], bad / "joint-gap", topics.joint_states, 1.0, 2.0)
    late_hand = write_human_bag(real[1], bad / "late-hand", robot, camera, topics, 0.05)
    truncated = bad / "truncated"
    shutil.copytree(real[2], truncated)
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    good = bad / "good"
    shutil.copytree(real[2], good)

    store = tmp_path / "store.zarr"
    builder = DatasetBuilder(store, robot, camera, topics, IMAGE_SIZE)
    report = builder.build(find_bags([bad]), progress=False)

    assert report.added == [str(good.resolve())]
    assert set(report.misaligned) == {str(gap.resolve()), str(late_hand.resolve())}
    (gap_issue,) = report.misaligned[str(gap.resolve())]
    assert gap_issue.stream == "joint_states" and gap_issue.worst_offset_s > 0.4
    (hand_issue,) = report.misaligned[str(late_hand.resolve())]
    assert hand_issue.stream == "hand_pose"
    assert hand_issue.worst_offset_s == pytest.approx(0.05, abs=1e-3)
    assert list(report.corrupt) == [str(truncated.resolve())]
    summary = report.summary()
    assert "1 corrupt" in summary and "2 misaligned" in summary and str(gap.resolve()) in summary
    assert [e.source for e in EpisodeStore.open(store).episodes] == [str(good.resolve())]


def test_store_layout_tags_and_statistics(store_path: Path, robot) -> None:
    store = EpisodeStore.open(store_path)
    arrays = store.load()
    ends = store.episode_ends
    n = int(ends[-1])
    assert arrays[keys.IMAGE].shape == (n, 32, 32, 3) and arrays[keys.IMAGE].dtype == np.uint8
    assert arrays[keys.STATE].shape == arrays[keys.TARGET].shape == (n, store.info.state_width)
    assert sorted(e.domain for e in store.episodes) == ["human"] * 3 + ["real"] * 3 + ["sim"] * 3
    assert all(e.embodiment == keys.EMBODIMENT_OF[e.domain] for e in store.episodes)
    assert store.info.joint_names == list(robot.joint_names)
    assert store.info.control_hz == pytest.approx(10.0)
    starts = np.concatenate([[0], ends[:-1]])
    for start, end in zip(starts, ends, strict=True):
        assert np.all(np.diff(arrays[keys.TIMESTAMP][start:end]) > 0)  # camera clock
    robot_rows = np.concatenate(
        [
            arrays[keys.STATE][s:e]
            for s, e, r in zip(starts, ends, store.episodes, strict=True)
            if r.embodiment == keys.ROBOT
        ]
    )
    stats = store.statistics(keys.ROBOT)
    np.testing.assert_allclose(stats["state_mean"], robot_rows.mean(0), atol=1e-5)
    assert np.all(stats["state_std"] >= 1e-2)


def test_append_is_incremental(tmp_path: Path, episodes: Path) -> None:
    bags = find_bags([episodes / "robot"])
    store = tmp_path / "store.zarr"
    argv = ["--out", str(store), "--image-size", "32"]
    assert simhum_dataset(["--episodes", *map(str, bags[:2]), *argv]) == 0
    first = EpisodeStore.open(store)
    rows_before = int(first.episode_ends[-1])
    assert len(first.episodes) == 2
    assert simhum_dataset(["--episodes", str(episodes / "robot"), *argv]) == 0
    second = EpisodeStore.open(store)
    assert len(second.episodes) == len(bags)
    assert second.episodes[:2] == first.episodes  # the old rows stay as they were
    assert int(second.episode_ends[1]) == rows_before
    assert len({e.source for e in second.episodes}) == len(bags)


def test_copied_and_moved_bags_are_recognised_by_content(
    tmp_path: Path, episodes: Path, robot, camera, topics
) -> None:
    bag = find_bags([episodes / "robot"])[0]
    first, twin = tmp_path / "a" / bag.name, tmp_path / "b" / "renamed-copy"
    shutil.copytree(bag, first)
    shutil.copytree(bag, twin)
    store = tmp_path / "store.zarr"
    report = DatasetBuilder(store, robot, camera, topics, IMAGE_SIZE).build(
        [first, twin], progress=False
    )
    assert report.added == [str(first.resolve())]
    assert report.copies == {str(twin.resolve()): str(first.resolve())}
    moved = tmp_path / "c" / bag.name
    shutil.move(first, moved)
    again = DatasetBuilder(store, robot, camera, topics, IMAGE_SIZE).build(
        [moved, twin], progress=False
    )
    assert not again.added and set(again.copies) == {str(moved.resolve()), str(twin.resolve())}
    assert f"copied or moved {moved.resolve()}: same recording as {first.resolve()}" in (
        again.summary()
    )
    (record,) = EpisodeStore.open(store).episodes
    assert record.episode_id == bag.name and len(record.identity) == 64


def test_a_missing_episodes_folder_is_one_clear_line(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-such-folder"
    assert simhum_dataset(["--episodes", str(missing), "--out", str(tmp_path / "s.zarr")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: episodes folder not found: {missing}\n"
    assert not (tmp_path / "s.zarr").exists()


def test_an_unwritable_store_folder_is_one_clear_line(
    tmp_path: Path, episodes: Path, capsys
) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    out = blocker / "store.zarr"
    bag = find_bags([episodes / "robot"])[0]
    assert simhum_dataset(["--episodes", str(bag), "--out", str(out), "--image-size", "32"]) == 2
    err = capsys.readouterr().err
    assert f"error: {out}: cannot write the store (" in err and "Traceback" not in err


@pytest.mark.parametrize("size", [["100000"], ["64", "5000"], ["4"], ["8", "8", "8"]])
def test_image_size_is_bounded(tmp_path: Path, episodes: Path, capsys, size) -> None:
    argv = ["--episodes", str(episodes), "--out", str(tmp_path / "s"), "--image-size", *size]
    assert simhum_dataset(argv) == 2
    assert capsys.readouterr().err == (
        f"error: --image-size takes W or W H, each 8 to 1024 pixels, got {' '.join(size)}\n"
    )
    assert not (tmp_path / "s").exists()


def test_compressed_images_go_through_the_converter(
    tmp_path: Path, store_path: Path, robot, camera, topics
) -> None:
    """The JPEG CompressedImage twin of a fixture episode gives the same rows, near-same images."""
    args = ["--out", str(tmp_path / "bags"), "--tasks", "pick_place", "--domains", "sim"]
    size = ["--width", "32", "--height", "32"]
    assert generate([*args, "-n", "1", "--workers", "1", *size, "--compressed"]) == 0
    (bag,) = find_bags([tmp_path / "bags"])
    with Reader(bag) as reader:
        assert topics.camera_image_compressed in {c.topic for c in reader.connections}
    store = tmp_path / "store.zarr"
    report = DatasetBuilder(store, robot, camera, topics, IMAGE_SIZE).build([bag], progress=False)
    assert report.added == [str(bag.resolve())], report.summary()
    jpeg = EpisodeStore.open(store).load()
    raw_store = EpisodeStore.open(store_path)
    index = [r.episode_id for r in raw_store.episodes].index(bag.name)
    start = int(np.concatenate([[0], raw_store.episode_ends])[index])
    end = int(raw_store.episode_ends[index])
    raw = raw_store.load()
    for name in (keys.TIMESTAMP, keys.STATE, keys.TARGET):
        np.testing.assert_array_equal(jpeg[name], raw[name][start:end])
    error = np.abs(jpeg[keys.IMAGE].astype(int) - raw[keys.IMAGE][start:end])
    assert jpeg[keys.IMAGE].shape == (end - start, 32, 32, 3) and error.mean() < 4


def test_windows_pad_at_episode_edges() -> None:
    sampler = WindowSampler(np.array([5, 12]), np.array([1]), history=3, horizon=4)
    np.testing.assert_array_equal(sampler.anchors, np.arange(5, 12))
    obs, act = sampler.windows(np.array([5, 6, 11]))
    np.testing.assert_array_equal(obs, [[5, 5, 5], [5, 5, 6], [9, 10, 11]])
    np.testing.assert_array_equal(act, [[5, 6, 7, 8], [6, 7, 8, 9], [11, 11, 11, 11]])


def test_episode_split_is_seeded_and_disjoint() -> None:
    ids = np.arange(10)
    train, val = split_episodes(ids, 0.2, np.random.default_rng(0))
    again = split_episodes(ids, 0.2, np.random.default_rng(0))
    assert len(val) == 2 and not set(train) & set(val) and set(train) | set(val) == set(ids)
    np.testing.assert_array_equal(val, again[1])
    assert len(split_episodes(np.arange(2), 0.01, np.random.default_rng(0))[1]) == 1


def test_arm_trajectory_and_gripper_command_make_one_joint_target(
    tmp_path: Path, episodes: Path, robot, topics
) -> None:
    """As on the robot, a bag holds the arm's trajectories and the gripper controller's
    commands: the converter joins them (the mimic finger following its leader); without the
    gripper's topic the commands are incomplete, and the error says where they come from."""
    from simhum_train.episodes import EpisodeError, read_episode

    bag = sorted((episodes / "robot" / "pick_place" / "real").glob("pick*"))[0]
    raw = read_episode(bag, topics, robot, IMAGE_SIZE)
    left, right = robot.indices(["left_finger_joint", "right_finger_joint"])
    fingers = raw.command_positions[:, [left, right]]
    np.testing.assert_array_equal(fingers[:, 0], fingers[:, 1])
    assert fingers.max() == pytest.approx(robot.upper[left])  # open at the start ...
    assert fingers.min() < 0.5 * robot.upper[left]  # ... closed on the cube later
    gripper = [np.asarray(m.data) for m in read_messages_of(bag, topics.gripper_command)]
    np.testing.assert_allclose(raw.command_positions[:, left], np.concatenate(gripper))
    without = copy_bag_without(bag, tmp_path / "no-gripper", topics.gripper_command, 0, 1e9)
    with pytest.raises(EpisodeError, match="gripper's come from /gripper_controller/commands"):
        read_episode(without, topics, robot, IMAGE_SIZE)


def read_messages_of(bag: Path, topic: str) -> list:
    store = typestore()
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [store.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages(conns)]
