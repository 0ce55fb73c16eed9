"""The recorder: episodes written raw, refused when the disk is full or the folder is bad,
and readable after the recorder is killed mid-episode."""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rosbags.rosbag2 import Reader
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState

from simhum_core.episode_bag import EpisodeMetadata, read_metadata, typestore
from simhum_core.topics import load_topics
from simhum_human_capture.bag_recorder import (
    BROKEN,
    RECORDING,
    EpisodeRecording,
    RecorderError,
    recover_all,
    write_sidecar,
)
from simhum_msgs.srv import Record

TOPICS = load_topics()


def metadata(episode: str = "ep-1") -> EpisodeMetadata:
    return EpisodeMetadata(episode, "stack", "human", "human", -1, False, operator="ada")


def joint_state(i: int) -> bytes:
    types = typestore().types
    msg = types["sensor_msgs/msg/JointState"](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=i, nanosec=0), frame_id=""
        ),
        name=["a"],
        position=np.array([float(i)]),
        velocity=np.zeros(0),
        effort=np.zeros(0),
    )
    return bytes(typestore().serialize_cdr(msg, "sensor_msgs/msg/JointState"))


def read(bag: Path) -> list:
    with Reader(bag) as reader:
        return [typestore().deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages()]


def test_episode_round_trip(tmp_path) -> None:
    recording = EpisodeRecording(tmp_path, metadata(), min_free_gb=0.0)
    for i in range(50):
        recording.write(
            TOPICS.joint_states, "sensor_msgs/msg/JointState", i * 10**8, joint_state(i)
        )
    bag = recording.stop(success=True, note="clean")
    assert bag == tmp_path / "stack" / "human" / "ep-1"
    meta = read_metadata(bag)
    assert meta.success and meta.operator == "ada" and meta.note == "clean"
    assert [m.position[0] for m in read(bag)] == list(range(50))
    with pytest.raises(RecorderError, match="exists already"):
        EpisodeRecording(tmp_path, metadata(), min_free_gb=0.0)


def test_a_repeated_start_is_the_same_episode_and_nothing_else_is(tmp_path) -> None:
    """A start asking again for the running episode (a client whose reply DDS lost) matches
    it whatever its own id; one differing in any field the client chose does not."""
    recording = EpisodeRecording(tmp_path, metadata(), min_free_gb=0.0)
    assert recording.started_as(metadata("another-timestamp"))
    for field in ("task", "domain", "embodiment", "operator", "note"):
        assert not recording.started_as(replace(metadata(), **{field: "other"})), field
    recording.stop(success=False)


def test_refuses_when_disk_space_is_low(tmp_path) -> None:
    with pytest.raises(RecorderError, match=r"GB free, below the 1000000\.0 GB minimum"):
        EpisodeRecording(tmp_path, metadata(), min_free_gb=1e6)


def test_unwritable_folder_keeps_earlier_episodes(tmp_path) -> None:
    first = EpisodeRecording(tmp_path, metadata("ep-0"), 0.0)
    first.write(TOPICS.joint_states, "sensor_msgs/msg/JointState", 1, joint_state(1))
    bag = first.stop(True)
    blocker = tmp_path / "blocked"
    blocker.write_text("")
    with pytest.raises(RecorderError, match="cannot create the episode folder"):
        EpisodeRecording(blocker, metadata("ep-2"), 0.0)
    assert [m.position[0] for m in read(bag)] == [1.0]


@pytest.mark.parametrize("field", ["task", "domain", "episode_id"])
@pytest.mark.parametrize("name", ["/tmp/elsewhere", "../up", "a/b", "..", ".hidden", ""])
def test_names_cannot_leave_the_output_folder(tmp_path, field, name) -> None:
    out = tmp_path / "out"
    with pytest.raises(RecorderError, match=f"{field} '.*' is not a plain name"):
        EpisodeRecording(out, replace(metadata(), **{field: name}), 0.0)
    assert list(tmp_path.iterdir()) == []  # nothing created, inside or outside


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("domain", "lab", "domain 'lab' is not one of"),
        ("embodiment", "", "embodiment '' is not one of"),
        ("note", "x" * 4001, "note is longer than 4000 characters"),
        ("task", "t" * 101, "is not a plain name"),
    ],
)
def test_metadata_is_checked_before_anything_is_written(tmp_path, field, value, error) -> None:
    with pytest.raises(RecorderError, match=error):
        EpisodeRecording(tmp_path / "out", replace(metadata(), **{field: value}), 0.0)
    assert not (tmp_path / "out").exists()


