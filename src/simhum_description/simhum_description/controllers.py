"""ros2_control controller parameters, with the joint list taken from the robot's URDF."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from simhum_description.errors import DescriptionError
from simhum_description.robot import RobotDescription

TRAJECTORY_CONTROLLER = "joint_trajectory_controller"


def controller_parameters(robot: RobotDescription, path: str | Path) -> dict:
    """The controller YAML at ``path``, the trajectory controller's joints set from ``robot``."""
    path = Path(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: controller configuration not found")
    params = yaml.safe_load(path.read_text())
    try:
        jtc = params[TRAJECTORY_CONTROLLER]["ros__parameters"]
    except (KeyError, TypeError):
        raise DescriptionError(
            f"{path}: no '{TRAJECTORY_CONTROLLER}: ros__parameters:' section"
        ) from None
    params = copy.deepcopy(params)
    params[TRAJECTORY_CONTROLLER]["ros__parameters"] = {**jtc, "joints": list(robot.joint_names)}
    return params
