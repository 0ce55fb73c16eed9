"""``simhum_generate``: scripted-expert demonstrations as rosbag2 episodes.

N episodes per task and domain, in parallel worker processes, with a progress bar;
resumable (finished episodes whose bag reads are skipped; half-written, truncated or
unreadable ones are redone) and deterministic (episode k of a task uses seed ``seed + k``
whatever the number of workers). Objects are placed on the ``--split`` of the placement
grid: by default the whole grid for ``sim`` and the inner (in-distribution) grid for every
other look. The same machinery generates proxy-human episodes (``simhum_generate_human``,
simhum_human_capture). ``--perturb 0.03`` makes robot demonstrations DART-perturbed
(simhum_sim_bridge.rollout): needed for closed-loop success; measured in the sim look, a
sim-only policy trained on 150 clean episodes solved 0/14 episodes, the same recipe on 150
perturbed ones 7/14.

    simhum_generate --out runs/demos --tasks pick_place push --domains sim real -n 50
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing as mp
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from simhum_core.calibration import CameraCalibration, load_calibration
from simhum_core.episode_bag import EpisodeBagWriter, EpisodeMetadata, bag_problem
from simhum_core.errors import DescriptionError
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.robot import RobotDescription, load_robot
from simhum_core.topics import load_topics
from simhum_sim_bridge.domains import DOMAINS, default_split
from simhum_sim_bridge.grid import SPLITS
from simhum_sim_bridge.rollout import EpisodeSpec, run_episode
from simhum_sim_bridge.scene import SceneConfig
from simhum_sim_bridge.tasks import TASKS

MAX_IMAGE_SIDE = 4096  # a frame of 48 MiB, rendered and streamed one at a time per worker

EpisodeRunner = Callable[
    [RobotDescription, CameraCalibration, EpisodeSpec, EpisodeBagWriter], bool
]


@dataclass(frozen=True)
class Source:
    """What produces the episodes: an embodiment and an episode runner, named by its import
    path ("module:function") so that spawned workers can load it."""

    embodiment: str  # robot | human
    runner: str

    def load(self) -> EpisodeRunner:
        """The runner function."""
        module, _, name = self.runner.partition(":")
        return getattr(importlib.import_module(module), name)


ROBOT = Source("robot", "simhum_sim_bridge.generate:robot_episode")


@dataclass(frozen=True)
class GenerationJob:
    """Everything a worker needs for its episodes."""

    source: Source
    urdf: str
    tool_frame: str
    calibration: str
    out: str
    compressed: bool


def episode_path(out: Path, spec: EpisodeSpec, embodiment: str = "robot") -> Path:
    """Where an episode's bag goes: <out>/<task>/<scene domain>/<episode id> for the robot,
    <out>/<task>/human/human-<episode id> for the human hand."""
    if embodiment == "human":
        return out / spec.task / "human" / f"human-{spec.episode_id}"
    return out / spec.task / spec.domain / spec.episode_id


def robot_episode(
    robot: RobotDescription, camera: CameraCalibration, spec: EpisodeSpec, writer: EpisodeBagWriter
) -> bool:
    """A scripted-expert robot episode streamed into ``writer``; returns its success."""
    return run_episode(robot, camera, spec, sink=writer).success


def domain_label(domain: str, embodiment: str = "robot") -> str:
    """The source domain recorded in an episode: human-hand episodes are 'human'; robot
    episodes in the sim look are 'sim', and every proxy-real variant stands in for 'real'."""
    if embodiment == "human":
        return "human"
    return "sim" if domain == "sim" else "real"


_worker: dict = {}


def _init_worker(job: GenerationJob) -> None:
    _worker["job"] = job
    _worker["robot"] = load_robot(job.urdf, tool_frame=job.tool_frame)
    _worker["camera"] = load_calibration(job.calibration)
    _worker["topics"] = load_topics()
    _worker["run"] = job.source.load()


def _generate_one(spec: EpisodeSpec) -> tuple[str, bool]:
    job: GenerationJob = _worker["job"]
    robot, camera = _worker["robot"], _worker["camera"]
    scene_camera = camera.resized(spec.scene.image_width, spec.scene.image_height)
    path = episode_path(Path(job.out), spec, job.source.embodiment)
    metadata = EpisodeMetadata(
        episode_id=path.name,
        task=spec.task,
        domain=domain_label(spec.domain, job.source.embodiment),
        embodiment=job.source.embodiment,
        seed=spec.seed,
        success=False,
        note=f"{job.source.runner}; scene domain {spec.domain}, split {spec.split}",
    )
    writer = EpisodeBagWriter(
        path, robot, scene_camera, _worker["topics"], metadata, compressed=job.compressed
    )
    try:
        success = _worker["run"](robot, camera, spec, writer)
    except BaseException:
        writer.abort()
        raise
    writer.close(success)
    return path.name, success


def check_writable(out: Path) -> None:
    """Fail before simulating anything when ``out`` cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as err:
        raise PermissionError(f"{out}: output folder is not writable ({err.strerror})") from None


