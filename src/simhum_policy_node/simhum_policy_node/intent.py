"""What the policy intends, without ROS: its actions as tool poses in the robot's base frame
and gripper commands, for people to see (the node draws them in RViz).

The conversion is the controller's own: relative end-effector actions are composed onto the
current tool pose by ``PolicyController.absolute`` (the same absolute form the ensembler
mixes and IK solves for), joint-position actions go through forward kinematics of the
controller's pinocchio model; apertures are read as ``PolicyController.to_joints`` commands
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simhum_core.pose_math import vector_to_pose
from simhum_policy_node.controller import PolicyController

# A step's gripper command below this aperture (0 closed .. 1 open) is drawn as closed.
CLOSED_BELOW = 0.5


@dataclass(frozen=True)
class Intent:
    """Tool poses and gripper commands of coming control steps: row k is for k + 1 control
    periods after the observation the actions were predicted from."""

    poses: np.ndarray  # [K, 4, 4] tool poses in the base frame
    apertures: np.ndarray  # [K] gripper commands, 0 closed .. 1 open

    @property
    def closed(self) -> np.ndarray:
        """[K] whether each step commands the gripper closed."""
        return self.apertures < CLOSED_BELOW


def action_intent(controller: PolicyController, actions: np.ndarray) -> Intent:
    """The intent of absolute actions [K, action_dim] (the form the ensembler holds: tool
    poses in the base frame, or joint positions)."""
    actions = np.atleast_2d(np.asarray(actions, dtype=np.float64))
    layout, robot = controller.action, controller.robot
    if controller.contract.action_space == "joint_positions":
        joints = actions[:, layout["joint_positions"]]
        poses = np.stack([controller.ik.forward(q) for q in joints])
        return Intent(poses, np.array([robot.aperture(q) for q in joints]))
    poses = vector_to_pose(actions[:, layout["position"].start : layout["rot6d"].stop])
    if "gripper" in layout:  # as to_joints commands it: clipped to the joints' range
        apertures = np.clip(actions[:, layout["gripper"]][:, 0], 0.0, 1.0)
    else:  # no gripper in the actions: to_joints keeps it open
        apertures = np.ones(len(actions))
    return Intent(poses, apertures)


def chunk_intent(controller: PolicyController, chunk: np.ndarray, q: np.ndarray) -> Intent:
    """The intent of a chunk as the policy predicts it, at joint positions ``q``."""
    return action_intent(controller, controller.absolute(np.asarray(chunk), q))


def planned_intent(controller: PolicyController) -> Intent:
    """What the controller steers toward after a step that predicted a chunk: the ensembled
    actions of the coming chunk-length control steps (the chunk itself without ensembling)."""
    step = controller.step_index - 1  # the step that predicted the newest chunk
    actions = [
        controller.ensembler.action(step + k) for k in range(controller.contract.chunk_length)
    ]
    if any(a is None for a in actions):
        raise ValueError("planned_intent: the controller has predicted no chunk yet")
    return action_intent(controller, np.stack(actions))
