"""The simulation loop shared by the sim bridge node and the demonstration generator.

It steps physics, applies commanded trajectories with the domain's control latency, and
reports what is due in simulation time: joint states, camera frames, and the episode's end
(success, or failure at its time-out). Plain Python: the node publishes what it reports.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from simhum_core.calibration import CameraCalibration
from simhum_core.robot import RobotDescription
from simhum_sim_bridge.render import CameraRenderer, observe
from simhum_sim_bridge.scene import CAMERA, Scene
from simhum_sim_bridge.trajectory import TrajectoryError, TrajectoryExecutor


@dataclass(frozen=True)
class Rates:
    """Rates in simulation time (Hz); a camera rate of 0 renders nothing."""

    camera_hz: float = 30.0
    joint_state_hz: float = 100.0
    success_check_hz: float = 10.0

    def __post_init__(self) -> None:
        if self.camera_hz < 0 or self.joint_state_hz <= 0 or self.success_check_hz <= 0:
            raise ValueError(f"rates must be positive (camera may be 0), got {self}")


class RunnerSink(Protocol):
    """Receives what the runner reports, with simulation times in seconds."""

    def joint_state(self, t: float, position: np.ndarray, velocity: np.ndarray) -> None: ...

    def image(self, t: float, rgb: np.ndarray) -> None: ...

    def episode_end(self, t: float, success: bool) -> None: ...


class SimRunner:
    """One scene at a time, stepped on request; time keeps increasing across resets."""

    def __init__(self, robot: RobotDescription, rates: Rates, ready: np.ndarray) -> None:
        self.robot, self.rates, self.ready = robot, rates, ready
        self.scene: Scene | None = None
        # the arm's joint_trajectory_controller; the gripper's forward position controller
        # holds the last command (mimic joints follow in the "hardware")
        self.executor = TrajectoryExecutor(robot, ready, joints=robot.arm_joint_names)
        self._gripper = np.asarray(ready, dtype=np.float64)[robot.gripper_command_index]
        self._renderer: CameraRenderer | None = None
        self._offset = 0.0
        self._delayed: deque[np.ndarray] = deque()
        self._due = {"joints": 0.0, "image": 0.0, "check": 0.0}
        self._ended = False
        self._timeout = 0.0
        self._noise = np.random.default_rng(0)

    def reset(self, scene: Scene, seed: int, timeout_s: float | None = None) -> None:
        """Switch to ``scene`` with the robot at its ready pose, holding it there."""
        self.close()
        self._offset = self.time
        self.scene = scene
        scene.set_robot(self.ready)
        self.executor.hold(self.ready, self.time)
        self._gripper = np.asarray(self.ready, dtype=np.float64)[self.robot.gripper_command_index]
        self._delayed = deque([self.ready] * scene.look.latency_steps)
        self._noise = np.random.default_rng([seed, 2000])
        if self.rates.camera_hz > 0:
            cfg = scene.config
            self._renderer = CameraRenderer(scene.model, CAMERA, cfg.image_width, cfg.image_height)
            # the first frame uploads the scene's meshes and textures (tens of ms): part of
            # building the scene, not of its first simulated moments
            self._renderer.render(scene.data)
        now = self.time
        self._due = {"joints": now, "image": now, "check": now}
        self._ended = False
        self._timeout = now + (timeout_s if timeout_s is not None else scene.task.duration_s)

    @property
    def time(self) -> float:
        """Simulation time in seconds, increasing across resets."""
        return self._offset + (self.scene.time if self.scene is not None else 0.0)

    @property
    def camera(self) -> CameraCalibration:
        """The calibration at the rendered image size."""
        return self._require().camera

    def _require(self) -> Scene:
        if self.scene is None:
            raise RuntimeError("no scene: call reset() first")
        return self.scene

    def send(
        self,
        joint_names: list[str] | tuple[str, ...],
        time_from_start: list[float] | np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray | None = None,
        stamp: float = 0.0,
    ) -> list[str]:
        """Give the arm a trajectory as joint_trajectory_controller would take it (from the
        measured state now); returns warnings, raises TrajectoryError if it is rejected."""
        scene = self._require()
        return self.executor.replace(
            joint_names,
            np.asarray(time_from_start, dtype=np.float64),
            positions,
            velocities,
            stamp,
            self.time,
            scene.joint_positions(),
            scene.joint_velocities(),
        )

    def command_gripper(self, positions: np.ndarray) -> list[str]:
        """Give the gripper's forward position controller its commanded joints' targets
        (applied at once); returns warnings (clamped targets), raises TrajectoryError for
        a command of the wrong size or not finite (the gripper keeps the last one)."""
        values = np.asarray(positions, dtype=np.float64).reshape(-1)
        names = self.robot.gripper_command_joint_names
        if len(values) != len(names):
            raise TrajectoryError(f"gripper command needs {len(names)} values for {list(names)}")
        if not np.all(np.isfinite(values)):
            raise TrajectoryError("gripper command contains NaN or infinity")
        index = self.robot.gripper_command_index
        lower, upper = self.robot.lower[index], self.robot.upper[index]
        self._gripper = np.clip(values, lower, upper)
        beyond = [n for n, v, g in zip(names, values, self._gripper, strict=True) if v != g]
        if not beyond:
            return []
        return [f"gripper targets beyond the URDF limits clamped for joints {beyond}"]

    def command(
        self, time_from_start: list[float] | np.ndarray, points: np.ndarray, stamp: float = 0.0
    ) -> list[str]:
        """Full joint targets [K, dof] sent as the robot's controllers take them: the arm's
        trajectory and the gripper's command (RobotDescription.controller_targets)."""
        arm, gripper = self.robot.controller_targets(points)
        warnings = self.send(self.robot.arm_joint_names, time_from_start, arm, stamp=stamp)
        return warnings + self.command_gripper(gripper)

    def target(self, time: float) -> np.ndarray:
        """What the controllers command at ``time``: the arm's trajectory, the gripper's
        last command, mimic joints following."""
        q = self.executor.sample(time)
        q[self.robot.gripper_command_index] = self._gripper
        return self.robot.apply_mimic(q)

    def advance(self, until: float, sink: RunnerSink) -> int:
        """Step physics until ``until`` (simulation seconds), reporting what falls due;
        returns the number of physics steps taken."""
        scene = self._require()
        dt = scene.model.opt.timestep
        steps = 0
        while self.time + 0.5 * dt < until:
            now = self.time
            if now + 1e-9 >= self._due["joints"]:
                sink.joint_state(now, scene.joint_positions(), scene.joint_velocities())
                self._due["joints"] += 1.0 / self.rates.joint_state_hz
            if self._renderer is not None and now + 1e-9 >= self._due["image"]:
                sink.image(now, observe(self._renderer, scene.data, scene.look, self._noise))
                self._due["image"] += 1.0 / self.rates.camera_hz
            if not self._ended and now + 1e-9 >= self._due["check"]:
                self._due["check"] += 1.0 / self.rates.success_check_hz
                success = scene.success()
                if success or now >= self._timeout:
                    self._ended = True
                    sink.episode_end(now, success)
            self._delayed.append(self.target(now + dt))
            scene.step(self._delayed.popleft())
            steps += 1
        return steps

    @property
    def ended(self) -> bool:
        """Whether this episode's end (success or time-out) has been reported."""
        return self._ended

    def close(self) -> None:
        """Free the renderer."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
