"""ros2_control controller parameters, with the joint lists taken from the robot's URDF: the
arm's joints for joint_trajectory_controller, the gripper's commanded joints (mimic joints
follow them in the hardware) for a forward position controller."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from simhum_core.errors import DescriptionError
from simhum_core.robot import RobotDescription

TRAJECTORY_CONTROLLER = "joint_trajectory_controller"
GRIPPER_CONTROLLER = "gripper_controller"


def controller_parameters(robot: RobotDescription, path: str | Path) -> dict:
    """The controller YAML at ``path`` with the controllers' joints set from ``robot``; a
    robot without gripper joints has no gripper controller."""
    path = Path(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: controller configuration not found")
    params = yaml.safe_load(path.read_text())
    joints = {
        TRAJECTORY_CONTROLLER: list(robot.arm_joint_names),
        GRIPPER_CONTROLLER: list(robot.gripper_command_joint_names),
    }
    params = copy.deepcopy(params)
    for name, names in joints.items():
        try:
            section = params[name]["ros__parameters"]
        except (KeyError, TypeError):
            raise DescriptionError(f"{path}: no '{name}: ros__parameters:' section") from None
        section["joints"] = names
    if not joints[GRIPPER_CONTROLLER]:
        del params[GRIPPER_CONTROLLER]
        del params["controller_manager"]["ros__parameters"][GRIPPER_CONTROLLER]
    return params
