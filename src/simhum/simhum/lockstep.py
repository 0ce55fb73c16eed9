"""Lock-step closed-loop evaluation for studies: no ROS, no DDS, deterministic per seed.

The deployment path without the wire: the policy node's PolicyController (observation
history, sampling, temporal ensembling, IK, safety limits) on the policy, and the sim
bridge's SimRunner over the episode's Scene, stepped in turn. At control tick k (time
k / control_hz from the episode start) the simulation reaches the tick and takes its first
physics step there, reporting what falls due (the camera at the bridge's camera rate, joint
states at its joint-state rate); the controller then steps on the latest frame and joint
state with their ages as the node computes them (now minus their stamps), and its command
reaches the arm ``command_latency_s`` later (the simulation runs on meanwhile), stamped with
the observation's time, as the bridge takes the node's JointTrajectory: it starts then, from
the measured state at its arrival, and its point k is due k + 1 control periods after the
observation. A held step sends nothing, so the arm keeps the last trajectory, as on the wire.
The episode ends with the runner's episode end (success, or failure at the task's time-out).

The latency is the live graph's: on this 2-core machine commands reach the bridge 32-38 ms
after their observation's stamp (inference 15-20 ms, DDS, the bridge's 5 ms tick). It
matters: a policy trained on demonstrations whose commands acted at once succeeded in 15 of
40 validation episodes here without latency, 3 of 40 with 35 ms, and 2 of 40 through the live
graph (evaluation seeds; lock-step without latency 16 of 40 there).

Episodes run in parallel worker processes (spawn), each with its own policy; the
controller's sampling noise is seeded from the episode seed, so a seed gives the same
outcome whatever the number of workers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from simhum.episode_trace import add_traces, describe, plot_traces
from simhum.evaluate import VariantResult
from simhum.variants import SEED_SETS, VARIANTS, evaluation_seeds, get_variant
from simhum_core.calibration import CameraCalibration, load_calibration
from simhum_core.kinematics import IKSolver
from simhum_core.onnx_policy import OnnxPolicy, PolicyContract, PolicyContractError
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.robot import RobotDescription, load_robot
from simhum_policy_node.controller import DEFAULT_STREAM_POINTS, PolicyController
from simhum_policy_node.ensembling import DEFAULT_DECAY
from simhum_policy_node.safety import SafetyLimits
from simhum_sim_bridge.rollout import EpisodeSpec, make_scene, ready_pose
from simhum_sim_bridge.runner import Rates, SimRunner
from simhum_sim_bridge.scene import SceneConfig
from simhum_sim_bridge.tasks import get_task

# The live graph's observation-to-command latency on a 2-core machine (measured 32-38 ms).
LIVE_COMMAND_LATENCY_S = 0.035
PLOT_SUFFIXES = (".png", ".pdf", ".svg")  # what ``--plot`` can write


class Policy(Protocol):
    """What the controller needs of a policy (OnnxPolicy, or a stand-in such as an oracle)."""

    contract: PolicyContract

    @property
    def provider(self) -> str: ...

    def sample(
        self, image_history: np.ndarray, proprio_history_raw: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray: ...

    def check_compatible(
        self, joint_names: Sequence[str], image_size: tuple[int, int]
    ) -> None: ...


# The policy of an episode: called in the worker with the episode's task, look (domain), seed
# and split; must be picklable (workers are spawned).
PolicySource = Callable[[EpisodeSpec], Policy]


class OnnxPolicySource:
    """An exported policy, loaded once per process with one intra-op thread, for every
    episode (sampling at ``guidance_scale``, the contract's when None)."""

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        guidance_scale: float | None = None,
    ):
        self.path, self.providers = str(path), tuple(providers)
        self.guidance_scale = guidance_scale
        self._policy: OnnxPolicy | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_policy": None}  # each process loads its own

    def __call__(self, spec: EpisodeSpec) -> OnnxPolicy:
        if self._policy is None:
            self._policy = OnnxPolicy(
                self.path, self.providers, intra_op_threads=1, guidance_scale=self.guidance_scale
            )
        return self._policy


@dataclass(frozen=True)
class LockstepSettings:
    """The robot, camera and the node's and bridge's settings (their defaults)."""

    urdf: str = field(default_factory=lambda: str(default_urdf()))
    tool_frame: str = "tcp"
    calibration: str = field(default_factory=lambda: str(default_calibration()))
    rates: Rates = field(default_factory=Rates)  # the bridge's camera and joint-state rates
    physics_hz: float = SceneConfig.physics_hz
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    ensemble: bool = True
    ensemble_decay: float = DEFAULT_DECAY
    stream_points: int = DEFAULT_STREAM_POINTS
    render: bool = True  # False: no camera; the policy sees black frames (for oracles)
    # seconds from an observation to its command at the arm: the live graph's (see above)
    command_latency_s: float = LIVE_COMMAND_LATENCY_S

    def __post_init__(self) -> None:
        if not 0.0 <= self.command_latency_s < 1.0:
            raise ValueError(
                f"command_latency_s must be in [0, 1) seconds, got {self.command_latency_s}"
            )


