"""``simhum_preview_domains``: a contact sheet of a few looks of every visual domain.

simhum_preview_domains --out docs/sim_domains.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mujoco
import numpy as np
from PIL import Image, ImageDraw

from simhum_core import load_calibration, load_robot
from simhum_core.calibration import CameraCalibration
from simhum_core.paths import default_calibration, default_urdf
from simhum_core.robot import RobotDescription
from simhum_sim_bridge.domains import DOMAINS, default_split
from simhum_sim_bridge.render import CameraRenderer, observe
from simhum_sim_bridge.rollout import EpisodeSpec, make_scene, ready_pose, sample_episode
from simhum_sim_bridge.scene import CAMERA, SceneConfig, build_world
from simhum_sim_bridge.tasks import TASKS

ROBOT_FREE = ("human_wild",)  # human recordings have no robot in view


def frame(robot: RobotDescription, camera: CameraCalibration, spec: EpisodeSpec) -> np.ndarray:
    """The episode's first camera frame: the robot at its ready pose, or no robot at all for
    a human look."""
    if spec.domain in ROBOT_FREE:
        task, look, layout = sample_episode(spec)
        sized = camera.resized(spec.scene.image_width, spec.scene.image_height)
        model = build_world(sized, task, look, layout, spec.scene, "preview").compile()
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
    else:
        scene = make_scene(robot, camera, spec)
        scene.set_robot(ready_pose(robot))
        model, data, look = scene.model, scene.data, scene.look
    width, height = spec.scene.image_width, spec.scene.image_height
    with CameraRenderer(model, CAMERA, width, height) as renderer:
        return observe(renderer, data, look, np.random.default_rng(spec.seed))


def contact_sheet(seed: int, looks: int, width: int, height: int) -> Image.Image:
    """Rows: domains, each on its default placement split; columns: ``looks`` seeds, the
    tasks in turn."""
    robot, camera = load_robot(default_urdf()), load_calibration(default_calibration())
    tasks = sorted(TASKS)
    rows = []
    for domain in DOMAINS:
        row = []
        for k in range(looks):
            spec = EpisodeSpec(
                tasks[k % len(tasks)],
                domain,
                seed + k,
                split=default_split(domain),
                scene=SceneConfig(image_width=width, image_height=height),
            )
            tile = Image.fromarray(frame(robot, camera, spec))
            label = f"{domain} / {spec.task} / {spec.split}"
            ImageDraw.Draw(tile).text(
                (4, 4), label, fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0)
            )
            row.append(np.asarray(tile))
        rows.append(np.concatenate(row, axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))


def main(argv: list[str] | None = None) -> None:
    """Write the contact sheet."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("sim_domains.png"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--looks", type=int, default=4, help="looks (seeds) per domain")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=192)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(args.seed, args.looks, args.width, args.height).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
