"""One simulated episode: build the scene for (task, domain, seed), run the scripted expert
through the trajectory executor at the control rate, and stream what a robot recording holds
(camera frames, joint states, commanded trajectories, episode events) to a sink.

With ``perturb`` > 0 the expert is perturbed as in DART (Laskey et al. 2017): the arm
executes the plan plus a smooth random horizontal offset until it reaches the object, while
the recorded command (what training learns) stays the clean plan. The demonstrations then
hold states off the expert's path labelled with the way back to it; without them a policy
never sees a correction, and a reach that ends a few centimetres off is never repaired.

With ``latency`` > 0 each command reaches the arm some time after the observation it follows
(an episode draws it in [0, latency]), as on the deployed loop, where inference and transport
take some 30-40 ms: the trajectory is stamped with the observation's time, as the policy node
stamps it, and the arm keeps the previous one until it arrives. A policy trained only on
commands that act at once failed 4 times as often with 35 ms of latency."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import numpy as np

from simhum_core.calibration import CameraCalibration
from simhum_core.kinematics import IKSolver, start_configuration
from simhum_core.robot import RobotDescription
from simhum_sim_bridge.domains import DOMAINS, Look, sample_look
from simhum_sim_bridge.experts import ScriptedExpert, WaypointPlan, plan_for
from simhum_sim_bridge.grid import SPLITS, PlacementGrid
from simhum_sim_bridge.runner import Rates, SimRunner
from simhum_sim_bridge.scene import Scene, SceneConfig
from simhum_sim_bridge.tasks import TASKS, Task, get_task

SETTLE_S = 0.5  # keep simulating after the plan ends, so a placed object comes to rest
PERTURB_TAU_S = 0.6  # correlation time of the perturbation offset
# the perturbation the pipeline's robot demonstrations get (simhum demo, simhum study):
# measured in the sim look, clean demonstrations 0/14, perturbed ones 7/14
DEMO_PERTURB_M = 0.03
# the most command latency the pipeline's robot demonstrations get (seconds): the live graph's
# is 32-38 ms on the Intel 2-core machines and 45-60 ms on an AMD EPYC one; robots'
# camera-to-command latency is of that order. A policy trained with 0-50 ms lost most of its
# successes at 60 ms (10/40 -> 3/40 on validation seeds); with 0-80 ms it kept them (12/40 at
# 35 ms, 15/40 at 60 ms; docs/learning_record.md)
DEMO_LATENCY_S = 0.08


@dataclass(frozen=True)
class EpisodeSpec:
    """Which episode to simulate and how it is sampled and observed."""

    task: str
    domain: str
    seed: int
    split: str = "in"
    control_hz: float = 10.0
    joint_state_hz: float = 50.0
    scene: SceneConfig = field(default_factory=SceneConfig)
    perturb: float = 0.0  # metres: std of the expert's executed offset (DART); 0: none
    latency: float = 0.0  # seconds: the most command latency an episode draws; 0: none

    def __post_init__(self) -> None:
        get_task(self.task)
        if self.domain not in DOMAINS:
            raise ValueError(f"unknown domain '{self.domain}'; known domains: {DOMAINS}")
        if self.split not in SPLITS:
            raise ValueError(f"unknown split '{self.split}'; use one of {SPLITS}")
        if not 0 <= self.seed < 2**63:  # numpy seeds are non-negative
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        if not self.control_hz > 0:
            raise ValueError(f"control_hz must be positive, got {self.control_hz}")
        if not self.perturb >= 0:
            raise ValueError(f"perturb must be a non-negative distance, got {self.perturb}")
        if not 0 <= self.latency < 1.0 / self.control_hz:
            raise ValueError(
                f"latency must be in [0, one control period {1.0 / self.control_hz} s), "
                f"got {self.latency}"
            )
        steps = self.scene.physics_hz / self.control_hz
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError(
                f"control_hz {self.control_hz} must divide physics_hz {self.scene.physics_hz}"
            )

    @property
    def episode_id(self) -> str:
        """A stable name: task, domain, split and seed (and ``-dart`` when perturbed)."""
        name = f"{self.task}-{self.domain}-{self.split}-{self.seed:06d}"
        return f"{name}-dart" if self.perturb > 0 else name


class EpisodeSink(Protocol):
    """Receives an episode's streams in time order (times in seconds from its start)."""

    def image(self, t: float, rgb: np.ndarray) -> None: ...

    def joint_state(self, t: float, position: np.ndarray, velocity: np.ndarray) -> None: ...

    def command(self, t: float, positions: np.ndarray, time_from_start: float) -> None: ...


@dataclass(frozen=True)
class EpisodeResult:
    """How an episode ended."""

    spec: EpisodeSpec
    success: bool
    duration_s: float
    frames: int


