"""Recordings not made by SimHum (rosbag2 MCAP and sqlite3 bags written by rosbags, with
their own topic names and no SimHum metadata) converted by flags or a sidecar, split into
episodes, with actions derived when they hold no commands; bad input named, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from foreign_bags import EXTRA_JOINT, Recording, write_recording
from rosbags.rosbag2 import StoragePlugin

from simhum_core.robot import load_robot
from simhum_core.synthetic import serial_arm_urdf
from simhum_train import keys
from simhum_train.convert import main as simhum_dataset
from simhum_train.ingest_options import SIDECAR
from simhum_train.store import COMMANDED, COMMIT, MEASURED_FUTURE, EpisodeStore

TOLERANCE_NS = 15_000_000  # simhum_dataset's default
FLAGS = ["--task", "pick_place", "--domain", "real"]


def convert(bags: Path, store: Path, *flags: str) -> int:
    """simhum_dataset on the bags under ``bags`` at 32x24."""
    args = ["--episodes", str(bags), "--out", str(store), "--image-size", "32", "24"]
    return simhum_dataset([*args, *flags])


def episode(store: Path, index: int) -> dict[str, np.ndarray]:
    """One stored episode's stamps, images, state and target rows, and joint columns."""
    opened = EpisodeStore.open(store)
    ends = opened.episode_ends
    rows = slice(int(ends[index - 1]) if index else 0, int(ends[index]))
    data = {
        name: value[rows] for name, value in opened.load().items() if name != keys.EPISODE_ENDS
    }
    (_, start, stop), *_ = [s for s in opened.info.layouts[keys.ROBOT] if s[0] == "joints"]
    data["state_q"] = data[keys.STATE][:, start:stop]
    data["target_q"] = data[keys.TARGET][:, start:stop]
    return data


def measured_at(rec: Recording, stamps: np.ndarray) -> np.ndarray:
    """The joint sample nearest each stamp."""
    return rec.joint_q[np.argmin(np.abs(rec.joint_ns[None, :] - stamps[:, None]), axis=1)]


def commanded_at(rec: Recording, stamps: np.ndarray) -> np.ndarray:
    """The latest command sent by each stamp (plus the tolerance)."""
    return rec.command_q[np.searchsorted(rec.command_ns, stamps + TOLERANCE_NS, "right") - 1]


def in_span(rec: Recording, start_s: float, stop_s: float) -> int:
    """How many camera frames the bag logged in [start, stop) seconds from its start."""
    t = rec.image_log_ns - rec.start_ns
    return int(np.sum((t >= start_s * 1e9) & (t < stop_s * 1e9)))


@pytest.mark.parametrize("topics_from", ["flags", "topics file"])
def test_a_plain_recording_converts_with_flags(tmp_path: Path, robot, capsys, topics_from) -> None:
    """CompressedImage at 30 Hz, 200 Hz jittered joint_states in another order with an extra
    joint, 10 Hz trajectories stamped zero: states and targets are the recorded ones."""
    topics = {
        "image_topic": "/wrist_camera/image/compressed",
        "joint_states_topic": "/arm/joint_states",
        "command_topic": "/arm_controller/joint_trajectory",
    }
    rec = write_recording(
        tmp_path / "bags" / "teleop-1",
        robot,
        image_topic=topics["image_topic"],
        joint_topic=topics["joint_states_topic"],
    )
    store = tmp_path / "store.zarr"
    if topics_from == "flags":
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in topics.items()]
    else:
        (tmp_path / "topics.yaml").write_text(yaml.safe_dump(topics))
        flags = ["--topics-file", str(tmp_path / "topics.yaml")]
    assert convert(tmp_path / "bags", store, *flags, *FLAGS) == 0
    (record,) = EpisodeStore.open(store).episodes
    assert (record.episode_id, record.task, record.domain, record.embodiment) == (
        "teleop-1",
        "pick_place",
        "real",
        "robot",
    )
    assert record.actions == COMMANDED and record.source == str(rec.bag.resolve())
    assert EpisodeStore.open(store).info.control_hz == pytest.approx(30.0)
    data = episode(store, 0)
    np.testing.assert_array_equal(data[keys.TIMESTAMP], rec.image_ns)
    np.testing.assert_allclose(data["state_q"], measured_at(rec, rec.image_ns), atol=1e-6)
    np.testing.assert_allclose(data["target_q"], commanded_at(rec, rec.image_ns), atol=1e-6)
    assert data[keys.IMAGE].shape == (len(rec.image_ns), 24, 32, 3)
    red = data[keys.IMAGE][:, 20:, :4, 0].mean(axis=(1, 2))  # frame k is k * 7 red
    np.testing.assert_allclose(red, np.arange(len(red)) * 7 % 256, atol=8)
    capsys.readouterr()
    assert convert(tmp_path / "bags", store, *flags, *FLAGS) == 0  # nothing twice
    assert "added 0, already in store 1" in capsys.readouterr().out
    assert len(EpisodeStore.open(store).episodes) == 1


