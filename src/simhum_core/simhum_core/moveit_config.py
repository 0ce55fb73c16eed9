"""A MoveIt 2 configuration for any SimHum robot, generated from its URDF (no MoveIt Setup
Assistant, nothing written twice): the SRDF (an arm group from the base to the tool frame, a
gripper group, the start pose as a named state, adjacent links excluded from collision
checking), KDL kinematics, joint limits, an OMPL pipeline, and the controllers MoveIt
executes through (joint_trajectory_controller's FollowJointTrajectory action). The result is
the ``config_dict`` that ``moveit.planning.MoveItPy`` takes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from simhum_core.robot import RobotDescription

ARM_GROUP = "arm"  # what MoveIt plans and executes (joint_trajectory_controller)
GRIPPER_GROUP = "gripper"  # commanded by the gripper's forward position controller
START_STATE = "start"
# MoveIt's time parameterisation needs acceleration limits, which URDF cannot express.
MAX_ACCELERATION = 2.0  # rad/s^2 (m/s^2 for the fingers)


def adjacent_links(urdf_xml: str) -> list[tuple[str, str]]:
    """(parent, child) link pairs joined by a joint: never in collision by construction."""
    root = ET.fromstring(urdf_xml)
    return [
        (j.find("parent").get("link"), j.find("child").get("link")) for j in root.findall("joint")
    ]


def srdf(robot: RobotDescription, start: np.ndarray) -> str:
    """The robot's SRDF: arm and gripper groups, the arm's start pose, adjacent-link
    exclusions (MoveIt reads mimic joints from the URDF)."""
    root = ET.Element("robot", name=robot.name)
    arm = ET.SubElement(root, "group", name=ARM_GROUP)
    ET.SubElement(arm, "chain", base_link=robot.base_frame, tip_link=robot.tool_frame)
    if robot.gripper_joint_names:
        gripper = ET.SubElement(root, "group", name=GRIPPER_GROUP)
        for name in robot.gripper_joint_names:
            ET.SubElement(gripper, "joint", name=name)
    state = ET.SubElement(root, "group_state", name=START_STATE, group=ARM_GROUP)
    for name, value in zip(robot.joint_names, start.tolist(), strict=True):
        if name in robot.arm_joint_names:
            ET.SubElement(state, "joint", name=name, value=repr(value))
    if robot.gripper_joint_names:
        ET.SubElement(
            root,
            "end_effector",
            name=GRIPPER_GROUP,
            parent_link=robot.tool_frame,
            group=GRIPPER_GROUP,
            parent_group=ARM_GROUP,
        )
    for link1, link2 in adjacent_links(robot.urdf_xml):
        ET.SubElement(root, "disable_collisions", link1=link1, link2=link2, reason="Adjacent")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def joint_limits(robot: RobotDescription) -> dict:
    """robot_description_planning: the URDF's velocity limits plus acceleration limits."""
    return {
        "joint_limits": {
            name: {
                "has_velocity_limits": True,
                "max_velocity": float(velocity),
                "has_acceleration_limits": True,
                "max_acceleration": MAX_ACCELERATION,
            }
            for name, velocity in zip(robot.joint_names, robot.velocity, strict=True)
        }
    }


def moveit_parameters(
    robot: RobotDescription, start: np.ndarray, controller: str, speed_scaling: float = 0.2
) -> dict:
    """MoveItPy's config_dict for ``robot``, executing the arm group through
    ``controller`` (the joint_trajectory_controller of the arm's joints)."""
    return {
        "robot_description": robot.urdf_xml,
        "robot_description_semantic": srdf(robot, start),
        "robot_description_kinematics": {
            ARM_GROUP: {
                "kinematics_solver": "kdl_kinematics_plugin/KDLKinematicsPlugin",
                "kinematics_solver_search_resolution": 0.005,
                "kinematics_solver_timeout": 0.05,
            }
        },
        "robot_description_planning": joint_limits(robot),
        "planning_scene_monitor_options": {
            "name": "planning_scene_monitor",
            "robot_description": "robot_description",
            "joint_state_topic": "/joint_states",
            "attached_collision_object_topic": "/moveit_cpp/planning_scene_monitor",
            "publish_planning_scene_topic": "/moveit_cpp/publish_planning_scene",
            "monitored_planning_scene_topic": "/moveit_cpp/monitored_planning_scene",
            "wait_for_initial_state_timeout": 10.0,
        },
        "planning_pipelines": {"pipeline_names": ["ompl"]},
        "ompl": {
            "planning_plugins": ["ompl_interface/OMPLPlanner"],
            "request_adapters": [
                "default_planning_request_adapters/ResolveConstraintFrames",
                "default_planning_request_adapters/ValidateWorkspaceBounds",
                "default_planning_request_adapters/CheckStartStateBounds",
                "default_planning_request_adapters/CheckStartStateCollision",
            ],
            "response_adapters": [
                "default_planning_response_adapters/AddTimeOptimalParameterization",
                "default_planning_response_adapters/ValidateSolution",
                "default_planning_response_adapters/DisplayMotionPath",
            ],
        },
        "plan_request_params": {
            "planning_attempts": 1,
            "planning_pipeline": "ompl",
            "planner_id": "RRTConnectkConfigDefault",
            "planning_time": 5.0,
            "max_velocity_scaling_factor": speed_scaling,
            "max_acceleration_scaling_factor": speed_scaling,
        },
        "moveit_controller_manager": (
            "moveit_simple_controller_manager/MoveItSimpleControllerManager"
        ),
        "moveit_simple_controller_manager": {
            "controller_names": [controller],
            controller: {
                "type": "FollowJointTrajectory",
                "action_ns": "follow_joint_trajectory",
                "default": True,
                "joints": list(robot.arm_joint_names),
            },
        },
        "trajectory_execution": {
            "allowed_execution_duration_scaling": 1.5,
            "allowed_goal_duration_margin": 1.0,
            "allowed_start_tolerance": 0.02,
        },
    }
