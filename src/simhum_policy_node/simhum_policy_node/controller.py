"""The policy's control step, without ROS: observation history in, a safe joint command out
(or a reason to hold). The node calls it on a timer at the model's control rate."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from simhum_core.kinematics import IKSolver, robot_state
from simhum_core.onnx_policy import OnnxPolicy, PolicyContractError, PolicyInferenceError
from simhum_core.pose_math import pose_to_vector, vector_to_pose
from simhum_core.robot import RobotDescription
from simhum_policy_node.ensembling import DEFAULT_DECAY, TemporalEnsembler
from simhum_policy_node.safety import SafetyLimits, UnsafeCommandError, check_fresh, safe_command

# Points of the ensembled chunk's future streamed per command (0.4 s at 10 Hz): the controller
# interpolates between policy points, and a late cycle still finds the arm moving.
DEFAULT_STREAM_POINTS = 4
# The action-layout slices that each action space is read through (see to_joints).
ACTION_SLICES = {"relative_ee": ("position", "rot6d"), "joint_positions": ("joint_positions",)}


@dataclass(frozen=True)
class StepResult:
    """What one control step decided: the joint targets of the coming control steps (the
    ensembled chunk's future, through IK and the safety limits; row k is for k + 1 control
    periods after the observation), or None and why it holds."""

    trajectory: np.ndarray | None  # [K, dof]; None to hold
    reason: str  # why it holds; empty when commanding
    inference_ms: float

    @property
    def command(self) -> np.ndarray | None:
        """The target of the next control step (the trajectory's first point)."""
        return None if self.trajectory is None else self.trajectory[0]


def layout_slices(layout: tuple[tuple[str, int, int], ...]) -> dict[str, slice]:
    """Named slices of a contract layout."""
    return {name: slice(start, stop) for name, start, stop in layout}


class PolicyController:
    """Runs an exported policy against one robot: history, sampling, ensembling, IK, safety."""

    def __init__(
        self,
        policy: OnnxPolicy,
        robot: RobotDescription,
        limits: SafetyLimits,
        ensemble: bool = True,
        ensemble_decay: float = DEFAULT_DECAY,
        seed: int = 0,
        stream_points: int = DEFAULT_STREAM_POINTS,
    ) -> None:
        contract = policy.contract
        if not 1 <= stream_points <= contract.chunk_length:
            raise ValueError(
                f"stream_points must be 1 to the chunk length {contract.chunk_length}, "
                f"got {stream_points}"
            )
        self.stream_points = stream_points
        # the joints are checked here; the camera when its first frame arrives
        policy.check_compatible(robot.joint_names, (contract.image_width, contract.image_height))
        if robot.tool_frame != contract.tool_frame:
            raise PolicyContractError(
                f"{contract.path}: trained with tool frame '{contract.tool_frame}', this robot "
                f"uses '{robot.tool_frame}'"
            )
        self.policy, self.robot, self.limits = policy, robot, limits
        self.contract = contract
        self.period = 1.0 / contract.control_hz
        self.proprio = layout_slices(contract.proprio_layout)
        self.action = layout_slices(contract.action_layout)
        missing = [n for n in ACTION_SLICES[contract.action_space] if n not in self.action]
        if missing:
            raise PolicyContractError(
                f"{contract.path}: metadata 'action_layout' lacks {missing}, which action "
                f"space '{contract.action_space}' needs"
            )
        self.ik = IKSolver(robot)
        rot6d = self.action.get("rot6d") if contract.action_space == "relative_ee" else None
        self.ensembler = TemporalEnsembler(contract.chunk_length, ensemble_decay, ensemble, rot6d)
        self.rng = np.random.default_rng(seed)
        self.images: deque[np.ndarray] = deque(maxlen=contract.observation_history)
        self.states: deque[np.ndarray] = deque(maxlen=contract.observation_history)
        self.step_index = 0
        self.last_command: np.ndarray | None = None

    def reset(self) -> None:
        """A new episode: history, ensembling and the last command start afresh; the next
        step starts from its joint positions."""
        self.images.clear()
        self.states.clear()
        self.ensembler.reset()
        self.step_index = 0
        self.last_command = None

    def proprio_vector(self, q: np.ndarray) -> np.ndarray:
        """The raw proprioception of joint positions ``q`` in the contract's layout."""
        state = robot_state(self.robot, q, self.ik)
        out = np.zeros(self.contract.proprio_dim)
        for name, where in self.proprio.items():
            out[where] = state[name]
        return out

    def warm_up(self, iterations: int) -> float:
        """Run the model on blank inputs (allocations, kernel choice); returns ms per call."""
        c = self.contract
        images = np.zeros((c.observation_history, c.image_height, c.image_width, 3), np.uint8)
        proprio = np.tile(c.proprio_mean, (c.observation_history, 1))
        start = time.perf_counter()
        for _ in range(max(1, iterations)):
            self.policy.sample(images, proprio, np.random.default_rng(0))
        return (time.perf_counter() - start) * 1e3 / max(1, iterations)

    def step(self, image: np.ndarray, q: np.ndarray, ages: dict[str, float]) -> StepResult:
        """One control step from the latest image and joint positions; ``ages`` are the
        observations' ages in seconds at this moment."""
        if self.last_command is None:  # an episode's first step: start from where the arm is
            self.last_command = np.asarray(q, dtype=np.float64).copy()
        try:
            check_fresh(ages, self.limits)
        except UnsafeCommandError as err:
            return StepResult(None, str(err), 0.0)
        self.images.append(image)
        self.states.append(self.proprio_vector(q))
        while len(self.images) < self.images.maxlen:  # pad a fresh history with the first
            self.images.appendleft(self.images[0])
            self.states.appendleft(self.states[0])
        start = time.perf_counter()
        try:
            chunk = self.policy.sample(np.stack(self.images), np.stack(self.states), self.rng)
        except PolicyInferenceError as err:  # the runtime failed: hold, and say why
            return StepResult(None, str(err), 0.0)
        inference_ms = (time.perf_counter() - start) * 1e3
        if not np.all(np.isfinite(chunk)):
            return StepResult(None, "model output holds NaN or infinity", inference_ms)
        self.ensembler.add(self.step_index, self.absolute(chunk, q))
        points, previous = [], self.last_command
        for k in range(self.stream_points):
            target = self.ensembler.action(self.step_index + k)
            if target is None:
                break
            try:
                previous = safe_command(
                    self.robot,
                    self.to_joints(target, previous),
                    previous,
                    self.period,
                    self.limits,
                )
            except UnsafeCommandError as err:
                if not points:  # the next step itself is unsafe: hold
                    self.step_index += 1
                    return StepResult(None, str(err), inference_ms)
                break  # stream only up to the first unsafe point
            points.append(previous)
        self.step_index += 1
        self.last_command = points[0]
        return StepResult(np.stack(points), "", inference_ms)

    def absolute(self, chunk: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Chunk actions as absolute targets, so chunks from different times can be mixed:
        relative tool poses become poses in the base frame."""
        if self.contract.action_space != "relative_ee":
            return chunk
        now = self.ik.forward(q)
        pose = slice(self.action["position"].start, self.action["rot6d"].stop)
        out = chunk.copy()
        out[:, pose] = pose_to_vector(now @ vector_to_pose(chunk[:, pose]))
        return out

    def to_joints(self, action: np.ndarray, warm: np.ndarray) -> np.ndarray:
        """Joint targets of an absolute action (IK warm-started from ``warm``, the targets
        of the step before)."""
        if self.contract.action_space == "joint_positions":
            return np.asarray(action[self.action["joint_positions"]], dtype=np.float64)
        pose = slice(self.action["position"].start, self.action["rot6d"].stop)
        result = self.ik.solve(vector_to_pose(action[pose]), warm)
        aperture = float(action[self.action["gripper"]][0]) if "gripper" in self.action else 1.0
        return self.robot.with_aperture(result.q, aperture)
