"""Every SimHum message and service crosses DDS between two processes with its fields intact."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import Point, Pose
from rclpy.node import Node

from simhum_msgs.msg import EndEffectorTarget, EpisodeEvent, HandPose, PolicyStatus
from simhum_msgs.srv import Record, ResetScene

PEER = Path(__file__).with_name("echo_peer.py")
TIMEOUT_S = 20.0


def hand_pose() -> HandPose:
    msg = HandPose()
    msg.header.frame_id = "camera_optical_frame"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 345
    msg.keypoints_image = [Point(x=10.0 * i, y=5.0 * i, z=-0.01 * i) for i in range(21)]
    msg.keypoints_camera = [Point(x=0.01 * i, y=-0.02 * i, z=0.5 + 0.001 * i) for i in range(21)]
    msg.keypoint_confidence = [i / 20 for i in range(21)]
    msg.handedness = HandPose.HANDEDNESS_RIGHT
    msg.confidence = 0.875
    msg.source = "mediapipe+depth"
    return msg


def end_effector_target() -> EndEffectorTarget:
    msg = EndEffectorTarget()
    msg.header.frame_id = "base_link"
    msg.pose = Pose()
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = 0.4, -0.1, 0.2
    msg.pose.orientation.x, msg.pose.orientation.w = 1.0, 0.0
    msg.gripper_aperture = 0.25
    msg.embodiment = EndEffectorTarget.EMBODIMENT_HUMAN
    return msg


def episode_event() -> EpisodeEvent:
    return EpisodeEvent(
        episode_id="pick_cube-000042",
        task="pick_cube",
        domain=EpisodeEvent.DOMAIN_HUMAN,
        embodiment=EpisodeEvent.EMBODIMENT_HUMAN,
        event=EpisodeEvent.EVENT_SUCCESS,
        seed=42,
        note="operator: ada",
    )


def policy_status() -> PolicyStatus:
    return PolicyStatus(
        model_id="simhum-abc123",
        execution_provider="CPUExecutionProvider",
        inference_latency_ms=7.5,
        loop_rate_hz=10.0,
        state=PolicyStatus.STATE_HOLDING,
        reason="camera image older than 0.25 s",
    )


@pytest.fixture
def peer(ros_env: dict[str, str]) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [sys.executable, str(PEER)], env=ros_env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "READY"
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a loaded machine: do not fail the test on teardown
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("make", [hand_pose, end_effector_target, episode_event, policy_status])
def test_message_round_trip(peer, ros_node: Node, spin, make) -> None:
    sent = make()
    name = type(sent).__name__
    received = []
    ros_node.create_subscription(type(sent), f"/simhum_test/out/{name}", received.append, 10)
    pub = ros_node.create_publisher(type(sent), f"/simhum_test/in/{name}", 10)
    assert spin(lambda: pub.get_subscription_count() > 0)

    def published_and_echoed() -> bool:
        if not received:
            pub.publish(sent)
        return bool(received)

    assert spin(published_and_echoed)
    assert_same_fields(received[0], sent, name)


def assert_same_fields(got, sent, path: str) -> None:
    """Field-by-field equality, recursing into nested messages and arrays."""
    if hasattr(sent, "get_fields_and_field_types"):
        for field in sent.get_fields_and_field_types():
            assert_same_fields(getattr(got, field), getattr(sent, field), f"{path}.{field}")
    elif isinstance(sent, np.ndarray):
        assert np.array_equal(got, sent), path
    elif isinstance(sent, list):
        assert len(got) == len(sent), path
        for i, (g, s) in enumerate(zip(got, sent, strict=True)):
            assert_same_fields(g, s, f"{path}[{i}]")
    else:
        assert got == sent, f"{path}: sent {sent!r}, received {got!r}"


def call(node: Node, spin, srv_type, name: str, request):
    client = node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=TIMEOUT_S), f"service {name} not available"
    future = client.call_async(request)
    assert spin(future.done)
    return future.result()


def test_reset_scene_service(peer, ros_node: Node, spin) -> None:
    res = call(
        ros_node,
        spin,
        ResetScene,
        "/simhum_test/reset_scene",
        ResetScene.Request(task="stack_blocks", seed=7, variant="real_ood_lighting"),
    )
    assert res.ok
    assert res.message == "task=stack_blocks seed=7 variant=real_ood_lighting"
    res = call(ros_node, spin, ResetScene, "/simhum_test/reset_scene", ResetScene.Request(task=""))
    assert not res.ok


def test_record_service(peer, ros_node: Node, spin) -> None:
    req = Record.Request(
        action=Record.Request.ACTION_STOP,
        task="push_puck",
        domain="human",
        embodiment="human",
        operator_name="ada",
        success=True,
        note="clean run",
    )
    res = call(ros_node, spin, Record, "/simhum_test/record", req)
    assert res.ok
    assert res.bag_path == "/bags/push_puck/human/human/ada"
    assert res.message == f"action={Record.Request.ACTION_STOP} success=True note=clean run"
