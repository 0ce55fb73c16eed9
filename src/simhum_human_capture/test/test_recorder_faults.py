"""Fault injection: the recorder's episode writer (sidecar, MCAP, bag finalisation) is killed
at every write step in turn, and after the next start's recovery the episode is complete or
ignored, nothing is left that would stop a start, and no earlier episode is lost."""

from __future__ import annotations

import io
import os
import signal
import sys
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from simhum_core.episode_bag import EpisodeMetadata, read_metadata, typestore
from simhum_core.topics import load_topics
from simhum_human_capture.bag_recorder import (
    BROKEN,
    RECORDING,
    EpisodeRecording,
    read_recording,
    recover_all,
)

TOPIC = load_topics().joint_states
MSGTYPE = "sensor_msgs/msg/JointState"
MESSAGES = 4  # of about 160 kB each: the 256 kB chunks close (and reach the file) mid-episode
FILE_CALLS = {"write", "flush", "close", "truncate"}
OS_CALLS = {"open", "write", "fsync", "replace", "rename", "unlink", "remove", "mkdir", "rmdir"}


def joint_state(i: int) -> bytes:
    types = typestore().types
    msg = types[MSGTYPE](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=i, nanosec=0), frame_id=""
        ),
        name=["a"],
        position=np.full(20_000, float(i)),
        velocity=np.zeros(0),
        effort=np.zeros(0),
    )
    return bytes(typestore().serialize_cdr(msg, MSGTYPE))


def metadata(episode: str) -> EpisodeMetadata:
    return EpisodeMetadata(episode, "stack", "human", "human", -1, False, operator="ada")


def record_episode(out: Path, episode: str) -> None:
    """One whole episode, as the recorder node runs it: start, messages, stop."""
    recording = EpisodeRecording(out, metadata(episode), min_free_gb=0.0)
    for i in range(MESSAGES):
        recording.write(TOPIC, MSGTYPE, (i + 1) * 10**9, joint_state(i))
    recording.stop(success=True, note="done")


def is_write_step(function) -> bool:
    """Whether a C function about to be called changes files: an open, a write, flush or
    close of a file open for writing (not an in-memory one), a rename, removal or folder
    creation."""
    name = getattr(function, "__name__", "")
    owner = getattr(function, "__self__", None)
    if isinstance(owner, io.BytesIO | io.StringIO):
        return False
    if isinstance(owner, io.IOBase):
        return name in FILE_CALLS and not owner.closed and owner.writable()
    return name in OS_CALLS and getattr(function, "__module__", None) in ("posix", "io", "_io")


def run_killed_at(out: Path, episode: str, step: int) -> bool:
    """Record ``episode`` in a forked child that SIGKILLs itself just before its
    ``step``-th write step; True when it was killed (False: it finished first)."""
    pid = os.fork()
    if pid == 0:  # the child: count write steps, die at the chosen one
        count = 0

        def profile(frame, event, arg) -> None:
            nonlocal count
            if event == "c_call" and is_write_step(arg):
                count += 1
                if count == step:
                    os.kill(os.getpid(), signal.SIGKILL)

        try:
            sys.setprofile(profile)
            record_episode(out, episode)
        finally:
            sys.setprofile(None)
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def positions(bag: Path) -> list[float]:
    """The first joint position of every message in ``bag``, reading all of them."""
    with Reader(bag) as reader:
        assert reader.message_count == sum(1 for _ in reader.messages())
        return [
            float(typestore().deserialize_cdr(raw, c.msgtype).position[0])
            for c, _, raw in reader.messages()
        ]


def test_killed_at_every_write_step_the_episode_is_complete_or_ignored(tmp_path) -> None:
    out = tmp_path / "episodes"
    record_episode(out, "earlier")
    folder = out / "stack" / "human"
    earlier = positions(folder / "earlier")
    outcomes = {"complete": 0, "recovered": 0, "ignored": 0}
    step = 0
    while True:
        step += 1
        episode = f"ep-{step:03d}"
        killed = run_killed_at(out, episode, step)
        recover_all(out)  # what the next recorder start does: it must not fail
        assert recover_all(out) == []  # and nothing is left for a second start
        assert not list((folder / RECORDING).iterdir()), f"leftovers after step {step}"
        bag = folder / episode
        if bag.exists():
            meta = read_metadata(bag)
            got = positions(bag)
            assert got == [float(i) for i in range(len(got))], f"step {step}: {got}"
            if meta.success:  # stopped by the operator: the whole episode, as stopped
                assert meta.note == "done" and len(got) == MESSAGES, f"step {step}"
                outcomes["complete"] += 1
            else:
                assert "recovered" in meta.note and got, f"step {step}"
                outcomes["recovered"] += 1
        else:  # ignored: allowed only while no complete message had reached the disk
            assert killed, f"step {step}: a finished recording left no bag"
            set_aside = list((folder / BROKEN).glob(f"{episode}*/*.mcap"))
            assert not any(list(read_recording(p)) for p in set_aside), f"step {step}: lost"
            outcomes["ignored"] += 1
        assert positions(folder / "earlier") == earlier
        if not killed:
            break
    faults = step - 1
    print(f"recorder fault injection: {faults} faults injected, outcomes {outcomes}")
    assert faults >= 30 and outcomes["recovered"] > 0 and outcomes["ignored"] > 0
