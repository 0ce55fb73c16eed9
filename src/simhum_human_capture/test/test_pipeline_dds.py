"""End to end over DDS, each node in its own process: a file camera -> hand tracker ->
retargeting -> recorder produces an episode bag holding every configured topic."""

from __future__ import annotations

import time

import cv2
import numpy as np
from rclpy.qos import qos_profile_sensor_data
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import CameraInfo, Image

from simhum_description.calibration import load_calibration
from simhum_description.episode_bag import read_metadata
from simhum_description.paths import default_calibration
from simhum_description.topics import load_topics
from simhum_msgs.msg import EndEffectorTarget, HandPose
from simhum_msgs.srv import Record

TOPICS = load_topics()
RECORDED = [TOPICS.camera_image, TOPICS.camera_info, TOPICS.hand_pose, TOPICS.end_effector_target]


def test_file_camera_to_recorded_episode(proxy_frame_folder, tmp_path, start_node, ros_node, spin):
    nodes = [
        start_node(
            "simhum_human_capture.camera_node",
            source=str(proxy_frame_folder),
            loop=True,
            rate_hz=15.0,
        ),
        start_node("simhum_human_capture.tracker_node"),
        start_node("simhum_human_capture.retarget_node", ik_preview=True),
        start_node(
            "simhum_human_capture.recorder_node",
            output_dir=str(tmp_path),
            min_free_gb=0.0,
            topics=f"[{','.join(repr(t) for t in RECORDED)}]",
        ),
    ]
    hands: list[HandPose] = []
    targets: list[EndEffectorTarget] = []
    ros_node.create_subscription(HandPose, TOPICS.hand_pose, hands.append, 10)
    ros_node.create_subscription(EndEffectorTarget, TOPICS.end_effector_target, targets.append, 10)
    log = lambda: "\n".join(n.output() for n in nodes)  # noqa: E731
    assert spin(lambda: len(targets) >= 3, timeout=60), log()

    client = ros_node.create_client(Record, TOPICS.record)
    assert client.wait_for_service(timeout_sec=20)

    def call(**fields):
        future = client.call_async(Record.Request(**fields))
        assert spin(future.done)
        return future.result()

    started = call(
        action=Record.Request.ACTION_START,
        task="pick_place",
        domain="human",
        embodiment="human",
        operator_name="proxy",
    )
    assert started.ok, started.message
    again = call(action=Record.Request.ACTION_START, task="pick_place", domain="human")
    assert not again.ok and "already recording" in again.message
    count = len(targets)
    deadline = time.monotonic() + 30
    assert spin(lambda: len(targets) >= count + 3 or time.monotonic() > deadline, 35)
    stopped = call(action=Record.Request.ACTION_STOP, success=True)
    assert stopped.ok, stopped.message

    meta = read_metadata(stopped.bag_path)
    assert (meta.task, meta.domain, meta.operator, meta.success) == (
        "pick_place",
        "human",
        "proxy",
        True,
    )
    with Reader(stopped.bag_path) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert set(RECORDED) <= set(counts), counts
    assert all(counts[t] > 0 for t in RECORDED), counts
    assert hands and hands[-1].source.startswith("mediapipe")


def test_camera_node_publishes_the_requested_size(tmp_path, start_node, ros_node, spin):
    """A 160x90 (16:9) source published at a model's 48x36: centre crop, resize, and a
    CameraInfo of the same size with its principal point moved and scaled accordingly."""
    cv2.imwrite(str(tmp_path / "frame.png"), np.full((90, 160, 3), 80, np.uint8))
    camera = start_node(
        "simhum_human_capture.camera_node",
        source=str(tmp_path),
        loop=True,
        rate_hz=15.0,
        image_width=48,
        image_height=36,
    )
    images: list[Image] = []
    infos: list[CameraInfo] = []
    ros_node.create_subscription(
        Image, TOPICS.camera_image, images.append, qos_profile_sensor_data
    )
    ros_node.create_subscription(
        CameraInfo, TOPICS.camera_info, infos.append, qos_profile_sensor_data
    )
    assert spin(lambda: images and infos, timeout=30), camera.output()
    assert (images[-1].width, images[-1].height) == (48, 36)
    assert (infos[-1].width, infos[-1].height) == (48, 36)
    # 160x90 -> crop 120x90 at x0 = 20 -> scale 0.4: the principal point follows
    native = load_calibration(default_calibration()).resized(160, 90)
    expected = native.cropped(20, 0, 120, 90).resized(48, 36)
    np.testing.assert_allclose(np.reshape(infos[-1].k, (3, 3)), expected.K, atol=1e-9)