@dataclass(frozen=True)
class EpisodeOutcome:
    """How one lock-step episode went."""

    seed: int
    success: bool
    length_s: float  # from the episode start to its end event
    latencies_ms: tuple[float, ...]  # inference latency of each model call
    # the measured joint positions (URDF order) the controller got at each control tick,
    # then the last joint state at the episode's end
    path: tuple[tuple[float, ...], ...]
    # the task's moved object's position (x, y, z) at the same instants as ``path``
    object_path: tuple[tuple[float, float, float], ...]
    # the episode's start poses (x, y, yaw) of the task's objects and goal, by layout key
    layout: dict[str, tuple[float, ...]]


class _Latest:
    """The latest joint state and camera frame as the bridge publishes them, and the
    episode's end (a RunnerSink)."""

    def __init__(self) -> None:
        self.joints: tuple[float, np.ndarray] | None = None
        self.frame: tuple[float, np.ndarray] | None = None
        self.end: tuple[float, bool] | None = None

    def joint_state(self, t: float, position: np.ndarray, velocity: np.ndarray) -> None:
        self.joints = (t, position)

    def image(self, t: float, rgb: np.ndarray) -> None:
        self.frame = (t, rgb)

    def episode_end(self, t: float, success: bool) -> None:
        self.end = (t, success)


def episode_spec(task: str, variant: str, seed: int) -> EpisodeSpec:
    """The episode of a task, evaluation variant and seed (its look and placement split)."""
    v = get_variant(variant)
    return EpisodeSpec(task, v.domain, seed, v.split)


def run_lockstep_episode(
    policy: Policy,
    robot: RobotDescription,
    camera: CameraCalibration,
    spec: EpisodeSpec,
    settings: LockstepSettings,
) -> EpisodeOutcome:
    """One closed-loop episode of ``spec``'s task, look, split and seed, the scene rendered
    at the policy's image size and stepped at its control rate."""
    c = policy.contract
    scene_config = SceneConfig(settings.physics_hz, c.image_width, c.image_height)
    spec = replace(spec, control_hz=c.control_hz, scene=scene_config)
    rates = settings.rates if settings.render else replace(settings.rates, camera_hz=0.0)
    controller = PolicyController(
        policy,
        robot,
        settings.limits,
        settings.ensemble,
        settings.ensemble_decay,
        spec.seed,
        settings.stream_points,
    )
    runner = SimRunner(robot, rates, ready_pose(robot))
    scene = make_scene(robot, camera, spec)
    runner.reset(scene, spec.seed)
    latest, latencies, path, object_path = _Latest(), [], [], []

    def moved_object() -> tuple[float, float, float]:
        return tuple(scene.object_position(scene.task.moved_object).tolist())

    blank = np.zeros((c.image_height, c.image_width, 3), np.uint8)
    period, dt = 1.0 / c.control_hz, 1.0 / settings.physics_hz
    start, tick = runner.time, 0
    try:
        while True:
            runner.advance(start + tick * period + dt, latest)
            if latest.end is not None:
                break
            now = runner.time
            joint_stamp, q = latest.joints
            path.append(tuple(q.tolist()))
            object_path.append(moved_object())
            frame_stamp, image = latest.frame if settings.render else (joint_stamp, blank)
            result = controller.step(
                image, q, {"camera": now - frame_stamp, "joint_states": now - joint_stamp}
            )
            if result.trajectory is not None:
                latencies.append(result.inference_ms)  # what PolicyStatus reports when running
                if settings.command_latency_s > 0:  # the command is on its way
                    runner.advance(now + settings.command_latency_s, latest)
                    if latest.end is not None:
                        break
                points = result.trajectory  # streamed as the node does: point k at (k + 1) periods
                times = period * np.arange(1, len(points) + 1)
                runner.command(times, points, stamp=now)
            tick += 1
        path.append(tuple(latest.joints[1].tolist()))
        object_path.append(moved_object())
        layout = {k: tuple(v.tolist()) for k, v in scene.layout.items()}
    finally:
        runner.close()
    end, success = latest.end
    return EpisodeOutcome(
        spec.seed,
        success,
        end - start,
        tuple(latencies),
        tuple(path),
        tuple(object_path),
        layout,
    )


@dataclass(frozen=True)
class _Job:
    """What a worker needs."""

    policy: PolicySource
    task: str
    settings: LockstepSettings


_worker: dict = {}


def _init_worker(job: _Job) -> None:
    s = job.settings
    _worker["job"] = job
    _worker["robot"] = load_robot(s.urdf, tool_frame=s.tool_frame)
    _worker["camera"] = load_calibration(s.calibration)


def _run_one(item: tuple[int, str, int]) -> tuple[int, EpisodeOutcome]:
    index, variant, seed = item
    job: _Job = _worker["job"]
    spec = episode_spec(job.task, variant, seed)
    outcome = run_lockstep_episode(
        job.policy(spec), _worker["robot"], _worker["camera"], spec, job.settings
    )
    return index, outcome