def plan_episodes(args: argparse.Namespace) -> list[EpisodeSpec]:
    """All episodes the command asks for, in a fixed order."""
    scene = SceneConfig(image_width=args.width, image_height=args.height)
    return [
        EpisodeSpec(
            task,
            domain,
            args.seed + k,
            args.split or default_split(domain),
            args.control_hz,
            scene=scene,
            perturb=args.perturb,
            latency=args.latency,
        )
        for task in args.tasks
        for domain in args.domains
        for k in range(args.episodes)
    ]


def episodes_to_generate(
    specs: list[EpisodeSpec], out: Path, embodiment: str
) -> list[EpisodeSpec]:
    """The episodes of ``specs`` without a finished bag that reads; each broken bag found
    (a crash or a copy cut short) is named on stderr and generated again."""
    todo = []
    for spec in specs:
        path = episode_path(out, spec, embodiment)
        if not path.exists():
            todo.append(spec)
        elif (problem := bag_problem(path)) is not None:
            print(f"{path}: bag does not read ({problem}); generating it again", file=sys.stderr)
            todo.append(spec)
    return todo


def main(argv: list[str] | None = None) -> int:
    """Robot episodes from the scripted experts."""
    return generate(argv, ROBOT, __doc__.split("\n\n")[0], default_domains=["sim", "real"])


def generate(
    argv: list[str] | None, source: Source, description: str, default_domains: list[str]
) -> int:
    """Generate the episodes; exit status 2 for bad arguments or an unwritable folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--tasks", nargs="+", default=sorted(TASKS), choices=sorted(TASKS))
    parser.add_argument(
        "--domains", nargs="+", default=default_domains, choices=DOMAINS, help="scene looks"
    )
    parser.add_argument("-n", "--episodes", type=int, default=10, help="per task and domain")
    parser.add_argument(
        "--split",
        choices=SPLITS,
        help="placement grid split (default: 'all' for sim, 'in' for the other domains)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--control-hz", type=float, default=10.0)
    parser.add_argument(
        "--perturb",
        type=float,
        default=0.0,
        metavar="METRES",
        help="DART: the expert executes a random offset of this std before reaching the "
        "object while the clean plan is recorded (teaches corrections); 0: none",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="the most command latency: each episode's commands reach the arm a drawn time "
        "in [0, SECONDS] after their observation, as on the deployed loop; 0: none",
    )
    parser.add_argument("--compressed", action="store_true", help="JPEG CompressedImage")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--urdf", default=str(default_urdf()))
    parser.add_argument("--tool-frame", default="tcp")
    parser.add_argument("--calibration", default=str(default_calibration()))
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.workers < 1:
        parser.error("--episodes and --workers must be at least 1")
    if not (8 <= args.width <= MAX_IMAGE_SIDE and 8 <= args.height <= MAX_IMAGE_SIDE):
        size = f"{args.width}x{args.height}"
        print(
            f"error: --width and --height must be 8 to {MAX_IMAGE_SIDE} pixels, got {size}",
            file=sys.stderr,
        )
        return 2
    try:
        specs = plan_episodes(args)  # checks the numbers before anything touches the disk
        load_robot(args.urdf, tool_frame=args.tool_frame)
        load_calibration(args.calibration)
        check_writable(args.out)
    except (PermissionError, DescriptionError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    todo = episodes_to_generate(specs, args.out, source.embodiment)
    print(
        f"{len(specs)} episodes requested, {len(specs) - len(todo)} already done, "
        f"{len(todo)} to generate with {args.workers} worker(s) -> {args.out}"
    )
    job = GenerationJob(
        source, args.urdf, args.tool_frame, args.calibration, str(args.out), args.compressed
    )
    successes = 0
    with tqdm(total=len(todo), unit="episode", desc="generating") as bar:
        if args.workers == 1:
            _init_worker(job)
            results = map(_generate_one, todo)
            for _, ok in results:
                successes += ok
                bar.update()
        else:
            # spawn: a fresh interpreter per worker, so no GL context is inherited by fork
            context = mp.get_context("spawn")
            with context.Pool(args.workers, initializer=_init_worker, initargs=(job,)) as pool:
                for _, ok in pool.imap_unordered(_generate_one, todo):
                    successes += ok
                    bar.update()
    if todo:
        print(f"{successes}/{len(todo)} new episodes succeeded; all episodes under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
