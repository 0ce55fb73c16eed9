"""``simhum_generate``: scripted-expert demonstrations as rosbag2 episodes.

N episodes per task and domain, in parallel worker processes, with a progress bar;
resumable (finished episodes are skipped, half-written ones redone) and deterministic
(episode k of a task uses seed ``seed + k`` whatever the number of workers).

    simhum_generate --out runs/demos --tasks pick_place push --domains sim real -n 50
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from simhum_description.calibration import load_calibration
from simhum_description.episode_bag import EpisodeBagWriter, EpisodeMetadata, is_complete
from simhum_description.errors import DescriptionError
from simhum_description.paths import default_calibration, default_urdf
from simhum_description.robot import load_robot
from simhum_description.topics import load_topics
from simhum_sim_bridge.domains import DOMAINS
from simhum_sim_bridge.grid import SPLITS
from simhum_sim_bridge.rollout import EpisodeSpec, run_episode
from simhum_sim_bridge.scene import SceneConfig
from simhum_sim_bridge.tasks import TASKS


@dataclass(frozen=True)
class GenerationJob:
    """Everything a worker needs for its episodes."""

    urdf: str
    tool_frame: str
    calibration: str
    out: str
    compressed: bool


def episode_path(out: Path, spec: EpisodeSpec) -> Path:
    """Where an episode's bag goes: <out>/<task>/<domain>/<episode id>."""
    return out / spec.task / spec.domain / spec.episode_id


def domain_label(domain: str) -> str:
    """The source domain recorded in an episode: sim episodes are 'sim'; every proxy-real
    variant stands in for the real robot, 'real'."""
    return "sim" if domain == "sim" else "real"


_worker: dict = {}


def _init_worker(job: GenerationJob) -> None:
    _worker["job"] = job
    _worker["robot"] = load_robot(job.urdf, tool_frame=job.tool_frame)
    _worker["camera"] = load_calibration(job.calibration)
    _worker["topics"] = load_topics()


def _generate_one(spec: EpisodeSpec) -> tuple[str, bool]:
    job: GenerationJob = _worker["job"]
    robot, camera = _worker["robot"], _worker["camera"]
    scene_camera = camera.resized(spec.scene.image_width, spec.scene.image_height)
    path = episode_path(Path(job.out), spec)
    metadata = EpisodeMetadata(
        episode_id=spec.episode_id,
        task=spec.task,
        domain=domain_label(spec.domain),
        embodiment="robot",
        seed=spec.seed,
        success=False,
        note=f"simhum_sim_bridge scripted expert; scene domain {spec.domain}, split {spec.split}",
    )
    writer = EpisodeBagWriter(
        path, robot, scene_camera, _worker["topics"], metadata, compressed=job.compressed
    )
    try:
        result = run_episode(robot, camera, spec, sink=writer)
    except BaseException:
        writer.abort()
        raise
    writer.close(result.success)
    return spec.episode_id, result.success


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
        EpisodeSpec(task, domain, args.seed + k, args.split, args.control_hz, scene=scene)
        for task in args.tasks
        for domain in args.domains
        for k in range(args.episodes)
    ]


def main(argv: list[str] | None = None) -> int:
    """Generate the episodes; exit status 2 for bad arguments or an unwritable folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--tasks", nargs="+", default=sorted(TASKS), choices=sorted(TASKS))
    parser.add_argument("--domains", nargs="+", default=["sim", "real"], choices=DOMAINS)
    parser.add_argument("-n", "--episodes", type=int, default=10, help="per task and domain")
    parser.add_argument("--split", default="in", choices=SPLITS, help="placement grid split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--control-hz", type=float, default=10.0)
    parser.add_argument("--compressed", action="store_true", help="JPEG CompressedImage")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--urdf", default=str(default_urdf()))
    parser.add_argument("--tool-frame", default="tcp")
    parser.add_argument("--calibration", default=str(default_calibration()))
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.workers < 1:
        parser.error("--episodes and --workers must be at least 1")
    try:
        check_writable(args.out)
        load_robot(args.urdf, tool_frame=args.tool_frame)
        load_calibration(args.calibration)
        specs = plan_episodes(args)
    except (PermissionError, DescriptionError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    todo = [s for s in specs if not is_complete(episode_path(args.out, s))]
    print(
        f"{len(specs)} episodes requested, {len(specs) - len(todo)} already done, "
        f"{len(todo)} to generate with {args.workers} worker(s) -> {args.out}"
    )
    job = GenerationJob(
        args.urdf, args.tool_frame, args.calibration, str(args.out), args.compressed
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
