"""``simhum_preview_domains``: a contact sheet of every visual domain for every task.

simhum_preview_domains --out docs/sim_domains.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from simhum_description import load_calibration, load_robot
from simhum_description.paths import default_calibration, default_urdf
from simhum_sim_bridge.domains import DOMAINS
from simhum_sim_bridge.render import CameraRenderer, observe
from simhum_sim_bridge.rollout import EpisodeSpec, make_scene, ready_pose
from simhum_sim_bridge.scene import CAMERA, SceneConfig
from simhum_sim_bridge.tasks import TASKS


def contact_sheet(seed: int, width: int, height: int) -> Image.Image:
    """Rows: domains; columns: tasks; each frame at the robot's ready pose."""
    robot, camera = load_robot(default_urdf()), load_calibration(default_calibration())
    rows = []
    for domain in DOMAINS:
        row = []
        for task in sorted(TASKS):
            spec = EpisodeSpec(
                task,
                domain,
                seed,
                split="all",
                scene=SceneConfig(image_width=width, image_height=height),
            )
            scene = make_scene(robot, camera, spec)
            scene.set_robot(ready_pose(robot))
            with CameraRenderer(scene.model, CAMERA, width, height) as renderer:
                frame = observe(renderer, scene.data, scene.look, np.random.default_rng(seed))
            tile = Image.fromarray(frame)
            ImageDraw.Draw(tile).text((4, 4), f"{domain} / {task}", fill=(255, 255, 255))
            row.append(np.asarray(tile))
        rows.append(np.concatenate(row, axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))


def main(argv: list[str] | None = None) -> None:
    """Write the contact sheet."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("sim_domains.png"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=192)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(args.seed, args.width, args.height).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