def test_a_refused_stop_note_keeps_the_episode_recording(tmp_path) -> None:
    recording = EpisodeRecording(tmp_path, metadata(), min_free_gb=0.0)
    recording.write(TOPICS.joint_states, "sensor_msgs/msg/JointState", 1, joint_state(1))
    with pytest.raises(RecorderError, match="note is longer"):
        recording.stop(True, "x" * 5000)
    recording.write(TOPICS.joint_states, "sensor_msgs/msg/JointState", 2, joint_state(2))
    assert [m.position[0] for m in read(recording.stop(True, "ok"))] == [1.0, 2.0]


def test_recovery_sets_aside_what_it_cannot_read(tmp_path) -> None:
    """Garbage, a sidecar alone, a half-written temporary sidecar, and a recording whose bag
    was already finalised: recovery finishes or sets aside each, and never fails."""
    done = EpisodeRecording(tmp_path, metadata("done"), 0.0)
    done.write(TOPICS.joint_states, "sensor_msgs/msg/JointState", 1, joint_state(1))
    done.stop(True)
    recording = tmp_path / "stack" / "human" / RECORDING
    (recording / "garbage.mcap").write_bytes(b"\x89MCAP0\r\nnot really")
    (recording / "garbage.yaml").write_text("[: not yaml")
    (recording / "alone.yaml").write_text("episode_id: alone\ntask: stack\n")
    (recording / "half.yaml.tmp").write_text("episode_id: ha")
    write_sidecar(recording / "done.yaml", metadata("done"), stopped=True)  # its bag exists
    leftovers = {leftover.path.name: leftover for leftover in recover_all(tmp_path)}
    assert set(leftovers) == {"garbage", "alone", "done"}
    assert leftovers["done"].recovered and read_metadata(leftovers["done"].path).success
    for name in ("garbage", "alone"):
        assert not leftovers[name].recovered and "not an episode sidecar" in leftovers[name].reason
        assert leftovers[name].path.parent == tmp_path / "stack" / "human" / BROKEN
    assert sorted(p.name for p in leftovers["garbage"].path.iterdir()) == [
        "garbage.mcap",
        "garbage.yaml",
    ]
    assert list(recording.iterdir()) == [] and recover_all(tmp_path) == []


def test_recorder_node_starts_past_a_broken_leftover(tmp_path, start_node, ros_node, spin) -> None:
    """A broken leftover is set aside with an error in the log; a topic of a type the
    recorder cannot record is skipped with a warning; a refused stop keeps recording."""
    leftover = tmp_path / "stack" / "human" / RECORDING
    leftover.mkdir(parents=True)
    (leftover / "broken.mcap").write_bytes(b"garbage")
    (leftover / "broken.yaml").write_text("{not: [yaml")
    odd = ros_node.create_publisher(Record.Event, TOPICS.hand_pose, 10)
    recorder = start_node(
        "simhum_human_capture.recorder_node",
        output_dir=str(tmp_path),
        min_free_gb=0.0,
        discovery_period_s=0.1,
    )
    client = ros_node.create_client(Record, TOPICS.record)
    assert client.wait_for_service(timeout_sec=20), recorder.output()
    assert "set aside an unrecoverable recording" in recorder.output()
    assert (tmp_path / "stack" / "human" / BROKEN / "broken" / "broken.mcap").is_file()
    assert spin(lambda: "not recording /simhum/hand_pose" in recorder.output()), recorder.output()
    assert odd.get_subscription_count() == 0

    def call(**fields) -> Record.Response:
        future = client.call_async(Record.Request(**fields))
        assert spin(future.done)
        return future.result()

    started = call(
        action=Record.Request.ACTION_START, task="stack", domain="human", embodiment="human"
    )
    assert started.ok, started.message
    refused = call(action=Record.Request.ACTION_STOP, note="x" * 5000)
    assert not refused.ok and "note is longer" in refused.message
    stopped = call(action=Record.Request.ACTION_STOP, success=True)
    assert stopped.ok and stopped.bag_path == started.bag_path, stopped.message
    recorder.proc.send_signal(signal.SIGINT)
    assert recorder.proc.wait(timeout=20) == 0, recorder.output()