def sample_episode(spec: EpisodeSpec) -> tuple[Task, Look, dict[str, np.ndarray]]:
    """An episode's task, look and object layout; the layout depends on (seed, task), the
    look on (seed, domain), so one seed places the objects identically in every domain and
    for every embodiment."""
    task_rng = np.random.default_rng([spec.seed, list(TASKS).index(spec.task)])
    look_rng = np.random.default_rng([spec.seed, 1000 + DOMAINS.index(spec.domain)])
    task = get_task(spec.task)
    layout = task.sample_layout(task_rng, PlacementGrid(), spec.split)
    return task, sample_look(spec.domain, look_rng), layout


def make_scene(robot: RobotDescription, camera: CameraCalibration, spec: EpisodeSpec) -> Scene:
    """The robot scene of an episode."""
    task, look, layout = sample_episode(spec)
    return Scene(robot, camera, task, look, layout, spec.scene)


@lru_cache(maxsize=8)
def _ready(robot: RobotDescription) -> np.ndarray:
    return start_configuration(robot)


def ready_pose(robot: RobotDescription) -> np.ndarray:
    """The robot's start configuration (cached per robot)."""
    return _ready(robot).copy()


def perturbation(spec: EpisodeSpec, plan: WaypointPlan, ticks: int) -> np.ndarray:
    """The executed offset [ticks, 3] of a perturbed expert (zeros when ``spec.perturb`` is
    0): a horizontal Ornstein-Uhlenbeck path, its std ``perturb`` times a per-episode scale
    in [0.3, 1], kept through the travel above the object and faded out over the approach
    (the plan's first two waypoints), so that the grasp or contact itself is the expert's."""
    out = np.zeros((ticks, 3))
    if spec.perturb == 0:
        return out
    rng = np.random.default_rng([spec.seed, 777])
    period = 1.0 / spec.control_hz
    decay = np.exp(-period / PERTURB_TAU_S)
    sigma = spec.perturb * rng.uniform(0.3, 1.0)
    offset = rng.normal(0.0, sigma, 2)
    above, contact = plan.times[1], plan.times[2]
    fade = above + 0.3 * (contact - above)
    for k in range(ticks):
        t = (k + 1) * period  # the command's time
        out[k, :2] = offset * np.clip((contact - t) / (contact - fade), 0.0, 1.0)
        offset = decay * offset + np.sqrt(1 - decay**2) * rng.normal(0.0, sigma, 2)
    return out


def command_latency(spec: EpisodeSpec) -> float:
    """The episode's command latency in seconds, whole physics steps in [0, spec.latency]
    (a function of the seed)."""
    if spec.latency == 0:
        return 0.0
    dt = 1.0 / spec.scene.physics_hz
    drawn = np.random.default_rng([spec.seed, 778]).uniform(0.0, spec.latency)
    return round(drawn / dt) * dt


class _Forward:
    """Passes the runner's streams to an episode sink; the episode's end is decided by the
    caller after the expert's plan has finished."""

    def __init__(self, sink: EpisodeSink | None) -> None:
        self.sink, self.frames = sink, 0

    def joint_state(self, t: float, position: np.ndarray, velocity: np.ndarray) -> None:
        if self.sink is not None:
            self.sink.joint_state(t, position, velocity)

    def image(self, t: float, rgb: np.ndarray) -> None:
        self.frames += 1
        if self.sink is not None:
            self.sink.image(t, rgb)

    def episode_end(self, t: float, success: bool) -> None:
        del t, success


def run_episode(
    robot: RobotDescription,
    camera: CameraCalibration,
    spec: EpisodeSpec,
    sink: EpisodeSink | None = None,
    render: bool = True,
) -> EpisodeResult:
    """Simulate one expert episode; with ``render`` False no camera frames are made."""
    scene = make_scene(robot, camera, spec)
    rates = Rates(
        camera_hz=spec.control_hz if render and sink is not None else 0.0,
        joint_state_hz=spec.joint_state_hz,
    )
    q = ready_pose(robot)
    runner = SimRunner(robot, rates, q)
    runner.reset(scene, spec.seed)
    expert = ScriptedExpert(robot, IKSolver(robot), plan_for(scene.task, scene.layout))
    forward = _Forward(sink)
    period = 1.0 / spec.control_hz
    ticks = int(np.ceil(min(expert.plan.duration + SETTLE_S, scene.task.duration_s) / period))
    offsets = perturbation(spec, expert.plan, ticks)
    latency = command_latency(spec)
    executed = q
    try:
        for k in range(ticks):
            t = k * period
            q = expert.act(t + period, q)  # the clean plan: what is recorded
            executed = expert.act(t + period, executed, offsets[k]) if spec.perturb > 0 else q
            if latency > 0:  # the command arrives late, stamped with its observation's time
                runner.advance(t + latency, forward)
            runner.command([period], executed[None], stamp=t)
            if sink is not None:
                sink.command(t, q, period)
            runner.advance(t + period, forward)
        success = scene.success()
    finally:
        runner.close()
    return EpisodeResult(spec, success, runner.time, forward.frames)