def test_a_sidecar_gives_the_metadata_and_topics_default(tmp_path: Path, robot, capsys) -> None:
    """sqlite3 storage, rgb8 Image on the newer realsense driver's topic: found without flags;
    the sidecar's metadata overrides the flags'; the mimic finger left out follows its
    leader."""
    rec = write_recording(
        tmp_path / "bags" / "demo",
        robot,
        storage=StoragePlugin.SQLITE3,
        image_topic="/camera/camera/color/image_raw",
        compressed=False,
        omitted=("right_finger_joint",),
    )
    sidecar = {"task": "stack", "domain": "real", "operator": "ana", "success": True}
    (rec.bag / SIDECAR).write_text(yaml.safe_dump(sidecar))
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, "--task", "push") == 0
    out = capsys.readouterr().out
    assert "image /camera/camera/color/image_raw (Image)" in out
    assert "commands /arm_controller/joint_trajectory (JointTrajectory)" in out
    (record,) = EpisodeStore.open(store).episodes
    assert (record.task, record.domain, record.actions) == ("stack", "real", COMMANDED)
    data = episode(store, 0)
    np.testing.assert_allclose(data["state_q"], measured_at(rec, rec.image_ns), atol=1e-6)
    np.testing.assert_allclose(data["target_q"], commanded_at(rec, rec.image_ns), atol=1e-6)


@pytest.mark.parametrize(
    ("command", "flags"), [(None, []), ("trajectory", ["--command-topic", "none"])]
)
def test_without_commands_the_actions_are_the_measured_future(
    tmp_path: Path, robot, capsys, command, flags
) -> None:
    """Each frame's target is the next frame's measured state (the last holds), and the
    store says so."""
    write_recording(tmp_path / "bags" / "no-commands", robot, command=command)
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *flags, *FLAGS) == 0
    assert "no commands: actions = measured joints one frame later" in capsys.readouterr().out
    (record,) = EpisodeStore.open(store).episodes
    assert record.actions == MEASURED_FUTURE
    data = episode(store, 0)
    np.testing.assert_array_equal(data[keys.TARGET][:-1], data[keys.STATE][1:])
    np.testing.assert_array_equal(data[keys.TARGET][-1], data[keys.STATE][-1])
    assert simhum_dataset(["--out", str(store), "--list"]) == 0
    header, line = capsys.readouterr().out.splitlines()[1:]
    assert header.split() == [
        "episode",
        "task",
        "domain",
        "embodiment",
        "frames",
        "actions",
        "source",
    ]
    assert line.split()[:-1] == [
        "no-commands",
        "pick_place",
        "real",
        "robot",
        "60",
        MEASURED_FUTURE,
    ]


def test_a_forward_position_controller_command(tmp_path: Path, robot, capsys) -> None:
    """Float64MultiArray commands: values in --command-joints order; a wrong count is named."""
    order = ("wrist_roll_joint", "left_finger_joint", *robot.arm_joint_names[:5])
    rec = write_recording(
        tmp_path / "bags" / "forward",
        robot,
        command="array",
        command_topic="/forward_position_controller/commands",
        command_joints=order,
    )
    store = tmp_path / "store.zarr"
    topic = ["--command-topic", "/forward_position_controller/commands"]
    assert (
        convert(tmp_path / "bags", store, *topic, "--command-joints", ",".join(order[:3]), *FLAGS)
        == 2
    )
    err = capsys.readouterr().err
    assert f"has 7 values; its joints (--command-joints) are {list(order[:3])}" in err
    assert not store.exists()
    assert (
        convert(tmp_path / "bags", store, *topic, "--command-joints", ",".join(order), *FLAGS) == 0
    )
    np.testing.assert_allclose(
        episode(store, 0)["target_q"], commanded_at(rec, rec.image_ns), atol=1e-6
    )


