"""SimHum's plain-Python core (never imports rclpy): the robot, the camera, poses, the bag
format and the ONNX policy runtime. Simulation, capture, policy node and training read the
robot and the camera through it, so each fact has one home (the files in
simhum_description)."""

from simhum_core.calibration import CameraCalibration, load_calibration
from simhum_core.errors import DescriptionError
from simhum_core.robot import RobotDescription, load_robot

__all__ = [
    "CameraCalibration",
    "DescriptionError",
    "RobotDescription",
    "load_calibration",
    "load_robot",
]
