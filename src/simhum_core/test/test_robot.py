"""The shared robot description: joints, limits and frames, MuJoCo/pinocchio agreement, and
clear errors for bad files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from simhum_core import DescriptionError, load_robot
from simhum_core.controllers import controller_parameters
from simhum_core.kinematics import max_fk_disagreement, pinocchio_tool_pose
from simhum_core.paths import default_controllers, default_urdf
from simhum_core.synthetic import serial_arm_urdf

ARM = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "forearm_roll_joint",
    "wrist_pitch_joint",
    "wrist_roll_joint",
)


@pytest.fixture(scope="module")
def robot():
    return load_robot(default_urdf())


@pytest.fixture(scope="module")
def seven_dof(tmp_path_factory):
    path = tmp_path_factory.mktemp("robots") / "seven.urdf"
    path.write_text(serial_arm_urdf(7, seed=3, prefix="axis_", tool_frame="tool0"))
    return load_robot(path, tool_frame="tool0")


def test_default_robot_facts(robot) -> None:
    assert robot.base_frame == "base_link"
    assert robot.tool_frame == "tcp"
    assert robot.arm_joint_names == ARM
    assert robot.gripper_joint_names == ("left_finger_joint", "right_finger_joint")
    assert robot.joint_names == ARM + robot.gripper_joint_names
    assert np.all(robot.lower < robot.upper)
    assert np.all(robot.velocity > 0) and np.all(robot.effort > 0)
    assert robot.upper[robot.indices(["left_finger_joint"])][0] == pytest.approx(0.04)


def test_masses_and_inertias_are_physical(robot) -> None:
    model = robot.pinocchio_model
    # pinocchio merges the fixed root link (base_link) into the universe body, index 0
    masses = [inertia.mass for inertia in model.inertias]
    assert 8.0 < sum(masses) < 15.0  # a small lab arm with its gripper
    for inertia in model.inertias:
        principal = np.linalg.eigvalsh(inertia.inertia)
        assert np.all(principal > 0)
        # triangle inequality of a rigid body's principal moments
        assert principal[2] <= principal[0] + principal[1] + 1e-12


@pytest.mark.parametrize("which", ["default", "seven_dof"])
def test_mujoco_and_pinocchio_agree_on_tool_frame(which, robot, seven_dof) -> None:
    description = robot if which == "default" else seven_dof
    assert max_fk_disagreement(description, samples=1000, seed=1) < 1e-9


def test_seven_dof_variant_is_read_without_assumptions(seven_dof) -> None:
    assert seven_dof.dof == 8
    assert seven_dof.arm_joint_names == tuple(f"axis_{i}" for i in range(1, 8))
    assert seven_dof.gripper_joint_names == ("axis_finger_joint",)
    assert seven_dof.base_frame == "root"


def test_tool_frame_at_home_is_above_base(robot) -> None:
    pose = pinocchio_tool_pose(robot, robot.home())
    # straight up: 0.08 + 0.10 + 0.35 + 0.30 + 0.04 + 0.06 + 0.01 + 0.065 m
    assert pose[:3, 3] == pytest.approx([0.0, 0.0, 1.005], abs=1e-12)


def test_ros2_control_plugin_follows_hardware_argument() -> None:
    real = load_robot(default_urdf(), xacro_args={"hardware": "real"})
    sim = load_robot(default_urdf(), xacro_args={"hardware": "sim"})
    driver = load_robot(
        default_urdf(),
        xacro_args={"hardware": "real", "real_hardware_plugin": "lab_arm_driver/ArmSystem"},
    )
    assert "<plugin>mock_components/GenericSystem</plugin>" in real.urdf_xml
    assert "<plugin>mujoco_ros2_control/MujocoSystem</plugin>" in sim.urdf_xml
    assert "<plugin>lab_arm_driver/ArmSystem</plugin>" in driver.urdf_xml
    with pytest.raises(DescriptionError, match="hardware must be 'real' or 'sim'"):
        load_robot(default_urdf(), xacro_args={"hardware": "gazebo"})


def test_ros2_control_joints_and_bounds_match_urdf(robot) -> None:
    import xml.etree.ElementTree as ET

    control = ET.fromstring(robot.urdf_xml).find("ros2_control")
    joints = control.findall("joint")
    assert tuple(j.get("name") for j in joints) == robot.joint_names
    for i, joint in enumerate(joints):
        command = joint.find("command_interface")
        if robot.joint_names[i] in robot.mimic:  # Jazzy: states only, the URDF says the rest
            assert command is None and joint.find("state_interface") is not None
            continue
        bounds = {p.get("name"): float(p.text) for p in command}
        assert bounds == {"min": robot.lower[i], "max": robot.upper[i]}


def test_controller_yaml_joints_match_urdf(robot, seven_dof) -> None:
    raw = yaml.safe_load(default_controllers().read_text())
    assert controller_parameters(robot, default_controllers()) == raw
    jtc = raw["joint_trajectory_controller"]["ros__parameters"]
    assert tuple(jtc["joints"]) == robot.arm_joint_names
    gripper = raw["gripper_controller"]["ros__parameters"]
    assert tuple(gripper["joints"]) == robot.gripper_command_joint_names == ("left_finger_joint",)
    manager = raw["controller_manager"]["ros__parameters"]
    assert manager["joint_trajectory_controller"]["type"].startswith("joint_trajectory_controller")
    assert manager["gripper_controller"]["type"] == (
        "position_controllers/JointGroupPositionController"
    )
    params = controller_parameters(seven_dof, default_controllers())
    assert params["joint_trajectory_controller"]["ros__parameters"]["joints"] == list(
        seven_dof.arm_joint_names
    )
    assert params["gripper_controller"]["ros__parameters"]["joints"] == ["axis_finger_joint"]
    arm_only = load_robot_text(
        serial_arm_urdf(3, seed=1, tool_frame="tool0").replace('type="prismatic"', 'type="fixed"')
    )
    params = controller_parameters(arm_only, default_controllers())
    assert "gripper_controller" not in params
    assert "gripper_controller" not in params["controller_manager"]["ros__parameters"]


def load_robot_text(xml: str, tool_frame: str = "tool0"):
    from simhum_core.robot import parse_robot

    return parse_robot(xml, tool_frame=tool_frame, source=Path("test.urdf"))


def test_mimic_finger_follows_its_leader(robot) -> None:
    assert robot.mimic == {"right_finger_joint": ("left_finger_joint", 1.0, 0.0)}
    q = robot.with_aperture(robot.home(), 0.25)
    assert q[robot.indices(["left_finger_joint"])][0] == pytest.approx(0.01)
    assert q[robot.indices(["right_finger_joint"])][0] == pytest.approx(0.01)
    assert robot.aperture(q) == pytest.approx(0.25)
    q[-2] = 0.03
    assert robot.apply_mimic(q)[-1] == pytest.approx(0.03)
    # multiplier and offset, on a batch of vectors
    xml = robot.urdf_xml.replace('multiplier="1" offset="0"', 'multiplier="0.5" offset="0.01"')
    scaled = load_robot_text(xml, "tcp")
    qs = np.tile(robot.home(), (3, 1))
    qs[:, -2] = [0.0, 0.02, 0.04]
    np.testing.assert_allclose(scaled.apply_mimic(qs)[:, -1], [0.01, 0.02, 0.03])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('<mimic joint="left_finger_joint"', '<mimic joint="nope"'), "must both be moving"),
        (('multiplier="1"', 'multiplier="x"'), "non-numeric <mimic>"),
        (('multiplier="1"', 'multiplier="0"'), "non-zero multiplier"),
        (
            ('<mimic joint="left_finger_joint"', '<mimic joint="elbow_joint"'),
            None,  # a gripper joint may follow any moving joint
        ),
    ],
)
def test_bad_mimic_is_named(robot, edit, message) -> None:
    xml = robot.urdf_xml.replace(*edit)
    if message is None:
        assert load_robot_text(xml, "tcp").mimic["right_finger_joint"][0] == "elbow_joint"
        return
    with pytest.raises(DescriptionError, match=message):
        load_robot_text(xml, "tcp")


def test_mimic_joint_in_the_arm_or_chained_is_refused(robot) -> None:
    arm = robot.urdf_xml.replace(
        '<joint name="elbow_joint" type="revolute">',
        '<joint name="elbow_joint" type="revolute"><mimic joint="shoulder_lift_joint"/>',
    )
    with pytest.raises(DescriptionError, match="gripper only"):
        load_robot_text(arm, "tcp")
    chained = robot.urdf_xml.replace(
        '<joint name="left_finger_joint" type="prismatic">',
        '<joint name="left_finger_joint" type="prismatic"><mimic joint="elbow_joint"/>',
    )
    with pytest.raises(DescriptionError, match="a mimic joint itself"):
        load_robot_text(chained, "tcp")


def test_missing_urdf(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match=r"missing\.urdf: robot description not found"):
        load_robot(tmp_path / "missing.urdf")


@pytest.mark.parametrize("suffix", [".urdf", ".urdf.xacro"])
def test_malformed_xml(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    path.write_text('<robot name="x"><link name="a"></robot>')
    with pytest.raises(DescriptionError, match=rf"broken{suffix}: malformed XML"):
        load_robot(path)


def test_missing_tool_frame(tmp_path: Path) -> None:
    path = tmp_path / "arm.urdf"
    path.write_text(serial_arm_urdf(3, tool_frame="tool0"))
    with pytest.raises(DescriptionError, match=r"arm\.urdf: tool frame 'tcp' is not a link"):
        load_robot(path, tool_frame="tcp")


def test_joint_without_limits(tmp_path: Path) -> None:
    path = tmp_path / "nolimit.urdf"
    path.write_text(serial_arm_urdf(2).replace('<limit lower="0" upper="0.03"', "<nolimit "))
    with pytest.raises(DescriptionError, match="jfinger_joint' needs <limit"):
        load_robot(path, tool_frame="tool0")


def test_continuous_joint_is_refused_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "cont.urdf"
    urdf = serial_arm_urdf(2).replace('name="j1" type="revolute"', 'name="j1" type="continuous"')
    path.write_text(urdf)
    with pytest.raises(DescriptionError, match="joint 'j1' is continuous"):
        load_robot(path, tool_frame="tool0")


@pytest.mark.parametrize("end", ["child", "parent"])
def test_joint_without_child_or_parent_is_named(tmp_path: Path, end: str) -> None:
    path = tmp_path / f"no_{end}.urdf"
    path.write_text(re.sub(rf"<{end} link=\"[^\"]*\"/>", "", serial_arm_urdf(2), count=1))
    with pytest.raises(DescriptionError, match=rf"no_{end}\.urdf: joint 'j1' needs <{end} link="):
        load_robot(path, tool_frame="tool0")


def test_unknown_joint_name_is_named(robot) -> None:
    with pytest.raises(DescriptionError, match="unknown joint"):
        robot.indices(["shoulder_pan_joint", "elbow"])
