"""An oracle policy: the scripted expert's own joint targets of the same episode (task, look,
seed, split), served as the ground-truth action chunks a perfect relative_ee policy would
predict, so that the deployment path (ensembling, IK, safety limits, the executor) can be
checked on its own."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np

from simhum_core.calibration import CameraCalibration, load_calibration
from simhum_core.onnx_policy import OnnxPolicy, PolicyContract
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.robot import RobotDescription, load_robot
from simhum_sim_bridge.rollout import EpisodeSpec, run_episode
from simhum_train.action_space import action_spaces
from simhum_train.keys import ROBOT
from simhum_train.states import robot_rows

CHUNK_LENGTH = 16  # the packaged configs' chunk length
CONTROL_HZ = 10.0
IMAGE_SIZE = 16  # pixels a side; the oracle does not look


def oracle_contract(robot: RobotDescription, chunk_length: int = CHUNK_LENGTH) -> PolicyContract:
    """A relative_ee contract with the training layouts, identity normalisation."""
    space = action_spaces("relative_ee", robot.dof)[ROBOT]
    return PolicyContract(
        path=Path("expert_oracle"),
        model_id="expert_oracle",
        config_hash="",
        joint_names=robot.joint_names,
        tool_frame=robot.tool_frame,
        base_frame=robot.base_frame,
        image_width=IMAGE_SIZE,
        image_height=IMAGE_SIZE,
        observation_history=1,
        proprio_dim=space.proprio_dim,
        action_space=space.name,
        action_dim=space.action_dim,
        chunk_length=chunk_length,
        control_hz=CONTROL_HZ,
        num_sampling_steps=1,
        denoiser_file="",
        proprio_mean=np.zeros(space.proprio_dim, np.float32),
        proprio_std=np.ones(space.proprio_dim, np.float32),
        action_mean=np.zeros(space.action_dim, np.float32),
        action_std=np.ones(space.action_dim, np.float32),
        proprio_layout=tuple(tuple(s) for s in space.proprio_layout),
        action_layout=tuple(tuple(s) for s in space.action_layout),
    )


class ExpertCommands:
    """An EpisodeSink keeping the expert's joint targets, one per control tick."""

    def __init__(self) -> None:
        self.targets: list[np.ndarray] = []

    def image(self, t: float, rgb: np.ndarray) -> None:
        del t, rgb

    def joint_state(self, t: float, position: np.ndarray, velocity: np.ndarray) -> None:
        del t, position, velocity

    def command(self, t: float, positions: np.ndarray, time_from_start: float) -> None:
        self.targets.append(np.array(positions))


class ExpertOracle:
    """Call k returns the expert's targets for ticks k .. k + chunk_length - 1 (the last one
    held beyond the plan) relative to the measured tool pose, built like the training labels
    (RelativeEEActions of the target rows)."""

    provider = "expert"
    check_compatible = OnnxPolicy.check_compatible  # reads the contract only

    def __init__(self, robot: RobotDescription, targets: np.ndarray, chunk_length: int) -> None:
        self.contract = oracle_contract(robot, chunk_length)
        self.space = action_spaces("relative_ee", robot.dof)[ROBOT]
        self.rows = robot_rows(robot, targets)  # [tool pose, aperture, joints] per tick
        self.calls = 0

    def sample(
        self, image_history: np.ndarray, proprio_history_raw: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The next ground-truth chunk [chunk_length, 10] from the latest proprioception."""
        ticks = np.minimum(self.calls + np.arange(self.contract.chunk_length), len(self.rows) - 1)
        self.calls += 1
        return self.space.actions(proprio_history_raw[-1:], self.rows[ticks][None])[0]


@cache
def _robot_and_camera() -> tuple[RobotDescription, CameraCalibration]:
    return load_robot(default_urdf()), load_calibration(default_calibration())


class ExpertOracleSource:
    """A lock-step PolicySource: runs the scripted expert on the episode (no camera) and
    serves its targets."""

    def __init__(self, chunk_length: int = CHUNK_LENGTH) -> None:
        self.chunk_length = chunk_length

    def __call__(self, spec: EpisodeSpec) -> ExpertOracle:
        robot, camera = _robot_and_camera()
        commands = ExpertCommands()
        run_episode(robot, camera, replace(spec, control_hz=CONTROL_HZ), commands, render=False)
        return ExpertOracle(robot, np.array(commands.targets), self.chunk_length)
