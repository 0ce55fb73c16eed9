"""The generated MoveIt configuration, read back by pinocchio's SRDF parser (a real consumer;
moveit_py itself is not installed here)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pinocchio as pin
import pytest

from simhum_core.kinematics import start_configuration
from simhum_core.moveit_config import (
    ARM_GROUP,
    GRIPPER_GROUP,
    START_STATE,
    adjacent_links,
    moveit_parameters,
    srdf,
)


def test_srdf_start_state_and_collision_exclusions_read_back_by_pinocchio(robot) -> None:
    start = start_configuration(robot)
    text = srdf(robot, start)
    model = robot.pinocchio_model
    pin.loadReferenceConfigurationsFromXML(model, text, False)
    q = model.referenceConfigurations[START_STATE]
    for name, value in zip(robot.joint_names, start, strict=True):
        if name in robot.arm_joint_names:  # the gripper is not MoveIt's to move
            joint = model.joints[model.getJointId(name)]
            assert q[joint.idx_q] == value, name

    geometry = pin.GeometryModel()
    for link in {link for pair in adjacent_links(robot.urdf_xml) for link in pair}:
        frame = model.getFrameId(link)
        parent = model.frames[frame].parentJoint
        placement = model.frames[frame].placement
        geometry.addGeometryObject(
            pin.GeometryObject(link, parent, frame, placement, pin.hppfcl.Sphere(0.01))
        )
    geometry.addAllCollisionPairs()

    def pairs() -> set[frozenset[str]]:
        objects = geometry.geometryObjects
        return {
            frozenset((objects[p.first].name, objects[p.second].name))
            for p in geometry.collisionPairs
        }

    before = pairs()
    pin.removeCollisionPairsFromXML(model, geometry, text, False)
    adjacent = {frozenset(pair) for pair in adjacent_links(robot.urdf_xml)}
    assert before & adjacent  # some adjacent links do move relative to each other
    assert pairs() == before - adjacent


def test_groups_cover_the_arm_chain_and_the_gripper(robot) -> None:
    root = ET.fromstring(srdf(robot, start_configuration(robot)))
    groups = {g.get("name"): g for g in root.findall("group")}
    chain = groups[ARM_GROUP].find("chain")
    assert (chain.get("base_link"), chain.get("tip_link")) == (robot.base_frame, robot.tool_frame)
    assert [j.get("name") for j in groups[GRIPPER_GROUP]] == list(robot.gripper_joint_names)
    state = root.find(f"group_state[@name='{START_STATE}']")
    assert state.get("group") == ARM_GROUP
    assert [j.get("name") for j in state] == list(robot.arm_joint_names)


def test_moveit_parameters_execute_the_arm_through_the_trajectory_controller(robot) -> None:
    params = moveit_parameters(robot, start_configuration(robot), "joint_trajectory_controller")
    controllers = params["moveit_simple_controller_manager"]
    assert controllers["controller_names"] == ["joint_trajectory_controller"]
    assert controllers["joint_trajectory_controller"]["joints"] == list(robot.arm_joint_names)
    limits = params["robot_description_planning"]["joint_limits"]
    np.testing.assert_allclose(
        [limits[name]["max_velocity"] for name in robot.joint_names], robot.velocity
    )
    assert (
        params["plan_request_params"]["planning_pipeline"]
        in (params["planning_pipelines"]["pipeline_names"])
    )


def test_start_pose_move_is_slow_enough_for_every_joint(robot) -> None:
    from simhum_core.kinematics import start_pose_duration

    start = start_configuration(robot)
    q = start.copy()
    q[0] += 1.5
    assert start_pose_duration(q, start, 0.3) == pytest.approx(5.0)
    assert start_pose_duration(start, start, 0.3) == 2.0  # never faster than 2 s
    with pytest.raises(ValueError, match="positive"):
        start_pose_duration(q, start, 0.0)
