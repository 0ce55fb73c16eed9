"""Demonstration generation: bags that read back, resume, determinism, bad folders."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from simhum_core.episode_bag import is_complete, read_metadata, typestore
from simhum_core.topics import load_topics
from simhum_sim_bridge.generate import main, plan_episodes


def read_messages(bag: Path) -> dict[str, list]:
    store, out = typestore(), {}
    with Reader(bag) as reader:
        for conn, _, raw in reader.messages():
            out.setdefault(conn.topic, []).append(store.deserialize_cdr(raw, conn.msgtype))
    return out


def test_generated_bag_reads_back(tmp_path: Path, robot) -> None:
    args = [
        "--out",
        str(tmp_path),
        "--tasks",
        "pick_place",
        "--domains",
        "real",
        "-n",
        "1",
        "--seed",
        "5",
        "--workers",
        "1",
    ]
    assert main(args) == 0
    bag = tmp_path / "pick_place" / "real" / "pick_place-real-in-000005"
    meta = read_metadata(bag)
    assert (meta.task, meta.domain, meta.embodiment, meta.seed) == (
        "pick_place",
        "real",
        "robot",
        5,
    )
    assert meta.success and meta.note.endswith("scene domain real, split in")
    topics = load_topics()
    messages = read_messages(bag)
    assert set(messages) == {
        topics.camera_image,
        topics.camera_info,
        topics.joint_states,
        topics.joint_trajectory,
        topics.gripper_command,
        topics.episode_events,
    }
    images = messages[topics.camera_image]
    commands, gripper = messages[topics.joint_trajectory], messages[topics.gripper_command]
    assert len(images) == len(messages[topics.camera_info]) == len(commands) == len(gripper)
    # the arm's trajectory controller and the gripper's forward controller, as on the robot
    assert list(commands[0].joint_names) == list(robot.arm_joint_names)
    assert [len(g.data) for g in gripper] == [1] * len(gripper)
    assert 60 <= len(images) <= 120  # 10 Hz over a 6-12 s episode
    # joint states at 50 Hz: five per camera frame
    assert abs(len(messages[topics.joint_states]) - 5 * len(images)) <= 5
    first = images[0]
    assert (first.width, first.height, first.encoding) == (128, 128, "rgb8")
    pixels = np.asarray(first.data).reshape(128, 128, 3)
    assert pixels.std() > 10  # a real picture, not a blank frame
    state = messages[topics.joint_states][0]
    assert list(state.name) == list(robot.joint_names)
    events = messages[topics.episode_events]
    assert [e.event for e in events] == [0, 2, 1]  # start, success, stop
    assert all(e.task == "pick_place" and e.seed == 5 for e in events)


def test_compressed_images_and_resume(tmp_path: Path) -> None:
    args = [
        "--out",
        str(tmp_path),
        "--tasks",
        "push",
        "--domains",
        "sim",
        "-n",
        "2",
        "--workers",
        "1",
        "--compressed",
    ]
    assert main(args) == 0
    bags = sorted(p for p in (tmp_path / "push" / "sim").iterdir() if not p.name.startswith("."))
    assert [b.name for b in bags] == ["push-sim-all-000000", "push-sim-all-000001"]
    first = read_messages(bags[0])
    assert load_topics().camera_image_compressed in first
    stamp = (bags[0] / "metadata.yaml").stat().st_mtime_ns
    # a half-written episode (left by a crash) is redone; finished ones are skipped
    (tmp_path / "push" / "sim" / ".staging" / "push-sim-all-000002").mkdir(parents=True)
    args[args.index("-n") + 1] = "3"
    assert main(args) == 0
    assert (bags[0] / "metadata.yaml").stat().st_mtime_ns == stamp
    assert is_complete(tmp_path / "push" / "sim" / "push-sim-all-000002")
    assert not (tmp_path / "push" / "sim" / ".staging" / "push-sim-all-000002").exists()


def test_resume_regenerates_bags_that_do_not_read(tmp_path: Path, capsys) -> None:
    """A finished episode whose .mcap was cut short, or whose metadata counts messages the
    file lacks, is named and generated again; the intact one is kept."""
    args = ["--out", str(tmp_path), "--tasks", "push", "--domains", "sim", "-n", "3"]
    args += ["--workers", "1", "--width", "32", "--height", "32"]
    assert main(args) == 0
    intact, truncated, miscounted = sorted((tmp_path / "push" / "sim").glob("push-*"))
    stamp = (intact / "metadata.yaml").stat().st_mtime_ns
    expected = read_messages(truncated)
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size * 3 // 4])
    meta = miscounted / "metadata.yaml"
    info = yaml.safe_load(meta.read_text())
    info["rosbag2_bagfile_information"]["message_count"] += 1
    meta.write_text(yaml.safe_dump(info))
    assert not is_complete(truncated) and not is_complete(miscounted)
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"{truncated}: bag does not read (ReaderError: " in err
    assert f"{miscounted}: bag does not read (" in err and "messages in metadata.yaml read" in err
    assert intact.name not in err
    assert (intact / "metadata.yaml").stat().st_mtime_ns == stamp
    assert is_complete(truncated) and is_complete(miscounted)
    again = read_messages(truncated)
    assert {t: len(m) for t, m in again.items()} == {t: len(m) for t, m in expected.items()}


def test_split_defaults_per_domain() -> None:
    """Sim covers the whole grid, every other look the inner grid, unless --split says."""
    args = argparse.Namespace(
        tasks=["push"],
        domains=["sim", "human_wild", "real"],
        episodes=2,
        seed=3,
        split=None,
        control_hz=10.0,
        perturb=0.0,
        latency=0.0,
        width=32,
        height=32,
    )
    specs = plan_episodes(args)
    assert [(s.domain, s.split, s.seed) for s in specs[::2]] == [
        ("sim", "all", 3),
        ("human_wild", "in", 3),
        ("real", "in", 3),
    ]
    assert specs[0].episode_id == "push-sim-all-000003"
    args.split = "out"
    assert {s.split for s in plan_episodes(args)} == {"out"}


def test_generation_is_deterministic(tmp_path: Path) -> None:
    for run in ("a", "b"):
        assert (
            main(
                [
                    "--out",
                    str(tmp_path / run),
                    "--tasks",
                    "stack",
                    "--domains",
                    "real",
                    "-n",
                    "1",
                    "--workers",
                    "1",
                ]
            )
            == 0
        )
    a, b = (
        read_messages(tmp_path / run / "stack" / "real" / "stack-real-in-000000")
        for run in ("a", "b")
    )
    joints = load_topics().joint_states
    np.testing.assert_array_equal(
        np.stack([m.position for m in a[joints]]), np.stack([m.position for m in b[joints]])
    )


def test_unwritable_folder_message(tmp_path: Path) -> None:
    """A file where the folder should be: refused at once, with the path in the message."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "simhum_sim_bridge.generate", "--out", str(blocker / "demos")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not_a_folder/demos: output folder is not writable" in result.stderr
    assert "generating" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (["--seed", "-1"], "seed must be a non-negative integer, got -1"),
        (["--control-hz", "0"], "control_hz must be positive, got 0.0"),
        (["--width", "100000"], "--width and --height must be 8 to 4096 pixels, got 100000x128"),
        (["--height", "4"], "--width and --height must be 8 to 4096 pixels, got 128x4"),
    ],
)
def test_bad_episode_numbers_are_one_clear_line(tmp_path: Path, flag, message) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simhum_sim_bridge.generate", "--out", str(tmp_path / "d"), *flag],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"error: {message}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()  # refused before touching the disk