def test_a_gripper_commanded_on_its_own_topic(tmp_path: Path, robot, capsys) -> None:
    """Arm trajectories and the gripper controller's Float64MultiArray make one target; the
    gripper's topic not found is named before anything is written."""
    rec = write_recording(tmp_path / "bags" / "two", robot, gripper_topic="/gripper/commands")
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *FLAGS) == 2
    assert (
        "commands lack joint(s) ['left_finger_joint'] of the robot description (the gripper's "
        "come from /gripper_controller/commands: --gripper-topic)"
    ) in capsys.readouterr().err
    assert not store.exists()
    assert convert(tmp_path / "bags", store, *FLAGS, "--gripper-topic", "/gripper/commands") == 0
    np.testing.assert_allclose(
        episode(store, 0)["target_q"], commanded_at(rec, rec.image_ns), atol=1e-6
    )


@pytest.mark.parametrize("given_in", ["flag", "sidecar"])
def test_time_ranges_split_a_long_recording(tmp_path: Path, robot, capsys, given_in) -> None:
    rec = write_recording(tmp_path / "bags" / "long", robot, spans=((0.0, 5.0),))
    store = tmp_path / "store.zarr"
    ranges = "0:2,2.5:4.5"
    if given_in == "sidecar":
        (rec.bag / SIDECAR).write_text(yaml.safe_dump({"episode_ranges": ranges}))
        flags = FLAGS
    else:
        flags = [*FLAGS, "--episode-ranges", ranges]
    assert convert(tmp_path / "bags", store, *flags) == 0
    records = EpisodeStore.open(store).episodes
    assert [r.episode_id for r in records] == ["long-000", "long-001"]
    key = str(rec.bag.resolve())
    assert [r.source for r in records] == [f"{key}#0.000-2.000", f"{key}#2.500-4.500"]
    assert [r.frames for r in records] == [in_span(rec, 0, 2), in_span(rec, 2.5, 4.5)]
    assert len({r.identity for r in records}) == 2
    second = episode(store, 1)
    np.testing.assert_allclose(
        second["state_q"], measured_at(rec, second[keys.TIMESTAMP]), atol=1e-6
    )
    capsys.readouterr()
    assert convert(tmp_path / "bags", store, *flags) == 0
    assert "added 0, already in store 2" in capsys.readouterr().out
    assert len(EpisodeStore.open(store).episodes) == 2


def test_episode_events_split_a_recording(tmp_path: Path, robot, capsys) -> None:
    """START ... SUCCESS/FAILURE ... STOP: an episode each, the START's task over the flag's,
    the failed one left out unless asked for."""
    events = (
        (0.5, "start", "stack"),
        (2.0, "success", ""),
        (2.0, "stop", ""),
        (3.0, "start", ""),
        (4.5, "failure", ""),
        (4.5, "stop", ""),
    )
    rec = write_recording(tmp_path / "bags" / "session", robot, spans=((0.0, 5.0),), events=events)
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *FLAGS) == 0
    assert "1 unsuccessful" in capsys.readouterr().out
    (record,) = EpisodeStore.open(store).episodes
    assert (record.episode_id, record.task) == ("session-000", "stack")
    assert record.frames == in_span(rec, 0.5, 2.0 + 1e-9)
    everything = tmp_path / "all.zarr"
    assert convert(tmp_path / "bags", everything, *FLAGS, "--include-failures") == 0
    records = EpisodeStore.open(everything).episodes
    assert [(r.episode_id, r.task) for r in records] == [
        ("session-000", "stack"),
        ("session-001", "pick_place"),
    ]
    assert records[1].frames == in_span(rec, 3.0, 4.5 + 1e-9)


