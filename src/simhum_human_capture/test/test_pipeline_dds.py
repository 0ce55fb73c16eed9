"""End to end over DDS, each node in its own process: a file camera -> hand tracker ->
retargeting -> recorder produces an episode bag holding every configured topic."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from geometry_msgs.msg import Point
from rclpy.qos import qos_profile_sensor_data
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import CameraInfo, Image, JointState

from simhum_core.calibration import load_calibration
from simhum_core.episode_bag import read_metadata
from simhum_core.kinematics import IKSolver, start_configuration
from simhum_core.paths import default_calibration
from simhum_core.pose_math import (
    invert_pose,
    matrix_from_quaternion,
    transform_points,
)
from simhum_core.topics import load_topics
from simhum_human_capture import hand_model
from simhum_human_capture.proxy_human import hand_pose_for_tool
from simhum_human_capture.retargeting import RetargetConfig, aperture_from_pinch
from simhum_msgs.msg import EndEffectorTarget, HandPose
from simhum_msgs.srv import Record
from simhum_ros.messages import from_time, to_time

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

    start = dict(
        action=Record.Request.ACTION_START,
        task="pick_place",
        domain="human",
        embodiment="human",
        operator_name="proxy",
    )
    started = call(**start)
    assert started.ok, started.message
    # the same start again (a client whose reply DDS lost) is the same episode, not a new one
    repeated = call(**start)
    assert repeated.ok and repeated.bag_path == started.bag_path, repeated.message
    other = call(action=Record.Request.ACTION_START, task="pick_place", domain="human")
    assert not other.ok and "already recording" in other.message
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
    # the targets prove hand poses flow; this subscription may match the tracker late
    assert spin(lambda: bool(hands), timeout=20), log()
    assert hands[-1].source.startswith("mediapipe")


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


def test_retargeting_previews_the_robot_at_the_target(start_node, ros_node, spin, robot, camera):
    """With ik_preview, every target comes with the robot configuration that reaches it: its
    tool pose is the target (to IK tolerance) and its gripper the target's aperture."""
    node = start_node("simhum_human_capture.retarget_node", ik_preview=True)
    ik = IKSolver(robot)
    q = start_configuration(robot)
    q[robot.indices(["shoulder_pan_joint", "wrist_roll_joint"])] += [0.2, -0.3]
    T_tool, aperture = ik.forward(q), 0.5  # reachable by construction
    hand = hand_model.keypoints(hand_pose_for_tool(T_tool, aperture), aperture)
    in_camera = transform_points(invert_pose(camera.T_base_camera), hand)
    targets: list[EndEffectorTarget] = []
    previews: list[JointState] = []
    ros_node.create_subscription(EndEffectorTarget, TOPICS.end_effector_target, targets.append, 10)
    ros_node.create_subscription(JointState, TOPICS.retarget_preview, previews.append, 10)
    hands = ros_node.create_publisher(HandPose, TOPICS.hand_pose, 10)

    def publish() -> None:
        msg = HandPose(confidence=1.0, source="test")
        msg.header.stamp = to_time(ros_node.get_clock().now().nanoseconds * 1e-9)
        msg.keypoints_camera = [Point(x=x, y=y, z=z) for x, y, z in in_camera]
        hands.publish(msg)

    ros_node.create_timer(0.05, publish)

    def tool_pose(msg: EndEffectorTarget) -> np.ndarray:
        o = msg.pose.orientation
        pose = np.eye(4)
        pose[:3, :3] = matrix_from_quaternion([o.w, o.x, o.y, o.z])
        pose[:3, 3] = [msg.pose.position.x, msg.pose.position.y, msg.pose.position.z]
        return pose

    def latest_pair() -> tuple[JointState, EndEffectorTarget] | None:
        """The newest preview and the target stamped like it (the two topics arrive in
        either order)."""
        stamps = {from_time(t.header.stamp): t for t in targets}
        for preview in reversed(previews):
            if from_time(preview.header.stamp) in stamps:
                return preview, stamps[from_time(preview.header.stamp)]
        return None

    def reached() -> bool:
        pair = latest_pair()
        if pair is None:
            return False
        shown = ik.forward(np.array(pair[0].position))
        return bool(np.abs(shown - tool_pose(pair[1])).max() < 2e-3)

    assert spin(reached, timeout=60), node.output()
    preview, target = latest_pair()  # every preview comes with its target's stamp
    assert list(preview.name) == list(robot.joint_names)
    np.testing.assert_allclose(tool_pose(target), T_tool, atol=2e-3)  # the hand's pinch pose
    pinch = aperture_from_pinch(hand_model.pinch_distance(aperture), RetargetConfig())
    assert target.gripper_aperture == pytest.approx(pinch, abs=1e-3)
    assert robot.aperture(np.array(preview.position)) == pytest.approx(
        target.gripper_aperture, abs=1e-6
    )
