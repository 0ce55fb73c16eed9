"""SimHum's shared robot description: URDF, camera calibration and controller config.

Plain Python (no rclpy): simulation, capture, policy and training all read the robot and the
camera through this package, so each fact has one home.
"""

from simhum_description.calibration import CameraCalibration, load_calibration
from simhum_description.errors import DescriptionError
from simhum_description.robot import RobotDescription, load_robot

__all__ = [
    "CameraCalibration",
    "DescriptionError",
    "RobotDescription",
    "load_calibration",
    "load_robot",
]