def test_recorder_node_refuses_a_path_and_stops_cleanly(
    tmp_path, start_node, ros_node, spin
) -> None:
    recorder = start_node(
        "simhum_human_capture.recorder_node", output_dir=str(tmp_path / "out"), min_free_gb=0.0
    )
    client = ros_node.create_client(Record, TOPICS.record)
    assert client.wait_for_service(timeout_sec=20), recorder.output()
    future = client.call_async(
        Record.Request(action=Record.Request.ACTION_START, task="../../escape", domain="human")
    )
    assert spin(future.done)
    assert not future.result().ok and "is not a plain name" in future.result().message
    assert list(tmp_path.iterdir()) == []
    recorder.proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean shutdown exits 0
    assert recorder.proc.wait(timeout=20) == 0, recorder.output()


def test_killed_recorder_leaves_a_readable_bag(tmp_path, start_node, ros_node, spin) -> None:
    """SIGKILL the recorder node mid-episode; the next start recovers the bag."""
    publisher = ros_node.create_publisher(JointState, TOPICS.joint_states, 10)
    recorder = start_node(
        "simhum_human_capture.recorder_node", output_dir=str(tmp_path), min_free_gb=0.0
    )
    client = ros_node.create_client(Record, TOPICS.record)
    assert client.wait_for_service(timeout_sec=20), recorder.output()
    assert spin(lambda: publisher.get_subscription_count() > 0)
    future = client.call_async(
        Record.Request(
            action=Record.Request.ACTION_START, task="push", domain="human", embodiment="human"
        )
    )
    assert spin(future.done) and future.result().ok, future.result().message
    sent = 0
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        publisher.publish(JointState(name=["a"], position=[float(sent)]))
        sent += 1
        spin(lambda: False, timeout=0.01)
    recorder.proc.send_signal(signal.SIGKILL)
    recorder.proc.wait(timeout=10)
    assert not (tmp_path / "push" / "human" / Path(future.result().bag_path).name).exists()

    (leftover,) = recover_all(tmp_path)
    assert leftover.recovered
    bag = leftover.path
    meta = read_metadata(bag)
    assert not meta.success and "recovered" in meta.note
    positions = [m.position[0] for m in read(bag)]
    assert len(positions) > 0.5 * sent  # everything up to the last flushed chunk
    assert positions == sorted(positions)


def test_recorder_logs_simulated_time(tmp_path, start_node, ros_node, spin) -> None:
    """With use_sim_time the recorder's clock follows /clock (its subscription must survive
    the recorder's own ones): messages are logged at simulated time, not at 0."""
    clock = ros_node.create_publisher(Clock, "/clock", 10)
    joints = ros_node.create_publisher(JointState, TOPICS.joint_states, 10)
    recorder = start_node(
        "simhum_human_capture.recorder_node",
        output_dir=str(tmp_path),
        min_free_gb=0.0,
        use_sim_time=True,
    )
    client = ros_node.create_client(Record, TOPICS.record)
    assert client.wait_for_service(timeout_sec=20), recorder.output()
    assert spin(lambda: clock.get_subscription_count() > 0), "no /clock subscriber"
    assert spin(lambda: joints.get_subscription_count() > 0), "no joint_states subscriber"

    def call(**fields) -> Record.Response:
        future = client.call_async(Record.Request(**fields))
        assert spin(future.done)
        return future.result()

    assert call(
        action=Record.Request.ACTION_START, task="push", domain="sim", embodiment="robot"
    ).ok
    for i in range(20):
        clock.publish(Clock(clock=Time(sec=100 + i)))
        joints.publish(JointState(name=["a"], position=[float(i)]))
        spin(lambda: False, timeout=0.05)
    stopped = call(action=Record.Request.ACTION_STOP, success=True)
    assert stopped.ok, stopped.message
    with Reader(Path(stopped.bag_path)) as reader:
        stamps = [t for _, t, _ in reader.messages()]
    assert stamps and min(stamps) >= 100 * 10**9, stamps[:3]