def test_gaps_in_the_camera_split_a_recording(tmp_path: Path, robot) -> None:
    rec = write_recording(tmp_path / "bags" / "gappy", robot, spans=((0.0, 1.5), (3.0, 4.5)))
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *FLAGS, "--split-gap", "0.5") == 0
    records = EpisodeStore.open(store).episodes
    assert [r.frames for r in records] == [in_span(rec, 0, 2), in_span(rec, 2, 5)] == [45, 45]
    np.testing.assert_array_equal(episode(store, 1)[keys.TIMESTAMP], rec.image_ns[45:])


def test_frames_before_the_commands_start_are_trimmed(tmp_path: Path, robot, capsys) -> None:
    """A recording started before the teleoperation: its first frames have no command yet."""
    rec = write_recording(tmp_path / "bags" / "late", robot, command_delay_s=0.5)
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *FLAGS) == 0
    kept = rec.image_ns[rec.image_ns + TOLERANCE_NS >= rec.command_ns[0]]
    (record,) = EpisodeStore.open(store).episodes
    assert record.frames == len(kept) < len(rec.image_ns)
    out = capsys.readouterr().out
    assert f"trimmed {rec.bag.resolve()}: {len(rec.image_ns) - len(kept)} of 60 frames" in out
    np.testing.assert_allclose(episode(store, 0)["target_q"], commanded_at(rec, kept), atol=1e-6)


def test_a_missing_image_topic_is_named_and_nothing_written(tmp_path: Path, robot, capsys) -> None:
    """One bag of two lacks the camera topic asked for: neither is written."""
    write_recording(tmp_path / "first" / "a", robot)
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "first", store, *FLAGS) == 0
    commit = (store / COMMIT).read_bytes()
    write_recording(tmp_path / "more" / "b", robot, image_topic="/left/image_raw/compressed")
    write_recording(tmp_path / "more" / "c", robot, seed=2)
    capsys.readouterr()
    flags = [*FLAGS, "--image-topic", "/left/image_raw/compressed"]
    assert convert(tmp_path / "more", store, *flags) == 2
    err = capsys.readouterr().err
    assert "1 bag(s) cannot be converted as given; nothing was written" in err
    assert (
        f"{tmp_path / 'more' / 'c'}: camera images topic /left/image_raw/compressed is not in "
        "the bag; expected sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage; the bag's "
        "Image or CompressedImage topics: ['/camera/color/image_raw/compressed']. Pass "
        "--image-topic"
    ) in err
    assert (store / COMMIT).read_bytes() == commit
    assert convert(tmp_path / "more", tmp_path / "new.zarr", *flags) == 2
    assert not (tmp_path / "new.zarr").exists()


def test_joint_states_split_over_two_publishers_are_merged(tmp_path: Path, robot) -> None:
    """An arm driver and a gripper driver both publishing /joint_states, each naming its own
    joints: the rows merge them (the gripper's value one 200 Hz sample old at most)."""
    gripper = tuple(n for n in robot.joint_names if n not in robot.arm_joint_names)
    rec = write_recording(tmp_path / "bags" / "two-drivers", robot, split=gripper)
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *FLAGS) == 0
    data = episode(store, 0)
    truth = measured_at(rec, rec.image_ns)
    arm = [list(robot.joint_names).index(n) for n in robot.arm_joint_names]
    np.testing.assert_allclose(data["state_q"][:, arm], truth[:, arm], atol=1e-6)
    np.testing.assert_allclose(data["state_q"], truth, atol=1e-3)
    assert np.ptp(data["state_q"][:, -1]) > 0.01  # the gripper's joint moves: it was read


def test_joints_not_in_the_urdf_are_named_and_nothing_written(
    tmp_path: Path, robot, capsys
) -> None:
    write_recording(tmp_path / "bags" / "good", robot)
    write_recording(tmp_path / "bags" / "other-arm", robot, renamed={"elbow_joint": "elbow"})
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *FLAGS) == 2
    err = capsys.readouterr().err
    assert "/joint_states lacks joint(s) ['elbow_joint'] of the robot description" in err
    assert "not in the description: ['elbow', " in err and f"'{EXTRA_JOINT}'" in err
    assert "other-arm" in err and "/good:" not in err
    assert not store.exists()


