"""Action spaces: the policy's proprioception and action chunks from stored state rows.

Robot, ``relative_ee`` (default): element k = T_now^-1 T_target(k) as position + 6D
rotation, plus the target gripper aperture (10-D); ``joint_positions``: the commanded joint
targets themselves (n-D). Robot proprioception is the tool pose in the base frame + aperture
(10-D) in both. Human: element k = the wrist's relative pose T_now^-1 T_wrist(k) + the target
fingertips in the current wrist frame (24-D); proprioception is the wrist pose in the base
frame + fingertips in the wrist frame (24-D). Everything is batched numpy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from simhum_core.pose_math import pose_to_vector, relative_pose, transform_points
from simhum_core.pose_math import vector_to_pose as pose
from simhum_train.keys import HUMAN, ROBOT
from simhum_train.states import HUMAN_LAYOUT, Layout, layout_slice, robot_layout

ROBOT_PROPRIO_LAYOUT: Layout = [("position", 0, 3), ("rot6d", 3, 9), ("gripper", 9, 10)]


@dataclass(frozen=True)
class ActionSpace(ABC):
    """How one embodiment's proprio and action vectors come out of its state rows."""

    name: str
    embodiment: str
    proprio_layout: Layout
    action_layout: Layout

    @property
    def proprio_dim(self) -> int:
        """Width of a proprio vector."""
        return self.proprio_layout[-1][2]

    @property
    def action_dim(self) -> int:
        """Width of one action of a chunk."""
        return self.action_layout[-1][2]

    def proprio(self, state: np.ndarray) -> np.ndarray:
        """Proprio vectors [..., P] of state rows [..., S]."""
        return state[..., : self.proprio_dim]

    @abstractmethod
    def actions(self, state_now: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Action chunks [B, H, A] of the current state rows [B, S] and targets [B, H, S]."""


class RelativeEEActions(ActionSpace):
    """Robot: the target tool pose relative to the current one, and the target aperture."""

    def actions(self, state_now: np.ndarray, targets: np.ndarray) -> np.ndarray:
        relative = relative_pose(pose(state_now[:, None, :9]), pose(targets[..., :9]))
        rel = pose_to_vector(relative)
        return np.concatenate([rel, targets[..., 9:10]], axis=-1, dtype=np.float32)


class JointPositionActions(ActionSpace):
    """Robot: the absolute commanded joint positions, in URDF joint order."""

    def actions(self, state_now: np.ndarray, targets: np.ndarray) -> np.ndarray:
        start = layout_slice(robot_layout(self.action_dim), "joints").start
        return targets[..., start : start + self.action_dim]


class HumanRelativeActions(ActionSpace):
    """Human: the wrist pose relative to the current one, and the target fingertips in the
    current wrist frame."""

    def actions(self, state_now: np.ndarray, targets: np.ndarray) -> np.ndarray:
        relative = relative_pose(pose(state_now[:, None, :9]), pose(targets[..., :9]))
        tips = targets[..., 9:24].reshape(*targets.shape[:-1], 5, 3)
        tips_now = transform_points(relative, tips).reshape(*targets.shape[:-1], 15)
        return np.concatenate([pose_to_vector(relative), tips_now], axis=-1, dtype=np.float32)


ROBOT_ACTION_SPACES = ("relative_ee", "joint_positions")


def action_spaces(robot_action_space: str, num_joints: int) -> dict[str, ActionSpace]:
    """The action space of each embodiment for a robot action space name."""
    if robot_action_space not in ROBOT_ACTION_SPACES:
        raise ValueError(
            f"action_space '{robot_action_space}' unknown; use one of {ROBOT_ACTION_SPACES}"
        )
    robot = (
        RelativeEEActions("relative_ee", ROBOT, ROBOT_PROPRIO_LAYOUT, ROBOT_PROPRIO_LAYOUT)
        if robot_action_space == "relative_ee"
        else JointPositionActions(
            "joint_positions", ROBOT, ROBOT_PROPRIO_LAYOUT, [("joint_positions", 0, num_joints)]
        )
    )
    human = HumanRelativeActions("relative_wrist_fingertips", HUMAN, HUMAN_LAYOUT, HUMAN_LAYOUT)
    return {ROBOT: robot, HUMAN: human}