def evaluate_lockstep(
    policy: str | Path | PolicySource,
    task: str,
    variants: Sequence[str],
    seeds: Sequence[int],
    workers: int = 1,
    settings: LockstepSettings | None = None,
    progress: bool = True,
) -> list[dict]:
    """Evaluate ``policy`` (an exported .onnx, or a PolicySource) on every seed of every
    variant; per variant, in order: VariantResult.summary() with 'outcomes', its episodes
    (EpisodeOutcome as dicts) in seed order."""
    from tqdm import tqdm

    for variant in variants:
        get_variant(variant)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    source = OnnxPolicySource(policy) if isinstance(policy, str | Path) else policy
    job = _Job(source, task, settings or LockstepSettings())
    items = [(i, v, s) for i, (v, s) in enumerate((v, s) for v in variants for s in seeds)]
    outcomes: dict[int, EpisodeOutcome] = {}
    with tqdm(
        total=len(items), desc=f"lock-step {task}", unit="episode", disable=not progress
    ) as bar:

        def record(done: tuple[int, EpisodeOutcome]) -> None:
            index, outcome = done
            outcomes[index] = outcome
            bar.set_postfix(variant=items[index][1], success=outcome.success)
            bar.update()

        if workers == 1:
            _init_worker(job)
            for item in items:
                record(_run_one(item))
        else:
            # spawn: a fresh interpreter per worker, so no GL context is inherited by fork
            context = mp.get_context("spawn")
            count = min(workers, len(items))
            with context.Pool(count, initializer=_init_worker, initargs=(job,)) as pool:
                for done in pool.imap_unordered(_run_one, items):
                    record(done)
    report = []
    for k, variant in enumerate(variants):
        episodes = [outcomes[k * len(seeds) + j] for j in range(len(seeds))]
        result = VariantResult(
            variant,
            [o.seed for o in episodes],
            [o.success for o in episodes],
            [o.length_s for o in episodes],
            [ms for o in episodes for ms in o.latencies_ms],
        )
        report.append({**result.summary(), "outcomes": [asdict(o) for o in episodes]})
    return report


def add_lockstep_command(commands) -> None:
    """The `simhum lockstep` sub-command: the fast evaluator, for tuning on validation seeds."""
    parser = commands.add_parser(
        "lockstep", help="closed-loop evaluation without DDS (the node's controller code)"
    )
    parser.add_argument("--policy", required=True, help="exported policy .onnx")
    parser.add_argument("--task", default="pick_place")
    parser.add_argument("--variants", nargs="+", default=["real"], help=f"of {list(VARIANTS)}")
    parser.add_argument("--episodes", type=int, default=10, help="per variant")
    parser.add_argument(
        "--seeds",
        choices=sorted(SEED_SETS),
        default="validation",
        help="validation (200000+k: tune on these) or evaluation (100000+k: report these)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--latency",
        type=float,
        default=LIVE_COMMAND_LATENCY_S,
        metavar="SECONDS",
        help="from an observation to its command at the arm (default: the live graph's)",
    )
    parser.add_argument(
        "--guidance-scale",
        type=float,
        default=None,
        help="classifier-free guidance scale of a guided policy (0: unconditional, 1: "
        "conditional on the real domain; default: its contract's)",
    )
    parser.add_argument(
        "--out", type=Path, help="write the results as JSON here (with each episode's trace)"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        help="draw every episode's tool and object paths from above (.png, .pdf or .svg)",
    )
    parser.set_defaults(run=_lockstep_main)


def _lockstep_main(args) -> int:
    if args.episodes < 1:
        raise SystemExit("error: --episodes must be at least 1")
    if args.plot and args.plot.suffix.lower() not in PLOT_SUFFIXES:
        raise SystemExit(f"error: --plot {args.plot}: name a {'/'.join(PLOT_SUFFIXES)} file")
    seeds = list(evaluation_seeds(args.episodes, args.seeds))
    try:
        task = get_task(args.task)  # an unknown task or variant fails before the policy loads
        for variant in args.variants:
            get_variant(variant)
        source = OnnxPolicySource(args.policy, guidance_scale=args.guidance_scale)
        # a scale the policy refuses fails here, before any episode
        scale = OnnxPolicy(args.policy, source.providers, guidance_scale=source.guidance_scale)
        scale = scale.guidance_scale
        settings = LockstepSettings(command_latency_s=args.latency)
        report = evaluate_lockstep(source, args.task, args.variants, seeds, args.workers, settings)
    except (ValueError, PolicyContractError) as err:
        raise SystemExit(f"error: {err}") from None
    ik = IKSolver(load_robot(settings.urdf, tool_frame=settings.tool_frame))
    report = add_traces(report, task, ik)
    for r in report:
        print(
            f"{r['variant']:<24} {r['success_rate']:.2f} +- {r['success_rate_se']:.2f} "
            f"({sum(o['success'] for o in r['outcomes'])}/{r['episodes']}, {args.seeds} "
            f"seeds {seeds[0]}-{seeds[-1]}): {describe(r['failures'])}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "policy": str(args.policy),
                    "guidance_scale": scale,
                    "seeds": args.seeds,
                    "variants": report,
                },
                indent=1,
            )
        )
    if args.plot:  # after the results are saved
        plot_traces(report, task, ik, args.plot)
    return 0
