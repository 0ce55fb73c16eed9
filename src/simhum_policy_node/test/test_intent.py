"""The policy's intent without ROS: chunks as tool poses in the base frame and gripper
commands, through the controller's own conversion, and the messages RViz is sent."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from toy_policy import (
    CHUNK,
    write_constant_robot_policy,
    write_joint_position_policy,
    write_relative_ee_policy,
)
from visualization_msgs.msg import Marker

from simhum_core.kinematics import pinocchio_tool_pose, start_configuration
from simhum_core.onnx_policy import OnnxPolicy
from simhum_core.pose_math import matrix_from_quaternion, rot6d_from_matrix
from simhum_policy_node.controller import PolicyController
from simhum_policy_node.intent import Intent, chunk_intent, planned_intent
from simhum_policy_node.intent_msgs import (
    CLOSED_COLOUR,
    GRIPPER_ID,
    NAMESPACE,
    OPEN_COLOUR,
    PATH_ID,
    STEPS_ID,
    marker_array_msg,
    path_msg,
)
from simhum_policy_node.safety import SafetyLimits
from simhum_ros.messages import from_time

IDENTITY = np.concatenate([np.zeros(3), rot6d_from_matrix(np.eye(3)), [1.0]])  # stay, open
FRESH = {"camera": 0.01, "joint_states": 0.01}


@pytest.fixture
def relative(tmp_path, robot) -> PolicyController:
    """A relative end-effector controller (its policy stays where it is, gripper open)."""
    policy = OnnxPolicy(
        write_relative_ee_policy(tmp_path, robot, IDENTITY), providers=["CPUExecutionProvider"]
    )
    return PolicyController(policy, robot, SafetyLimits())


def test_zero_relative_actions_are_the_current_tool_pose(relative, robot) -> None:
    q = start_configuration(robot)
    intent = chunk_intent(relative, np.tile(IDENTITY, (CHUNK, 1)), q)
    assert intent.poses.shape == (CHUNK, 4, 4)
    for pose in intent.poses:
        np.testing.assert_allclose(pose, pinocchio_tool_pose(robot, q), atol=1e-12)
    np.testing.assert_array_equal(intent.apertures, np.ones(CHUNK))
    assert not intent.closed.any()


def test_a_translation_along_the_tool_x_moves_the_poses_in_the_base_frame(relative, robot) -> None:
    """Relative actions are in the current tool frame: with the tool pointing down (its x
    axis along the base's -x at the start pose), +x steps of the chunk move the tool along
    the base's -x; the orientation stays, and apertures under one half are closed."""
    q = start_configuration(robot)
    now = pinocchio_tool_pose(robot, q)
    np.testing.assert_allclose(now[:3, 0], [-1.0, 0.0, 0.0], atol=1e-4)  # IK-solved
    chunk = np.tile(IDENTITY, (CHUNK, 1))
    steps = 0.01 * np.arange(1, CHUNK + 1)
    chunk[:, 0] = steps
    chunk[:, 9] = np.linspace(1.0, 0.0, CHUNK)
    intent = chunk_intent(relative, chunk, q)
    for k, pose in enumerate(intent.poses):
        np.testing.assert_allclose(pose[:3, 3], now[:3, 3] + [-steps[k], 0.0, 0.0], atol=1e-6)
        np.testing.assert_allclose(pose[:3, :3], now[:3, :3], atol=1e-12)
    np.testing.assert_allclose(intent.apertures, chunk[:, 9])
    np.testing.assert_array_equal(intent.closed, chunk[:, 9] < 0.5)


def test_without_a_gripper_action_the_gripper_stays_open(tmp_path, robot) -> None:
    """As the controller commands it: a relative policy without a gripper action keeps the
    gripper open."""
    layout = [["position", 0, 3], ["rot6d", 3, 9]]
    path = write_constant_robot_policy(tmp_path, robot, IDENTITY[:9], "relative_ee", layout)
    policy = OnnxPolicy(path, providers=["CPUExecutionProvider"])
    controller = PolicyController(policy, robot, SafetyLimits())
    intent = chunk_intent(controller, np.tile(IDENTITY[:9], (CHUNK, 1)), robot.home())
    np.testing.assert_array_equal(intent.apertures, np.ones(CHUNK))


def test_joint_position_chunks_go_through_forward_kinematics(tmp_path, robot) -> None:
    rng = np.random.default_rng(4)
    chunk = rng.uniform(robot.lower, robot.upper, (CHUNK, robot.dof))
    policy = OnnxPolicy(
        write_joint_position_policy(tmp_path, robot, chunk[0]),
        providers=["CPUExecutionProvider"],
    )
    controller = PolicyController(policy, robot, SafetyLimits())
    intent = chunk_intent(controller, chunk, start_configuration(robot))
    for pose, q in zip(intent.poses, chunk, strict=True):
        np.testing.assert_allclose(pose, pinocchio_tool_pose(robot, q), atol=1e-12)
    np.testing.assert_allclose(intent.apertures, [robot.aperture(q) for q in chunk])


def test_the_plan_is_the_ensembled_future_of_the_last_step(tmp_path, robot) -> None:
    """After a step, the intent is the coming chunk-length steps the controller steers
    toward: for a policy that always moves 2 cm along the tool's x and closes the gripper,
    from the pose where the step observed the arm."""
    action = IDENTITY.copy()
    action[0], action[9] = 0.02, 0.2
    policy = OnnxPolicy(
        write_relative_ee_policy(tmp_path, robot, action), providers=["CPUExecutionProvider"]
    )
    controller = PolicyController(policy, robot, SafetyLimits())
    with pytest.raises(ValueError, match="no chunk yet"):
        planned_intent(controller)
    q = start_configuration(robot)
    for _ in range(2):
        assert controller.step(np.zeros((32, 32, 3), np.uint8), q, FRESH).command is not None
    plan = planned_intent(controller)
    expected = chunk_intent(controller, np.tile(action, (CHUNK, 1)), q)
    np.testing.assert_allclose(plan.poses, expected.poses, atol=1e-5)
    np.testing.assert_allclose(plan.apertures, 0.2, atol=1e-5)
    assert plan.closed.all()


def test_the_messages_carry_the_poses_and_gripper_commands(relative, robot) -> None:
    q = start_configuration(robot)
    chunk = np.tile(IDENTITY, (CHUNK, 1))
    chunk[:, 0] = 0.01 * np.arange(CHUNK)
    chunk[2:, 9] = 0.0  # closes from the third step
    intent = chunk_intent(relative, chunk, q)
    path = path_msg(intent, "base_link", 100.0, 0.1)
    assert path.header.frame_id == "base_link" and from_time(path.header.stamp) == 100.0
    assert len(path.poses) == CHUNK
    for k, (stamped, T) in enumerate(zip(path.poses, intent.poses, strict=True)):
        assert stamped.header.frame_id == "base_link"
        assert from_time(stamped.header.stamp) == pytest.approx(100.0 + 0.1 * (k + 1))
        p, o = stamped.pose.position, stamped.pose.orientation
        np.testing.assert_allclose([p.x, p.y, p.z], T[:3, 3])
        np.testing.assert_allclose(matrix_from_quaternion([o.w, o.x, o.y, o.z]), T[:3, :3])

    markers = marker_array_msg(intent, "base_link", 100.0).markers
    assert [(m.ns, m.id, m.type) for m in markers] == [
        (NAMESPACE, PATH_ID, Marker.LINE_STRIP),
        (NAMESPACE, STEPS_ID, Marker.SPHERE_LIST),
        (NAMESPACE, GRIPPER_ID, Marker.TEXT_VIEW_FACING),
    ]
    line, steps, label = markers
    assert all(m.header.frame_id == "base_link" and m.action == Marker.ADD for m in markers)
    positions = [[p.x, p.y, p.z] for p in line.points]
    np.testing.assert_allclose(positions, intent.poses[:, :3, 3])
    assert [[p.x, p.y, p.z] for p in steps.points] == positions
    assert steps.colors == [OPEN_COLOUR] * 2 + [CLOSED_COLOUR] * (CHUNK - 2)
    assert label.text == "gripper open (1.00)" and label.color == OPEN_COLOUR
    assert label.pose.position.z > positions[0][2]
    closed_now = Intent(intent.poses, np.zeros(CHUNK))
    label = marker_array_msg(closed_now, "base_link", 100.0).markers[GRIPPER_ID]
    assert label.text == "gripper closed (0.00)" and label.color == CLOSED_COLOUR


def test_the_intent_modules_never_import_rclpy() -> None:
    """The maths and the message building run without ROS's client library."""
    code = (
        "import sys, simhum_policy_node.intent, simhum_policy_node.intent_msgs; "
        "sys.exit('rclpy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