def test_a_truncated_recording_is_corrupt_and_the_rest_converts(
    tmp_path: Path, robot, capsys
) -> None:
    good = write_recording(tmp_path / "bags" / "good", robot).bag
    truncated = tmp_path / "bags" / "truncated"
    shutil.copytree(good, truncated)
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *FLAGS) == 0
    out = capsys.readouterr().out
    assert "added 1" in out and "1 corrupt" in out and f"corrupt {truncated.resolve()}: " in out
    assert [r.source for r in EpisodeStore.open(store).episodes] == [str(good.resolve())]


def test_missing_metadata_names_the_flags_that_give_it(tmp_path: Path, robot, capsys) -> None:
    bag = write_recording(tmp_path / "bags" / "bare", robot).bag
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store) == 2
    err = capsys.readouterr().err
    assert (
        f"{bag}: a recording without SimHum metadata needs its task and domain: pass "
        f"--task NAME --domain sim|human|real, or write them in {bag / SIDECAR}"
    ) in err
    assert "corrupt" not in err
    assert convert(tmp_path / "bags", store, "--task", "pick_place") == 2
    assert "pass --domain sim|human|real, or" in capsys.readouterr().err
    assert not store.exists()


def test_bad_options_are_named(tmp_path: Path, robot, capsys) -> None:
    bag = write_recording(tmp_path / "bags" / "r", robot).bag
    with pytest.raises(SystemExit) as exit_:
        convert(tmp_path / "bags", tmp_path / "s.zarr", *FLAGS, "--episode-ranges", "5:2")
    assert exit_.value.code == 2
    assert "--episode-ranges: '5:2': the start must be >= 0 and before the stop" in (
        capsys.readouterr().err
    )
    (bag / SIDECAR).write_text(yaml.safe_dump({"tsak": "pick_place"}))
    assert convert(tmp_path / "bags", tmp_path / "s.zarr", *FLAGS) == 2
    assert f"{bag / SIDECAR}: unknown key(s) ['tsak']" in capsys.readouterr().err
    assert not (tmp_path / "s.zarr").exists()


def test_stores_from_before_the_actions_tag_say_how_their_targets_were_made(
    tmp_path: Path, robot
) -> None:
    write_recording(tmp_path / "bags" / "old", robot)
    store = tmp_path / "store.zarr"
    assert convert(tmp_path / "bags", store, *FLAGS, "--command-topic", "none") == 0
    commit = json.loads((store / COMMIT).read_text())
    (record,) = commit["episodes"]
    del record["actions"]
    (store / COMMIT).write_text(json.dumps(commit))
    assert EpisodeStore.open(store).episodes[0].actions == COMMANDED  # robots: commands
    record["embodiment"] = keys.HUMAN
    (store / COMMIT).write_text(json.dumps(commit))
    assert EpisodeStore.open(store).episodes[0].actions == MEASURED_FUTURE  # hands: next frame


def test_a_seven_dof_arm_converts_with_its_own_urdf(tmp_path: Path, capsys) -> None:
    """Another robot (7 arm joints, its own names, base and tool frames): the store takes the
    URDF given by --urdf, and states and targets are that arm's recorded joints."""
    urdf = tmp_path / "seven.urdf"
    urdf.write_text(serial_arm_urdf(7, seed=3, prefix="axis_", tool_frame="tool0"))
    seven = load_robot(urdf, tool_frame="tool0")
    rec = write_recording(tmp_path / "bags" / "arm7", seven)
    store = tmp_path / "store.zarr"
    flags = ["--urdf", str(urdf), "--tool-frame", "tool0", *FLAGS]
    assert convert(tmp_path / "bags", store, *flags) == 0, capsys.readouterr().err
    info = EpisodeStore.open(store).info
    assert info.joint_names == list(seven.joint_names) and len(seven.arm_joint_names) == 7
    assert (info.base_frame, info.tool_frame) == ("root", "tool0")
    data = episode(store, 0)
    np.testing.assert_allclose(data["state_q"], measured_at(rec, rec.image_ns), atol=1e-6)
    np.testing.assert_allclose(data["target_q"], commanded_at(rec, rec.image_ns), atol=1e-6)
