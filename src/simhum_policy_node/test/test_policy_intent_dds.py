"""The policy node's intent over DDS, seen from another process as RViz sees it: the tool
poses of each predicted chunk (nav_msgs/Path) and its markers, latched for late joiners, and
nothing of it with publish_intent off."""

from __future__ import annotations

import numpy as np
from nav_msgs.msg import Path
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from test_policy_node_dds import NODE, TOPICS, Feed
from toy_policy import CHUNK, write_relative_ee_policy
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from simhum_core.kinematics import pinocchio_tool_pose, start_configuration
from simhum_core.pose_math import matrix_from_quaternion, rot6d_from_matrix

# every step: 2 cm along the tool's x, gripper at 0.2 (closed)
ACTION = np.concatenate([[0.02, 0.0, 0.0], rot6d_from_matrix(np.eye(3)), [0.2]])
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def test_the_node_publishes_each_chunk_as_tool_poses_and_markers(
    tmp_path, start_node, ros_node, spin, robot
) -> None:
    model = write_relative_ee_policy(tmp_path, robot, ACTION)
    node = start_node(NODE, model_path=str(model))
    q = start_configuration(robot)
    feed = Feed(ros_node, robot, q)
    paths: list[Path] = []
    markers: list[MarkerArray] = []
    # RViz's default subscription (volatile) matches the latched publishers
    ros_node.create_subscription(Path, TOPICS.policy_intent_path, paths.append, 10)
    ros_node.create_subscription(MarkerArray, TOPICS.policy_intent_markers, markers.append, 10)
    assert spin(lambda: len(paths) >= 3 and len(markers) >= 3, timeout=60), node.output()

    now = pinocchio_tool_pose(robot, q)  # the arm stays there: every chunk is the same
    # 2 cm along the tool's x, in the base frame: every pose, the first one too, near the tool
    expected = now[:3, 3] + 0.02 * now[:3, 0]
    path = paths[-1]
    assert path.header.frame_id == robot.base_frame
    assert len(path.poses) == CHUNK
    for k, stamped in enumerate(path.poses):
        assert stamped.header.frame_id == robot.base_frame
        p, o = stamped.pose.position, stamped.pose.orientation
        np.testing.assert_allclose([p.x, p.y, p.z], expected, atol=1e-4)
        np.testing.assert_allclose(
            matrix_from_quaternion([o.w, o.x, o.y, o.z]), now[:3, :3], atol=1e-4
        )
        dt = (stamped.header.stamp.sec - path.header.stamp.sec) + 1e-9 * (
            stamped.header.stamp.nanosec - path.header.stamp.nanosec
        )
        assert abs(dt - 0.1 * (k + 1)) < 1e-6  # k + 1 control periods (10 Hz) later

    line, steps, label = markers[-1].markers
    assert [(m.id, m.type) for m in (line, steps, label)] == [
        (0, Marker.LINE_STRIP),
        (1, Marker.SPHERE_LIST),
        (2, Marker.TEXT_VIEW_FACING),
    ]
    assert {m.header.frame_id for m in (line, steps, label)} == {robot.base_frame}
    assert len(line.points) == len(steps.points) == len(steps.colors) == CHUNK
    assert label.text == "gripper closed (0.20)"

    # latched: with the camera stopped (no new chunk), a subscriber that joins now still
    # gets the last chunk's intent at once
    feed.on = False
    late_paths: list[Path] = []
    late_markers: list[MarkerArray] = []
    ros_node.create_subscription(Path, TOPICS.policy_intent_path, late_paths.append, LATCHED)
    ros_node.create_subscription(
        MarkerArray, TOPICS.policy_intent_markers, late_markers.append, LATCHED
    )
    assert spin(lambda: late_paths and late_markers, timeout=20), node.output()
    assert len(late_paths[0].poses) == CHUNK and len(late_markers[0].markers) == 3


def test_publish_intent_false_publishes_none(tmp_path, start_node, ros_node, spin, robot) -> None:
    model = write_relative_ee_policy(tmp_path, robot, ACTION)
    node = start_node(NODE, model_path=str(model), publish_intent=False)
    Feed(ros_node, robot, start_configuration(robot))
    received: list = []
    commands: list[JointTrajectory] = []
    ros_node.create_subscription(Path, TOPICS.policy_intent_path, received.append, 10)
    ros_node.create_subscription(MarkerArray, TOPICS.policy_intent_markers, received.append, 10)
    ros_node.create_subscription(JointTrajectory, TOPICS.joint_trajectory, commands.append, 10)
    assert spin(lambda: len(commands) >= 5, timeout=60), node.output()  # it is deciding
    assert received == []
    assert ros_node.count_publishers(TOPICS.policy_intent_path) == 0
    assert ros_node.count_publishers(TOPICS.policy_intent_markers) == 0
