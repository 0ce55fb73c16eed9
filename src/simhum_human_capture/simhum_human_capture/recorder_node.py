"""Recorder node: one rosbag2 bag (MCAP) per episode, started and stopped through the
Record service, with the episode's metadata. Messages are written as received (serialized),
never deserialised; a recording left by a crash is recovered at start-up."""

from __future__ import annotations

import importlib
from pathlib import Path

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from simhum_core.episode_bag import EpisodeMetadata, typestore
from simhum_core.topics import load_topics
from simhum_human_capture.bag_recorder import (
    EpisodeRecording,
    RecorderError,
    episode_id,
    recover_all,
)
from simhum_msgs.srv import Record
from simhum_ros.node import declare, run

_T = load_topics()
DEFAULT_TOPICS = [
    _T.camera_image,
    _T.camera_info,
    _T.joint_states,
    _T.joint_trajectory,
    _T.gripper_command,
    _T.hand_pose,
    _T.end_effector_target,
    _T.episode_events,
]
PARAMETERS = {
    "output_dir": ("runs/episodes", "where episodes go: <output_dir>/<task>/<domain>/<id>"),
    "topics": (DEFAULT_TOPICS, "topics to record"),
    "min_free_gb": (2.0, "refuse to start an episode with less free disk space, GB"),
    "discovery_period_s": (0.5, "how often to look for publishers of unsubscribed topics"),
}


def message_class(type_name: str):
    """The Python class of 'pkg/msg/Name', or None when it is not one this recorder can
    record (not installed here, or unknown to the bag's type store)."""
    package, _, name = type_name.partition("/msg/")
    if type_name not in typestore().fielddefs or not name:
        return None
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError):
        return None


class RecorderNode(Node):
    """A thin adapter over EpisodeRecording."""

    def __init__(self) -> None:
        super().__init__("simhum_recorder")
        p = declare(self, PARAMETERS)
        self.out = Path(p["output_dir"])
        self.wanted = list(p["topics"])
        self.min_free_gb = float(p["min_free_gb"])
        self.types: dict[str, str] = {}
        self.raw_subscriptions = []  # kept alive here; rclpy keeps its own list
        self.recording: EpisodeRecording | None = None
        for leftover in recover_all(self.out) if self.out.is_dir() else []:
            if leftover.recovered:
                self.get_logger().warning(f"recovered an interrupted recording: {leftover.path}")
            else:
                self.get_logger().error(
                    f"set aside an unrecoverable recording into {leftover.path}: {leftover.reason}"
                )
        self.create_service(Record, load_topics().record, self.on_record)
        # graph discovery runs on the steady clock: with use_sim_time a timer on the node's
        # clock would wait for /clock, and topics appearing before it would never be recorded
        self.create_timer(
            float(p["discovery_period_s"]),
            self.discover,
            clock=Clock(clock_type=ClockType.STEADY_TIME),
        )
        self.discover()

    def discover(self) -> None:
        """Subscribe (raw) to wanted topics once their type is known from the graph."""
        for topic, types in self.get_topic_names_and_types():
            if topic in self.wanted and topic not in self.types:
                known = [(t, c) for t in types if (c := message_class(t)) is not None]
                if not known:
                    self.get_logger().warning(
                        f"not recording {topic}: its types {types} are unknown here",
                        throttle_duration_sec=60.0,
                    )
                    continue
                self.types[topic], cls = known[0]
                publishers = self.get_publishers_info_by_topic(topic)
                reliable = publishers and all(
                    i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in publishers
                )
                qos = QoSProfile(
                    depth=100,
                    reliability=ReliabilityPolicy.RELIABLE
                    if reliable
                    else ReliabilityPolicy.BEST_EFFORT,
                )
                self.raw_subscriptions.append(
                    self.create_subscription(
                        cls,
                        topic,
                        lambda raw, t=topic: self.on_message(t, raw),
                        qos,
                        raw=True,
                    )
                )

    def on_message(self, topic: str, raw: bytes) -> None:
        """Write a serialized message into the running episode."""
        if self.recording is not None:
            now = self.get_clock().now().nanoseconds
            try:
                self.recording.write(topic, self.types[topic], now, raw)
            except OSError as err:  # e.g. the disk filled up: say so, keep serving
                self.get_logger().error(
                    f"cannot write to {self.recording.mcap_path}: {err}",
                    throttle_duration_sec=5.0,
                )

    def on_record(self, request: Record.Request, response: Record.Response):
        """Start or stop an episode."""
        try:
            if request.action == Record.Request.ACTION_START:
                metadata = EpisodeMetadata(
                    episode_id=episode_id(request.task, request.domain),
                    task=request.task,
                    domain=request.domain,
                    embodiment=request.embodiment,
                    seed=-1,
                    success=False,
                    operator=request.operator_name,
                    note=request.note,
                )
                if self.recording is not None and self.recording.started_as(metadata):
                    # a client asking again after DDS lost the reply (ros2/rmw_fastrtps#842)
                    response.ok, response.bag_path = True, str(self.recording.final_path)
                    response.message = "recording (already, as this request asked)"
                    return response
                if self.recording is not None:
                    raise RecorderError(
                        f"already recording {self.recording.metadata.episode_id}; stop it first"
                    )
                self.recording = EpisodeRecording(self.out, metadata, self.min_free_gb)
                response.bag_path = str(self.recording.final_path)
                missing = sorted(set(self.wanted) - set(self.types))
                response.message = "recording" + (
                    f"; no publisher yet on {missing}" if missing else ""
                )
            elif request.action == Record.Request.ACTION_STOP:
                if self.recording is None:
                    raise RecorderError("not recording")
                recording = self.recording
                try:  # a refused note (RecorderError) leaves the episode recording
                    response.bag_path = str(recording.stop(request.success, request.note))
                except OSError:
                    self.recording = None  # closed, not finalised: recovered at the next start
                    raise
                self.recording = None
                response.message = f"{recording.count} messages written"
            else:
                raise RecorderError(f"unknown action {request.action}")
        except (RecorderError, OSError) as err:
            response.ok, response.message = False, str(err)
            return response
        response.ok = True
        return response


def main() -> None:
    """Run the recorder node."""
    run(RecorderNode, "simhum recorder")


if __name__ == "__main__":
    main()
