"""The capture nodes at their DDS boundary: malformed hands, frames and depth images are
skipped with a reason in the log, never published on or fatal; bad parameters are one line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from geometry_msgs.msg import Point
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from simhum_core.topics import load_topics
from simhum_human_capture import hand_model
from simhum_msgs.msg import EndEffectorTarget, HandPose
from simhum_ros.messages import image_msg, to_time

TOPICS = load_topics()


def hand_msg(keypoints: np.ndarray, stamp: float, confidence: float = 0.9) -> HandPose:
    msg = HandPose(confidence=confidence, source="test")
    msg.header.stamp = to_time(stamp)
    msg.keypoints_camera = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in keypoints]
    return msg


def test_retarget_node_never_publishes_a_degenerate_hand(start_node, ros_node, spin) -> None:
    """All-zero keypoints have no palm frame: they made a NaN target and, through the
    filters' memory, NaN targets for every later hand."""
    node = start_node("simhum_human_capture.retarget_node")
    targets: list[EndEffectorTarget] = []
    ros_node.create_subscription(EndEffectorTarget, TOPICS.end_effector_target, targets.append, 10)
    hands = ros_node.create_publisher(HandPose, TOPICS.hand_pose, 10)
    assert spin(lambda: hands.get_subscription_count() > 0), node.output()
    T_camera_hand = np.eye(4)
    T_camera_hand[:3, 3] = [0.0, 0.05, 0.6]
    good = hand_model.keypoints(T_camera_hand, 0.5)
    hands.publish(hand_msg(np.zeros((21, 3)), 1.0))
    hands.publish(hand_msg(good, 1.1, confidence=float("nan")))
    for i in range(5):
        hands.publish(hand_msg(good, 1.2 + 0.1 * i))
    assert spin(lambda: len(targets) >= 5), node.output()
    log = node.output()
    assert "hand pose ignored: degenerate keypoints" in log and "confidence nan" in log
    for target in targets:
        p, q = target.pose.position, target.pose.orientation
        assert np.all(np.isfinite([p.x, p.y, p.z, q.x, q.y, q.z, q.w, target.gripper_aperture]))
    assert node.proc.poll() is None


def test_tracker_node_skips_empty_frames_and_bad_depth(start_node, ros_node, spin) -> None:
    node = start_node("simhum_human_capture.tracker_node", use_depth=True)
    images = ros_node.create_publisher(Image, TOPICS.camera_image, qos_profile_sensor_data)
    depths = ros_node.create_publisher(Image, TOPICS.camera_depth, qos_profile_sensor_data)
    assert spin(
        lambda: images.get_subscription_count() > 0 and depths.get_subscription_count() > 0, 60
    ), node.output()
    empty = Image(width=0, height=0, encoding="rgb8", step=0)
    short_depth = Image(width=4, height=4, encoding="32FC1", step=16, data=bytes(10))
    wrong_depth = Image(width=4, height=4, encoding="rgb8", step=12, data=bytes(48))

    def logged() -> bool:  # best-effort topics: send until both were seen
        for msg in (empty, short_depth, wrong_depth):
            (images if msg is empty else depths).publish(msg)
        log = node.output()
        return "empty image (0x0)" in log and log.count("skipping a depth image") >= 1

    assert spin(logged, 60), node.output()
    images.publish(image_msg(np.zeros((48, 64, 3), np.uint8), 2.0, "camera"))
    assert node.proc.poll() is None, node.output()


def test_camera_node_refuses_a_zero_rate(tmp_path, ros_env) -> None:
    args = ["-p", f"source:={tmp_path}", "-p", "rate_hz:=0.0"]
    result = subprocess.run(
        [sys.executable, "-m", "simhum_human_capture.camera_node", "--ros-args", *args],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "refusing to start: rate_hz must be positive, got 0.0" in result.stderr
